/**
 * The journey step types and the checks the step editor makes before saving, as the API makes them.
 * Mirrors STEP_TYPES (automation.schemas.ts), UPDATABLE_FIELDS and the config checks of
 * normalizeSteps (automation.steps.ts) and the DNS-free part of urlProblem (webhooks.delivery.ts);
 * src/modules/admin/admin.test.ts fails when they drift apart. Pure logic: no React, no DOM.
 */

export interface Step {
  id: string;
  type: string;
  config?: Record<string, unknown>;
  next?: string | null;
  yes?: string | null;
  no?: string | null;
}

export const STEP_TYPES = ['send_email', 'send_sms', 'wait', 'condition', 'add_tag', 'remove_tag', 'update_field', 'add_to_segment', 'webhook', 'exit'] as const;

/** Customer columns an update_field step may set; custom.<key> sets a custom field. */
export const UPDATABLE_FIELDS = ['first_name', 'last_name', 'city', 'state', 'country', 'postal_code', 'company_name', 'gender', 'status', 'source'] as const;
export type UpdatableField = (typeof UPDATABLE_FIELDS)[number];
export const CUSTOM_KEY_RE = /^[A-Za-z0-9_]{1,64}$/;
export const STATUSES = ['active', 'inactive', 'prospect'] as const;

/** A webhook URL the API takes (without its DNS check): absolute http(s), a host, no credentials. */
export function webhookUrlOk(raw: string): boolean {
  if (raw.trim() === '' || raw.length > 2000) return false;
  try {
    const u = new URL(raw);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && u.hostname !== '';
  } catch {
    return false;
  }
}

export type StepProblem = 'field' | 'value' | 'segment' | 'url' | 'payload';

/**
 * What keeps the settings of an update_field, add_to_segment or webhook step from being saved
 * (null: nothing). Whether the segment is static is left to the picker, which lists only those.
 */
export function stepProblem(s: Step): StepProblem | null {
  const c = s.config ?? {};
  if (s.type === 'update_field') {
    const field = typeof c.field === 'string' ? c.field : '';
    const custom = field.startsWith('custom.');
    if (!(UPDATABLE_FIELDS as readonly string[]).includes(field) && !(custom && CUSTOM_KEY_RE.test(field.slice(7)))) return 'field';
    const v = c.value;
    if (!(v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return 'value';
    if (typeof v === 'string' && v.length > 1000) return 'value';
    if (!custom && v !== null && typeof v !== 'string') return 'value';
    if (field === 'status' && !(STATUSES as readonly unknown[]).includes(v)) return 'value';
  }
  if (s.type === 'add_to_segment' && (typeof c.segment_id !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(c.segment_id))) return 'segment';
  if (s.type === 'webhook') {
    if (!webhookUrlOk(typeof c.url === 'string' ? c.url : '')) return 'url';
    if (c.payload !== undefined && (c.payload === null || typeof c.payload !== 'object' || Array.isArray(c.payload))) return 'payload';
  }
  return null;
}
