import { arr, setLocalWorkMem, sql, type Executor, type SQL } from '../../db/database.js';

/*
 * All SQL of duplicate detection. Candidate pairs come only from blocks (customers sharing a
 * blocking key); a pair is then scored once, whatever the number of blocks it shares.
 */

export interface DedupeSettings {
  /** exact identifiers compared: same e-mail key, same E.164 phone */
  fields: ('email' | 'phone')[];
  /** similar names (pg_trgm) corroborated by one of fuzzy_fields */
  fuzzy_match: boolean;
  fuzzy_fields: ('city' | 'date_of_birth' | 'phone_suffix')[];
  /** pg_trgm similarity of the normalized full names from which two names are "similar" */
  name_similarity: number;
  /** pairs scoring below are not kept */
  min_score: number;
  /** the scan job merges customers with the very same e-mail address into the oldest one */
  auto_merge_exact_email: boolean;
}

/** Blocks larger than this are too generic to tell anything (a shared office e-mail, "Ion Pop" in a capital). */
export const MAX_BLOCK = 200;

const LIVE = (alias: string) => sql.raw(`${alias}.deleted_at IS NULL AND ${alias}.merged_into IS NULL`);

/** The columns scoring reads, with the blocking keys computed once. */
const keyColumns = (c: string) => sql.raw(`
  ${c}.id, ${c}.email, ${c}.phone, ${c}.date_of_birth,
  crm_email_key(${c}.email) AS ek, crm_name_key(${c}.first_name) AS fk, crm_name_key(${c}.last_name) AS lk,
  crm_name_key(${c}.city) AS ck, right(${c}.phone, 7) AS ps`);

/**
 * Scores pairs (a < b) given by the CTE `pairs(a, b)` over the CTE `k` (keyColumns of every
 * customer named by a pair) and answers (a, b, score, reasons) for the pairs reaching min_score.
 * Evidence is combined as independent signals: score = 1 − Π(1 − p).
 */
function scoredSelect(s: DedupeSettings): SQL {
  const email = s.fields.includes('email');
  const phone = s.fields.includes('phone');
  const fuzzy = s.fuzzy_match;
  const byCity = fuzzy && s.fuzzy_fields.includes('city');
  const byDob = fuzzy && s.fuzzy_fields.includes('date_of_birth');
  const bySuffix = fuzzy && s.fuzzy_fields.includes('phone_suffix');
  return sql`
    SELECT f.a, f.b,
           round((1 - (1 - f.pe) * (1 - f.pp) * (1 - f.pn))::numeric, 4) AS score,
           array_remove(ARRAY[
             CASE WHEN f.pe > 0 AND f.email_exact THEN 'same_email' WHEN f.pe > 0 THEN 'same_email_normalized' END,
             CASE WHEN f.pp > 0 THEN 'same_phone' END,
             CASE WHEN f.pn > 0 THEN 'similar_name' END,
             CASE WHEN f.pn > 0 AND f.city THEN 'same_city' END,
             CASE WHEN f.pn > 0 AND f.dob THEN 'same_birth_date' END,
             CASE WHEN f.pn > 0 AND f.suffix THEN 'same_phone_suffix' END
           ], NULL) AS reasons
    FROM (
      SELECT g.*,
             CASE WHEN g.name_ok THEN 1 - (1 - CASE WHEN g.city THEN 0.45 + 0.3 * g.sim ELSE 0 END)
                                        * (1 - CASE WHEN g.dob THEN 0.6 + 0.35 * g.sim ELSE 0 END)
                                        * (1 - CASE WHEN g.suffix THEN 0.45 + 0.3 * g.sim ELSE 0 END)
                  ELSE 0 END AS pn
      FROM (
        SELECT p.a, p.b,
               ${email ? sql`CASE WHEN x.ek = y.ek THEN CASE WHEN x.email = y.email THEN 0.97 ELSE 0.92 END ELSE 0 END` : sql`0`} AS pe,
               coalesce(x.email = y.email, false) AS email_exact,
               ${phone ? sql`CASE WHEN x.phone = y.phone THEN 0.85 ELSE 0 END` : sql`0`} AS pp,
               similarity(coalesce(x.fk, '') || ' ' || coalesce(x.lk, ''), coalesce(y.fk, '') || ' ' || coalesce(y.lk, '')) AS sim,
               -- two known, different birth dates contradict a name match (namesakes, relatives)
               ${fuzzy ? sql`x.lk IS NOT NULL AND y.lk IS NOT NULL AND NOT coalesce(x.date_of_birth <> y.date_of_birth, false)
                 AND similarity(coalesce(x.fk, '') || ' ' || x.lk, coalesce(y.fk, '') || ' ' || y.lk) >= ${s.name_similarity}::real` : sql`false`} AS name_ok,
               ${byCity ? sql`coalesce(x.ck = y.ck, false)` : sql`false`} AS city,
               ${byDob ? sql`coalesce(x.date_of_birth = y.date_of_birth, false)` : sql`false`} AS dob,
               ${bySuffix ? sql`coalesce(x.ps = y.ps AND x.phone <> y.phone, false)` : sql`false`} AS suffix
        FROM pairs p JOIN k x ON x.id = p.a JOIN k y ON y.id = p.b
      ) g
    ) f
    WHERE (1 - (1 - f.pe) * (1 - f.pp) * (1 - f.pn)) >= ${s.min_score}::float8`;
}

/** The blocking keys of one customer row of `k` (alias `c`), per the settings; NULL keys are dropped. */
function blockKeys(s: DedupeSettings): SQL {
  const parts: SQL[] = [];
  if (s.fields.includes('email')) parts.push(sql`'e:' || c.ek`);
  if (s.fields.includes('phone')) parts.push(sql`'p:' || c.phone`);
  if (s.fuzzy_match) {
    if (s.fuzzy_fields.includes('city')) {
      // a typo in the first name keeps the last name, a typo in the last name keeps the first
      parts.push(sql`'lc:' || c.lk || '|' || left(c.fk, 1) || '|' || c.ck`);
      parts.push(sql`'fc:' || c.fk || '|' || left(c.lk, 1) || '|' || c.ck`);
    }
    if (s.fuzzy_fields.includes('date_of_birth')) parts.push(sql`'d:' || c.date_of_birth::text || '|' || left(c.lk, 1)`);
    if (s.fuzzy_fields.includes('phone_suffix')) parts.push(sql`'s:' || c.ps || '|' || left(c.lk, 1)`);
  }
  if (parts.length === 0) parts.push(sql`NULL::text`);
  return sql`ARRAY[${sql.join(parts, sql`, `)}]`;
}

/**
 * These statements are estimated far above their real cost (the planner cannot know how small
 * blocks are), which makes PostgreSQL JIT-compile them: seconds of compilation for a statement
 * that runs in a fraction of that. Off for the rest of the transaction (PGlite accepts and ignores it).
 */
async function noJit(tx: Executor): Promise<void> {
  await tx.run(sql`SET LOCAL jit = off`);
}

export interface ScanResult {
  pairs: number;
}

/**
 * Full detection over the tenant's live customers: block keys, pairs within blocks of at most
 * MAX_BLOCK customers (hash join on the key, never a cross join), scoring, then an upsert of the
 * candidates. Open candidates the scan no longer finds are dropped; dismissed ones stay dismissed.
 */
export async function scanAll(tx: Executor, tenantId: string, s: DedupeSettings): Promise<ScanResult> {
  await noJit(tx);
  // Millions of keys: with the default 4 MB the hash aggregation and the joins spill to disk
  // (external merge sorts); one scan at a time per tenant, so a larger budget is affordable.
  await setLocalWorkMem(tx, 256);
  const row = await tx.one<{ n: number }>(sql`
    WITH k AS MATERIALIZED (
      SELECT ${keyColumns('c')} FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE('c')}
    ),
    keys AS (
      SELECT c.id, key COLLATE "C" AS key FROM k c CROSS JOIN LATERAL unnest(${blockKeys(s)}) AS key WHERE key IS NOT NULL
    ),
    -- hash aggregation and hash joins on the keys: no sort of millions of keys
    counts AS (SELECT key FROM keys GROUP BY key HAVING count(*) BETWEEN 2 AND ${MAX_BLOCK}),
    blocked AS MATERIALIZED (SELECT keys.id, keys.key FROM keys JOIN counts ON counts.key = keys.key),
    pairs AS (
      SELECT DISTINCT x.id AS a, y.id AS b FROM blocked x JOIN blocked y ON y.key = x.key AND x.id < y.id
    ),
    scored AS (${scoredSelect(s)}),
    upserted AS (
      INSERT INTO duplicate_candidates AS d (tenant_id, customer_a, customer_b, score, reasons)
      SELECT ${tenantId}::uuid, a, b, score, reasons FROM scored
      ON CONFLICT (tenant_id, customer_a, customer_b) DO UPDATE
        SET score = EXCLUDED.score, reasons = EXCLUDED.reasons, updated_at = now()
        WHERE d.status = 'open'
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM scored)::int AS n`);
  // Upserted rows carry this transaction's now(); older open rows were not found again.
  await tx.run(sql`
    DELETE FROM duplicate_candidates
    WHERE tenant_id = ${tenantId}::uuid AND status = 'open' AND updated_at < now()`);
  return { pairs: row?.n ?? 0 };
}

/**
 * Detection for the given customers only (after they were created or changed): the other side of
 * each pair is found through the blocking-key indexes, one probe per key and customer. Their open
 * candidates that no longer hold are dropped. Answers the number of pairs found.
 */
export async function scanCustomers(tx: Executor, tenantId: string, customerIds: string[], s: DedupeSettings): Promise<number> {
  if (customerIds.length === 0) return 0;
  await noJit(tx);
  const ids = arr(customerIds);
  const t = sql`${tenantId}::uuid`;
  // Each probe is a LATERAL subquery on one changed customer's keys: a parameterized index scan
  // per key and customer, whatever the table size (a join would let the planner pick a scan of
  // the whole tenant for a big batch).
  const probes: SQL[] = [];
  if (s.fields.includes('email')) {
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND crm_email_key(c.email) = s.ek AND c.email IS NOT NULL AND ${LIVE('c')}`);
  }
  if (s.fields.includes('phone')) {
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND c.phone = s.phone AND c.phone IS NOT NULL AND ${LIVE('c')}`);
  }
  if (s.fuzzy_match && s.fuzzy_fields.includes('city')) {
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND crm_name_key(c.last_name) = s.lk AND crm_name_key(c.city) = s.ck AND c.last_name IS NOT NULL AND ${LIVE('c')}
      AND left(crm_name_key(c.first_name), 1) = left(s.fk, 1)`);
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND crm_name_key(c.first_name) = s.fk AND crm_name_key(c.city) = s.ck AND c.first_name IS NOT NULL AND ${LIVE('c')}
      AND left(crm_name_key(c.last_name), 1) = left(s.lk, 1)`);
  }
  if (s.fuzzy_match && s.fuzzy_fields.includes('date_of_birth')) {
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND c.date_of_birth = s.date_of_birth AND c.date_of_birth IS NOT NULL AND ${LIVE('c')}
      AND left(crm_name_key(c.last_name), 1) = left(s.lk, 1)`);
  }
  if (s.fuzzy_match && s.fuzzy_fields.includes('phone_suffix')) {
    probes.push(sql`SELECT c.id FROM customers c WHERE c.tenant_id = ${t}
      AND right(c.phone, 7) = s.ps AND c.phone IS NOT NULL AND ${LIVE('c')}
      AND left(crm_name_key(c.last_name), 1) = left(s.lk, 1)`);
  }
  const found = probes.length === 0
    ? sql`SELECT NULL::uuid AS sid, NULL::uuid AS cid WHERE false`
    : sql`SELECT s.id AS sid, x.id AS cid FROM s CROSS JOIN LATERAL (${sql.join(probes, sql` UNION ALL `)}) x`;
  const row = await tx.one<{ n: number }>(sql`
    WITH s AS MATERIALIZED (
      SELECT ${keyColumns('c')} FROM customers c
      WHERE c.tenant_id = ${t} AND c.id = ANY(${ids}::uuid[]) AND ${LIVE('c')}
    ),
    found AS (${found}),
    pairs AS MATERIALIZED (
      SELECT DISTINCT least(sid, cid) AS a, greatest(sid, cid) AS b FROM found WHERE sid <> cid
    ),
    k AS MATERIALIZED (
      SELECT x.* FROM (SELECT a AS id FROM pairs UNION SELECT b FROM pairs) ids
      CROSS JOIN LATERAL (SELECT ${keyColumns('c')} FROM customers c WHERE c.tenant_id = ${t} AND c.id = ids.id) x
    ),
    scored AS MATERIALIZED (${scoredSelect(s)}),
    stale AS (
      DELETE FROM duplicate_candidates d
      WHERE d.tenant_id = ${t} AND d.status = 'open'
        AND (d.customer_a = ANY(${ids}::uuid[]) OR d.customer_b = ANY(${ids}::uuid[]))
        AND (d.customer_a, d.customer_b) NOT IN (SELECT a, b FROM scored)
      RETURNING 1
    ),
    upserted AS (
      INSERT INTO duplicate_candidates AS d (tenant_id, customer_a, customer_b, score, reasons)
      SELECT ${t}, a, b, score, reasons FROM scored
      ON CONFLICT (tenant_id, customer_a, customer_b) DO UPDATE
        SET score = EXCLUDED.score, reasons = EXCLUDED.reasons, updated_at = now()
        WHERE d.status = 'open' AND (d.score <> EXCLUDED.score OR d.reasons <> EXCLUDED.reasons)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM scored)::int AS n, (SELECT count(*) FROM stale)::int AS dropped,
           (SELECT count(*) FROM upserted)::int AS written`);
  return row?.n ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Incremental queue

/** Queues customers for the incremental check (after their identifiers or names may have changed). */
export async function queueCustomers(db: Executor, tenantId: string, customerIds: string[]): Promise<void> {
  if (customerIds.length === 0) return;
  await db.run(sql`
    INSERT INTO dedupe_queue (tenant_id, customer_id)
    SELECT ${tenantId}::uuid, unnest(${arr([...new Set(customerIds)].sort())}::uuid[])
    -- sorted: concurrent batches queueing the same customers wait on each other in one order, never deadlock
    ON CONFLICT DO NOTHING`);
}

/** Takes up to `limit` queued customers of one tenant (oldest first), removing them from the queue. */
export async function takeQueued(tx: Executor, limit: number): Promise<{ tenantId: string; customerIds: string[] } | null> {
  const first = await tx.one<{ tenant_id: string }>(sql`
    SELECT tenant_id FROM dedupe_queue ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED`);
  if (!first) return null;
  const rows = await tx.rows<{ customer_id: string }>(sql`
    DELETE FROM dedupe_queue q
    WHERE (q.tenant_id, q.customer_id) IN (
      SELECT tenant_id, customer_id FROM dedupe_queue
      WHERE tenant_id = ${first.tenant_id}::uuid ORDER BY queued_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING q.customer_id`);
  return { tenantId: first.tenant_id, customerIds: rows.map((r) => r.customer_id) };
}

export async function unqueueCustomers(db: Executor, tenantId: string, customerIds: string[]): Promise<void> {
  if (customerIds.length === 0) return;
  await db.run(sql`DELETE FROM dedupe_queue WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(customerIds)}::uuid[])`);
}

// ---------------------------------------------------------------------------------------------
// Settings

export async function readSettings(db: Executor, tenantId: string): Promise<unknown> {
  const row = await db.one<{ s: unknown }>(sql`
    SELECT settings -> 'duplicate_detection' AS s FROM tenants WHERE id = ${tenantId}::uuid`);
  return row?.s ?? null;
}

/** Writes only the duplicate_detection key: other capabilities keep their settings. */
export async function writeSettings(db: Executor, tenantId: string, settings: DedupeSettings): Promise<void> {
  await db.run(sql`
    UPDATE tenants SET settings = jsonb_set(settings, '{duplicate_detection}', ${JSON.stringify(settings)}::jsonb, true)
    WHERE id = ${tenantId}::uuid`);
}

// ---------------------------------------------------------------------------------------------
// Candidates

export interface CandidateRow {
  id: string;
  customer_a: string;
  customer_b: string;
  score: number;
  reasons: string[];
  status: 'open' | 'dismissed' | 'merged';
  detected_at: Date;
  updated_at: Date;
  resolved_by: string | null;
  resolved_at: Date | null;
}

const CANDIDATE_COLUMNS = sql.raw('d.id, d.customer_a, d.customer_b, d.score, d.reasons, d.status, d.detected_at, d.updated_at, d.resolved_by, d.resolved_at');

export async function listCandidates(
  db: Executor,
  q: { tenantId: string; status: string; minScore: number; customerId?: string; limit: number; after?: { score: number; id: string } },
): Promise<CandidateRow[]> {
  return db.rows<CandidateRow>(sql`
    SELECT ${CANDIDATE_COLUMNS} FROM duplicate_candidates d
    WHERE d.tenant_id = ${q.tenantId}::uuid AND d.status = ${q.status} AND d.score >= ${q.minScore}::numeric
      ${q.customerId ? sql`AND (d.customer_a = ${q.customerId}::uuid OR d.customer_b = ${q.customerId}::uuid)` : sql``}
      ${q.after ? sql`AND (d.score < ${q.after.score}::numeric OR (d.score = ${q.after.score}::numeric AND d.id > ${q.after.id}::uuid))` : sql``}
    ORDER BY d.score DESC, d.id
    LIMIT ${q.limit}`);
}

export async function findCandidate(db: Executor, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<CandidateRow | undefined> {
  return db.one<CandidateRow>(sql`
    SELECT ${CANDIDATE_COLUMNS} FROM duplicate_candidates d
    WHERE d.tenant_id = ${tenantId}::uuid AND d.id = ${id}::uuid ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

export async function setCandidateStatus(db: Executor, tenantId: string, id: string, status: 'dismissed' | 'open', actor: string): Promise<CandidateRow> {
  const row = await db.one<CandidateRow>(sql`
    UPDATE duplicate_candidates d SET status = ${status}, resolved_by = ${actor}, resolved_at = now(), updated_at = now()
    WHERE d.tenant_id = ${tenantId}::uuid AND d.id = ${id}::uuid
    RETURNING ${CANDIDATE_COLUMNS}`);
  return row!;
}

/**
 * After a merge: pairs among the merged records are marked merged; other open pairs of the merged
 * records are dropped (the survivor is checked again through the queue).
 */
export async function resolveMergedCandidates(tx: Executor, tenantId: string, survivorId: string, mergedIds: string[], actor: string): Promise<void> {
  const all = arr([survivorId, ...mergedIds]);
  const merged = arr(mergedIds);
  await tx.run(sql`
    UPDATE duplicate_candidates SET status = 'merged', resolved_by = ${actor}, resolved_at = now(), updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND customer_a = ANY(${all}::uuid[]) AND customer_b = ANY(${all}::uuid[])`);
  await tx.run(sql`
    DELETE FROM duplicate_candidates
    WHERE tenant_id = ${tenantId}::uuid AND status = 'open'
      AND (customer_a = ANY(${merged}::uuid[]) OR customer_b = ANY(${merged}::uuid[]))`);
}

/** Groups of live customers with the very same e-mail address (oldest first in each group). */
export async function exactEmailGroups(db: Executor, tenantId: string, limit: number): Promise<string[][]> {
  const rows = await db.rows<{ ids: string[] }>(sql`
    SELECT array_agg(id ORDER BY created_at, id) AS ids FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.email IS NOT NULL AND ${LIVE('c')}
    GROUP BY c.email HAVING count(*) BETWEEN 2 AND ${MAX_BLOCK}
    LIMIT ${limit}`);
  return rows.map((r) => r.ids);
}

// ---------------------------------------------------------------------------------------------
// Scans (jobs)

export interface ScanRow {
  id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  pairs: number | null;
  auto_merged: number | null;
  error: string | null;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const SCAN_COLUMNS = sql.raw('id, status, pairs, auto_merged, error, created_by, created_at, started_at, finished_at');

export async function insertScan(db: Executor, tenantId: string, actor: string): Promise<ScanRow> {
  return (await db.one<ScanRow>(sql`
    INSERT INTO dedupe_scans (tenant_id, created_by) VALUES (${tenantId}::uuid, ${actor}) RETURNING ${SCAN_COLUMNS}`))!;
}

export async function findScan(db: Executor, tenantId: string, id: string): Promise<ScanRow | undefined> {
  return db.one<ScanRow>(sql`SELECT ${SCAN_COLUMNS} FROM dedupe_scans WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

/** Moves a queued (or, on a redelivery, running) scan to running; false when it is already finished. */
export async function startScan(db: Executor, tenantId: string, id: string): Promise<boolean> {
  const n = await db.run(sql`
    UPDATE dedupe_scans SET status = 'running', started_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND status IN ('queued', 'running')`);
  return n > 0;
}

export async function finishScan(
  db: Executor,
  tenantId: string,
  id: string,
  r: { status: 'completed' | 'failed'; pairs?: number; autoMerged?: number; error?: string },
): Promise<void> {
  await db.run(sql`
    UPDATE dedupe_scans SET status = ${r.status}, pairs = ${r.pairs ?? null}, auto_merged = ${r.autoMerged ?? null},
      error = ${r.error ?? null}, finished_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

export interface CustomerSummary {
  id: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  phone: string | null;
  city: string | null;
  date_of_birth: string | null;
  created_at: Date;
  merged_into: string | null;
  deleted: boolean;
}

/** Short profiles of the customers of a page of candidates, whatever their state. */
export async function summariesOf(db: Executor, tenantId: string, ids: string[]): Promise<Map<string, CustomerSummary>> {
  if (ids.length === 0) return new Map();
  const rows = await db.rows<CustomerSummary>(sql`
    SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.city, c.date_of_birth, c.created_at, c.merged_into,
           c.deleted_at IS NOT NULL AS deleted
    FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr([...new Set(ids)])}::uuid[])`);
  return new Map(rows.map((r) => [r.id, r]));
}
