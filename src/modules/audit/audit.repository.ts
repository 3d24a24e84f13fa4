import { arr, sql, type Executor, type SQL } from '../../db/database.js';

/** One entry as the writer gives it (already resolved: JSON values, no undefined). */
export interface AuditInsert {
  tenantId: string;
  actor: string;
  action: string;
  entityType: string;
  entityId: string | null;
  before: unknown;
  after: unknown;
  requestId: string | null;
}

// Entries travel as one JSON parameter (like the outbox): a bulk change can audit many rows.
const CHUNK = 5_000;

export async function insertAuditEntries(tx: Executor, entries: readonly AuditInsert[]): Promise<void> {
  for (let i = 0; i < entries.length; i += CHUNK) await tx.run(insertAuditEntriesSql(entries.slice(i, i + CHUNK)));
}

/** The INSERT statement of insertAuditEntries for a slice of entries, for callers that fold it into a bigger statement. */
export function insertAuditEntriesSql(entries: readonly AuditInsert[]): SQL {
  const payload = JSON.stringify(
    entries.map((e) => ({
      t: e.tenantId, a: e.actor, ac: e.action, et: e.entityType, ei: e.entityId,
      b: e.before === undefined ? null : e.before, af: e.after === undefined ? null : e.after, r: e.requestId,
    })),
  );
  return sql`
    INSERT INTO audit_log (tenant_id, actor, action, entity_type, entity_id, before, after, request_id)
    SELECT e.t, e.a, e.ac, e.et, e.ei, nullif(e.b, 'null'::jsonb), nullif(e.af, 'null'::jsonb), e.r
    FROM ROWS FROM (jsonb_to_recordset(${payload}::jsonb)
      AS (t uuid, a text, ac text, et text, ei text, b jsonb, af jsonb, r text)) WITH ORDINALITY AS e(t, a, ac, et, ei, b, af, r, n)
    ORDER BY e.n`;
}

/** An entry with the fields the chain hash covers; created_at as exact text (microseconds). */
export interface AuditChainRow {
  tenant_id: string;
  id: string;
  seq: number;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
  created_at: string;
  before_digest: string | null;
  after_digest: string | null;
  chain_seq: number | null;
  hash: string | null;
  redacted_at: Date | null;
}

const exactTs = (column: SQL) => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const CHAIN_COLUMNS = sql`tenant_id, id, seq, actor, action, entity_type, entity_id, before, after, request_id,
  ${exactTs(sql.raw('created_at'))} AS created_at, before_digest, after_digest, chain_seq, hash, redacted_at`;

/** Tenants with entries waiting to be sealed. */
export async function tenantsWithUnsealed(db: Executor): Promise<string[]> {
  const rows = await db.rows<{ tenant_id: string }>(sql`
    SELECT DISTINCT tenant_id FROM audit_log WHERE chain_seq IS NULL`);
  return rows.map((r) => r.tenant_id);
}

/**
 * Serializes sealers of one tenant (several workers, the API's synchronous seal) for the rest of
 * the transaction.
 */
export async function lockTenantChain(tx: Executor, tenantId: string): Promise<void> {
  await tx.run(sql`SELECT pg_advisory_xact_lock(hashtext('audit_chain'), hashtext(${tenantId}))`);
}

export async function findChainHead(db: Executor, tenantId: string): Promise<{ chain_seq: number; hash: string } | undefined> {
  return db.one(sql`SELECT chain_seq, hash FROM audit_chain_heads WHERE tenant_id = ${tenantId}::uuid`);
}

/**
 * Committed entries not sealed yet, in insertion order, after `afterSeq`: a sealer working through a
 * backlog starts each batch past the entries it just sealed, instead of stepping over their dead
 * index entries again (the partial index keeps them until vacuum).
 */
export async function findUnsealed(tx: Executor, tenantId: string, afterSeq: number, limit: number): Promise<AuditChainRow[]> {
  return tx.rows<AuditChainRow>(sql`
    SELECT ${CHAIN_COLUMNS} FROM audit_log
    WHERE tenant_id = ${tenantId}::uuid AND chain_seq IS NULL AND seq > ${afterSeq}
    ORDER BY seq LIMIT ${limit}`);
}

export async function sealEntries(
  tx: Executor,
  tenantId: string,
  sealed: readonly { id: string; chainSeq: number; hash: string; beforeDigest: string; afterDigest: string }[],
): Promise<void> {
  if (sealed.length === 0) return;
  await tx.run(sql`
    UPDATE audit_log a SET chain_seq = s.chain_seq, hash = s.hash, before_digest = s.bd, after_digest = s.ad
    FROM unnest(${arr(sealed.map((s) => s.id))}::uuid[], ${arr(sealed.map((s) => s.chainSeq))}::bigint[],
                ${arr(sealed.map((s) => s.hash))}::text[], ${arr(sealed.map((s) => s.beforeDigest))}::text[],
                ${arr(sealed.map((s) => s.afterDigest))}::text[]) AS s(id, chain_seq, hash, bd, ad)
    WHERE a.tenant_id = ${tenantId}::uuid AND a.id = s.id AND a.chain_seq IS NULL`);
  const last = sealed[sealed.length - 1];
  await tx.run(sql`
    INSERT INTO audit_chain_heads (tenant_id, chain_seq, hash) VALUES (${tenantId}::uuid, ${last.chainSeq}, ${last.hash})
    ON CONFLICT (tenant_id) DO UPDATE SET chain_seq = excluded.chain_seq, hash = excluded.hash, sealed_at = now()`);
}

/** Sealed entries in chain order after `afterChainSeq`. */
export async function findSealed(db: Executor, tenantId: string, afterChainSeq: number, limit: number): Promise<AuditChainRow[]> {
  return db.rows<AuditChainRow>(sql`
    SELECT ${CHAIN_COLUMNS} FROM audit_log
    WHERE tenant_id = ${tenantId}::uuid AND chain_seq > ${afterChainSeq}
    ORDER BY chain_seq LIMIT ${limit}`);
}

export async function countUnsealed(db: Executor, tenantId: string): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = ${tenantId}::uuid AND chain_seq IS NULL`);
  return row?.n ?? 0;
}

export interface AuditListRow {
  id: string;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
  created_at: Date;
  chain_seq: number | null;
  hash: string | null;
  redacted_at: Date | null;
  created_key: string;
}

export interface AuditFilter {
  tenantId: string;
  actor?: string;
  action?: string;
  entityType?: string;
  entityId?: string;
  from?: string;
  to?: string;
  limit: number;
  before?: { createdAt: string; id: string };
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listAuditEntries(db: Executor, f: AuditFilter): Promise<AuditListRow[]> {
  const where: SQL[] = [sql`tenant_id = ${f.tenantId}::uuid`];
  if (f.actor !== undefined) where.push(sql`actor = ${f.actor}`);
  if (f.action !== undefined) {
    // "customer.*" lists a whole family of actions
    if (f.action.endsWith('.*')) where.push(sql`starts_with(action, ${f.action.slice(0, -1)})`);
    else where.push(sql`action = ${f.action}`);
  }
  if (f.entityType !== undefined) where.push(sql`entity_type = ${f.entityType}`);
  if (f.entityId !== undefined) where.push(sql`entity_id = ${f.entityId}`);
  if (f.from !== undefined) where.push(sql`created_at >= ${f.from}::timestamptz`);
  if (f.to !== undefined) where.push(sql`created_at < ${f.to}::timestamptz`);
  if (f.before) where.push(sql`(created_at, id) < (${f.before.createdAt}::timestamptz, ${f.before.id}::uuid)`);
  return db.rows<AuditListRow>(sql`
    SELECT id, actor, action, entity_type, entity_id, before, after, request_id, created_at, chain_seq, hash, redacted_at,
           ${exactTs(sql.raw('created_at'))} AS created_key
    FROM audit_log
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY created_at DESC, id DESC
    LIMIT ${f.limit}`);
}

/**
 * Erasure: removes before/after from the entries about a customer (by entity, or any entry whose
 * snapshots mention one of `needles`, lower-cased e-mail or phone). The chain keeps their digests,
 * so it still verifies. Answers the number of entries redacted.
 */
export async function redactAuditEntries(
  tx: Executor,
  tenantId: string,
  opts: { entityIds: string[]; needles: string[] },
): Promise<number> {
  const needles = opts.needles.filter((n) => n.length >= 3);
  return tx.run(sql`
    UPDATE audit_log SET before = NULL, after = NULL, redacted_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND redacted_at IS NULL AND (before IS NOT NULL OR after IS NOT NULL)
      AND (entity_id = ANY(${arr(opts.entityIds)}::text[])
           OR EXISTS (SELECT 1 FROM unnest(${arr(needles)}::text[]) AS n(v)
                      WHERE strpos(lower(coalesce(before::text, '') || ' ' || coalesce(after::text, '')), n.v) > 0))`);
}
