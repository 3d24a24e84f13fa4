import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { normalizeEmail, normalizePhone } from '../../lib/contact.js';
import { isExactTs, isText, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { roundMoney } from '../../lib/money.js';
import { recordAudit } from '../audit/audit.service.js';
import { identifyCustomers } from '../ingest/ingest.service.js';
import { queueCustomers } from '../dedupe/dedupe.repository.js';
import { enrichLocally } from '../enrichment/enrichment.service.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { insertConsentEvents } from '../privacy/consent.repository.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import { findSegment, segmentNamesOf } from '../segments/segments.repository.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import * as repo from './customers.repository.js';
import type { CustomerRow, CustomerValues, EditableColumn } from './customers.repository.js';
import type { AddressInput, CustomerInput, CustomerProfile, CustomerSort, IdentifyBody, ListCustomersQuery } from './customers.schemas.js';

/** Who is asking, for which tenant, on which database: every service call takes one. */
export interface CustomerCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  /** "key:<id>" / "user:<id>", recorded on the timeline */
  actor: string;
  /** request.id when the call comes from HTTP, recorded in the audit trail */
  requestId?: string | null;
}

/** An audit entry of a change to a customer (or to one of its notes), in the change's transaction. */
function audit(
  tx: Executor,
  ctx: CustomerCtx,
  e: { action: string; entityType?: string; entityId: string; before?: unknown; after?: unknown },
): Promise<void> {
  return recordAudit(tx, {
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null,
    action: e.action, entityType: e.entityType ?? 'customer', entityId: e.entityId, before: e.before ?? null, after: e.after ?? null,
  });
}

export { isUuid, pageOf, readCursor, type Page };

/** A date (midnight UTC) or a date-time, as a timestamptz literal. */
export function toTimestamp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
}

/**
 * Timestamps for the entries one change writes: the same millisecond, one microsecond apart,
 * so entries written together keep the order they were written in on the timeline.
 */
export function activityClock(): () => string {
  const base = new Date().toISOString().slice(0, -1);
  let n = 0;
  return () => `${base}${String(n++).padStart(3, '0')}Z`;
}

// ---------------------------------------------------------------------------------------------
// Profiles

function displayName(row: Pick<CustomerRow, 'first_name' | 'last_name' | 'company_name' | 'customer_type'>): string | null {
  const person = [row.first_name, row.last_name].filter(Boolean).join(' ') || null;
  return row.customer_type === 'business' ? (row.company_name ?? person) : (person ?? row.company_name);
}

const money = (value: number | string) => roundMoney(Number(value));

export function toProfile(row: CustomerRow): CustomerProfile {
  const consent = row.consent ?? {};
  return {
    id: row.id,
    external_id: row.external_id,
    email: row.email,
    phone: row.phone,
    first_name: row.first_name,
    last_name: row.last_name,
    name: displayName(row),
    company_name: row.company_name,
    customer_type: row.customer_type,
    status: row.status,
    date_of_birth: row.date_of_birth,
    gender: row.gender,
    addresses: (row.addresses ?? []) as CustomerProfile['addresses'],
    city: row.city,
    state: row.state,
    country: row.country,
    postal_code: row.postal_code,
    source: row.source,
    tags: row.tags ?? [],
    preferences: row.preferences ?? {},
    // No recorded consent is no consent.
    consent: {
      marketing_email: consent.marketing_email === true,
      marketing_sms: consent.marketing_sms === true,
      updated_at: consent.updated_at ?? null,
    },
    custom_fields: row.custom_fields ?? {},
    loyalty_tier: row.loyalty_tier,
    loyalty_points: row.loyalty_points,
    is_vip: row.is_vip ?? false,
    metrics: {
      total_orders: row.total_orders,
      total_spend: money(row.total_spend),
      events_attended: row.events_attended,
      average_order_value: money(row.average_order_value),
      lifetime_value: money(row.lifetime_value),
      first_purchase: row.first_purchase,
      last_purchase: row.last_purchase,
    },
    // the names of the customer's segments: filled by withSegments (one query per page)
    segments: [],
    last_contact_at: row.last_contact_at,
    last_activity_at: row.last_activity_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Fills each profile's `segments` (names of the segments the customer belongs to, by name). */
export async function withSegments(db: Executor, tenantId: string, profiles: CustomerProfile[]): Promise<CustomerProfile[]> {
  const names = await segmentNamesOf(db, tenantId, profiles.map((p) => p.id));
  for (const p of profiles) p.segments = names.get(p.id) ?? [];
  return profiles;
}

/** Profiles (with segments) of live customers by id, in the order given; unknown ids are left out. */
export async function profilesOf(db: Executor, tenantId: string, ids: string[]): Promise<CustomerProfile[]> {
  const rows = await repo.findCustomers(db, tenantId, ids.filter(isUuid));
  return withSegments(db, tenantId, rows.map(toProfile));
}

/**
 * The live customer (not deleted, not merged) or 404 customer_not_found. A malformed id is just
 * an id that does not exist: same answer, so ids of any shape reveal nothing.
 */
export async function requireCustomer(
  db: Executor,
  tenantId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<CustomerRow> {
  const row = isUuid(id) ? await repo.findCustomer(db, tenantId, id, opts) : undefined;
  if (row) return row;
  const mergedInto = isUuid(id) ? await repo.findMergedInto(db, tenantId, id) : undefined;
  throw new AppError(
    'customer_not_found',
    mergedInto ? `customer ${id} was merged into ${mergedInto}` : `customer ${id} was not found`,
    mergedInto ? { id, merged_into: mergedInto } : { id },
  );
}

/**
 * GET /customers/{id}. A merged-away id answers the survivor's profile (whose `id` is the
 * survivor's): links and bookmarks to a duplicate keep working after a merge. Writes to a merged
 * id still answer 404 with `merged_into` in the details (see requireCustomer).
 */
export async function getCustomer(ctx: CustomerCtx, id: string): Promise<CustomerProfile> {
  const survivor = isUuid(id) && !(await repo.findCustomer(ctx.db, ctx.tenantId, id)) ? await repo.findMergedInto(ctx.db, ctx.tenantId, id) : undefined;
  const row = await requireCustomer(ctx.db, ctx.tenantId, survivor ?? id);
  const [profile] = await withSegments(ctx.db, ctx.tenantId, [toProfile(row)]);
  return profile;
}

// ---------------------------------------------------------------------------------------------
// Listing

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** "a, B ,,c" → ["a", "b", "c"] */
export function splitTags(text: string | undefined): string[] {
  if (!text) return [];
  return [...new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))];
}

/** The listing's filters from its query (also used by the customer export, issue 6). */
export function customerFilters(config: Config, q: Omit<ListCustomersQuery, 'sort' | 'limit' | 'cursor'>): repo.CustomerFilters {
  const filters: repo.CustomerFilters = {
    tags: splitTags(q.tags),
    minLtv: q.min_ltv,
    lastPurchaseAfter: toTimestamp(q.last_purchase_after),
    lastPurchaseBefore: toTimestamp(q.last_purchase_before),
    status: q.status,
    customerType: q.customer_type,
    city: q.city,
    country: q.country?.toUpperCase(),
    loyaltyTier: q.loyalty_tier,
    createdAfter: toTimestamp(q.created_after),
    createdBefore: toTimestamp(q.created_before),
    segmentId: q.segment_id,
  };
  const term = q.search?.trim();
  const email = term ? normalizeEmail(term) : null;
  if (email) {
    // A whole address is a look-up, answered by the e-mail index; its many trigrams would make
    // the trigram index work hard for the same answer.
    filters.searchEmail = email;
  } else if (term) {
    // Every word must occur (in any order); search_text is lower-cased name, e-mail, phone, company.
    const words = term.toLowerCase().split(/\s+/).slice(0, 10);
    filters.searchPatterns = words.map((w) => `%${escapeLike(w)}%`);
    // "0722 123 456" is stored as +40722123456: match the normalized number too.
    filters.searchPhone = /\d/.test(term) ? normalizePhone(term, config.defaultPhoneRegion) : null;
  }
  return filters;
}

export async function listCustomers(ctx: CustomerCtx, q: ListCustomersQuery): Promise<Page<CustomerProfile>> {
  if (q.segment_id !== undefined && !(await findSegment(ctx.db, ctx.tenantId, q.segment_id))) {
    // another tenant's segment is just as unknown
    throw new AppError('segment_not_found', `segment ${q.segment_id} was not found`, { id: q.segment_id });
  }
  const sort: CustomerSort = q.sort ?? '-created_at';
  const limit = q.limit ?? 50;
  const filters = customerFilters(ctx.config, q);
  let after: { key: string | null; id: string } | undefined;
  if (q.cursor) {
    const [, key, id] = readCursor(q.cursor, [
      (v) => v === sort,
      (v) => repo.isValidSortKey(sort, v),
      isUuid,
    ]);
    after = { key: key as string | null, id: id as string };
  }
  const rows = await repo.listCustomers(ctx.db, { tenantId: ctx.tenantId, filters, sort, limit: limit + 1, after });
  const page = pageOf(rows, limit, toProfile, (r) => [sort, r.sort_key, r.id]);
  await withSegments(ctx.db, ctx.tenantId, page.data);
  return page;
}

// ---------------------------------------------------------------------------------------------
// Validation and normalization of written fields

const MAX_JSON_BYTES = 16 * 1024;
const invalid = (field: string, message: string) => new AppError('validation_failed', message, { field });

function cleanText(value: string | null | undefined): string | null {
  if (value == null) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/** Trimmed, lower-cased, non-empty, at most 50 characters, without duplicates (first one kept). */
export function normalizeTags(tags: readonly string[], field = 'tags'): string[] {
  const out: string[] = [];
  for (const raw of tags) {
    const tag = raw.trim().toLowerCase();
    if (!tag) throw invalid(field, 'tags must not be empty or blank');
    if ([...tag].length > 50) throw invalid(field, `tag "${tag}" is longer than 50 characters`);
    if (!out.includes(tag)) out.push(tag);
  }
  return out;
}

function todayUtc(): string {
  return new Date().toISOString().slice(0, 10);
}

function normalizeAddress(a: AddressInput, i: number): Record<string, unknown> {
  const line1 = cleanText(a.line1);
  const city = cleanText(a.city);
  if (!line1) throw invalid(`addresses/${i}/line1`, 'address line1 must not be blank');
  if (!city) throw invalid(`addresses/${i}/city`, 'address city must not be blank');
  const out: Record<string, unknown> = { line1, city };
  const type = cleanText(a.type);
  if (type) out.type = type.toLowerCase();
  for (const key of ['line2', 'state', 'postal_code'] as const) {
    const v = cleanText(a[key]);
    if (v) out[key] = v;
  }
  const country = cleanText(a.country);
  if (country) out.country = country.toUpperCase();
  return out;
}

function checkJsonSize(field: string, value: unknown) {
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_JSON_BYTES) {
    throw invalid(field, `${field} is larger than ${MAX_JSON_BYTES} bytes`);
  }
}

/** Validates and normalizes the given fields into column values (consent is handled apart). */
export function normalizeFields(input: CustomerInput, config: Config): CustomerValues {
  const v: CustomerValues = {};
  const has = (k: keyof CustomerInput) => input[k] !== undefined;
  for (const key of ['external_id', 'first_name', 'last_name', 'company_name', 'gender', 'city', 'state', 'postal_code', 'source'] as const) {
    if (has(key)) v[key] = cleanText(input[key]);
  }
  if (has('email')) {
    const raw = cleanText(input.email);
    if (raw === null) v.email = null;
    else {
      const email = normalizeEmail(raw);
      if (!email) throw new AppError('invalid_email', `"${raw}" is not a valid e-mail address`, { field: 'email', value: raw });
      v.email = email;
    }
  }
  if (has('phone')) {
    const raw = cleanText(input.phone);
    if (raw === null) v.phone = null;
    else {
      const phone = normalizePhone(raw, config.defaultPhoneRegion);
      if (!phone) {
        throw new AppError('invalid_phone', `"${raw}" is not a valid phone number (national numbers are read as ${config.defaultPhoneRegion})`, {
          field: 'phone', value: raw,
        });
      }
      v.phone = phone;
    }
  }
  if (has('customer_type')) v.customer_type = input.customer_type;
  if (has('status')) v.status = input.status;
  if (has('date_of_birth')) {
    const dob = input.date_of_birth ?? null;
    if (dob !== null && (dob < '1900-01-01' || dob > todayUtc())) {
      throw invalid('date_of_birth', `date_of_birth must be between 1900-01-01 and today, got ${dob}`);
    }
    v.date_of_birth = dob;
  }
  if (has('country')) v.country = cleanText(input.country)?.toUpperCase() ?? null;
  if (has('addresses')) v.addresses = input.addresses!.map(normalizeAddress);
  if (has('tags')) v.tags = normalizeTags(input.tags!);
  if (has('preferences')) {
    checkJsonSize('preferences', input.preferences);
    v.preferences = input.preferences;
  }
  if (has('custom_fields')) {
    checkJsonSize('custom_fields', input.custom_fields);
    v.custom_fields = input.custom_fields;
  }
  return v;
}

/** What PUT writes for a field it was not given. */
const DEFAULTS: Record<Exclude<EditableColumn, 'consent'>, unknown> = {
  external_id: null, email: null, phone: null, first_name: null, last_name: null, company_name: null,
  customer_type: 'individual', status: 'active', date_of_birth: null, gender: null, addresses: [], city: null,
  state: null, country: null, postal_code: null, source: null, tags: [], preferences: {}, custom_fields: {},
};

/** Rules on the whole profile after the change. */
function checkProfile(p: Record<string, unknown>) {
  if (p.customer_type === 'business' && !p.company_name) {
    throw invalid('company_name', 'a business customer needs a company_name');
  }
  if (!['external_id', 'email', 'phone', 'first_name', 'last_name', 'company_name'].some((k) => p[k])) {
    throw invalid('email', 'a customer needs at least one of external_id, email, phone, first_name, last_name, company_name');
  }
}

/** JSON with object keys sorted, so values compare equal whatever order jsonb gives the keys. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}
const same = (a: unknown, b: unknown) => canonical(a ?? null) === canonical(b ?? null);

const CHANNELS = { marketing_email: 'email', marketing_sms: 'sms' } as const;
type ConsentFlag = keyof typeof CHANNELS;

/** The same decisions for the consent ledger (GET /customers/{id}/consent). */
function consentLedger(customerId: string, changes: [ConsentFlag, boolean][], actor: string) {
  return changes.map(([flag, granted]) => ({
    customerId, channel: CHANNELS[flag], purpose: 'marketing' as const, granted, source: 'api', recordedBy: actor,
  }));
}

function consentActivities(
  customerId: string,
  changes: [ConsentFlag, boolean][],
  actor: string,
  at: () => string,
): NewActivity[] {
  return changes.map(([flag, granted]) => ({
    customerId,
    type: 'consent.changed',
    occurredAt: at(),
    summary: `${CHANNELS[flag] === 'email' ? 'E-mail' : 'SMS'} marketing consent ${granted ? 'granted' : 'withdrawn'}`,
    data: { channel: CHANNELS[flag], granted, source: 'api' },
    actor,
  }));
}

// ---------------------------------------------------------------------------------------------
// Writes

export async function createCustomer(ctx: CustomerCtx, input: CustomerInput): Promise<CustomerProfile> {
  const values = normalizeFields(input, ctx.config);
  checkProfile({ ...DEFAULTS, ...values });
  const at = activityClock();
  const consentGiven = (Object.keys(CHANNELS) as ConsentFlag[])
    .filter((f) => input.consent?.[f] !== undefined)
    .map((f) => [f, input.consent![f]!] as [ConsentFlag, boolean]);
  if (consentGiven.length) values.consent = { ...Object.fromEntries(consentGiven), updated_at: new Date().toISOString() };
  return ctx.db.transaction(async (tx) => {
    const row = await repo.insertCustomer(tx, ctx.tenantId, values);
    // Derived facts at once (local, no network); duplicate detection looks at it in the background.
    await enrichLocally(tx, ctx.tenantId, [row.id]);
    await queueCustomers(tx, ctx.tenantId, [row.id]);
    await insertActivities(tx, ctx.tenantId, [
      { customerId: row.id, type: 'customer.created', occurredAt: at(), summary: 'Customer created', data: {}, actor: ctx.actor },
      ...consentActivities(row.id, consentGiven, ctx.actor, at),
    ]);
    await insertConsentEvents(tx, ctx.tenantId, consentLedger(row.id, consentGiven, ctx.actor));
    const profile = toProfile(row);
    await enqueueEvents(tx, ctx.tenantId, [{ type: 'customer.created', customerId: row.id, payload: { customer: profile } }]);
    await audit(tx, ctx, { action: 'customer.create', entityId: row.id, after: { ...values } });
    await reevaluateCustomers(tx, ctx.tenantId, [row.id]);
    return (await withSegments(tx, ctx.tenantId, [profile]))[0];
  });
}

const DEDUPE_INPUTS = new Set([
  'email', 'phone', 'first_name', 'last_name', 'city', 'date_of_birth', 'country', 'customer_type', 'company_name',
]);

/**
 * PUT (replace: fields not given take their defaults; consent changes only when given, since
 * dropping it by omission would silently withdraw a customer's consent) or PATCH (only the given
 * fields). Writes profile.updated with the fields that really changed and consent.changed per
 * channel; nothing at all when nothing changed.
 */
export async function updateCustomer(
  ctx: CustomerCtx,
  id: string,
  input: CustomerInput,
  mode: 'replace' | 'merge',
): Promise<CustomerProfile> {
  const given = normalizeFields(input, ctx.config);
  const values: CustomerValues = mode === 'replace' ? { ...DEFAULTS, ...given } : given;
  return ctx.db.transaction(async (tx) => {
    const row = await requireCustomer(tx, ctx.tenantId, id, { forUpdate: true });
    checkProfile({ ...row, ...values });
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    const write: CustomerValues = {};
    for (const [key, to] of Object.entries(values) as [EditableColumn, unknown][]) {
      const from = row[key];
      if (!same(from, to)) {
        changes[key] = { from: from ?? null, to: to ?? null };
        write[key] = to;
      }
    }
    const consentChanges = (Object.keys(CHANNELS) as ConsentFlag[])
      .filter((f) => input.consent?.[f] !== undefined && row.consent?.[f] !== input.consent[f])
      .map((f) => [f, input.consent![f]!] as [ConsentFlag, boolean]);
    if (consentChanges.length) {
      write.consent = { ...row.consent, ...Object.fromEntries(consentChanges), updated_at: new Date().toISOString() };
    }
    if (Object.keys(write).length === 0) return (await withSegments(tx, ctx.tenantId, [toProfile(row)]))[0];
    const updated = await repo.updateCustomer(tx, ctx.tenantId, row.id, write);
    const at = activityClock();
    const activities: NewActivity[] = [];
    const fields = Object.keys(changes);
    // What duplicate detection and enrichment read changed: the incremental job looks again.
    if (fields.some((f) => DEDUPE_INPUTS.has(f))) await queueCustomers(tx, ctx.tenantId, [row.id]);
    if (fields.length) {
      activities.push({
        customerId: row.id, type: 'profile.updated', occurredAt: at(),
        summary: `Profile updated: ${fields.join(', ')}`, data: { changes }, actor: ctx.actor,
      });
    }
    activities.push(...consentActivities(row.id, consentChanges, ctx.actor, at));
    await insertActivities(tx, ctx.tenantId, activities);
    await insertConsentEvents(tx, ctx.tenantId, consentLedger(row.id, consentChanges, ctx.actor));
    const published: Record<string, { from: unknown; to: unknown }> = { ...changes };
    for (const [flag, granted] of consentChanges) {
      published[`consent.${flag}`] = { from: row.consent?.[flag] === true, to: granted };
    }
    await enqueueEvents(tx, ctx.tenantId, [{ type: 'customer.updated', customerId: row.id, payload: { customer_id: row.id, changes: published } }]);
    const keys = Object.keys(write) as EditableColumn[];
    await audit(tx, ctx, {
      action: 'customer.update', entityId: row.id,
      before: Object.fromEntries(keys.map((k) => [k, row[k] ?? null])),
      after: Object.fromEntries(keys.map((k) => [k, write[k] ?? null])),
    });
    await reevaluateCustomers(tx, ctx.tenantId, [row.id]);
    return (await withSegments(tx, ctx.tenantId, [toProfile(updated)]))[0];
  });
}

export async function deleteCustomer(ctx: CustomerCtx, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const row = await requireCustomer(tx, ctx.tenantId, id, { forUpdate: true });
    await repo.softDeleteCustomer(tx, ctx.tenantId, row.id);
    await insertActivities(tx, ctx.tenantId, [
      { customerId: row.id, type: 'customer.deleted', occurredAt: new Date(), summary: 'Customer deleted', data: {}, actor: ctx.actor },
    ]);
    await enqueueEvents(tx, ctx.tenantId, [{
      type: 'customer.deleted', customerId: row.id, payload: { customer_id: row.id, external_id: row.external_id },
    }]);
    await audit(tx, ctx, {
      action: 'customer.delete', entityId: row.id,
      before: { external_id: row.external_id, email: row.email, phone: row.phone, first_name: row.first_name, last_name: row.last_name },
    });
    // a deleted customer leaves its segments now, not at the next scheduled refresh
    await reevaluateCustomers(tx, ctx.tenantId, [row.id]);
  });
}

/** Adds (mode add) or removes tags; answers the resulting list. Idempotent. */
export async function changeTags(ctx: CustomerCtx, id: string, tags: readonly string[], mode: 'add' | 'remove'): Promise<{ tags: string[] }> {
  const wanted = normalizeTags(tags);
  if (wanted.length === 0) throw invalid('tags', 'give at least one tag');
  return ctx.db.transaction(async (tx) => {
    const row = await requireCustomer(tx, ctx.tenantId, id, { forUpdate: true });
    const from = row.tags ?? [];
    const to = mode === 'add' ? [...from, ...wanted.filter((t) => !from.includes(t))] : from.filter((t) => !wanted.includes(t));
    if (same(from, to)) return { tags: from };
    const updated = await repo.updateCustomer(tx, ctx.tenantId, row.id, { tags: to });
    await insertActivities(tx, ctx.tenantId, [{
      customerId: row.id,
      type: 'profile.updated',
      occurredAt: new Date(),
      summary: mode === 'add' ? `Tagged ${wanted.filter((t) => !from.includes(t)).join(', ')}` : `Untagged ${wanted.filter((t) => from.includes(t)).join(', ')}`,
      data: { changes: { tags: { from, to } } },
      actor: ctx.actor,
    }]);
    await enqueueEvents(tx, ctx.tenantId, [{
      type: 'customer.updated', customerId: row.id, payload: { customer_id: row.id, changes: { tags: { from, to } } },
    }]);
    await audit(tx, ctx, { action: mode === 'add' ? 'customer.tags_add' : 'customer.tags_remove', entityId: row.id, before: { tags: from }, after: { tags: to } });
    await reevaluateCustomers(tx, ctx.tenantId, [row.id]);
    return { tags: updated.tags };
  });
}

/**
 * Find-or-create through the ingestion's identity resolution (external_id, then e-mail, then
 * phone), so the API and the event stream never disagree about who a person is.
 */
export async function identifyCustomer(ctx: CustomerCtx, input: IdentifyBody): Promise<{ customer: CustomerProfile; created: boolean }> {
  // Checked here too so the error names the field, like the other customer routes.
  const email = cleanText(input.email);
  const phone = cleanText(input.phone);
  const externalId = cleanText(input.external_id);
  if (!externalId && !email && !phone) throw invalid('external_id', 'give at least one of external_id, email, phone');
  if (email !== null && !normalizeEmail(email)) {
    throw new AppError('invalid_email', `"${email}" is not a valid e-mail address`, { field: 'email', value: email });
  }
  if (phone !== null && !normalizePhone(phone, ctx.config.defaultPhoneRegion)) {
    throw new AppError('invalid_phone', `"${phone}" is not a valid phone number (national numbers are read as ${ctx.config.defaultPhoneRegion})`, {
      field: 'phone', value: phone,
    });
  }
  return ctx.db.transaction(async (tx) => {
    const [result] = await identifyCustomers(tx, { tenantId: ctx.tenantId, config: ctx.config, actor: ctx.actor }, [{
      external_id: externalId, email, phone, first_name: cleanText(input.first_name), last_name: cleanText(input.last_name),
    }]);
    const customer = await requireCustomer(tx, ctx.tenantId, result.customerId);
    if (result.created) {
      await audit(tx, ctx, {
        action: 'customer.identify', entityId: customer.id,
        after: { external_id: customer.external_id, email: customer.email, phone: customer.phone, first_name: customer.first_name, last_name: customer.last_name },
      });
    }
    return { customer: (await withSegments(tx, ctx.tenantId, [toProfile(customer)]))[0], created: result.created };
  });
}

// ---------------------------------------------------------------------------------------------
// Notes

type Note = Omit<repo.NoteRow, 'created_key'>;
const toNote = ({ created_key: _k, ...note }: repo.NoteRow): Note => note;

function noteExcerpt(body: string): string {
  return body.length > 200 ? `${body.slice(0, 199)}…` : body;
}

export async function listNotes(ctx: CustomerCtx, customerId: string, q: { limit?: number; cursor?: string }): Promise<Page<Note>> {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  const limit = q.limit ?? 50;
  let after: { pinned: boolean; createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [pinned, createdAt, id] = readCursor(q.cursor, [(v) => typeof v === 'boolean', isExactTs, isUuid]);
    after = { pinned: pinned as boolean, createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listNotes(ctx.db, { tenantId: ctx.tenantId, customerId: customer.id, limit: limit + 1, after });
  return pageOf(rows, limit, toNote, (r) => [r.pinned, r.created_key, r.id]);
}

async function requireNote(db: Executor, tenantId: string, customerId: string, noteId: string): Promise<repo.NoteRow> {
  const note = isUuid(noteId) ? await repo.findNote(db, tenantId, customerId, noteId) : undefined;
  if (!note) throw new AppError('note_not_found', `note ${noteId} was not found`, { id: noteId });
  return note;
}

export async function getNote(ctx: CustomerCtx, customerId: string, noteId: string): Promise<Note> {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  return toNote(await requireNote(ctx.db, ctx.tenantId, customer.id, noteId));
}

function noteBody(body: string): string {
  const text = body.trim();
  if (!text) throw invalid('body', 'a note needs some text');
  return text;
}

export async function createNote(ctx: CustomerCtx, customerId: string, input: { body: string; pinned?: boolean }): Promise<Note> {
  const body = noteBody(input.body);
  return ctx.db.transaction(async (tx) => {
    const customer = await requireCustomer(tx, ctx.tenantId, customerId);
    const note = await repo.insertNote(tx, {
      tenantId: ctx.tenantId, customerId: customer.id, body, pinned: input.pinned ?? false, createdBy: ctx.actor,
    });
    await insertActivities(tx, ctx.tenantId, [{
      customerId: customer.id, type: 'note.added', occurredAt: new Date(), summary: 'Note added',
      data: { note_id: note.id, pinned: note.pinned, excerpt: noteExcerpt(note.body) }, sourceId: note.id, actor: ctx.actor,
    }]);
    await audit(tx, ctx, { action: 'note.create', entityType: 'note', entityId: note.id, after: { customer_id: customer.id, body: note.body, pinned: note.pinned } });
    return toNote(note);
  });
}

/** PUT (body required, pinned defaults to false) or PATCH (given fields). No entry when nothing changed. */
export async function updateNote(
  ctx: CustomerCtx,
  customerId: string,
  noteId: string,
  input: { body?: string; pinned?: boolean },
  mode: 'replace' | 'merge',
): Promise<Note> {
  const body = input.body === undefined ? undefined : noteBody(input.body);
  return ctx.db.transaction(async (tx) => {
    const customer = await requireCustomer(tx, ctx.tenantId, customerId);
    const note = await requireNote(tx, ctx.tenantId, customer.id, noteId);
    const next = {
      body: body ?? note.body,
      pinned: input.pinned ?? (mode === 'replace' ? false : note.pinned),
    };
    const fields = (['body', 'pinned'] as const).filter((k) => next[k] !== note[k]);
    if (fields.length === 0) return toNote(note);
    const updated = (await repo.updateNote(tx, { tenantId: ctx.tenantId, customerId: customer.id, id: note.id, ...next }))!;
    await insertActivities(tx, ctx.tenantId, [{
      customerId: customer.id, type: 'note.updated', occurredAt: new Date(), summary: 'Note updated',
      data: { note_id: note.id, fields, pinned: updated.pinned, excerpt: noteExcerpt(updated.body) },
      sourceId: note.id, actor: ctx.actor,
    }]);
    await audit(tx, ctx, {
      action: 'note.update', entityType: 'note', entityId: note.id,
      before: { customer_id: customer.id, body: note.body, pinned: note.pinned }, after: { customer_id: customer.id, body: updated.body, pinned: updated.pinned },
    });
    return toNote(updated);
  });
}

export async function deleteNote(ctx: CustomerCtx, customerId: string, noteId: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const customer = await requireCustomer(tx, ctx.tenantId, customerId);
    const note = await requireNote(tx, ctx.tenantId, customer.id, noteId);
    await repo.deleteNote(tx, ctx.tenantId, customer.id, note.id);
    await insertActivities(tx, ctx.tenantId, [{
      customerId: customer.id, type: 'note.deleted', occurredAt: new Date(), summary: 'Note deleted',
      data: { note_id: note.id, excerpt: noteExcerpt(note.body) }, sourceId: note.id, actor: ctx.actor,
    }]);
    await audit(tx, ctx, { action: 'note.delete', entityType: 'note', entityId: note.id, before: { customer_id: customer.id, body: note.body, pinned: note.pinned } });
  });
}

// ---------------------------------------------------------------------------------------------
// Purchase and attendance history

export async function listOrders(ctx: CustomerCtx, customerId: string, q: { limit?: number; cursor?: string }) {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  const limit = q.limit ?? 50;
  let after: { placedAt: string; id: string } | undefined;
  if (q.cursor) {
    const [placedAt, id] = readCursor(q.cursor, [isExactTs, isText]);
    after = { placedAt: placedAt as string, id: id as string };
  }
  const rows = await repo.listOrders(ctx.db, { tenantId: ctx.tenantId, customerId: customer.id, limit: limit + 1, after });
  const page = rows.slice(0, limit);
  // Items and refunds of the whole page in one query each.
  const ids = page.map((o) => o.id);
  const [items, refunds] = await Promise.all([
    repo.listOrderItems(ctx.db, ctx.tenantId, ids),
    repo.listRefunds(ctx.db, ctx.tenantId, ids),
  ]);
  const itemsBy = groupBy(items, (i) => i.order_id);
  const refundsBy = groupBy(refunds, (r) => r.order_id);
  return pageOf(rows, limit, (o) => ({
    id: o.id,
    status: o.status,
    total: money(o.total),
    refunded_amount: money(o.refunded_amount),
    currency: o.currency,
    placed_at: o.placed_at,
    completed_at: o.completed_at,
    cancelled_at: o.cancelled_at,
    items: (itemsBy.get(o.id) ?? []).map((i) => ({
      event_id: i.event_id, event_name: i.event_name, ticket_type: i.ticket_type, quantity: i.quantity, unit_price: money(i.unit_price),
    })),
    refunds: (refundsBy.get(o.id) ?? []).map((r) => ({ id: r.id, amount: money(r.amount), reason: r.reason, refunded_at: r.refunded_at })),
  }), (o) => [o.placed_key, o.id]);
}

function groupBy<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = out.get(k);
    if (list) list.push(row);
    else out.set(k, [row]);
  }
  return out;
}

export async function listAttendance(ctx: CustomerCtx, customerId: string, q: { limit?: number; cursor?: string }) {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  const limit = q.limit ?? 50;
  let after: { checkedInAt: string; eventId: string; ticketId: string } | undefined;
  if (q.cursor) {
    const [checkedInAt, eventId, ticketId] = readCursor(q.cursor, [isExactTs, isText, isText]);
    after = { checkedInAt: checkedInAt as string, eventId: eventId as string, ticketId: ticketId as string };
  }
  const rows = await repo.listAttendance(ctx.db, { tenantId: ctx.tenantId, customerId: customer.id, limit: limit + 1, after });
  return pageOf(rows, limit, (a) => ({
    event_id: a.event_id,
    ticket_id: a.ticket_id === '' ? null : a.ticket_id,
    order_id: a.order_id,
    checked_in_at: a.checked_in_at,
    event_name: a.event_name,
    venue: a.venue,
    city: a.city,
    starts_at: a.starts_at,
    genres: a.genres ?? [],
  }), (a) => [a.checked_in_key, a.event_id, a.ticket_id]);
}
