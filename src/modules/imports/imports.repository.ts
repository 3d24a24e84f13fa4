import { arr, sql, type Executor, type SQL } from '../../db/database.js';
import { initialTierSql } from '../loyalty/loyalty.repository.js';
import type { ImportType } from './imports.mapping.js';
import type { NewCustomerRow } from '../ingest/ingest.repository.js';

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

/**
 * Fresh planner statistics for the tables an import looks rows up in by key. An import can grow a table
 * many times over between two autovacuum analyzes (or with autovacuum off): planned from the statistics
 * of a much smaller table, the look-ups of a batch become scans of the tenant's rows, or use the wrong
 * index, and every batch gets slower than the one before.
 */
export async function analyzeLookupTables(db: Executor): Promise<void> {
  await db.run(sql`ANALYZE customers, ingested_events`);
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
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(customerIds)}::uuid[]))) AND created_at >= ${since}::timestamptz`);
  return new Set(rows.map((r) => r.id));
}

/** Order ids of the batch that exist already (an imported one is then an update). */
export async function existingOrders(db: Executor, tenantId: string, orderIds: string[]): Promise<Set<string>> {
  if (orderIds.length === 0) return new Set();
  const rows = await db.rows<{ id: string }>(sql`
    SELECT id FROM orders WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(orderIds)}::text[])))`);
  return new Set(rows.map((r) => r.id));
}

/**
 * Which identities match a live customer already (external id, e-mail or phone, the identity resolution's
 * keys), or an identifier of a customer merged into a live one (customer_aliases), read-only. Answers the
 * matched values per kind. One index probe per value (a LATERAL subquery per key, kept apart from the
 * join by OFFSET 0): the cost follows the batch, not the table (`= ANY(…) OR = ANY(…) OR = ANY(…)` over
 * the table is planned as a scan of all the tenant's rows once the three lists are long).
 */
export async function matchIdentities(
  db: Executor,
  tenantId: string,
  keys: { externalIds: string[]; emails: string[]; phones: string[] },
): Promise<{ externalIds: Set<string>; emails: Set<string>; phones: Set<string> }> {
  const out = { externalIds: new Set<string>(), emails: new Set<string>(), phones: new Set<string>() };
  if (keys.externalIds.length + keys.emails.length + keys.phones.length === 0) return out;
  const live = sql`c.tenant_id = ${tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL`;
  const rows = await db.rows<{ kind: 'x' | 'e' | 'p'; value: string }>(sql`
    SELECT 'x' AS kind, m.value
    FROM unnest(${arr([...new Set(keys.externalIds)])}::text[]) AS k(v)
    CROSS JOIN LATERAL (SELECT c.external_id AS value FROM customers c WHERE ${live} AND c.external_id IS NOT NULL AND c.external_id = k.v OFFSET 0) m
    UNION ALL
    SELECT 'e', m.value
    FROM unnest(${arr([...new Set(keys.emails)])}::text[]) AS k(v)
    CROSS JOIN LATERAL (SELECT c.email AS value FROM customers c WHERE ${live} AND c.email IS NOT NULL AND c.email = k.v OFFSET 0) m
    UNION ALL
    SELECT 'p', m.value
    FROM unnest(${arr([...new Set(keys.phones)])}::text[]) AS k(v)
    CROSS JOIN LATERAL (SELECT c.phone AS value FROM customers c WHERE ${live} AND c.phone IS NOT NULL AND c.phone = k.v OFFSET 0) m
    UNION ALL
    SELECT CASE a.kind WHEN 'external_id' THEN 'x' WHEN 'email' THEN 'e' ELSE 'p' END, a.value
    FROM customer_aliases a
    WHERE a.tenant_id = ${tenantId}::uuid
      AND ((a.kind = 'external_id' AND a.value = ANY(${arr(keys.externalIds)}::text[]))
           OR (a.kind = 'email' AND a.value = ANY(${arr(keys.emails)}::text[]))
           OR (a.kind = 'phone' AND a.value = ANY(${arr(keys.phones)}::text[])))`);
  for (const r of rows) (r.kind === 'x' ? out.externalIds : r.kind === 'e' ? out.emails : out.phones).add(r.value);
  return out;
}

/** A new customer of the bulk path, with its profile as ingesting its registration would leave it. */
export interface ImportedCustomer extends NewCustomerRow {
  companyName: string | null;
  gender: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  postalCode: string | null;
  /** YYYY-MM-DD */
  dateOfBirth: string | null;
  customerType: string | null;
  status: string | null;
  consent: Record<string, unknown> | null;
  lastActivityAt: string;
}

/**
 * Inserts new customers with their whole profile in one statement: one row version per customer (the
 * ingestion path inserts the identity, then updates the profile: two versions, each entered in every
 * index of the table). New customers start in the tenant's first loyalty tier.
 */
function insertImportedCustomersSql(tenantId: string, rows: ImportedCustomer[]): SQL {
  const col = <K extends keyof ImportedCustomer>(k: K) => arr(rows.map((r) => r[k] ?? null));
  return sql`
    INSERT INTO customers (tenant_id, id, external_id, email, phone, first_name, last_name, company_name, gender, city, state, country,
                           postal_code, date_of_birth, source, customer_type, status, consent, last_activity_at, loyalty_tier)
    SELECT ${tenantId}::uuid, u.id, u.external_id, u.email, u.phone, u.first_name, u.last_name, u.company_name, u.gender, u.city, u.state,
           u.country, u.postal_code, u.date_of_birth, u.source, coalesce(u.customer_type, 'individual'), coalesce(u.status, 'active'),
           coalesce(u.consent, '{}'::jsonb), u.last_activity_at, ${initialTierSql(tenantId)}
    FROM unnest(
      ${col('id')}::uuid[], ${col('externalId')}::text[], ${col('email')}::text[], ${col('phone')}::text[],
      ${col('firstName')}::text[], ${col('lastName')}::text[], ${col('companyName')}::text[], ${col('gender')}::text[],
      ${col('city')}::text[], ${col('state')}::text[], ${col('country')}::text[], ${col('postalCode')}::text[],
      ${col('dateOfBirth')}::date[], ${col('source')}::text[], ${col('customerType')}::text[], ${col('status')}::text[],
      ${arr(rows.map((r) => (r.consent ? JSON.stringify(r.consent) : null)))}::jsonb[], ${col('lastActivityAt')}::timestamptz[]
    ) AS u(id, external_id, email, phone, first_name, last_name, company_name, gender, city, state, country, postal_code,
           date_of_birth, source, customer_type, status, consent, last_activity_at)`;
}

/**
 * A bulk chunk's writes in ONE statement (data-modifying CTEs; the foreign-key checks run at its end and
 * see every row it inserted): the idempotency rows (`ingested`, an INSERT … RETURNING id), the customers,
 * then the other rows about them (`rest`: timeline, consent ledger, outbox, audit — INSERT statements built
 * by their own repositories). One round trip instead of one per table: on a loaded machine each round trip
 * costs several milliseconds of scheduling, whatever the statement does. Answers how many idempotency rows
 * were new (fewer than given: some events were applied before; the caller rolls the transaction back).
 */
export async function writeNewCustomers(
  tx: Executor,
  tenantId: string,
  parts: { ingested: SQL; customers: ImportedCustomer[]; rest: SQL[] },
): Promise<number> {
  const ctes = [
    sql`bulk_ingested AS (${parts.ingested})`,
    sql`bulk_customers AS (${insertImportedCustomersSql(tenantId, parts.customers)})`,
    ...parts.rest.map((s, i) => sql`${sql.raw(`bulk_write_${i}`)} AS (${s})`),
  ];
  const row = await tx.one<{ n: number }>(sql`WITH ${sql.join(ctes, sql`, `)} SELECT count(*)::int AS n FROM bulk_ingested`);
  return row?.n ?? 0;
}
