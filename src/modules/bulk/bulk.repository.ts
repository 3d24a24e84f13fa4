import { arr, sql, type Executor, type SQL } from '../../db/database.js';

/*
 * All SQL of bulk operations: the operation rows, and one set-based statement per batch and action.
 */

export type BulkAction = 'tag' | 'untag' | 'add_to_segment' | 'update_field' | 'delete';
export type BulkStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface BulkError {
  id: string | null;
  code: string;
  message: string;
}

export interface BulkRow {
  id: string;
  action: BulkAction;
  params: Record<string, unknown>;
  target: Record<string, unknown>;
  status: BulkStatus;
  total: number | null;
  processed: number;
  succeeded: number;
  failed: number;
  report: { errors: BulkError[]; error?: string; errors_truncated?: boolean };
  resume_cursor: string | null;
  created_by: string;
  request_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const COLUMNS = sql.raw(`id, action, params, target, status, total, processed, succeeded, failed, report, resume_cursor,
  created_by, request_id, created_at, started_at, finished_at`);

/** Errors kept in the report; the counts stay exact beyond it. */
export const MAX_REPORTED_ERRORS = 1000;

export async function insertOperation(
  db: Executor,
  tenantId: string,
  op: { action: BulkAction; params: unknown; target: unknown; total: number | null; createdBy: string; requestId: string | null },
): Promise<BulkRow> {
  return (await db.one<BulkRow>(sql`
    INSERT INTO bulk_operations (tenant_id, action, params, target, total, created_by, request_id)
    VALUES (${tenantId}::uuid, ${op.action}, ${JSON.stringify(op.params)}::jsonb, ${JSON.stringify(op.target)}::jsonb, ${op.total},
            ${op.createdBy}, ${op.requestId})
    RETURNING ${COLUMNS}`))!;
}

export async function findOperation(db: Executor, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<BulkRow | undefined> {
  return db.one<BulkRow>(sql`
    SELECT ${COLUMNS} FROM bulk_operations WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

export async function markRunning(db: Executor, tenantId: string, id: string, total: number | null): Promise<void> {
  await db.run(sql`
    UPDATE bulk_operations SET status = 'running', started_at = coalesce(started_at, now()), total = coalesce(${total}::int, total)
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

/** Adds a batch's counts and errors and moves the resume point, in the batch's transaction. */
export async function recordProgress(
  tx: Executor,
  tenantId: string,
  id: string,
  p: { processed: number; succeeded: number; failed: number; errors: BulkError[]; cursor: string | null },
): Promise<void> {
  await tx.run(sql`
    UPDATE bulk_operations SET
      processed = processed + ${p.processed}::int,
      succeeded = succeeded + ${p.succeeded}::int,
      failed = failed + ${p.failed}::int,
      resume_cursor = ${p.cursor},
      report = CASE
        WHEN jsonb_array_length(report -> 'errors') >= ${MAX_REPORTED_ERRORS}::int THEN report || '{"errors_truncated": true}'
        ELSE jsonb_set(report, '{errors}', (report -> 'errors') || ${JSON.stringify(p.errors)}::jsonb)
      END
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

export async function finishOperation(db: Executor, tenantId: string, id: string, status: 'completed' | 'failed', error?: string): Promise<void> {
  await db.run(sql`
    UPDATE bulk_operations SET status = ${status}, finished_at = now(), total = coalesce(total, processed),
      report = CASE WHEN ${error ?? null}::text IS NULL THEN report ELSE report || jsonb_build_object('error', ${error ?? null}::text) END
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

// ---------------------------------------------------------------------------------------------
// Targets

/** Live members of a segment after `afterId`, in id order. */
export async function segmentMemberBatch(db: Executor, tenantId: string, segmentId: string, afterId: string | null, limit: number): Promise<string[]> {
  const rows = await db.rows<{ id: string }>(sql`
    SELECT m.customer_id AS id FROM segment_members m
    JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id AND c.deleted_at IS NULL AND c.merged_into IS NULL
    WHERE m.tenant_id = ${tenantId}::uuid AND m.segment_id = ${segmentId}::uuid
      ${afterId ? sql`AND m.customer_id > ${afterId}::uuid` : sql``}
    ORDER BY m.customer_id
    LIMIT ${limit}`);
  return rows.map((r) => r.id);
}

export async function countSegmentMembers(db: Executor, tenantId: string, segmentId: string): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM segment_members m
    JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id AND c.deleted_at IS NULL AND c.merged_into IS NULL
    WHERE m.tenant_id = ${tenantId}::uuid AND m.segment_id = ${segmentId}::uuid`);
  return row?.n ?? 0;
}

/** The live customers among `ids`, row-locked in id order (before a batch changes them). */
export async function lockLive(tx: Executor, tenantId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await tx.rows<{ id: string }>(sql`
    SELECT id FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(ids)}::uuid[]) AND deleted_at IS NULL AND merged_into IS NULL
    ORDER BY id FOR UPDATE`);
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// Actions: each answers the customers it really changed, with the value before and after.

export interface Changed<T> {
  id: string;
  before: T;
  after: T;
}

/** Adds (tag) or removes (untag) tags, keeping the order of the tags already there. */
export async function changeTags(tx: Executor, tenantId: string, ids: string[], tags: string[], mode: 'add' | 'remove'): Promise<Changed<string[]>[]> {
  const t = sql`${arr(tags)}::text[]`;
  const next: SQL = mode === 'add'
    ? sql`o.tags || ARRAY(SELECT x FROM unnest(${t}) WITH ORDINALITY AS u(x, n) WHERE NOT x = ANY(o.tags) ORDER BY n)`
    : sql`ARRAY(SELECT x FROM unnest(o.tags) WITH ORDINALITY AS u(x, n) WHERE NOT x = ANY(${t}) ORDER BY n)`;
  return tx.rows<Changed<string[]>>(sql`
    UPDATE customers c SET tags = ${next}, updated_at = now()
    FROM customers o
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[]) AND o.tenant_id = c.tenant_id AND o.id = c.id
      AND ${mode === 'add' ? sql`NOT (o.tags @> ${t})` : sql`o.tags && ${t}`}
    RETURNING c.id, o.tags AS before, c.tags AS after`);
}

/** Sets one text column, or one key of custom_fields (`custom.<key>`; null removes the key). */
export async function setField(tx: Executor, tenantId: string, ids: string[], field: string, value: unknown): Promise<Changed<unknown>[]> {
  const custom = field.startsWith('custom.') ? field.slice('custom.'.length) : null;
  if (custom !== null) {
    const next = value === null
      ? sql`o.custom_fields - ${custom}::text`
      : sql`jsonb_set(o.custom_fields, ARRAY[${custom}::text], ${JSON.stringify(value)}::jsonb, true)`;
    return tx.rows<Changed<unknown>>(sql`
      UPDATE customers c SET custom_fields = ${next}, updated_at = now()
      FROM customers o
      WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[]) AND o.tenant_id = c.tenant_id AND o.id = c.id
        AND (o.custom_fields -> ${custom}::text) IS DISTINCT FROM ${value === null ? sql`NULL::jsonb` : sql`${JSON.stringify(value)}::jsonb`}
      RETURNING c.id, o.custom_fields -> ${custom}::text AS before, c.custom_fields -> ${custom}::text AS after`);
  }
  const col = sql.raw(field);
  return tx.rows<Changed<unknown>>(sql`
    UPDATE customers c SET ${col} = ${value}::text, updated_at = now()
    FROM customers o
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[]) AND o.tenant_id = c.tenant_id AND o.id = c.id
      AND o.${col} IS DISTINCT FROM ${value}::text
    RETURNING c.id, o.${col} AS before, c.${col} AS after`);
}

export async function softDelete(tx: Executor, tenantId: string, ids: string[]): Promise<{ id: string; external_id: string | null }[]> {
  return tx.rows(sql`
    UPDATE customers SET deleted_at = now(), updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(ids)}::uuid[]) AND deleted_at IS NULL AND merged_into IS NULL
    RETURNING id, external_id`);
}
