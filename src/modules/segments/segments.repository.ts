import { arr, sql, type Executor, type SQL, pgConstraint, pgErrorCode, PG_UNIQUE_VIOLATION } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';

export interface SegmentRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string | null;
  type: 'dynamic' | 'static';
  rules: unknown;
  auto_update: boolean;
  customer_count: number;
  last_refreshed_at: Date | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = sql.raw(`s.id, s.tenant_id, s.name, s.description, s.type, s.rules, s.auto_update, s.customer_count,
  s.last_refreshed_at, s.created_by, s.created_at, s.updated_at`);

/** A customer that segments may hold: neither soft-deleted nor merged into another. */
const LIVE = sql.raw('c.deleted_at IS NULL AND c.merged_into IS NULL');

function nameConflict(err: unknown, name: string): never {
  if (pgErrorCode(err) === PG_UNIQUE_VIOLATION && pgConstraint(err) === 'segments_name_key') {
    throw new AppError('segment_exists', `a segment named "${name}" already exists`, { field: 'name', value: name });
  }
  throw err;
}

export async function findSegment(db: Executor, tenantId: string, id: string) {
  return db.one<SegmentRow>(sql`
    SELECT ${COLUMNS} FROM segments s
    WHERE s.tenant_id = ${tenantId}::uuid AND s.id = ${id}::uuid AND s.deleted_at IS NULL`);
}

/**
 * Serializes the writers of one segment's membership (create/update, calculate, refresh, static
 * members, delete) until the transaction ends. Not a row lock: re-evaluation of changed customers
 * (inside ingestion) inserts members first and updates the segment row last, so a writer that
 * held the row while inserting members could deadlock with it.
 */
export async function lockSegment(db: Executor, tenantId: string, id: string): Promise<void> {
  await db.run(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`segment:${tenantId}:${id}`}::text, 0))`);
}

export async function listSegments(
  db: Executor,
  q: { tenantId: string; limit: number; after?: { name: string; id: string } },
): Promise<SegmentRow[]> {
  return db.rows<SegmentRow>(sql`
    SELECT ${COLUMNS} FROM segments s
    WHERE s.tenant_id = ${q.tenantId}::uuid AND s.deleted_at IS NULL
      ${q.after ? sql`AND (lower(s.name), s.id) > (lower(${q.after.name}::text), ${q.after.id}::uuid)` : sql``}
    ORDER BY lower(s.name), s.id
    LIMIT ${q.limit}`);
}

/** Live segments of a tenant with their rules (dependency checks, refresh planning). */
export async function listRuleSegments(
  db: Executor,
  tenantId: string,
  opts: { autoUpdateOnly?: boolean } = {},
): Promise<Pick<SegmentRow, 'id' | 'name' | 'type' | 'rules' | 'auto_update'>[]> {
  return db.rows(sql`
    SELECT s.id, s.name, s.type, s.rules, s.auto_update FROM segments s
    WHERE s.tenant_id = ${tenantId}::uuid AND s.deleted_at IS NULL AND s.type = 'dynamic'
      ${opts.autoUpdateOnly ? sql`AND s.auto_update` : sql``}
    ORDER BY s.id`);
}

/** Ids of the given segment ids that exist (live) in the tenant. */
export async function existingSegmentIds(db: Executor, tenantId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.rows<{ id: string }>(sql`
    SELECT s.id FROM segments s
    WHERE s.tenant_id = ${tenantId}::uuid AND s.id = ANY(${arr(ids)}::uuid[]) AND s.deleted_at IS NULL`);
  return rows.map((r) => r.id);
}

export interface SegmentWrite {
  name: string;
  description: string | null;
  type: 'dynamic' | 'static';
  rules: unknown;
  autoUpdate: boolean;
}

export async function insertSegment(db: Executor, tenantId: string, w: SegmentWrite & { createdBy: string }): Promise<SegmentRow> {
  try {
    const row = await db.one<SegmentRow>(sql`
      WITH s AS (
        INSERT INTO segments (tenant_id, name, description, type, rules, auto_update, created_by)
        VALUES (${tenantId}::uuid, ${w.name}, ${w.description}, ${w.type},
                ${w.rules === null ? null : JSON.stringify(w.rules)}::jsonb, ${w.autoUpdate}, ${w.createdBy})
        RETURNING *
      )
      SELECT ${COLUMNS} FROM s`);
    return row!;
  } catch (err) {
    nameConflict(err, w.name);
  }
}

export async function updateSegment(db: Executor, tenantId: string, id: string, w: SegmentWrite): Promise<SegmentRow> {
  try {
    const row = await db.one<SegmentRow>(sql`
      WITH s AS (
        UPDATE segments SET name = ${w.name}, description = ${w.description}, type = ${w.type},
          rules = ${w.rules === null ? null : JSON.stringify(w.rules)}::jsonb, auto_update = ${w.autoUpdate}, updated_at = now()
        WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND deleted_at IS NULL
        RETURNING *
      )
      SELECT ${COLUMNS} FROM s`);
    return row!;
  } catch (err) {
    nameConflict(err, w.name);
  }
}

/** Soft-deletes the segment and drops its membership (history stays). */
export async function softDeleteSegment(db: Executor, tenantId: string, id: string): Promise<void> {
  await db.run(sql`DELETE FROM segment_members WHERE tenant_id = ${tenantId}::uuid AND segment_id = ${id}::uuid`);
  await db.run(sql`
    UPDATE segments SET deleted_at = now(), updated_at = now(), customer_count = 0
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

// ---------------------------------------------------------------------------------------------
// Membership

/**
 * Members that no longer match `predicate` (or whose customer was deleted or merged) leave:
 * one anti-join DELETE. `customerIds` limits it to those customers.
 */
export async function deleteNonMatching(
  db: Executor,
  q: { tenantId: string; segmentId: string; predicate: SQL; customerIds?: string[] },
): Promise<string[]> {
  const rows = await db.rows<{ customer_id: string }>(sql`
    DELETE FROM segment_members m
    WHERE m.tenant_id = ${q.tenantId}::uuid AND m.segment_id = ${q.segmentId}::uuid
      ${q.customerIds ? sql`AND m.customer_id = ANY(${arr(q.customerIds)}::uuid[])` : sql``}
      AND NOT EXISTS (
        SELECT 1 FROM customers c
        WHERE c.tenant_id = m.tenant_id AND c.id = m.customer_id AND ${LIVE} AND (${q.predicate}))
    RETURNING m.customer_id`);
  return rows.map((r) => r.customer_id);
}

/** Matching customers that are not members yet enter: one INSERT … SELECT with an anti-join. */
export async function insertMatching(
  db: Executor,
  q: { tenantId: string; segmentId: string; predicate: SQL; customerIds?: string[] },
): Promise<string[]> {
  const rows = await db.rows<{ customer_id: string }>(sql`
    INSERT INTO segment_members (tenant_id, segment_id, customer_id, added_at)
    SELECT c.tenant_id, ${q.segmentId}::uuid, c.id, now()
    FROM customers c
    WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE}
      ${q.customerIds ? sql`AND c.id = ANY(${arr(q.customerIds)}::uuid[])` : sql``}
      AND (${q.predicate})
      AND NOT EXISTS (
        SELECT 1 FROM segment_members m
        WHERE m.tenant_id = c.tenant_id AND m.segment_id = ${q.segmentId}::uuid AND m.customer_id = c.id)
    ON CONFLICT DO NOTHING
    RETURNING customer_id`);
  return rows.map((r) => r.customer_id);
}

/**
 * A full calculation in ONE statement: the matching customers are computed once (one scan of the tenant's
 * customers, as the hand-written query would), then members not among them leave and those not yet members
 * enter (hash anti-joins against that set). Both sub-statements see the membership as it was before the
 * statement, which is what the difference needs.
 */
export async function applyDifference(
  db: Executor,
  q: { tenantId: string; segmentId: string; predicate: SQL },
): Promise<{ entered: string[]; exited: string[] }> {
  const rows = await db.rows<{ change: 'entered' | 'exited'; customer_id: string }>(sql`
    WITH target AS MATERIALIZED (
      SELECT c.id FROM customers c WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE} AND (${q.predicate})
    ),
    exited AS (
      DELETE FROM segment_members m
      WHERE m.tenant_id = ${q.tenantId}::uuid AND m.segment_id = ${q.segmentId}::uuid
        AND NOT EXISTS (SELECT 1 FROM target t WHERE t.id = m.customer_id)
      RETURNING m.customer_id
    ),
    entered AS (
      INSERT INTO segment_members (tenant_id, segment_id, customer_id, added_at)
      SELECT ${q.tenantId}::uuid, ${q.segmentId}::uuid, t.id, now()
      FROM target t
      WHERE NOT EXISTS (
        SELECT 1 FROM segment_members m
        WHERE m.tenant_id = ${q.tenantId}::uuid AND m.segment_id = ${q.segmentId}::uuid AND m.customer_id = t.id)
      ON CONFLICT DO NOTHING
      RETURNING customer_id
    )
    SELECT 'entered' AS change, customer_id FROM entered
    UNION ALL
    SELECT 'exited', customer_id FROM exited`);
  return {
    entered: rows.filter((r) => r.change === 'entered').map((r) => r.customer_id),
    exited: rows.filter((r) => r.change === 'exited').map((r) => r.customer_id),
  };
}

/** Adds live customers of the tenant to a segment; answers those that were not members. */
export async function addMembers(db: Executor, tenantId: string, segmentId: string, customerIds: string[]): Promise<string[]> {
  const rows = await db.rows<{ customer_id: string }>(sql`
    INSERT INTO segment_members (tenant_id, segment_id, customer_id, added_at)
    SELECT c.tenant_id, ${segmentId}::uuid, c.id, now()
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(customerIds)}::uuid[]) AND ${LIVE}
    ON CONFLICT DO NOTHING
    RETURNING customer_id`);
  return rows.map((r) => r.customer_id);
}

export async function removeMembers(db: Executor, tenantId: string, segmentId: string, customerIds: string[]): Promise<string[]> {
  const rows = await db.rows<{ customer_id: string }>(sql`
    DELETE FROM segment_members
    WHERE tenant_id = ${tenantId}::uuid AND segment_id = ${segmentId}::uuid AND customer_id = ANY(${arr(customerIds)}::uuid[])
    RETURNING customer_id`);
  return rows.map((r) => r.customer_id);
}

/** Ids among `customerIds` that are live customers of the tenant. */
export async function liveCustomerIds(db: Executor, tenantId: string, customerIds: string[]): Promise<string[]> {
  if (customerIds.length === 0) return [];
  const rows = await db.rows<{ id: string }>(sql`
    SELECT c.id FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(customerIds)}::uuid[]) AND ${LIVE}`);
  return rows.map((r) => r.id);
}

/** Sets customer_count from the membership table (after a full refresh). */
export async function recountSegment(db: Executor, tenantId: string, segmentId: string, refreshed: boolean): Promise<number> {
  const row = await db.one<{ customer_count: number }>(sql`
    UPDATE segments s SET customer_count = (
        SELECT count(*) FROM segment_members m WHERE m.tenant_id = s.tenant_id AND m.segment_id = s.id)
      ${refreshed ? sql`, last_refreshed_at = now()` : sql``}
    WHERE s.tenant_id = ${tenantId}::uuid AND s.id = ${segmentId}::uuid
    RETURNING s.customer_count`);
  return row?.customer_count ?? 0;
}

/** Moves customer_count by a difference (re-evaluation of a few customers: no full count). */
export async function adjustCount(db: Executor, tenantId: string, segmentId: string, delta: number): Promise<void> {
  if (delta === 0) return;
  await db.run(sql`
    UPDATE segments SET customer_count = greatest(0, customer_count + ${delta}::int)
    WHERE tenant_id = ${tenantId}::uuid AND id = ${segmentId}::uuid`);
}

export interface MembershipChange {
  segmentId: string;
  segmentName: string;
  customerId: string;
  change: 'entered' | 'exited';
}

export async function insertHistory(db: Executor, tenantId: string, changes: MembershipChange[]): Promise<void> {
  if (changes.length === 0) return;
  await db.run(sql`
    INSERT INTO segment_membership_history (tenant_id, segment_id, customer_id, change, at)
    SELECT ${tenantId}::uuid, x.s, x.c, x.ch, now()
    FROM unnest(${arr(changes.map((c) => c.segmentId))}::uuid[], ${arr(changes.map((c) => c.customerId))}::uuid[],
                ${arr(changes.map((c) => c.change))}::text[]) AS x(s, c, ch)`);
}

/** Changes are written in statements of at most this many (each binds four arrays of this length). */
const BOOKKEEPING_SLICE = 50_000;

/**
 * Membership changes into history, the timeline (segment.entered / segment.exited) and the outbox (one
 * customer.segment_changed per customer: segments entered and left, segment ids before and after, in the
 * order the customers first appear in `changes`), in ONE statement per slice of ≤ 50 000 changes: the
 * changes travel as four arrays and three INSERT … SELECT read them (no per-row JSON built in Node). A
 * customer's changes stay in one slice (one event per customer).
 */
export async function recordMembershipChanges(
  db: Executor,
  tenantId: string,
  changes: readonly MembershipChange[],
  opts: { actor: string; at: Date },
): Promise<void> {
  const byCustomer = new Map<string, MembershipChange[]>();
  for (const c of changes) {
    const list = byCustomer.get(c.customerId);
    if (list) list.push(c);
    else byCustomer.set(c.customerId, [c]);
  }
  let slice: MembershipChange[] = [];
  for (const list of byCustomer.values()) {
    if (slice.length > 0 && slice.length + list.length > BOOKKEEPING_SLICE) {
      await writeBookkeeping(db, tenantId, slice, opts);
      slice = [];
    }
    slice.push(...list);
  }
  await writeBookkeeping(db, tenantId, slice, opts);
}

async function writeBookkeeping(db: Executor, tenantId: string, changes: readonly MembershipChange[], opts: { actor: string; at: Date }): Promise<void> {
  if (changes.length === 0) return;
  const t = sql`${tenantId}::uuid`;
  await db.run(sql`
    WITH ch AS MATERIALIZED (
      SELECT x.segment_id, x.name, x.customer_id, x.change, x.ord
      FROM unnest(${arr(changes.map((c) => c.segmentId))}::uuid[], ${arr(changes.map((c) => c.segmentName))}::text[],
                  ${arr(changes.map((c) => c.customerId))}::uuid[], ${arr(changes.map((c) => c.change))}::text[])
           WITH ORDINALITY AS x(segment_id, name, customer_id, change, ord)
    ),
    history AS (
      INSERT INTO segment_membership_history (tenant_id, segment_id, customer_id, change, at)
      SELECT ${t}, ch.segment_id, ch.customer_id, ch.change, now() FROM ch ORDER BY ch.ord
    ),
    timeline AS (
      INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, actor)
      SELECT ${t}, ch.customer_id, CASE ch.change WHEN 'entered' THEN 'segment.entered' ELSE 'segment.exited' END,
             ${opts.at.toISOString()}::timestamptz,
             CASE ch.change WHEN 'entered' THEN 'Entered' ELSE 'Left' END || ' segment ' || ch.name,
             jsonb_build_object('segment_id', ch.segment_id, 'segment_name', ch.name), ${opts.actor}::text
      FROM ch ORDER BY ch.ord
    ),
    per AS (
      SELECT ch.customer_id, min(ch.ord) AS first_ord,
             coalesce(jsonb_agg(jsonb_build_object('id', ch.segment_id, 'name', ch.name) ORDER BY ch.ord) FILTER (WHERE ch.change = 'entered'), '[]') AS entered,
             coalesce(jsonb_agg(jsonb_build_object('id', ch.segment_id, 'name', ch.name) ORDER BY ch.ord) FILTER (WHERE ch.change = 'exited'), '[]') AS exited,
             coalesce(array_agg(ch.segment_id::text) FILTER (WHERE ch.change = 'entered'), '{}') AS entered_ids,
             coalesce(array_agg(ch.segment_id::text) FILTER (WHERE ch.change = 'exited'), '{}') AS exited_ids
      FROM ch GROUP BY ch.customer_id
    ),
    now_in AS (
      SELECT m.customer_id, array_agg(m.segment_id::text) AS ids
      FROM segment_members m
      JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id AND s.deleted_at IS NULL
      WHERE m.tenant_id = ${t} AND m.customer_id IN (SELECT per.customer_id FROM per)
      GROUP BY m.customer_id
    )
    INSERT INTO outbox (tenant_id, type, customer_id, payload, occurred_at)
    SELECT ${t}, 'customer.segment_changed', per.customer_id,
           jsonb_build_object(
             'customer_id', per.customer_id, 'entered', per.entered, 'exited', per.exited,
             'old_segments', (SELECT coalesce(jsonb_agg(o.id ORDER BY o.id COLLATE "C"), '[]') FROM (
                                SELECT a.id FROM unnest(coalesce(n.ids, '{}')) AS a(id) WHERE NOT (a.id = ANY(per.entered_ids))
                                UNION ALL SELECT e.id FROM unnest(per.exited_ids) AS e(id)) o),
             'new_segments', (SELECT coalesce(jsonb_agg(a.id ORDER BY a.id COLLATE "C"), '[]') FROM unnest(coalesce(n.ids, '{}')) AS a(id))),
           now()
    FROM per LEFT JOIN now_in n ON n.customer_id = per.customer_id
    -- seq follows the order the customers first appear in
    ORDER BY per.first_ord`);
}

// ---------------------------------------------------------------------------------------------
// Reading members

export interface MemberRow {
  customer_id: string;
  added_key: string;
}

/** One page of a segment's members, newest first (added_at, customer id). */
export async function listMemberIds(
  db: Executor,
  q: { tenantId: string; segmentId: string; limit: number; after?: { addedAt: string; customerId: string } },
): Promise<MemberRow[]> {
  return db.rows<MemberRow>(sql`
    SELECT m.customer_id, to_char(m.added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS added_key
    FROM segment_members m
    WHERE m.tenant_id = ${q.tenantId}::uuid AND m.segment_id = ${q.segmentId}::uuid
      ${q.after ? sql`AND (m.added_at, m.customer_id) < (${q.after.addedAt}::timestamptz, ${q.after.customerId}::uuid)` : sql``}
    ORDER BY m.added_at DESC, m.customer_id DESC
    LIMIT ${q.limit}`);
}

/** Count and the newest matching customers' ids for rules not saved yet. */
export async function previewMatches(
  db: Executor,
  q: { tenantId: string; predicate: SQL; sample: number },
): Promise<{ count: number; ids: string[] }> {
  const count = await db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM customers c WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE} AND (${q.predicate})`);
  const ids = await db.rows<{ id: string }>(sql`
    SELECT c.id FROM customers c WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE} AND (${q.predicate})
    ORDER BY c.created_at DESC, c.id DESC LIMIT ${q.sample}`);
  return { count: count?.n ?? 0, ids: ids.map((r) => r.id) };
}

/** The live segments each customer belongs to now (ordered by name), grouped by customer. */
export async function membershipsOf(
  db: Executor,
  tenantId: string,
  customerIds: string[],
): Promise<Map<string, { id: string; name: string }[]>> {
  const out = new Map<string, { id: string; name: string }[]>();
  if (customerIds.length === 0) return out;
  const rows = await db.rows<{ customer_id: string; id: string; name: string }>(sql`
    SELECT m.customer_id, s.id, s.name
    FROM segment_members m
    JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id AND s.deleted_at IS NULL
    WHERE m.tenant_id = ${tenantId}::uuid AND m.customer_id = ANY(${arr(customerIds)}::uuid[])
    ORDER BY lower(s.name), s.id`);
  for (const { customer_id, ...segment } of rows) {
    const list = out.get(customer_id);
    if (list) list.push(segment);
    else out.set(customer_id, [segment]);
  }
  return out;
}

/** Names of the live segments each customer belongs to, by name. */
export async function segmentNamesOf(db: Executor, tenantId: string, customerIds: string[]): Promise<Map<string, string[]>> {
  const all = await membershipsOf(db, tenantId, customerIds);
  return new Map([...all].map(([id, segments]) => [id, segments.map((s) => s.name)]));
}

/** Tenants with auto-update dynamic segments (the scheduled refresh walks them). */
export async function tenantsWithAutoSegments(db: Executor): Promise<string[]> {
  const rows = await db.rows<{ tenant_id: string }>(sql`
    SELECT DISTINCT tenant_id FROM segments WHERE deleted_at IS NULL AND type = 'dynamic' AND auto_update`);
  return rows.map((r) => r.tenant_id);
}
