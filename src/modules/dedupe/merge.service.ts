import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isUuid } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAuditMany, type AuditEntryInput } from '../audit/audit.service.js';
import * as customersRepo from '../customers/customers.repository.js';
import type { CustomerRow, CustomerValues } from '../customers/customers.repository.js';
import { toProfile, withSegments } from '../customers/customers.service.js';
import type { CustomerProfile } from '../customers/customers.schemas.js';
import { enrichLocally } from '../enrichment/enrichment.service.js';
import { recomputeCustomerMetrics } from '../ingest/ingest.repository.js';
import { recomputeLoyalty } from '../loyalty/loyalty.repository.js';
import { enqueueEvents, type NewOutboxEvent } from '../outbox/outbox.repository.js';
import { recountSegment } from '../segments/segments.repository.js';
import { onMembershipChanged, reevaluateCustomers, type MembershipChange } from '../segments/segments.service.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import { queueCustomers, resolveMergedCandidates, unqueueCustomers } from './dedupe.repository.js';
import * as repo from './merge.repository.js';

export interface MergeCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  actor: string;
  requestId?: string | null;
}

/** Profile fields whose value the caller may take from any of the merged records. */
export const CHOOSABLE_FIELDS = [
  'external_id', 'email', 'phone', 'first_name', 'last_name', 'company_name', 'customer_type', 'status', 'date_of_birth',
  'gender', 'city', 'state', 'country', 'postal_code', 'source', 'addresses', 'preferences', 'custom_fields',
] as const;
export type ChoosableField = (typeof CHOOSABLE_FIELDS)[number];

const SCALARS = CHOOSABLE_FIELDS.filter((f) => !['addresses', 'preferences', 'custom_fields'].includes(f));
const CONSENT_FLAGS = ['marketing_email', 'marketing_sms'] as const;

export interface MergeInput {
  merge_ids: string[];
  fields?: Partial<Record<ChoosableField, string>>;
  dry_run?: boolean;
}

export interface MergeResult {
  dry_run: boolean;
  survivor: CustomerProfile;
  merged_ids: string[];
  moved: repo.MovedCounts & { segment_memberships: number };
}

const invalid = (message: string, details?: unknown) => new AppError('invalid_merge', message, details);

/** Checks what can be checked without the database. Answers the merged ids, lower-cased. */
function checkInput(survivorId: string, input: MergeInput): string[] {
  const ids = input.merge_ids.map((id) => id.toLowerCase());
  const survivor = survivorId.toLowerCase();
  if (ids.includes(survivor)) throw invalid('a customer cannot be merged into itself', { field: 'merge_ids', id: survivorId });
  if (new Set(ids).size !== ids.length) throw invalid('merge_ids lists a customer twice', { field: 'merge_ids' });
  for (const [field, from] of Object.entries(input.fields ?? {})) {
    if (!(CHOOSABLE_FIELDS as readonly string[]).includes(field)) {
      throw invalid(`"${field}" cannot be chosen; choose one of ${CHOOSABLE_FIELDS.join(', ')}`, { field: `fields/${field}` });
    }
    const source = String(from).toLowerCase();
    if (source !== survivor && !ids.includes(source)) {
      throw invalid(`fields.${field} must name the survivor or one of merge_ids, got ${String(from)}`, { field: `fields/${field}` });
    }
  }
  return ids;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The survivor's values after the merge: chosen fields from the named record; otherwise the
 * survivor's value, or the first merged record's where the survivor has none. Tags and addresses
 * are unioned, preferences and custom fields combined (survivor's keys win), consent is the most
 * restrictive: an explicit "no" on any record beats a "yes".
 */
export function mergedValues(survivor: CustomerRow, merged: CustomerRow[], fields: MergeInput['fields'] = {}): CustomerValues {
  const byId = new Map([survivor, ...merged].map((r) => [r.id, r]));
  const chosen = (f: ChoosableField) => {
    const from = fields[f];
    return from ? byId.get(from.toLowerCase()) : undefined;
  };
  const v: CustomerValues = {};
  for (const f of SCALARS) {
    const from = chosen(f);
    v[f] = from ? from[f] : (survivor[f] ?? merged.map((r) => r[f]).find((x) => x != null) ?? null);
  }
  const addresses = chosen('addresses');
  if (addresses) v.addresses = addresses.addresses;
  else {
    const all = [survivor, ...merged].flatMap((r) => r.addresses ?? []);
    v.addresses = all.filter((a, i) => all.findIndex((b) => sameJson(a, b)) === i);
  }
  for (const f of ['preferences', 'custom_fields'] as const) {
    const from = chosen(f);
    v[f] = from ? from[f] : Object.assign({}, ...[...merged].reverse().map((r) => r[f] ?? {}), survivor[f] ?? {});
  }
  v.tags = [...new Set([survivor, ...merged].flatMap((r) => r.tags ?? []))];
  const consent: Record<string, unknown> = { ...(survivor.consent ?? {}) };
  let consentChanged = false;
  for (const flag of CONSENT_FLAGS) {
    const given = [survivor, ...merged].map((r) => r.consent?.[flag]).filter((x): x is boolean => typeof x === 'boolean');
    const value = given.includes(false) ? false : given.includes(true) ? true : undefined;
    if (value !== undefined && value !== survivor.consent?.[flag]) {
      consent[flag] = value;
      consentChanged = true;
    }
  }
  if (consentChanged) consent.updated_at = new Date().toISOString();
  v.consent = consent;
  return v;
}

class DryRun extends Error {
  constructor(readonly result: MergeResult) {
    super('dry run');
  }
}

/**
 * Merges `merge_ids` into the survivor `survivorId`, atomically: values, history (orders,
 * check-ins, timeline, interactions, notes, carts, loyalty ledger, consent ledger), segment
 * memberships; metrics and loyalty recomputed; merged records kept as tombstones pointing at the
 * survivor and their identifiers as aliases; customer.merged published; audited. A dry run does
 * all of it in a transaction that is rolled back, so it answers the exact resulting profile.
 */
export async function mergeCustomers(ctx: MergeCtx, survivorId: string, input: MergeInput): Promise<MergeResult> {
  const mergeIds = checkInput(survivorId, input);
  const unknown = [survivorId, ...mergeIds].filter((id) => !isUuid(id));
  if (unknown.length) throw new AppError('customer_not_found', `${unknown.length} customer(s) were not found`, { ids: unknown });
  const survivorKey = survivorId.toLowerCase();
  try {
    return await ctx.db.transaction(async (tx) => {
      const result = await mergeInTx(tx, ctx, survivorKey, mergeIds, input.fields ?? {}, input.dry_run === true);
      if (input.dry_run) throw new DryRun(result);
      return result;
    });
  } catch (err) {
    if (err instanceof DryRun) return err.result;
    throw err;
  }
}

async function mergeInTx(
  tx: Executor,
  ctx: MergeCtx,
  survivorId: string,
  mergeIds: string[],
  fields: NonNullable<MergeInput['fields']>,
  dryRun: boolean,
): Promise<MergeResult> {
  const rows = await repo.lockForMerge(tx, ctx.tenantId, [survivorId, ...mergeIds]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  // Unknown, another tenant's and deleted customers are all "not found".
  const missing = [survivorId, ...mergeIds].filter((id) => !byId.get(id) || byId.get(id)!.deleted_at !== null);
  if (missing.length) throw new AppError('customer_not_found', `${missing.length} customer(s) were not found`, { ids: missing });
  const already = [survivorId, ...mergeIds].filter((id) => byId.get(id)!.merged_into !== null);
  if (already.length) {
    throw new AppError('customer_already_merged', `${already.length} customer(s) were already merged into another`, {
      ids: already.map((id) => ({ id, merged_into: byId.get(id)!.merged_into })),
    });
  }
  const survivor = byId.get(survivorId)!;
  const merged = mergeIds.map((id) => byId.get(id)!);

  const values = mergedValues(survivor, merged, fields);
  const write: CustomerValues = {};
  for (const [k, v] of Object.entries(values) as [keyof CustomerValues, unknown][]) {
    if (!sameJson(survivor[k as keyof CustomerRow], v)) write[k] = v;
  }
  // Tombstones first: the survivor may take a merged record's external_id, unique among live customers.
  await repo.markMerged(tx, ctx.tenantId, survivorId, mergeIds);
  if (Object.keys(write).length) await customersRepo.updateCustomer(tx, ctx.tenantId, survivorId, write);
  const moved = await repo.moveRecords(tx, ctx.tenantId, survivorId, mergeIds);
  const memberships = await repo.moveMemberships(tx, ctx.tenantId, survivorId, mergeIds);
  const finalIds = { external_id: values.external_id, email: values.email, phone: values.phone };
  await repo.writeAliases(tx, ctx.tenantId, survivorId, merged, finalIds);

  await recomputeCustomerMetrics(tx, ctx.tenantId, [survivorId], ctx.config.ltvCalculationPeriodDays);
  const tierChanges = await recomputeLoyalty(tx, ctx.tenantId, [survivorId]);
  await enrichLocally(tx, ctx.tenantId, [survivorId]);

  const membershipChanges: MembershipChange[] = [
    ...memberships.entered.map((m) => ({ segmentId: m.segment_id, segmentName: m.segment_name, customerId: m.customer_id, change: 'entered' as const })),
    ...memberships.exited.map((m) => ({ segmentId: m.segment_id, segmentName: m.segment_name, customerId: m.customer_id, change: 'exited' as const })),
  ];
  await onMembershipChanged(tx, ctx.tenantId, membershipChanges, { actor: ctx.actor });
  for (const id of [...new Set(membershipChanges.map((c) => c.segmentId))].sort()) await recountSegment(tx, ctx.tenantId, id, false);
  // Dynamic segments follow the survivor's new data; the tombstones leave theirs.
  await reevaluateCustomers(tx, ctx.tenantId, [survivorId, ...mergeIds]);

  await resolveMergedCandidates(tx, ctx.tenantId, survivorId, mergeIds, ctx.actor);
  await unqueueCustomers(tx, ctx.tenantId, mergeIds);
  await queueCustomers(tx, ctx.tenantId, [survivorId]);

  const after = (await customersRepo.findCustomer(tx, ctx.tenantId, survivorId))!;
  const [profile] = await withSegments(tx, ctx.tenantId, [toProfile(after)]);
  const changedFields = Object.keys(write).filter((k) => k !== 'consent' || !sameJson(survivor.consent, values.consent));
  const now = new Date();
  const activities: NewActivity[] = [{
    customerId: survivorId, type: 'customer.merged', occurredAt: now,
    summary: `Merged ${mergeIds.length} duplicate record(s) into this profile`,
    data: { merged_ids: mergeIds, fields, changed: changedFields }, actor: ctx.actor,
  }];
  for (const c of tierChanges) {
    activities.push({
      customerId: c.customer_id, type: 'loyalty.tier_changed', occurredAt: now,
      summary: `Loyalty tier changed from ${c.old_tier ?? 'none'} to ${c.new_tier ?? 'none'}`,
      data: { from: c.old_tier, to: c.new_tier, points: c.points, points_earned: c.points_earned }, actor: ctx.actor,
    });
  }
  await insertActivities(tx, ctx.tenantId, activities);
  const events: NewOutboxEvent[] = [{
    type: 'customer.merged', customerId: survivorId,
    payload: { survivor_id: survivorId, merged_ids: mergeIds, fields_changed: changedFields, customer: profile },
  }];
  for (const c of tierChanges) {
    events.push({
      type: 'customer.tier_changed', customerId: c.customer_id,
      payload: { customer_id: c.customer_id, old_tier: c.old_tier, new_tier: c.new_tier, points_earned: c.points_earned, cause: 'merge' },
    });
  }
  await enqueueEvents(tx, ctx.tenantId, events);
  const audit: AuditEntryInput[] = [
    {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'customer.merge', entityType: 'customer', entityId: survivorId,
      before: toProfile(survivor), after: { ...profile, merged_ids: mergeIds }, requestId: ctx.requestId ?? null,
    },
    ...merged.map((r) => ({
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'customer.merged_into', entityType: 'customer', entityId: r.id,
      before: toProfile(r), after: { merged_into: survivorId }, requestId: ctx.requestId ?? null,
    })),
  ];
  await recordAuditMany(tx, audit);

  return {
    dry_run: dryRun,
    survivor: profile,
    merged_ids: mergeIds,
    moved: { ...moved, segment_memberships: memberships.exited.length },
  };
}
