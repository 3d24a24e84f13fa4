import crypto from 'node:crypto';
import { WebhookVerificationError } from './errors.js';

/**
 * Webhook bodies (README "Published events"). Webhook payloads are not part of the OpenAPI document
 * (they are requests the CRM sends, not routes it serves), so these types follow the README's table.
 */
export interface WebhookEnvelope<T extends string, D> {
  /** The event id: the same on every retry and replay; use it to drop duplicates. */
  id: string;
  type: T;
  occurred_at: string;
  tenant_id: string;
  data: D;
}

export interface SegmentRef {
  id: string;
  name: string;
}

export type WebhookEvent =
  | WebhookEnvelope<'customer.created', { customer: Record<string, unknown> & { id: string } }>
  | WebhookEnvelope<'customer.updated', { customer_id: string; changes: Record<string, { from: unknown; to: unknown }> }>
  | WebhookEnvelope<'customer.deleted', { customer_id: string; external_id: string | null }>
  | WebhookEnvelope<'customer.tier_changed', {
      customer_id: string;
      old_tier: string | null;
      new_tier: string | null;
      points_earned: number;
      cause: 'adjusted' | 'redeemed' | 'tiers_updated' | 'orders';
    }>
  | WebhookEnvelope<'customer.segment_changed', {
      customer_id: string;
      entered: SegmentRef[];
      exited: SegmentRef[];
      old_segments: string[];
      new_segments: string[];
    }>
  | WebhookEnvelope<'customer.lifecycle_changed', { customer_id: string; old_stage: string | null; new_stage: string | null }>
  | WebhookEnvelope<'webhook.test', { subscription_id: string; message: string }>
  // Reserved / future types: still delivered, with an untyped payload.
  | WebhookEnvelope<'customer.merged' | 'campaign.sent', Record<string, unknown>>;

export type WebhookEventType = WebhookEvent['type'];

export interface VerifyOptions {
  /** Oldest (or most future) accepted timestamp, in seconds from now. Default 300. */
  toleranceSeconds?: number;
  /** "Now" in unix seconds (tests). */
  now?: number;
}

/**
 * Checks `X-CRM-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` over the RAW body
 * (exactly the bytes received, before any JSON parsing): constant-time comparison, and timestamps more
 * than `toleranceSeconds` away from now are refused (replay protection). Several `v1=` values (e.g. during
 * a secret rotation on the sender) are accepted if any matches.
 */
export function verifyWebhook(rawBody: string | Buffer | Uint8Array, header: string | null | undefined, secret: string, opts: VerifyOptions = {}): boolean {
  if (!header || !secret) return false;
  let t: number | null = null;
  const given: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') t = /^\d+$/.test(value) ? Number(value) : null;
    else if (key === 'v1' && /^[0-9a-f]+$/i.test(value) && value.length % 2 === 0) given.push(Buffer.from(value, 'hex'));
  }
  if (t === null || !Number.isSafeInteger(t) || given.length === 0) return false;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : Buffer.from(rawBody);
  const expected = crypto.createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return given.some((g) => g.length === expected.length && crypto.timingSafeEqual(g, expected));
}

/**
 * Verifies the signature, then parses the body: answers the typed event, or throws
 * `WebhookVerificationError` (bad signature, stale timestamp, not a JSON event).
 */
export function parseWebhook(rawBody: string | Buffer | Uint8Array, header: string | null | undefined, secret: string, opts: VerifyOptions = {}): WebhookEvent {
  if (!verifyWebhook(rawBody, header, secret, opts)) {
    throw new WebhookVerificationError('webhook signature is invalid or its timestamp is outside the tolerance');
  }
  const text = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('webhook body is not JSON');
  }
  const e = event as Partial<WebhookEnvelope<string, unknown>> | null;
  if (!e || typeof e !== 'object' || typeof e.id !== 'string' || typeof e.type !== 'string' || typeof e.tenant_id !== 'string') {
    throw new WebhookVerificationError('webhook body is not a CRM event');
  }
  return event as WebhookEvent;
}
