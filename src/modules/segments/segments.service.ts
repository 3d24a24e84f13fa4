import type { Executor } from '../../db/database.js';
import { recordAudit } from '../audit/audit.service.js';
import { enrollFromSegmentChanges } from '../automation/automation.triggers.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { profilesOf } from '../customers/customers.service.js';
import type { CustomerProfile } from '../customers/customers.schemas.js';
import * as repo from './segments.repository.js';
import type { MembershipChange, SegmentRow } from './segments.repository.js';
import { compileRules, parseRules, pathOfSegmentRef, referencedSegments, type RuleGroup } from './segments.rules.js';
import type { CreateSegmentBody, Segment, UpdateSegmentBody } from './segments.schemas.js';

export type { MembershipChange };

/** Who is asking, for which tenant, on which database. */
export interface SegmentCtx {
  db: Executor;
  tenantId: string;
  /** "key:<id>" / "user:<id>" / "system", recorded on the timeline */
  actor: string;
  /** request.id when from HTTP, for the audit trail */
  requestId?: string | null;
}

const segmentSnapshot = (row: SegmentRow) => ({
  name: row.name, description: row.description, type: row.type, rules: row.rules ?? null, auto_update: row.auto_update,
});

function audit(tx: Executor, ctx: Pick<SegmentCtx, 'tenantId' | 'actor' | 'requestId'>, action: string, id: string, before: unknown, after: unknown) {
  return recordAudit(tx, {
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action, entityType: 'segment', entityId: id, before, after,
  });
}

export function toSegment(row: SegmentRow): Segment {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    type: row.type,
    rules: (row.rules ?? null) as Segment['rules'],
    auto_update: row.auto_update,
    customer_count: row.customer_count,
    last_refreshed_at: row.last_refreshed_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

async function requireSegment(db: Executor, tenantId: string, id: string, opts: { lock?: boolean } = {}): Promise<SegmentRow> {
  if (!isUuid(id)) throw new AppError('segment_not_found', `segment ${id} was not found`, { id });
  // read after taking the lock, so a writer that waited sees the previous writer's result
  if (opts.lock) await repo.lockSegment(db, tenantId, id.toLowerCase());
  const row = await repo.findSegment(db, tenantId, id);
  if (!row) throw new AppError('segment_not_found', `segment ${id} was not found`, { id });
  return row;
}

/** The live segment or 404 segment_not_found (used by the customer listing's segment_id filter). */
export async function assertSegmentExists(db: Executor, tenantId: string, id: string): Promise<void> {
  await requireSegment(db, tenantId, id);
}

// ---------------------------------------------------------------------------------------------
// Rules: references to other segments

type RuleSegment = { id: string; rules: unknown };

/** Segments named by `rules` must exist in this tenant, and following references must not lead back to `selfId`. */
async function checkReferences(db: Executor, tenantId: string, rules: RuleGroup, selfId?: string): Promise<void> {
  const refs = referencedSegments(rules);
  if (refs.length === 0) return;
  const existing = new Set(await repo.existingSegmentIds(db, tenantId, refs));
  for (const id of refs) {
    if (!existing.has(id) || id === selfId) {
      const path = pathOfSegmentRef(rules, id) ?? '';
      const message = id === selfId ? 'a segment cannot contain itself' : `segment ${id} does not exist`;
      throw new AppError('invalid_rule', `invalid rule at ${path}: ${message}`, { path, message });
    }
  }
  if (!selfId) return;
  const graph = dependencyGraph(await repo.listRuleSegments(db, tenantId));
  graph.set(selfId, refs);
  // Is selfId reachable from its own references?
  const seen = new Set<string>();
  const stack = [...refs];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === selfId) {
      const path = pathOfSegmentRef(rules, refs.find((r) => reaches(graph, r, selfId))!) ?? '';
      throw new AppError('invalid_rule', `invalid rule at ${path}: segment references form a cycle`, { path, message: 'segment references form a cycle' });
    }
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(graph.get(id) ?? []));
  }
}

function reaches(graph: Map<string, string[]>, from: string, to: string): boolean {
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(graph.get(id) ?? []));
  }
  return false;
}

function dependencyGraph(segments: RuleSegment[]): Map<string, string[]> {
  return new Map(segments.map((s) => [s.id, referencedSegments(s.rules as RuleGroup)]));
}

/** Segments ordered so that a segment comes after the segments its rules name (refresh order). */
export function refreshOrder<T extends RuleSegment>(segments: T[]): T[] {
  const byId = new Map(segments.map((s) => [s.id, s]));
  const graph = dependencyGraph(segments);
  const out: T[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string) => {
    if (state.get(id)) return; // done, or a cycle (never stored; ignore rather than loop)
    state.set(id, 'visiting');
    for (const dep of graph.get(id) ?? []) if (byId.has(dep)) visit(dep);
    state.set(id, 'done');
    out.push(byId.get(id)!);
  };
  for (const s of segments) visit(s.id);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Membership

/**
 * THE place where membership changes leave the segments module, in the caller's transaction: membership
 * history, the timeline (segment.entered / segment.exited) and one `customer.segment_changed` outbox event
 * per customer (segments entered and left, the customer's segment ids before and after), written set-based
 * by recordMembershipChanges; then the workflow enrollments.
 */
export async function onMembershipChanged(
  tx: Executor,
  tenantId: string,
  changes: MembershipChange[],
  opts: { actor?: string } = {},
): Promise<void> {
  if (changes.length === 0) return;
  await repo.recordMembershipChanges(tx, tenantId, changes, { actor: opts.actor ?? 'system', at: new Date() });
  // segment_entered / segment_exited workflows enroll in the same transaction
  await enrollFromSegmentChanges(tx, tenantId, changes);
}

const changesOf = (seg: { id: string; name: string }, ids: string[], change: MembershipChange['change']): MembershipChange[] =>
  ids.map((customerId) => ({ segmentId: seg.id, segmentName: seg.name, customerId, change }));

/**
 * Applies the difference between the segment's rules and its stored membership: a DELETE of
 * members that stopped matching and an INSERT … SELECT of customers that started to (one statement
 * for a full calculation). With customerIds, only those customers are looked at. Answers the changes (not yet announced).
 */
async function applyRules(
  tx: Executor,
  tenantId: string,
  seg: { id: string; name: string; rules: unknown },
  customerIds?: string[],
): Promise<MembershipChange[]> {
  const predicate = compileRules(parseRules(seg.rules));
  if (!customerIds) {
    // full calculation: one scan of the customers serves both sides of the difference
    const d = await repo.applyDifference(tx, { tenantId, segmentId: seg.id, predicate });
    return [...changesOf(seg, d.entered, 'entered'), ...changesOf(seg, d.exited, 'exited')];
  }
  const exited = await repo.deleteNonMatching(tx, { tenantId, segmentId: seg.id, predicate, customerIds });
  const entered = await repo.insertMatching(tx, { tenantId, segmentId: seg.id, predicate, customerIds });
  return [...changesOf(seg, entered, 'entered'), ...changesOf(seg, exited, 'exited')];
}

export interface RefreshResult {
  entered: number;
  exited: number;
  total: number;
}

/** Full recalculation of one dynamic segment, locked against concurrent refreshes of it. */
async function refreshSegment(
  db: Executor,
  tenantId: string,
  segmentId: string,
  actor: string,
  opts: { requestId?: string | null; scheduled?: boolean } = {},
): Promise<RefreshResult | null> {
  return db.transaction(async (tx) => {
    await repo.lockSegment(tx, tenantId, segmentId);
    const seg = await repo.findSegment(tx, tenantId, segmentId);
    if (!seg) return null;
    if (seg.type !== 'dynamic') return { entered: 0, exited: 0, total: await repo.recountSegment(tx, tenantId, seg.id, false) };
    const changes = await applyRules(tx, tenantId, seg);
    await onMembershipChanged(tx, tenantId, changes, { actor });
    const total = await repo.recountSegment(tx, tenantId, seg.id, true);
    const entered = changes.filter((c) => c.change === 'entered').length;
    // A scheduled refresh that changed nothing is not a change worth an entry every hour.
    if (!opts.scheduled || changes.length > 0) {
      await audit(tx, { tenantId, actor: opts.scheduled ? 'job:segments.refresh' : actor, requestId: opts.requestId }, 'segment.calculate', seg.id, null, { entered, exited: changes.length - entered, total });
    }
    return { entered, exited: changes.length - entered, total };
  });
}

/**
 * Re-evaluates just these customers against every auto-update dynamic segment of the tenant
 * (after their data changed), in the caller's transaction: per segment one DELETE and one
 * INSERT … SELECT restricted to the customers, segments named by other segments first; then
 * history, timeline and counts. Called by ingestion.
 */
export async function reevaluateCustomers(db: Executor, tenantId: string, customerIds: string[]): Promise<{ entered: number; exited: number }> {
  const ids = [...new Set(customerIds)].filter(isUuid);
  if (ids.length === 0) return { entered: 0, exited: 0 };
  return db.transaction(async (tx) => {
    const segments = refreshOrder(await repo.listRuleSegments(tx, tenantId, { autoUpdateOnly: true }));
    const all: MembershipChange[] = [];
    const deltas = new Map<string, number>();
    for (const seg of segments) {
      const changes = await applyRules(tx, tenantId, seg, ids);
      deltas.set(seg.id, changes.reduce((n, c) => n + (c.change === 'entered' ? 1 : -1), 0));
      all.push(...changes);
    }
    // Segment rows last and in id order: concurrent batches queue here instead of deadlocking.
    for (const id of [...deltas.keys()].sort()) await repo.adjustCount(tx, tenantId, id, deltas.get(id)!);
    await onMembershipChanged(tx, tenantId, all);
    const entered = all.filter((c) => c.change === 'entered').length;
    return { entered, exited: all.length - entered };
  });
}

/**
 * The scheduled refresh: every auto-update dynamic segment (of one tenant, or all), each in its
 * own transaction, applying only the difference (time-based drift: "within 90d", birthdays).
 */
export async function refreshAllSegments(db: Executor, opts: { tenantId?: string } = {}): Promise<{ segments: number; entered: number; exited: number }> {
  const tenants = opts.tenantId ? [opts.tenantId] : await repo.tenantsWithAutoSegments(db);
  const out = { segments: 0, entered: 0, exited: 0 };
  const failed: { tenantId: string; segmentId: string; error: unknown }[] = [];
  for (const tenantId of tenants) {
    const segments = refreshOrder(await repo.listRuleSegments(db, tenantId, { autoUpdateOnly: true }));
    for (const seg of segments) {
      // one broken segment must not keep every other segment stale
      let r: RefreshResult | null;
      try {
        r = await refreshSegment(db, tenantId, seg.id, 'system', { scheduled: true });
      } catch (error) {
        failed.push({ tenantId, segmentId: seg.id, error });
        continue;
      }
      if (!r) continue;
      out.segments++;
      out.entered += r.entered;
      out.exited += r.exited;
    }
  }
  if (failed.length) {
    // the job fails (and is retried: only differences are applied, so a rerun is harmless)
    throw new AggregateError(failed.map((f) => f.error), `segment refresh failed for ${failed.map((f) => f.segmentId).join(', ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CRUD

function cleanName(name: string): string {
  const n = name.trim();
  if (!n) throw new AppError('validation_failed', 'name must not be blank', { field: 'name' });
  return n;
}

function segmentType(type: string | undefined, hasRules: boolean): 'dynamic' | 'static' {
  if (type === undefined) return hasRules ? 'dynamic' : 'static';
  // seed 003 calls static segments "manual"
  return type === 'manual' ? 'static' : (type as 'dynamic' | 'static');
}

function rulesFor(type: 'dynamic' | 'static', rules: unknown): RuleGroup | null {
  if (type === 'static') {
    if (rules !== undefined && rules !== null) {
      throw new AppError('validation_failed', 'static segments have no rules (their members are added and removed by hand)', { field: 'rules' });
    }
    return null;
  }
  if (rules === undefined || rules === null) {
    throw new AppError('invalid_rule', 'a dynamic segment needs rules', { path: '', message: 'a dynamic segment needs rules' });
  }
  return parseRules(rules);
}

export async function createSegment(ctx: SegmentCtx, input: CreateSegmentBody): Promise<Segment> {
  const name = cleanName(input.name);
  const type = segmentType(input.type, input.rules !== undefined && input.rules !== null);
  const rules = rulesFor(type, input.rules);
  return ctx.db.transaction(async (tx) => {
    if (rules) await checkReferences(tx, ctx.tenantId, rules);
    const row = await repo.insertSegment(tx, ctx.tenantId, {
      name, description: input.description?.trim() || null, type, rules, autoUpdate: input.auto_update ?? true, createdBy: ctx.actor,
    });
    await audit(tx, ctx, 'segment.create', row.id, null, segmentSnapshot(row));
    if (type === 'static') return toSegment(row);
    const changes = await applyRules(tx, ctx.tenantId, row);
    await onMembershipChanged(tx, ctx.tenantId, changes, { actor: ctx.actor });
    await repo.recountSegment(tx, ctx.tenantId, row.id, true);
    return toSegment((await repo.findSegment(tx, ctx.tenantId, row.id))!);
  });
}

/** Replaces name, description, type, rules and auto_update; a dynamic segment is recalculated. */
export async function updateSegment(ctx: SegmentCtx, id: string, input: UpdateSegmentBody): Promise<Segment> {
  const name = cleanName(input.name);
  return ctx.db.transaction(async (tx) => {
    const current = await requireSegment(tx, ctx.tenantId, id, { lock: true });
    const type = input.type === undefined ? current.type : segmentType(input.type, true);
    const rules = type === 'dynamic' ? rulesFor(type, input.rules === undefined ? current.rules : input.rules) : rulesFor(type, input.rules);
    if (rules) await checkReferences(tx, ctx.tenantId, rules, current.id);
    // Members first, the segment row last (see lockSegment).
    if (rules) {
      const changes = await applyRules(tx, ctx.tenantId, { id: current.id, name, rules });
      await onMembershipChanged(tx, ctx.tenantId, changes, { actor: ctx.actor });
    }
    const row = await repo.updateSegment(tx, ctx.tenantId, current.id, {
      name,
      description: input.description === undefined ? current.description : input.description?.trim() || null,
      type,
      rules,
      autoUpdate: input.auto_update ?? current.auto_update,
    });
    if (rules) await repo.recountSegment(tx, ctx.tenantId, row.id, true);
    await audit(tx, ctx, 'segment.update', row.id, segmentSnapshot(current), segmentSnapshot(row));
    return toSegment((await repo.findSegment(tx, ctx.tenantId, row.id))!);
  });
}

export async function getSegment(ctx: SegmentCtx, id: string): Promise<Segment> {
  return toSegment(await requireSegment(ctx.db, ctx.tenantId, id));
}

export async function listSegments(ctx: SegmentCtx, q: { limit?: number; cursor?: string }): Promise<Page<Segment>> {
  const limit = q.limit ?? 50;
  let after: { name: string; id: string } | undefined;
  if (q.cursor) {
    const [name, id] = readCursor(q.cursor, [(v) => typeof v === 'string' && v.length <= 200, isUuid]);
    after = { name: name as string, id: id as string };
  }
  const rows = await repo.listSegments(ctx.db, { tenantId: ctx.tenantId, limit: limit + 1, after });
  return pageOf(rows, limit, toSegment, (r) => [r.name, r.id]);
}

export async function deleteSegment(ctx: SegmentCtx, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const seg = await requireSegment(tx, ctx.tenantId, id, { lock: true });
    const users = (await repo.listRuleSegments(tx, ctx.tenantId)).filter((s) => referencedSegments(s.rules as RuleGroup).includes(seg.id));
    if (users.length) {
      throw new AppError('segment_in_use', `segment ${seg.name} is named in the rules of ${users.map((u) => u.name).join(', ')}`, {
        id: seg.id, used_by: users.map((u) => u.id),
      });
    }
    await repo.softDeleteSegment(tx, ctx.tenantId, seg.id);
    await audit(tx, ctx, 'segment.delete', seg.id, segmentSnapshot(seg), null);
  });
}

export async function calculateSegment(ctx: SegmentCtx, id: string): Promise<RefreshResult> {
  await requireSegment(ctx.db, ctx.tenantId, id);
  const result = await refreshSegment(ctx.db, ctx.tenantId, id, ctx.actor, { requestId: ctx.requestId });
  if (!result) throw new AppError('segment_not_found', `segment ${id} was not found`, { id });
  return result;
}

const SAMPLE_SIZE = 10;

export async function previewSegment(ctx: SegmentCtx, rulesInput: unknown): Promise<{ count: number; sample: CustomerProfile[] }> {
  const rules = parseRules(rulesInput);
  await checkReferences(ctx.db, ctx.tenantId, rules);
  const { count, ids } = await repo.previewMatches(ctx.db, { tenantId: ctx.tenantId, predicate: compileRules(rules), sample: SAMPLE_SIZE });
  return { count, sample: await profilesOf(ctx.db, ctx.tenantId, ids) };
}

// ---------------------------------------------------------------------------------------------
// Members

export async function listMembers(ctx: SegmentCtx, id: string, q: { limit?: number; cursor?: string }): Promise<Page<CustomerProfile>> {
  const seg = await requireSegment(ctx.db, ctx.tenantId, id);
  const limit = q.limit ?? 50;
  let after: { addedAt: string; customerId: string } | undefined;
  if (q.cursor) {
    const [addedAt, customerId] = readCursor(q.cursor, [isExactTs, isUuid]);
    after = { addedAt: addedAt as string, customerId: customerId as string };
  }
  const rows = await repo.listMemberIds(ctx.db, { tenantId: ctx.tenantId, segmentId: seg.id, limit: limit + 1, after });
  const page = rows.slice(0, limit);
  const profiles = new Map((await profilesOf(ctx.db, ctx.tenantId, page.map((r) => r.customer_id))).map((p) => [p.id, p]));
  const out = pageOf(rows, limit, (r) => r.customer_id, (r) => [r.added_key, r.customer_id]);
  // A member whose customer was deleted since the last refresh is not shown.
  return { data: out.data.map((cid) => profiles.get(cid)).filter((p): p is CustomerProfile => p !== undefined), next_cursor: out.next_cursor };
}

async function requireStatic(tx: Executor, tenantId: string, id: string): Promise<SegmentRow> {
  const seg = await requireSegment(tx, tenantId, id, { lock: true });
  if (seg.type !== 'static') {
    throw new AppError('conflict', `segment ${seg.name} is dynamic: its rules decide its members`, { id: seg.id, type: seg.type });
  }
  return seg;
}

export async function addMembers(ctx: SegmentCtx, id: string, customerIds: string[]): Promise<{ added: number; customer_count: number }> {
  const ids = [...new Set(customerIds.map((c) => c.toLowerCase()))];
  return ctx.db.transaction(async (tx) => {
    const seg = await requireStatic(tx, ctx.tenantId, id);
    const live = new Set(await repo.liveCustomerIds(tx, ctx.tenantId, ids));
    const missing = ids.filter((c) => !live.has(c));
    if (missing.length) throw new AppError('customer_not_found', `${missing.length} customer(s) were not found`, { ids: missing });
    const added = await repo.addMembers(tx, ctx.tenantId, seg.id, ids);
    await onMembershipChanged(tx, ctx.tenantId, changesOf(seg, added, 'entered'), { actor: ctx.actor });
    if (added.length) await audit(tx, ctx, 'segment.members_add', seg.id, null, { customer_ids: added });
    return { added: added.length, customer_count: await repo.recountSegment(tx, ctx.tenantId, seg.id, false) };
  });
}

export async function removeMembers(ctx: SegmentCtx, id: string, customerIds: string[]): Promise<{ removed: number; customer_count: number }> {
  const ids = [...new Set(customerIds.map((c) => c.toLowerCase()))];
  return ctx.db.transaction(async (tx) => {
    const seg = await requireStatic(tx, ctx.tenantId, id);
    const removed = await repo.removeMembers(tx, ctx.tenantId, seg.id, ids);
    await onMembershipChanged(tx, ctx.tenantId, changesOf(seg, removed, 'exited'), { actor: ctx.actor });
    if (removed.length) await audit(tx, ctx, 'segment.members_remove', seg.id, { customer_ids: removed }, null);
    return { removed: removed.length, customer_count: await repo.recountSegment(tx, ctx.tenantId, seg.id, false) };
  });
}
