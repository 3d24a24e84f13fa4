import { arr, sql, type Executor, type SQL, pgConstraint, pgErrorCode, PG_UNIQUE_VIOLATION } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { initialTierSql } from '../loyalty/loyalty.repository.js';
import type { CustomerSort } from './customers.schemas.js';

export interface CustomerRow {
  id: string;
  tenant_id: string;
  external_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  company_name: string | null;
  customer_type: 'individual' | 'business';
  status: 'active' | 'inactive' | 'prospect';
  date_of_birth: string | null;
  gender: string | null;
  addresses: Record<string, unknown>[];
  city: string | null;
  state: string | null;
  country: string | null;
  postal_code: string | null;
  source: string | null;
  tags: string[];
  preferences: Record<string, unknown>;
  consent: { marketing_email?: boolean; marketing_sms?: boolean; updated_at?: string | null };
  custom_fields: Record<string, unknown>;
  loyalty_tier: string | null;
  loyalty_points: number;
  is_vip: boolean;
  total_orders: number;
  total_spend: number;
  events_attended: number;
  average_order_value: number;
  lifetime_value: number;
  first_purchase: Date | null;
  last_purchase: Date | null;
  last_contact_at: Date | null;
  last_activity_at: Date | null;
  merged_into: string | null;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** The columns a client may write; their JSON names are the column names. */
export const EDITABLE_COLUMNS = [
  'external_id', 'email', 'phone', 'first_name', 'last_name', 'company_name', 'customer_type', 'status',
  'date_of_birth', 'gender', 'addresses', 'city', 'state', 'country', 'postal_code', 'source', 'tags',
  'preferences', 'consent', 'custom_fields',
] as const;
export type EditableColumn = (typeof EDITABLE_COLUMNS)[number];
export type CustomerValues = Partial<Record<EditableColumn, unknown>>;

const JSON_COLUMNS = new Set<EditableColumn>(['addresses', 'preferences', 'consent', 'custom_fields']);

const COLUMNS = sql.raw(`
  c.id, c.tenant_id, c.external_id, c.email, c.phone, c.first_name, c.last_name, c.company_name, c.customer_type,
  c.status, c.date_of_birth, c.gender, c.addresses, c.city, c.state, c.country, c.postal_code, c.source, c.tags,
  c.preferences, c.consent, c.custom_fields, c.loyalty_tier, c.loyalty_points, c.is_vip, c.total_orders, c.total_spend,
  c.events_attended, c.average_order_value, c.lifetime_value, c.first_purchase, c.last_purchase,
  c.last_contact_at, c.last_activity_at, c.merged_into, c.deleted_at, c.created_at, c.updated_at`);

/** A customer that is listed and addressable: neither soft-deleted nor merged into another. */
const LIVE = sql.raw('c.deleted_at IS NULL AND c.merged_into IS NULL');

function bind(column: EditableColumn, value: unknown): SQL {
  if (value === null || value === undefined) return sql`NULL`;
  if (JSON_COLUMNS.has(column)) return sql`${JSON.stringify(value)}::jsonb`;
  if (column === 'tags') return sql`${arr(value as string[])}::text[]`;
  if (column === 'date_of_birth') return sql`${value}::date`;
  return sql`${value}`;
}

function conflictOnExternalId(err: unknown, externalId: unknown): never {
  if (pgErrorCode(err) === PG_UNIQUE_VIOLATION && pgConstraint(err) === 'customers_external_id_key') {
    throw new AppError('customer_conflict', `another customer already has external_id "${String(externalId)}"`, {
      field: 'external_id',
      value: externalId,
    });
  }
  throw err;
}

/** A live customer (see LIVE), optionally locked for update. */
export async function findCustomer(
  db: Executor,
  tenantId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<CustomerRow | undefined> {
  return db.one<CustomerRow>(sql`
    SELECT ${COLUMNS} FROM customers c
    WHERE c.tenant_id = ${tenantId} AND c.id = ${id}::uuid AND ${LIVE}
    ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

/** Live customers by id, in the order of `ids` (unknown ids are left out). */
export async function findCustomers(db: Executor, tenantId: string, ids: string[]): Promise<CustomerRow[]> {
  if (ids.length === 0) return [];
  return db.rows<CustomerRow>(sql`
    SELECT ${COLUMNS} FROM unnest(${arr(ids)}::uuid[]) WITH ORDINALITY AS x(id, n)
    JOIN customers c ON c.tenant_id = ${tenantId} AND c.id = x.id
    WHERE ${LIVE}
    ORDER BY x.n`);
}

/** Where a merged customer went (for a helpful 404), or undefined. */
export async function findMergedInto(db: Executor, tenantId: string, id: string): Promise<string | undefined> {
  const row = await db.one<{ merged_into: string }>(sql`
    SELECT merged_into FROM customers
    WHERE tenant_id = ${tenantId} AND id = ${id}::uuid AND merged_into IS NOT NULL AND deleted_at IS NULL`);
  return row?.merged_into;
}

export async function insertCustomer(db: Executor, tenantId: string, values: CustomerValues): Promise<CustomerRow> {
  const columns = (Object.keys(values) as EditableColumn[]).filter((k) => values[k] !== undefined);
  const names = sql.raw(columns.map((c) => `, ${c}`).join(''));
  const binds = columns.map((c) => sql`, ${bind(c, values[c])}`);
  try {
    const row = await db.one<CustomerRow>(sql`
      WITH c AS (
        INSERT INTO customers (tenant_id, loyalty_tier ${names})
        VALUES (${tenantId}::uuid, ${initialTierSql(tenantId)} ${sql.join(binds)})
        RETURNING *
      )
      SELECT ${COLUMNS} FROM c`);
    return row!;
  } catch (err) {
    conflictOnExternalId(err, values.external_id);
  }
}

/** Writes the given columns (and updated_at) of a live customer; answers the new row. */
export async function updateCustomer(db: Executor, tenantId: string, id: string, values: CustomerValues): Promise<CustomerRow> {
  const columns = (Object.keys(values) as EditableColumn[]).filter((k) => values[k] !== undefined);
  const sets = columns.map((c) => sql`${sql.raw(c)} = ${bind(c, values[c])}, `);
  try {
    const row = await db.one<CustomerRow>(sql`
      WITH c AS (
        UPDATE customers SET ${sql.join(sets)} updated_at = now()
        WHERE tenant_id = ${tenantId} AND id = ${id}::uuid AND deleted_at IS NULL AND merged_into IS NULL
        RETURNING *
      )
      SELECT ${COLUMNS} FROM c`);
    return row!;
  } catch (err) {
    conflictOnExternalId(err, values.external_id);
  }
}

export async function softDeleteCustomer(db: Executor, tenantId: string, id: string): Promise<boolean> {
  const n = await db.run(sql`
    UPDATE customers SET deleted_at = now(), updated_at = now()
    WHERE tenant_id = ${tenantId} AND id = ${id}::uuid AND deleted_at IS NULL AND merged_into IS NULL`);
  return n > 0;
}

// ---------------------------------------------------------------------------------------------
// Listing

/**
 * Name sort key: last name, first name, company, case-insensitive; NULL when there is no name.
 * Must stay textually identical to the expression of customers_sort_name_idx (0002_customers.sql).
 */
const NAME_SORT_KEY = sql.raw(
  `(nullif(btrim(lower(coalesce(c.last_name, '') || ' ' || coalesce(c.first_name, '') || ' ' || coalesce(c.company_name, ''))), ''))`,
);

type KeyKind = 'timestamp' | 'numeric' | 'text';

interface SortSpec {
  /** The sort's name without direction (`created_at`, `name`, …). */
  column: string;
  /** The sort expression. */
  key: SQL;
  kind: KeyKind;
  desc: boolean;
  /** Nullable keys are read in two passes: non-NULL keys in order, then NULL keys by id (NULLS LAST both ways). */
  nullable: boolean;
  /** NULLS clause matching the index direction (irrelevant for the result, as each pass has no NULL/only NULL keys). */
  nulls: SQL;
}

const col = (name: string) => sql.raw(`c.${name}`);
const noNulls = sql``;

function sortSpec(sort: CustomerSort): SortSpec {
  const desc = sort.startsWith('-');
  const column = desc ? sort.slice(1) : sort;
  switch (column) {
    case 'created_at':
      return { column, key: col('created_at'), kind: 'timestamp', desc, nullable: false, nulls: noNulls };
    case 'total_spend':
      return { column, key: col('total_spend'), kind: 'numeric', desc, nullable: false, nulls: noNulls };
    case 'lifetime_value':
      return { column, key: col('lifetime_value'), kind: 'numeric', desc, nullable: false, nulls: noNulls };
    // customers_last_purchase_idx is (last_purchase DESC NULLS LAST, id DESC); read backwards for ascending
    case 'last_purchase':
      return { column, key: col('last_purchase'), kind: 'timestamp', desc, nullable: true, nulls: sql.raw(desc ? 'NULLS LAST' : 'NULLS FIRST') };
    // customers_sort_name_idx is ascending (NULLS LAST); read backwards for descending
    case 'name':
      return { column, key: NAME_SORT_KEY, kind: 'text', desc, nullable: true, nulls: sql.raw(desc ? 'NULLS FIRST' : 'NULLS LAST') };
    default:
      throw new AppError('validation_failed', `unknown sort ${sort}`);
  }
}

/** The sort key as exact text for the cursor (timestamps keep their microseconds). */
function keyText(spec: SortSpec): SQL {
  if (spec.kind === 'timestamp') return sql`to_char(${spec.key} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  if (spec.kind === 'numeric') return sql`${spec.key}::text`;
  return spec.key;
}

function keyParam(spec: SortSpec, value: string): SQL {
  if (spec.kind === 'timestamp') return sql`${value}::timestamptz`;
  if (spec.kind === 'numeric') return sql`${value}::numeric`;
  return sql`${value}::text`;
}

const KEY_PATTERNS: Record<KeyKind, RegExp> = {
  timestamp: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/,
  numeric: /^-?\d{1,14}(\.\d{1,2})?$/,
  text: /^[\s\S]{1,1000}$/,
};

/** Validates a decoded cursor's sort key (never reaches SQL as anything but a well-formed value). */
export function isValidSortKey(sort: CustomerSort, value: unknown): boolean {
  const spec = sortSpec(sort);
  if (value === null) return spec.nullable;
  return typeof value === 'string' && KEY_PATTERNS[spec.kind].test(value);
}

export interface CustomerFilters {
  /** Lower-cased, LIKE-escaped search tokens; every one must occur in search_text. */
  searchPatterns?: string[];
  /** E.164 form of the search term when it reads as a phone number. */
  searchPhone?: string | null;
  /** The search term when it is a whole e-mail address (normalized): matched exactly. */
  searchEmail?: string;
  tags?: string[];
  minLtv?: number;
  lastPurchaseAfter?: string;
  lastPurchaseBefore?: string;
  status?: string;
  customerType?: string;
  city?: string;
  country?: string;
  loyaltyTier?: string;
  createdAfter?: string;
  createdBefore?: string;
  /** Members of this segment only (its existence in the tenant is checked by the caller). */
  segmentId?: string;
}

export function filterSql(f: CustomerFilters): SQL[] {
  const where: SQL[] = [];
  if (f.searchPatterns?.length) {
    // search_text LIKE '%term%' is answered by the trigram GIN index (customers_search_trgm_idx).
    const text = sql.join(f.searchPatterns.map((p) => sql`c.search_text LIKE ${p}`), sql` AND `);
    where.push(f.searchPhone ? sql`((${text}) OR c.phone = ${f.searchPhone})` : sql`(${text})`);
  }
  if (f.searchEmail) where.push(sql`c.email = ${f.searchEmail}`);
  if (f.tags?.length) where.push(sql`c.tags @> ${arr(f.tags)}::text[]`);
  if (f.minLtv !== undefined) where.push(sql`c.lifetime_value >= ${f.minLtv}::numeric`);
  if (f.lastPurchaseAfter) where.push(sql`c.last_purchase >= ${f.lastPurchaseAfter}::timestamptz`);
  if (f.lastPurchaseBefore) where.push(sql`c.last_purchase < ${f.lastPurchaseBefore}::timestamptz`);
  if (f.status) where.push(sql`c.status = ${f.status}`);
  if (f.customerType) where.push(sql`c.customer_type = ${f.customerType}`);
  if (f.city) where.push(sql`c.city = ${f.city}`);
  if (f.country) where.push(sql`c.country = ${f.country}`);
  if (f.loyaltyTier) where.push(sql`c.loyalty_tier = ${f.loyaltyTier}`);
  if (f.createdAfter) where.push(sql`c.created_at >= ${f.createdAfter}::timestamptz`);
  if (f.createdBefore) where.push(sql`c.created_at < ${f.createdBefore}::timestamptz`);
  if (f.segmentId) {
    where.push(sql`EXISTS (SELECT 1 FROM segment_members sm
      WHERE sm.tenant_id = c.tenant_id AND sm.segment_id = ${f.segmentId}::uuid AND sm.customer_id = c.id)`);
  }
  return where;
}

export type ListedCustomer = CustomerRow & { sort_key: string | null };

/** The filters that are ranges on a sort key (by the key's column). */
const KEY_RANGE_FILTERS: Partial<Record<string, (keyof CustomerFilters)[]>> = {
  created_at: ['createdAfter', 'createdBefore'],
  last_purchase: ['lastPurchaseAfter', 'lastPurchaseBefore'],
  lifetime_value: ['minLtv'],
};

/** Rows of the sort index read, in order, before giving up on finding a page among them. */
const PROBE_ROWS = 3_000;
/** Filtered sets up to this large (estimate) are collected and sorted when the probe did not fill the page. */
const COLLECT_MAX = 100_000;

/** The planner's estimate of the rows matching `where`. */
async function estimateRows(db: Executor, where: SQL[]): Promise<number> {
  const [row] = await db.rows<Record<string, unknown>>(sql`
    EXPLAIN (FORMAT JSON) SELECT 1 FROM customers c WHERE ${sql.join(where, sql` AND `)}`);
  const raw = row ? Object.values(row)[0] : undefined;
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan?: { 'Plan Rows'?: number } }[] | undefined;
  return plan?.[0]?.Plan?.['Plan Rows'] ?? Number.POSITIVE_INFINITY;
}

/**
 * One page (pass 1) of a filtered listing. Walking the sort index and filtering (what the planner picks
 * for ORDER BY … LIMIT) is fast when matches are dense among the first rows in sort order, and reads most
 * of the table when they are not: statuses, tiers, lifetime value, segments and purchase dates all
 * correlate with sign-up date, so a filter matching 1 % overall can match nothing among the newest
 * 100,000 customers. So: the first PROBE_ROWS rows in sort order are filtered, which settles filters that
 * are dense there; when that does not fill the page, a matching set of moderate size (planner's estimate)
 * is collected through the filter indexes and sorted, and only a large one is left to the ordered scan.
 */
/** The plain page: the rows matching `where`, walked in sort order. */
function orderedPage(db: Executor, spec: SortSpec, where: SQL[], limit: number): Promise<ListedCustomer[]> {
  const dir = sql.raw(spec.desc ? 'DESC' : 'ASC');
  return db.rows<ListedCustomer>(sql`
    SELECT ${COLUMNS}, ${keyText(spec)} AS sort_key FROM customers c
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY ${spec.key} ${dir} ${spec.nulls}, c.id ${dir}
    LIMIT ${limit}`);
}

async function filteredPage(
  db: Executor,
  { tenantId, spec, scope, filters, limit }: { tenantId: string; spec: SortSpec; scope: SQL[]; filters: SQL[]; limit: number },
): Promise<ListedCustomer[]> {
  const dir = sql.raw(spec.desc ? 'DESC' : 'ASC');
  const where = sql.join([...scope, ...filters], sql` AND `);
  const probed = await db.rows<ListedCustomer>(sql`
    SELECT ${COLUMNS}, ${keyText(spec)} AS sort_key
    FROM (SELECT * FROM customers c WHERE ${sql.join(scope, sql` AND `)}
          ORDER BY ${spec.key} ${dir} ${spec.nulls}, c.id ${dir} LIMIT ${PROBE_ROWS}) c
    WHERE ${sql.join(filters, sql` AND `)}
    ORDER BY ${spec.key} ${dir} ${spec.nulls}, c.id ${dir}
    LIMIT ${limit}`);
  if (probed.length === limit) return probed;
  if ((await estimateRows(db, [...scope, ...filters])) > COLLECT_MAX) return orderedPage(db, spec, [...scope, ...filters], limit);
  // MATERIALIZED keeps the ORDER BY … LIMIT from being pushed into an ordered index scan; only the id and
  // the key of each match are kept, the page's rows are read again by primary key.
  return db.rows<ListedCustomer>(sql`
    WITH m AS MATERIALIZED (
      SELECT c.id, ${spec.key} AS sort_value FROM customers c WHERE ${where}
    ), p AS (
      SELECT id FROM m ORDER BY sort_value ${dir}, id ${dir} LIMIT ${limit}
    )
    SELECT ${COLUMNS}, ${keyText(spec)} AS sort_key FROM p
    JOIN customers c ON c.tenant_id = ${tenantId} AND c.id = p.id
    ORDER BY ${spec.key} ${dir} ${spec.nulls}, c.id ${dir}`);
}

/**
 * One page of live customers in keyset order (sort key, id); `after` is the last row of the
 * previous page. Answers up to `limit` rows; no OFFSET and no count, so every page costs the same.
 */
export async function listCustomers(
  db: Executor,
  input: { tenantId: string; filters: CustomerFilters; sort: CustomerSort; limit: number; after?: { key: string | null; id: string } },
): Promise<ListedCustomer[]> {
  const spec = sortSpec(input.sort);
  const dir = sql.raw(spec.desc ? 'DESC' : 'ASC');
  const cmp = sql.raw(spec.desc ? '<' : '>');
  const base = [sql`c.tenant_id = ${input.tenantId}`, LIVE, ...filterSql(input.filters)];
  const { after } = input;
  const rows: ListedCustomer[] = [];

  // Pass 1: rows with a sort key (all rows when the key is never NULL).
  if (!after || after.key !== null) {
    const scope = [sql`c.tenant_id = ${input.tenantId}`, LIVE];
    if (spec.nullable) scope.push(sql`${spec.key} IS NOT NULL`);
    if (after) scope.push(sql`(${spec.key}, c.id) ${cmp} (${keyParam(spec, after.key!)}, ${after.id}::uuid)`);
    // A range on the sort key itself bounds the index walk (an index condition), as the cursor does.
    const onKey = Object.fromEntries(Object.entries(input.filters).filter(([k]) => KEY_RANGE_FILTERS[spec.column]?.includes(k as keyof CustomerFilters)));
    const rest = Object.fromEntries(Object.entries(input.filters).filter(([k]) => !(k in onKey))) as CustomerFilters;
    scope.push(...filterSql(onKey));
    const filters = filterSql(rest);
    // Free-text search stays with the planner: the trigram index settles rare terms, and common ones are
    // dense among the newest customers.
    rows.push(...(filters.length === 0 || rest.searchPatterns?.length
      ? await orderedPage(db, spec, [...scope, ...filters], input.limit)
      : await filteredPage(db, { tenantId: input.tenantId, spec, scope, filters, limit: input.limit })));
  }
  // Pass 2: rows without a sort key, last in either direction, by id.
  if (spec.nullable && rows.length < input.limit) {
    const where = [...base, sql`${spec.key} IS NULL`];
    if (after?.key === null) where.push(sql`c.id ${cmp} ${after.id}::uuid`);
    rows.push(...(await db.rows<ListedCustomer>(sql`
      SELECT ${COLUMNS}, NULL::text AS sort_key FROM customers c
      WHERE ${sql.join(where, sql` AND `)}
      ORDER BY c.id ${dir}
      LIMIT ${input.limit - rows.length}`)));
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Notes

export interface NoteRow {
  id: string;
  customer_id: string;
  body: string;
  pinned: boolean;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  /** exact created_at for the cursor */
  created_key?: string;
}

const NOTE_COLUMNS = sql.raw(`n.id, n.customer_id, n.body, n.pinned, n.created_by, n.created_at, n.updated_at,
  to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`);

export async function listNotes(
  db: Executor,
  input: { tenantId: string; customerId: string; limit: number; after?: { pinned: boolean; createdAt: string; id: string } },
): Promise<NoteRow[]> {
  const { after } = input;
  return db.rows<NoteRow>(sql`
    SELECT ${NOTE_COLUMNS} FROM customer_notes n
    WHERE n.tenant_id = ${input.tenantId} AND n.customer_id = ${input.customerId}::uuid
      ${after ? sql`AND (n.pinned, n.created_at, n.id) < (${after.pinned}::boolean, ${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql``}
    ORDER BY n.pinned DESC, n.created_at DESC, n.id DESC
    LIMIT ${input.limit}`);
}

export async function findNote(db: Executor, tenantId: string, customerId: string, id: string): Promise<NoteRow | undefined> {
  return db.one<NoteRow>(sql`
    SELECT ${NOTE_COLUMNS} FROM customer_notes n
    WHERE n.tenant_id = ${tenantId} AND n.customer_id = ${customerId}::uuid AND n.id = ${id}::uuid`);
}

export async function insertNote(
  db: Executor,
  n: { tenantId: string; customerId: string; body: string; pinned: boolean; createdBy: string },
): Promise<NoteRow> {
  const row = await db.one<NoteRow>(sql`
    WITH n AS (
      INSERT INTO customer_notes (tenant_id, customer_id, body, pinned, created_by)
      VALUES (${n.tenantId}, ${n.customerId}::uuid, ${n.body}, ${n.pinned}, ${n.createdBy})
      RETURNING *
    )
    SELECT ${NOTE_COLUMNS} FROM n`);
  return row!;
}

export async function updateNote(
  db: Executor,
  n: { tenantId: string; customerId: string; id: string; body: string; pinned: boolean },
): Promise<NoteRow | undefined> {
  return db.one<NoteRow>(sql`
    WITH n AS (
      UPDATE customer_notes SET body = ${n.body}, pinned = ${n.pinned}, updated_at = now()
      WHERE tenant_id = ${n.tenantId} AND customer_id = ${n.customerId}::uuid AND id = ${n.id}::uuid
      RETURNING *
    )
    SELECT ${NOTE_COLUMNS} FROM n`);
}

export async function deleteNote(db: Executor, tenantId: string, customerId: string, id: string): Promise<NoteRow | undefined> {
  return db.one<NoteRow>(sql`
    WITH n AS (
      DELETE FROM customer_notes
      WHERE tenant_id = ${tenantId} AND customer_id = ${customerId}::uuid AND id = ${id}::uuid
      RETURNING *
    )
    SELECT ${NOTE_COLUMNS} FROM n`);
}

// ---------------------------------------------------------------------------------------------
// Purchase and attendance history

export interface OrderRow {
  id: string;
  status: string;
  total: number;
  refunded_amount: number;
  currency: string;
  placed_at: Date;
  completed_at: Date | null;
  cancelled_at: Date | null;
  placed_key: string;
}

export async function listOrders(
  db: Executor,
  input: { tenantId: string; customerId: string; limit: number; after?: { placedAt: string; id: string } },
): Promise<OrderRow[]> {
  const { after } = input;
  return db.rows<OrderRow>(sql`
    SELECT o.id, o.status, o.total, o.refunded_amount, o.currency, o.placed_at, o.completed_at, o.cancelled_at,
           to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS placed_key
    FROM orders o
    WHERE o.tenant_id = ${input.tenantId} AND o.customer_id = ${input.customerId}::uuid
      ${after ? sql`AND (o.placed_at, o.id) < (${after.placedAt}::timestamptz, ${after.id})` : sql``}
    ORDER BY o.placed_at DESC, o.id DESC
    LIMIT ${input.limit}`);
}

export interface OrderItemRow {
  order_id: string;
  event_id: string | null;
  event_name: string | null;
  ticket_type: string | null;
  quantity: number;
  unit_price: number;
}

/** The items of many orders in one query, with the show's name when the catalog knows it. */
export async function listOrderItems(db: Executor, tenantId: string, orderIds: string[]): Promise<OrderItemRow[]> {
  if (orderIds.length === 0) return [];
  return db.rows<OrderItemRow>(sql`
    SELECT i.order_id, i.event_id, e.name AS event_name, i.ticket_type, i.quantity, i.unit_price
    FROM order_items i
    LEFT JOIN catalog_events e ON e.tenant_id = i.tenant_id AND e.id = i.event_id
    WHERE i.tenant_id = ${tenantId} AND i.order_id = ANY(${arr(orderIds)}::text[])
    ORDER BY i.order_id, i.line_no`);
}

export interface RefundRow {
  id: string;
  order_id: string;
  amount: number;
  reason: string | null;
  refunded_at: Date;
}

export async function listRefunds(db: Executor, tenantId: string, orderIds: string[]): Promise<RefundRow[]> {
  if (orderIds.length === 0) return [];
  return db.rows<RefundRow>(sql`
    SELECT r.id, r.order_id, r.amount, r.reason, r.refunded_at
    FROM refunds r
    WHERE r.tenant_id = ${tenantId} AND r.order_id = ANY(${arr(orderIds)}::text[])
    ORDER BY r.order_id, r.refunded_at, r.id`);
}

export interface AttendanceRow {
  event_id: string;
  ticket_id: string;
  order_id: string | null;
  checked_in_at: Date;
  event_name: string | null;
  venue: string | null;
  city: string | null;
  starts_at: Date | null;
  genres: string[] | null;
  checked_in_key: string;
}

export async function listAttendance(
  db: Executor,
  input: {
    tenantId: string;
    customerId: string;
    limit: number;
    after?: { checkedInAt: string; eventId: string; ticketId: string };
  },
): Promise<AttendanceRow[]> {
  const { after } = input;
  return db.rows<AttendanceRow>(sql`
    SELECT a.event_id, a.ticket_id, a.order_id, a.checked_in_at,
           e.name AS event_name, e.venue, e.city, e.starts_at, e.genres,
           to_char(a.checked_in_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS checked_in_key
    FROM attendance a
    LEFT JOIN catalog_events e ON e.tenant_id = a.tenant_id AND e.id = a.event_id
    WHERE a.tenant_id = ${input.tenantId} AND a.customer_id = ${input.customerId}::uuid
      ${after ? sql`AND (a.checked_in_at, a.event_id, a.ticket_id) < (${after.checkedInAt}::timestamptz, ${after.eventId}, ${after.ticketId})` : sql``}
    ORDER BY a.checked_in_at DESC, a.event_id DESC, a.ticket_id DESC
    LIMIT ${input.limit}`);
}
