import { sql, type Executor, type SQL } from '../../db/database.js';
import { filterSql, type CustomerFilters } from '../customers/customers.repository.js';
import { EXPORT_COLUMNS } from '../segments/segments.reports.repository.js';

/**
 * All SQL of exports: keyset pages (by id) of customers and orders, each row the chosen columns as
 * text. Column SQL comes only from the whitelists below, never from the request.
 */

const isoUtc = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
const consentFlag = (flag: string) => `CASE WHEN c.consent ? '${flag}' THEN (CASE WHEN (c.consent->>'${flag}')::boolean THEN 'true' ELSE 'false' END) END`;

/** `text`: client-entered (formula-neutralized); `number`: written as a number in XLSX. */
export interface ColumnSpec {
  sql: string;
  text: boolean;
  number?: boolean;
}

const { member_since: _memberSince, ...segmentColumns } = EXPORT_COLUMNS;

/** The segment export's columns (one list for both exports), plus consent. */
export const CUSTOMER_COLUMNS: Record<string, ColumnSpec> = {
  ...Object.fromEntries(Object.entries(segmentColumns).map(([k, v]) => [k, { ...v, number: v.sql.endsWith('::text') && !['c.id::text', 'c.date_of_birth::text'].includes(v.sql) }])),
  marketing_email: { sql: consentFlag('marketing_email'), text: false },
  marketing_sms: { sql: consentFlag('marketing_sms'), text: false },
  updated_at: { sql: isoUtc('c.updated_at'), text: false },
};

export const ORDER_COLUMNS: Record<string, ColumnSpec> = {
  order_id: { sql: 'o.id', text: true },
  status: { sql: 'o.status', text: false },
  total: { sql: 'o.total::text', text: false, number: true },
  refunded_amount: { sql: 'o.refunded_amount::text', text: false, number: true },
  currency: { sql: 'o.currency', text: false },
  order_date: { sql: isoUtc('coalesce(o.completed_at, o.placed_at)'), text: false },
  placed_at: { sql: isoUtc('o.placed_at'), text: false },
  completed_at: { sql: isoUtc('o.completed_at'), text: false },
  cancelled_at: { sql: isoUtc('o.cancelled_at'), text: false },
  source: { sql: 'o.source', text: true },
  tickets: { sql: '(SELECT sum(i.quantity) FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id)::text', text: false, number: true },
  // the buyer: identity columns named as the import reads them back
  external_id: { sql: 'c.external_id', text: true },
  email: { sql: 'c.email', text: true },
  phone: { sql: 'c.phone', text: true },
  first_name: { sql: 'c.first_name', text: true },
  last_name: { sql: 'c.last_name', text: true },
  crm_customer_id: { sql: 'o.customer_id::text', text: false },
};

const select = (specs: Record<string, ColumnSpec>, columns: string[]): SQL =>
  sql.raw(columns.map((c, i) => `${specs[c].sql} AS v${i}`).join(', '));

const valuesOf = (columns: string[], r: Record<string, string | null>) => columns.map((_, i) => r[`v${i}`] ?? null);

export async function customerPage(
  db: Executor,
  q: { tenantId: string; filters: CustomerFilters; columns: string[]; after: string | null; limit: number },
): Promise<{ k: string; values: (string | null)[] }[]> {
  const where = [sql`c.tenant_id = ${q.tenantId}::uuid`, sql`c.deleted_at IS NULL AND c.merged_into IS NULL`, ...filterSql(q.filters)];
  if (q.after) where.push(sql`c.id > ${q.after}::uuid`);
  const rows = await db.rows<Record<string, string | null>>(sql`
    SELECT c.id::text AS k, ${select(CUSTOMER_COLUMNS, q.columns)}
    FROM customers c
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY c.id
    LIMIT ${q.limit}`);
  return rows.map((r) => ({ k: r.k as string, values: valuesOf(q.columns, r) }));
}

export interface OrderFilters {
  segmentId?: string;
  status?: string;
  placedAfter?: string;
  placedBefore?: string;
}

export async function orderPage(
  db: Executor,
  q: { tenantId: string; filters: OrderFilters; columns: string[]; after: string | null; limit: number },
): Promise<{ k: string; values: (string | null)[] }[]> {
  const f = q.filters;
  const where = [sql`o.tenant_id = ${q.tenantId}::uuid`];
  if (f.status) where.push(sql`o.status = ${f.status}`);
  if (f.placedAfter) where.push(sql`o.placed_at >= ${f.placedAfter}::timestamptz`);
  if (f.placedBefore) where.push(sql`o.placed_at < ${f.placedBefore}::timestamptz`);
  if (f.segmentId) {
    where.push(sql`EXISTS (SELECT 1 FROM segment_members sm
      WHERE sm.tenant_id = o.tenant_id AND sm.segment_id = ${f.segmentId}::uuid AND sm.customer_id = o.customer_id)`);
  }
  if (q.after) where.push(sql`o.id COLLATE "C" > ${q.after}`);
  const rows = await db.rows<Record<string, string | null>>(sql`
    SELECT o.id AS k, ${select(ORDER_COLUMNS, q.columns)}
    FROM orders o
    JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY o.id COLLATE "C"
    LIMIT ${q.limit}`);
  return rows.map((r) => ({ k: r.k as string, values: valuesOf(q.columns, r) }));
}

/** Whether the segment exists in the tenant (another tenant's is unknown). */
export async function segmentExists(db: Executor, tenantId: string, segmentId: string): Promise<boolean> {
  const row = await db.one(sql`SELECT 1 AS x FROM segments WHERE tenant_id = ${tenantId}::uuid AND id = ${segmentId}::uuid`);
  return row !== undefined;
}
