import { arr, sql, type Executor } from '../../db/database.js';
import type { ImportType } from './imports.mapping.js';

/** All SQL of imports: the imports and import_errors tables, and the set-based look-ups of a batch. */

export type ImportStatus = 'queued' | 'running' | 'completed' | 'failed';

export interface ImportRow {
  id: string;
  tenant_id: string;
  type: ImportType;
  status: ImportStatus;
  dry_run: boolean;
  file_name: string | null;
  file_path: string | null;
  file_format: 'csv' | 'xlsx';
  file_bytes: number;
  encoding: string | null;
  delimiter: string | null;
  mapping: { headers: string[]; columns: (string | null)[]; mapping: Record<string, string | null>; ignored: string[] };
  total_rows: number;
  created: number;
  updated: number;
  rejected: number;
  unchanged: number;
  processed_rows: number;
  error_code: string | null;
  error_message: string | null;
  actor: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export async function insertImport(
  db: Executor,
  row: Pick<ImportRow, 'id' | 'tenant_id' | 'type' | 'dry_run' | 'file_name' | 'file_path' | 'file_format' | 'file_bytes' | 'encoding' | 'delimiter' | 'mapping' | 'actor'>,
): Promise<ImportRow> {
  return (await db.one<ImportRow>(sql`
    INSERT INTO imports (tenant_id, id, type, status, dry_run, file_name, file_path, file_format, file_bytes, encoding, delimiter, mapping, actor)
    VALUES (${row.tenant_id}::uuid, ${row.id}::uuid, ${row.type}, 'queued', ${row.dry_run}, ${row.file_name}, ${row.file_path},
            ${row.file_format}, ${row.file_bytes}, ${row.encoding}, ${row.delimiter}, ${JSON.stringify(row.mapping)}::jsonb, ${row.actor})
    RETURNING *`))!;
}

export async function findImport(db: Executor, tenantId: string, id: string): Promise<ImportRow | undefined> {
  return db.one<ImportRow>(sql`SELECT * FROM imports WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

/** Takes a queued (or interrupted running) import for a run; answers undefined when it is finished. */
export async function startImport(db: Executor, tenantId: string, id: string): Promise<ImportRow | undefined> {
  return db.one<ImportRow>(sql`
    UPDATE imports SET status = 'running', started_at = coalesce(started_at, now())
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND status IN ('queued', 'running')
    RETURNING *`);
}

export async function setTotalRows(db: Executor, tenantId: string, id: string, totalRows: number): Promise<void> {
  await db.run(sql`UPDATE imports SET total_rows = ${totalRows} WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

export interface RowError {
  rowNumber: number;
  reason: string;
  raw: Record<string, string> | null;
}

/**
 * A batch's outcome: its rejected rows and the grown counters, in one transaction so a resumed job
 * (processed_rows) neither loses nor doubles them.
 */
export async function recordBatch(
  db: Executor,
  tenantId: string,
  id: string,
  batch: { processedRows: number; created: number; updated: number; unchanged: number; errors: RowError[] },
): Promise<void> {
  await db.transaction(async (tx) => {
    if (batch.errors.length > 0) {
      await tx.run(sql`
        INSERT INTO import_errors (tenant_id, import_id, row_number, reason, raw)
        SELECT ${tenantId}::uuid, ${id}::uuid, u.row_number, u.reason, u.raw
        FROM unnest(${arr(batch.errors.map((e) => e.rowNumber))}::int[], ${arr(batch.errors.map((e) => e.reason))}::text[],
                    ${arr(batch.errors.map((e) => (e.raw ? JSON.stringify(e.raw) : null)))}::jsonb[]) AS u(row_number, reason, raw)
        ON CONFLICT (tenant_id, import_id, row_number) DO NOTHING`);
    }
    await tx.run(sql`
      UPDATE imports SET processed_rows = ${batch.processedRows}, created = created + ${batch.created}, updated = updated + ${batch.updated},
        unchanged = unchanged + ${batch.unchanged},
        rejected = (SELECT count(*) FROM import_errors e WHERE e.tenant_id = ${tenantId}::uuid AND e.import_id = ${id}::uuid)
      WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
  });
}

export async function finishImport(
  db: Executor,
  tenantId: string,
  id: string,
  outcome: { status: 'completed' | 'failed'; errorCode?: string | null; errorMessage?: string | null },
): Promise<ImportRow | undefined> {
  return db.one<ImportRow>(sql`
    UPDATE imports SET status = ${outcome.status}, error_code = ${outcome.errorCode ?? null}, error_message = ${outcome.errorMessage ?? null},
      finished_at = now(), file_path = NULL
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    RETURNING *`);
}

/** A page of rejected rows in row order (the errors CSV is written page by page). */
export async function listErrors(
  db: Executor,
  tenantId: string,
  importId: string,
  after: number,
  limit: number,
): Promise<{ row_number: number; reason: string; raw: Record<string, string> | null }[]> {
  return db.rows(sql`
    SELECT row_number, reason, raw FROM import_errors
    WHERE tenant_id = ${tenantId}::uuid AND import_id = ${importId}::uuid AND row_number > ${after}
    ORDER BY row_number LIMIT ${limit}`);
}

/** The database's clock: customers created by a batch have created_at at or after it. */
export async function clockNow(db: Executor): Promise<string> {
  const row = await db.one<{ now: string }>(sql`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`);
  return row!.now;
}

/** Which of these customers were created at or after `since`. */
export async function createdSince(db: Executor, tenantId: string, customerIds: string[], since: string): Promise<Set<string>> {
  if (customerIds.length === 0) return new Set();
  const rows = await db.rows<{ id: string }>(sql`
    SELECT id FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(customerIds)}::uuid[]) AND created_at >= ${since}::timestamptz`);
  return new Set(rows.map((r) => r.id));
}

/** Order ids of the batch that exist already (an imported one is then an update). */
export async function existingOrders(db: Executor, tenantId: string, orderIds: string[]): Promise<Set<string>> {
  if (orderIds.length === 0) return new Set();
  const rows = await db.rows<{ id: string }>(sql`
    SELECT id FROM orders WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(orderIds)}::text[])`);
  return new Set(rows.map((r) => r.id));
}

/**
 * Dry run: which identities match a live customer already (external id, e-mail or phone, the
 * identity resolution's keys), read-only. Answers the matched values per kind.
 */
export async function matchIdentities(
  db: Executor,
  tenantId: string,
  keys: { externalIds: string[]; emails: string[]; phones: string[] },
): Promise<{ externalIds: Set<string>; emails: Set<string>; phones: Set<string> }> {
  const rows = await db.rows<{ external_id: string | null; email: string | null; phone: string | null }>(sql`
    SELECT external_id, email, phone FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND deleted_at IS NULL AND merged_into IS NULL
      AND (external_id = ANY(${arr(keys.externalIds)}::text[]) OR email = ANY(${arr(keys.emails)}::text[])
           OR phone = ANY(${arr(keys.phones)}::text[]))`);
  const out = { externalIds: new Set<string>(), emails: new Set<string>(), phones: new Set<string>() };
  for (const r of rows) {
    if (r.external_id) out.externalIds.add(r.external_id);
    if (r.email) out.emails.add(r.email);
    if (r.phone) out.phones.add(r.phone);
  }
  return out;
}
