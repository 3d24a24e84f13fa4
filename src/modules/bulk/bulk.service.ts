import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isUuid } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit, recordAuditMany, type AuditEntryInput } from '../audit/audit.service.js';
import type { Role } from '../auth/auth.types.js';
import { findCustomers } from '../customers/customers.repository.js';
import type { ListCustomersQuery } from '../customers/customers.schemas.js';
import { listCustomers, normalizeFields, normalizeTags, toProfile } from '../customers/customers.service.js';
import { dispatchJob, type JobDeps } from '../dedupe/dedupe.service.js';
import { enqueueEvents, type NewOutboxEvent } from '../outbox/outbox.repository.js';
import { findSegment } from '../segments/segments.repository.js';
import { addMembers, reevaluateCustomers } from '../segments/segments.service.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import * as repo from './bulk.repository.js';
import type { BulkAction, BulkError, BulkRow } from './bulk.repository.js';

export interface BulkCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  actor: string;
  role: Role;
  requestId?: string | null;
}

export type BulkFilter = Omit<ListCustomersQuery, 'limit' | 'cursor' | 'sort'>;
export type BulkTarget = { ids: string[] } | { segment_id: string } | { filter: BulkFilter };

export interface BulkInput {
  action: BulkAction;
  params?: { tags?: string[]; segment_id?: string; field?: string; value?: unknown };
  target: BulkTarget;
}

/** Customers changed per transaction: big enough for set-based statements, small enough for short locks. */
export const BATCH_SIZE = 500;

/** Columns update_field may set (text columns with no identity role); `custom.<key>` sets a custom field. */
export const UPDATABLE_FIELDS = ['status', 'city', 'state', 'country', 'postal_code', 'source', 'gender', 'company_name'] as const;

const invalid = (field: string, message: string) => new AppError('validation_failed', message, { field });

/** Validates action and params; answers the params as the run uses them. */
async function checkParams(ctx: BulkCtx, input: BulkInput): Promise<Record<string, unknown>> {
  const p = input.params ?? {};
  const allowed: Record<BulkAction, string[]> = {
    tag: ['tags'], untag: ['tags'], add_to_segment: ['segment_id'], update_field: ['field', 'value'], delete: [],
  };
  for (const key of Object.keys(p)) {
    if (!allowed[input.action].includes(key)) throw invalid(`params/${key}`, `${input.action} takes no "${key}" parameter`);
  }
  switch (input.action) {
    case 'tag':
    case 'untag': {
      const tags = normalizeTags(p.tags ?? [], 'params/tags');
      if (tags.length === 0) throw invalid('params/tags', `${input.action} needs params.tags`);
      return { tags };
    }
    case 'add_to_segment': {
      if (!isUuid(p.segment_id)) throw invalid('params/segment_id', 'add_to_segment needs params.segment_id');
      const seg = await findSegment(ctx.db, ctx.tenantId, p.segment_id);
      if (!seg) throw new AppError('segment_not_found', `segment ${p.segment_id} was not found`, { id: p.segment_id });
      if (seg.type !== 'static') {
        throw new AppError('conflict', `segment ${seg.name} is dynamic: its rules decide its members`, { id: seg.id, type: seg.type });
      }
      return { segment_id: seg.id };
    }
    case 'update_field': {
      const field = p.field;
      if (typeof field !== 'string') throw invalid('params/field', 'update_field needs params.field');
      if (!('value' in p)) throw invalid('params/value', 'update_field needs params.value (null clears the field)');
      if (field.startsWith('custom.')) {
        const key = field.slice('custom.'.length);
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw invalid('params/field', `"${field}" is not a valid custom field name`);
        if (Buffer.byteLength(JSON.stringify(p.value ?? null)) > 4096) throw invalid('params/value', 'value is larger than 4 KiB');
        return { field, value: p.value ?? null };
      }
      if (!(UPDATABLE_FIELDS as readonly string[]).includes(field)) {
        throw invalid('params/field', `update_field can set ${UPDATABLE_FIELDS.join(', ')} or custom.<key>, not "${field}"`);
      }
      if (p.value !== null && typeof p.value !== 'string') throw invalid('params/value', `${field} takes a string or null`);
      if (field === 'status' && !['active', 'inactive', 'prospect'].includes(p.value as string)) {
        throw invalid('params/value', 'status is one of active, inactive, prospect');
      }
      if (field === 'country' && p.value !== null && !/^[A-Za-z]{2}$/.test(p.value as string)) {
        throw invalid('params/value', 'country is a two-letter ISO code');
      }
      // the customers module's own cleaning (trim, blank → null, upper-case country)
      const value = normalizeFields({ [field]: p.value } as never, ctx.config)[field as keyof ReturnType<typeof normalizeFields>];
      return { field, value: value ?? null };
    }
    case 'delete':
      if (ctx.role !== 'admin') throw new AppError('forbidden', 'bulk delete needs an admin key');
      return {};
  }
}

/** Validates the target; answers it as stored and its size when known up front. */
async function checkTarget(ctx: BulkCtx, target: BulkTarget): Promise<{ target: BulkTarget; total: number | null }> {
  if ('ids' in target) {
    const ids = [...new Set(target.ids.map((id) => id.toLowerCase()))];
    const bad = ids.filter((id) => !isUuid(id));
    if (bad.length) throw invalid('target/ids', `${bad.length} id(s) are not customer ids: ${bad.slice(0, 5).join(', ')}`);
    return { target: { ids: ids.sort() }, total: ids.length };
  }
  if ('segment_id' in target) {
    const seg = await findSegment(ctx.db, ctx.tenantId, target.segment_id);
    if (!seg) throw new AppError('segment_not_found', `segment ${target.segment_id} was not found`, { id: target.segment_id });
    return { target: { segment_id: seg.id }, total: await repo.countSegmentMembers(ctx.db, ctx.tenantId, seg.id) };
  }
  // The listing validates the filter (an unknown segment_id is a 404): ask it for one row now.
  await listCustomers({ ...ctx }, { ...target.filter, limit: 1 });
  return { target, total: null };
}

export async function createBulk(ctx: BulkCtx, input: BulkInput, deps: JobDeps): Promise<BulkRow> {
  const params = await checkParams(ctx, input);
  const { target, total } = await checkTarget(ctx, input.target);
  const op = await ctx.db.transaction(async (tx) => {
    const row = await repo.insertOperation(tx, ctx.tenantId, {
      action: input.action, params, target, total, createdBy: ctx.actor, requestId: ctx.requestId ?? null,
    });
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'bulk.create', entityType: 'bulk_operation', entityId: row.id,
      after: { action: row.action, params, target: 'ids' in target ? { ids: target.ids.length } : target, total },
      requestId: ctx.requestId ?? null,
    });
    return row;
  });
  await dispatchJob(deps, 'bulk.run', { tenantId: ctx.tenantId, operationId: op.id }, () => runBulk(deps.db, deps.config, ctx.tenantId, op.id));
  return op;
}

export async function getBulk(ctx: Pick<BulkCtx, 'db' | 'tenantId'>, id: string): Promise<BulkRow> {
  const row = isUuid(id) ? await repo.findOperation(ctx.db, ctx.tenantId, id) : undefined;
  if (!row) throw new AppError('bulk_operation_not_found', `bulk operation ${id} was not found`, { id });
  return row;
}

// ---------------------------------------------------------------------------------------------
// The run (job)

interface Batch {
  ids: string[];
  /** resume point after this batch; null when it is the last */
  next: string | null;
}

async function nextBatch(db: Executor, config: Config, tenantId: string, op: BulkRow, cursor: string | null): Promise<Batch> {
  const target = op.target as BulkTarget;
  if ('ids' in target) {
    const rest = cursor ? target.ids.filter((id) => id > cursor) : target.ids;
    const ids = rest.slice(0, BATCH_SIZE);
    return { ids, next: rest.length > BATCH_SIZE ? ids[ids.length - 1] : null };
  }
  if ('segment_id' in target) {
    const ids = await repo.segmentMemberBatch(db, tenantId, target.segment_id, cursor, BATCH_SIZE);
    return { ids, next: ids.length === BATCH_SIZE ? ids[ids.length - 1] : null };
  }
  // Keyset pages of the customer listing: stable while the batch changes the rows it returned.
  const page = await listCustomers(
    { db, config, tenantId, actor: op.created_by },
    { ...target.filter, limit: BATCH_SIZE, ...(cursor ? { cursor } : {}) },
  );
  return { ids: page.data.map((c) => c.id), next: page.next_cursor };
}

/**
 * The bulk.run job: batches of BATCH_SIZE customers, each in one transaction (the change, timeline,
 * events, audit, segment re-evaluation and the progress row together), so a redelivered job
 * resumes after the last committed batch and never applies one twice.
 */
export async function runBulk(db: Executor, config: Config, tenantId: string, id: string): Promise<void> {
  const op = await repo.findOperation(db, tenantId, id);
  if (!op || op.status === 'completed' || op.status === 'failed') return;
  await repo.markRunning(db, tenantId, id, op.total);
  let cursor = op.resume_cursor;
  try {
    for (;;) {
      const batch = await nextBatch(db, config, tenantId, op, cursor);
      if (batch.ids.length > 0) {
        await db.transaction(async (tx) => {
          const r = await applyBatch(tx, tenantId, op, batch.ids);
          await repo.recordProgress(tx, tenantId, id, { ...r, processed: batch.ids.length, cursor: batch.next });
        });
      }
      if (batch.next === null) break;
      cursor = batch.next;
    }
    await repo.finishOperation(db, tenantId, id, 'completed');
  } catch (err) {
    await repo.finishOperation(db, tenantId, id, 'failed', (err as Error).message);
    throw err;
  }
}

async function applyBatch(
  tx: Executor,
  tenantId: string,
  op: BulkRow,
  ids: string[],
): Promise<{ succeeded: number; failed: number; errors: BulkError[] }> {
  const live = await repo.lockLive(tx, tenantId, ids);
  const liveSet = new Set(live);
  const errors: BulkError[] = ids
    .filter((id) => !liveSet.has(id))
    .map((id) => ({ id, code: 'customer_not_found', message: `customer ${id} was not found` }));
  const actor = op.created_by;
  const audit = (entityId: string, before: unknown, after: unknown): AuditEntryInput => ({
    tenantId, actor, action: `customer.bulk_${op.action}`, entityType: 'customer', entityId, before, after, requestId: op.request_id,
  });
  const now = new Date();
  const activities: NewActivity[] = [];
  const events: NewOutboxEvent[] = [];
  const audits: AuditEntryInput[] = [];
  const p = op.params;

  switch (op.action) {
    case 'tag':
    case 'untag': {
      const changed = await repo.changeTags(tx, tenantId, live, p.tags as string[], op.action === 'tag' ? 'add' : 'remove');
      for (const c of changed) {
        const diff = op.action === 'tag' ? c.after.filter((t) => !c.before.includes(t)) : c.before.filter((t) => !c.after.includes(t));
        activities.push({
          customerId: c.id, type: 'profile.updated', occurredAt: now, actor, sourceId: op.id,
          summary: `${op.action === 'tag' ? 'Tagged' : 'Untagged'} ${diff.join(', ')} (bulk)`,
          data: { changes: { tags: { from: c.before, to: c.after } }, bulk_operation_id: op.id },
        });
        events.push({ type: 'customer.updated', customerId: c.id, payload: { customer_id: c.id, changes: { tags: { from: c.before, to: c.after } } } });
        audits.push(audit(c.id, { tags: c.before }, { tags: c.after }));
      }
      break;
    }
    case 'update_field': {
      const field = p.field as string;
      const changed = await repo.setField(tx, tenantId, live, field, p.value);
      for (const c of changed) {
        const change = { [field]: { from: c.before ?? null, to: c.after ?? null } };
        activities.push({
          customerId: c.id, type: 'profile.updated', occurredAt: now, actor, sourceId: op.id,
          summary: `Profile updated: ${field} (bulk)`, data: { changes: change, bulk_operation_id: op.id },
        });
        events.push({ type: 'customer.updated', customerId: c.id, payload: { customer_id: c.id, changes: change } });
        audits.push(audit(c.id, { [field]: c.before ?? null }, { [field]: c.after ?? null }));
      }
      break;
    }
    case 'delete': {
      const before = new Map((await findCustomers(tx, tenantId, live)).map((r) => [r.id, toProfile(r)]));
      const deleted = await repo.softDelete(tx, tenantId, live);
      for (const d of deleted) {
        activities.push({
          customerId: d.id, type: 'customer.deleted', occurredAt: now, actor, sourceId: op.id,
          summary: 'Customer deleted (bulk)', data: { bulk_operation_id: op.id },
        });
        events.push({ type: 'customer.deleted', customerId: d.id, payload: { customer_id: d.id, external_id: d.external_id } });
        audits.push(audit(d.id, before.get(d.id) ?? null, { deleted: true }));
      }
      break;
    }
    case 'add_to_segment': {
      const segmentId = p.segment_id as string;
      const seg = await findSegment(tx, tenantId, segmentId);
      if (!seg) {
        // deleted since the operation was created: every customer of the batch fails
        return { succeeded: 0, failed: ids.length, errors: ids.map((id) => ({ id, code: 'segment_not_found', message: `segment ${segmentId} was not found` })) };
      }
      if (live.length) await addMembers({ db: tx, tenantId, actor, requestId: op.request_id }, segmentId, live);
      for (const id of live) audits.push(audit(id, null, { segment_id: segmentId }));
      break;
    }
  }
  await insertActivities(tx, tenantId, activities);
  await enqueueEvents(tx, tenantId, events);
  await recordAuditMany(tx, audits);
  // dynamic segments may name the changed fields, tags or (static) segments
  await reevaluateCustomers(tx, tenantId, live);
  return { succeeded: live.length, failed: errors.length, errors };
}
