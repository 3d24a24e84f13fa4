/**
 * The catalogue of published domain events (DESIGN §1 "Domain events"). A capability that publishes
 * a new type adds it here, so subscription patterns can be checked against what really exists.
 */
export const PUBLISHED_EVENT_TYPES = [
  'customer.created',
  'customer.updated',
  'customer.merged',
  'customer.deleted',
  'customer.segment_changed',
  'customer.tier_changed',
  'customer.lifecycle_changed',
  'campaign.sent',
] as const;

export type PublishedEventType = (typeof PUBLISHED_EVENT_TYPES)[number];

/** Sent only by POST /webhooks/{id}/test; never written to the outbox. */
export const TEST_EVENT_TYPE = 'webhook.test';

const NAMESPACES = new Set(PUBLISHED_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))));
const KNOWN = new Set<string>(PUBLISHED_EVENT_TYPES);

/**
 * Why a subscription pattern is not acceptable, or null when it is: `*`, an exact published type
 * (`customer.created`) or a namespace wildcard (`customer.*`).
 */
export function patternProblem(pattern: string): string | null {
  if (pattern === '*') return null;
  if (pattern.endsWith('.*')) {
    const ns = pattern.slice(0, -2);
    return NAMESPACES.has(ns) ? null : `"${pattern}": no published event type starts with "${ns}."`;
  }
  return KNOWN.has(pattern) ? null : `"${pattern}" is not a published event type`;
}

/** The same matching the dispatcher does in SQL; used for the test event and by tests. */
export function patternMatches(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}
