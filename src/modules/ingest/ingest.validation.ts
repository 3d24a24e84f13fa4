import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { normalizeEmail, normalizePhone } from '../../lib/contact.js';
import type { Identity } from './ingest.identity.js';
import {
  CUSTOM_TYPE_RE,
  CustomData,
  DataSchemas,
  Envelope,
  EVENT_TYPES,
  type KnownEventType,
  type RejectionCode,
} from './ingest.schemas.js';

/*
 * Per-event validation with validators compiled once at start-up. Pure (the clock is passed in),
 * so it runs before the batch transaction and costs microseconds per event.
 */

const ajv = new Ajv({
  allErrors: false,
  strict: false,
  coerceTypes: false,
  useDefaults: false,
  verbose: true,
  // money is multipleOf 0.01; binary fractions need a tolerance (150.1 / 0.01 = 15009.999999999998)
  multipleOfPrecision: 6,
});
addFormats.default(ajv);

const validateEnvelope = ajv.compile(Envelope);
const validateData = new Map<string, ValidateFunction>(EVENT_TYPES.map((t) => [t, ajv.compile(DataSchemas[t])]));
const validateCustom = ajv.compile(CustomData);
const isDateTime = ajv.compile({ type: 'string', format: 'date-time' });

const KNOWN = new Set<string>(EVENT_TYPES);
// History imported from older systems goes back decades (the CDNOW check uses 1997 orders).
const MIN_OCCURRED_MS = Date.UTC(1970, 0, 1);
const MAX_FUTURE_MS = 24 * 3600 * 1000;
const MIN_BIRTH = '1900-01-01';

export interface ValidEvent {
  /** position in the request */
  index: number;
  id: string;
  type: KnownEventType | `custom.${string}`;
  /** ISO 8601 UTC */
  occurredAt: string;
  occurredMs: number;
  identity: Identity;
  data: Record<string, any>;
  /** the currency the event names (upper-case), checked against the tenant's */
  currency: string | null;
  /** customer.updated: the changes with e-mail and phone normalized */
  changes?: Record<string, unknown>;
}

export interface Rejection {
  id: string | null;
  code: RejectionCode;
  reason: string;
}

export type Validation = { ok: true; event: ValidEvent } | { ok: false; rejection: Rejection };

function path(instancePath: string, prefix: string): string {
  const parts = (prefix + instancePath).split('/').filter(Boolean);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

const join = (base: string, key: string) => (base ? `${base}.${key}` : key);

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const MONEY_PATH = /(^|\.)(total|amount|unit_price)$/;

/** Turns the first schema error into a per-event code and a sentence a developer can act on. */
function fromAjv(error: ErrorObject, prefix: string): { code: RejectionCode; reason: string } {
  const at = path(error.instancePath, prefix);
  switch (error.keyword) {
    case 'additionalProperties':
      return { code: 'unknown_field', reason: `unknown field "${join(at, (error.params as any).additionalProperty)}"` };
    case 'required': {
      const missing = (error.params as any).missingProperty as string;
      if (at === '' && missing === 'customer') {
        return { code: 'missing_identity', reason: 'customer is required: give at least one of external_id, email or phone' };
      }
      if (at === '' && missing === 'occurred_at') return { code: 'invalid_occurred_at', reason: 'occurred_at is required' };
      return { code: 'invalid_event', reason: `${join(at, missing)} is required` };
    }
    case 'minProperties':
      return { code: 'invalid_event', reason: `${at} must not be empty` };
    case 'format':
      return {
        code: at === 'occurred_at' ? 'invalid_occurred_at' : 'invalid_date',
        reason: `${at} must be ${(error.params as any).format === 'date' ? 'a date (YYYY-MM-DD)' : 'an ISO 8601 date-time with a time zone'}, got ${describe(error.data)}`,
      };
  }
  if (at === 'customer') return { code: 'missing_identity', reason: 'customer must be an object with at least one of external_id, email or phone' };
  if (MONEY_PATH.test(at)) {
    return { code: 'invalid_amount', reason: `${at} must be a non-negative amount with at most two decimals, got ${describe(error.data)}` };
  }
  if (at === 'occurred_at') return { code: 'invalid_occurred_at', reason: `occurred_at ${error.message}` };
  return { code: 'invalid_event', reason: `${at || 'event'} ${error.message ?? 'is not valid'}${error.keyword === 'type' || error.keyword === 'enum' || error.keyword === 'const' || error.keyword === 'anyOf' ? `, got ${describe(error.data)}` : ''}` };
}

const blank = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return t === '' ? null : t;
};

/** Normalized contacts of a batch: the same person's e-mail and phone repeat across its events. */
export interface ContactMemo {
  emails: Map<string, string | null>;
  phones: Map<string, string | null>;
}
export const newContactMemo = (): ContactMemo => ({ emails: new Map(), phones: new Map() });

function memoized(map: Map<string, string | null>, raw: string, fn: (raw: string) => string | null): string | null {
  let v = map.get(raw);
  if (v === undefined) {
    v = fn(raw);
    map.set(raw, v);
  }
  return v;
}

// Helpers are top-level (not closures made per event): validation runs for every event.
const rejection = (id: string | null, code: RejectionCode, reason: string): Validation => ({ ok: false, rejection: { id, code, reason } });
const emailOf = (memo: ContactMemo, raw: string) => memoized(memo.emails, raw, normalizeEmail);
const phoneOf = (memo: ContactMemo, raw: string, region: string) => {
  let v = memo.phones.get(raw);
  if (v === undefined) {
    v = normalizePhone(raw, region);
    memo.phones.set(raw, v);
  }
  return v;
};
function badBirth(id: string | null, value: unknown, where: string, today: string): Validation | null {
  if (typeof value !== 'string') return null;
  if (value < MIN_BIRTH || value > today) return rejection(id, 'invalid_date', `${where} ${value} must be between ${MIN_BIRTH} and today`);
  return null;
}

/** Validates and normalizes one event of a batch. */
export function validateEvent(
  raw: unknown,
  index: number,
  opts: { nowMs: number; phoneRegion: string; memo?: ContactMemo },
): Validation {
  const memo = opts.memo ?? newContactMemo();
  const rawId = raw !== null && typeof raw === 'object' && typeof (raw as any).id === 'string' ? ((raw as any).id as string) : null;

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return rejection(rawId, 'invalid_event', 'an event must be a JSON object');
  if (!validateEnvelope(raw)) {
    const { code, reason } = fromAjv(validateEnvelope.errors![0], '');
    return rejection(rawId, code, reason);
  }
  const e = raw as Envelope;
  const type = e.type;
  const data = (e.data ?? {}) as Record<string, any>;

  let validator: ValidateFunction | undefined;
  if (KNOWN.has(type)) validator = validateData.get(type);
  else if (CUSTOM_TYPE_RE.test(type)) validator = validateCustom;
  else {
    return rejection(rawId, 'unknown_event_type', `unknown event type "${type}"; accepted: ${EVENT_TYPES.join(', ')} and custom.<name>`);
  }
  if (!validator!(data)) {
    const { code, reason } = fromAjv(validator!.errors![0], '/data');
    return rejection(rawId, code, reason);
  }

  if (!isDateTime(e.occurred_at)) {
    return rejection(rawId, 'invalid_occurred_at', `occurred_at must be an ISO 8601 date-time with a time zone, got ${describe(e.occurred_at)}`);
  }
  const occurredMs = Date.parse(e.occurred_at);
  if (!Number.isFinite(occurredMs)) return rejection(rawId, 'invalid_occurred_at', `occurred_at ${describe(e.occurred_at)} is not a valid time`);
  if (occurredMs < MIN_OCCURRED_MS) return rejection(rawId, 'invalid_occurred_at', `occurred_at ${e.occurred_at} is before 1970-01-01`);
  if (occurredMs > opts.nowMs + MAX_FUTURE_MS) {
    return rejection(rawId, 'invalid_occurred_at', `occurred_at ${e.occurred_at} is more than 24 hours in the future`);
  }

  const c = e.customer;
  const rawEmail = blank(c.email);
  const rawPhone = blank(c.phone);
  const identity: Identity = {
    externalId: blank(c.external_id),
    email: rawEmail === null ? null : emailOf(memo, rawEmail),
    phone: rawPhone === null ? null : phoneOf(memo, rawPhone, opts.phoneRegion),
    firstName: blank(c.first_name),
    lastName: blank(c.last_name),
  };
  if (rawEmail !== null && identity.email === null) return rejection(rawId, 'invalid_email', `customer.email "${rawEmail}" is not a valid e-mail address`);
  if (rawPhone !== null && identity.phone === null) return rejection(rawId, 'invalid_phone', `customer.phone "${rawPhone}" is not a valid phone number`);
  if (!identity.externalId && !identity.email && !identity.phone) {
    return rejection(rawId, 'missing_identity', 'customer needs at least one of external_id, email or phone');
  }

  const event: ValidEvent = {
    index,
    id: e.id,
    type: type as ValidEvent['type'],
    occurredAt: new Date(occurredMs).toISOString(),
    occurredMs,
    identity,
    data,
    currency: typeof data.currency === 'string' ? data.currency.toUpperCase() : null,
  };

  if (type === 'user.registered') {
    const bad = badBirth(rawId, data.date_of_birth, 'data.date_of_birth', new Date(opts.nowMs).toISOString().slice(0, 10));
    if (bad) return bad;
  } else if (type === 'customer.updated') {
    const changes: Record<string, unknown> = { ...data.changes };
    const bad = badBirth(rawId, changes.date_of_birth, 'data.changes.date_of_birth', new Date(opts.nowMs).toISOString().slice(0, 10));
    if (bad) return bad;
    if ('email' in changes) {
      const raw = blank(changes.email);
      const value = raw === null ? null : emailOf(memo, raw);
      if (raw !== null && value === null) return rejection(rawId, 'invalid_email', `data.changes.email "${raw}" is not a valid e-mail address`);
      changes.email = value;
    }
    if ('phone' in changes) {
      const raw = blank(changes.phone);
      const value = raw === null ? null : phoneOf(memo, raw, opts.phoneRegion);
      if (raw !== null && value === null) return rejection(rawId, 'invalid_phone', `data.changes.phone "${raw}" is not a valid phone number`);
      changes.phone = value;
    }
    for (const f of ['first_name', 'last_name', 'company_name', 'gender', 'city', 'state', 'country', 'postal_code']) {
      if (f in changes) changes[f] = blank(changes[f]);
    }
    event.changes = changes;
  }
  return { ok: true, event };
}
