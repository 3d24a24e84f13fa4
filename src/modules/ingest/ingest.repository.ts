import { arr, sql, type Executor, type SQL } from '../../db/database.js';
import { initialTierSql, type TierChange } from '../loyalty/loyalty.repository.js';

/*
 * All SQL of ingestion. Every statement is set-based: one round trip per batch and kind of write,
 * whatever the batch size (arrays bound with arr() and expanded with unnest).
 */

const iso = (d: Date | string | null | undefined): string | null =>
  d == null ? null : d instanceof Date ? d.toISOString() : d;

/** Postgres-style error that the database layer retries (the whole transaction reruns). */
export function concurrentWriteError(what: string): Error {
  return Object.assign(new Error(`a concurrent batch wrote the same ${what}; retrying`), { code: '40001' });
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

/*
 * Look-ups by key take their keys as `= ANY(ARRAY(SELECT unnest($1)))`, not `= ANY($1)`: an array the
 * planner cannot see into, so it probes the key's index. With the array's values known, on a table never
 * analyzed (a tenant's first big import, autovacuum late) PostgreSQL plans `= ANY` of 1,000 keys as a scan
 * of all the tenant's rows (measured: 42 ms against 5 ms at 100k rows, and growing with the table).
 */

/**
 * Takes transaction-scoped advisory locks on the given keys (already hashed, sorted ascending so
 * that concurrent batches always lock in the same order) and answers the tenant's currency
 * (null when the tenant does not exist).
 */
export async function lockIdentityKeys(
  tx: Executor,
  tenantId: string,
  sortedKeys: string[],
  /** also SET LOCAL synchronous_commit = off, in the same round trip (as relaxCommit in src/db/database.ts does in one of its own) */
  opts: { commitWithoutFlush?: boolean } = {},
): Promise<string | null> {
  const row = await tx.one<{ currency: string | null }>(sql`
    WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock(k) FROM unnest(${arr(sortedKeys)}::bigint[]) AS k)
    SELECT (SELECT currency FROM tenants WHERE id = ${tenantId}::uuid) AS currency, (SELECT count(*) FROM l) AS locked
           ${opts.commitWithoutFlush ? sql`, set_config('synchronous_commit', 'off', true) AS sync` : sql``}`);
  return row?.currency ?? null;
}

/**
 * Tries the advisory locks of the given keys without waiting and answers those obtained, with
 * the tenant's currency. Keys held by a concurrent batch are left for lockIdentityKeys.
 */
export async function tryLockIdentityKeys(
  tx: Executor,
  tenantId: string,
  sortedKeys: string[],
): Promise<{ currency: string | null; acquired: string[] }> {
  const row = await tx.one<{ currency: string | null; acquired: string[] }>(sql`
    SELECT (SELECT currency FROM tenants WHERE id = ${tenantId}::uuid) AS currency,
           ARRAY(SELECT k::text FROM unnest(${arr(sortedKeys)}::bigint[]) WITH ORDINALITY AS u(k, n)
                 WHERE pg_try_advisory_xact_lock(k) ORDER BY n) AS acquired`);
  return { currency: row?.currency ?? null, acquired: row?.acquired ?? [] };
}

export interface IdentityCandidate {
  id: string;
  external_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  created_at: Date;
  /** identifiers of customers merged into this one (customer_aliases), which resolve to it too */
  aliases?: { kind: 'external_id' | 'email' | 'phone'; value: string }[];
}

/**
 * Live customers (not deleted, not merged) carrying any of the identifiers, or holding them as
 * aliases of records merged into them, row-locked in id order: the caller changes their
 * identifiers, profile and metrics in the same transaction. One statement; each identifier is one
 * probe of its own index (a LATERAL subquery per value, kept apart from the join by OFFSET 0), so
 * the cost follows the batch, not the tenant (`= ANY(…) OR = ANY(…) OR = ANY(…)` over customers is
 * planned as a scan of all the tenant's rows once the lists are long, even with fresh statistics).
 */
export async function findIdentityCandidates(
  tx: Executor,
  tenantId: string,
  keys: { externalIds: string[]; emails: string[]; phones: string[] },
): Promise<IdentityCandidate[]> {
  if (keys.externalIds.length + keys.emails.length + keys.phones.length === 0) return [];
  const live = sql`c.tenant_id = ${tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL`;
  const probe = (column: 'external_id' | 'email' | 'phone', values: string[]) => sql`
      SELECT m.id FROM unnest(${arr([...new Set(values)])}::text[]) AS k(v)
      CROSS JOIN LATERAL (SELECT c.id FROM customers c
                          WHERE ${live} AND c.${sql.identifier(column)} IS NOT NULL AND c.${sql.identifier(column)} = k.v OFFSET 0) m`;
  const aliasKeys = [
    ...[...new Set(keys.externalIds)].map((v) => ['external_id', v]),
    ...[...new Set(keys.emails)].map((v) => ['email', v]),
    ...[...new Set(keys.phones)].map((v) => ['phone', v]),
  ];
  const rows = await tx.rows<IdentityCandidate & { alias_list: IdentityCandidate['aliases'] | null }>(sql`
    WITH al AS MATERIALIZED (
      SELECT a.customer_id, a.kind, a.value
      FROM unnest(${arr(aliasKeys.map((k) => k[0]))}::text[], ${arr(aliasKeys.map((k) => k[1]))}::text[]) AS k(kind, value)
      CROSS JOIN LATERAL (SELECT a.customer_id, a.kind, a.value FROM customer_aliases a
                          WHERE a.tenant_id = ${tenantId}::uuid AND a.kind = k.kind AND a.value = k.value OFFSET 0) a
    ),
    ids AS MATERIALIZED (
      ${probe('external_id', keys.externalIds)}
      UNION ALL ${probe('email', keys.emails)}
      UNION ALL ${probe('phone', keys.phones)}
      UNION ALL SELECT customer_id FROM al
    )
    SELECT c.id, c.external_id, c.email, c.phone, c.first_name, c.last_name, c.created_at,
           (SELECT json_agg(json_build_object('kind', al.kind, 'value', al.value) ORDER BY al.kind, al.value)
              FROM al WHERE al.customer_id = c.id) AS alias_list
    FROM customers c
    -- an array of unknown length to the planner: primary-key probes, whatever the statistics say
    WHERE ${live} AND c.id = ANY(ARRAY(SELECT id FROM ids))
    ORDER BY c.id
    FOR UPDATE`);
  return rows.map(({ alias_list, ...row }) => (alias_list && alias_list.length > 0 ? { ...row, aliases: alias_list } : row));
}

/** Row-locks customers in id order (before changing their orders and metrics). */
export async function lockCustomers(tx: Executor, tenantId: string, customerIds: string[]): Promise<void> {
  if (customerIds.length === 0) return;
  await tx.rows(sql`
    SELECT id FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(customerIds)}::uuid[])))
    ORDER BY id FOR UPDATE`);
}

export interface NewCustomerRow {
  id: string;
  externalId: string | null;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  source: string;
}

/** Inserts new customers (ids generated by the caller) in the tenant's starting loyalty tier. */
export async function insertCustomers(tx: Executor, tenantId: string, rows: NewCustomerRow[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.run(sql`
    INSERT INTO customers (tenant_id, id, external_id, email, phone, first_name, last_name, source, loyalty_tier)
    SELECT ${tenantId}::uuid, u.id, u.external_id, u.email, u.phone, u.first_name, u.last_name, u.source, ${initialTierSql(tenantId)}
    FROM unnest(
      ${arr(rows.map((r) => r.id))}::uuid[],
      ${arr(rows.map((r) => r.externalId))}::text[],
      ${arr(rows.map((r) => r.email))}::text[],
      ${arr(rows.map((r) => r.phone))}::text[],
      ${arr(rows.map((r) => r.firstName))}::text[],
      ${arr(rows.map((r) => r.lastName))}::text[],
      ${arr(rows.map((r) => r.source))}::text[]
    ) AS u(id, external_id, email, phone, first_name, last_name, source)`);
}

/**
 * One customer's changes from a batch.
 * - externalId/email/phone: identifiers to attach when the customer has none yet.
 * - fill: profile fields written only where the customer's field is blank (names, city, …).
 * - set: profile fields overwritten (customer.updated), applied after fill.
 */
export interface ProfilePatch {
  customerId: string;
  externalId?: string | null;
  email?: string | null;
  phone?: string | null;
  fill?: Record<string, unknown>;
  set?: Record<string, unknown>;
  lastContactAt?: Date | string | null;
  lastActivityAt?: Date | string | null;
  /** recompute the purchase/attendance metrics too (see recomputeCustomerMetrics) */
  metrics?: boolean;
  /** recompute points, earned points and tier from the ledger too (as recomputeLoyalty does) */
  loyalty?: boolean;
}



/** The customers' stored profiles as JSON (for before/after comparisons of overwritten fields). */
export async function readProfiles(tx: Executor, tenantId: string, customerIds: string[]): Promise<Map<string, Record<string, unknown>>> {
  if (customerIds.length === 0) return new Map();
  // one primary-key probe per id, whatever the statistics (a table never analyzed gets a scan for `= ANY(…)`)
  const rows = await tx.rows<{ id: string; profile: Record<string, unknown> }>(sql`
    SELECT c.id, to_jsonb(c) - 'search_text' AS profile
    FROM unnest(${arr([...new Set(customerIds)])}::uuid[]) AS u(id)
    CROSS JOIN LATERAL (SELECT * FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id OFFSET 0) c`);
  return new Map(rows.map((r) => [r.id, r.profile]));
}

/** Text profile fields that fill (when blank) and set (overwrite) handle the same way. */
const TEXT_FIELDS = ['first_name', 'last_name', 'company_name', 'gender', 'city', 'state', 'country', 'postal_code'] as const;

/**
 * Applies identifier attachments, profile fills/overwrites, activity times and (where asked)
 * the metrics and the loyalty recompute in one statement: one new row version per customer and
 * batch (every customer row version costs an entry in each of the table's dozen indexes, three
 * of them GIN). Answers the customers whose loyalty tier changed.
 */
export async function updateCustomerProfiles(
  tx: Executor,
  tenantId: string,
  patches: ProfilePatch[],
  opts: { ltvDays?: number } = {},
): Promise<TierChange[]> {
  if (patches.length === 0) return [];
  const withMetrics = opts.ltvDays !== undefined && patches.some((p) => p.metrics);
  const withLoyalty = patches.some((p) => p.loyalty);
  const text = TEXT_FIELDS.map(
    (f) => sql`${sql.identifier(f)} = CASE WHEN u.s ? ${f} THEN u.s->>${f} ELSE coalesce(nullif(c.${sql.identifier(f)}, ''), u.f->>${f}) END`,
  );
  const update = sql`
    UPDATE customers c SET
      external_id = coalesce(c.external_id, u.external_id),
      email = CASE WHEN u.s ? 'email' THEN u.s->>'email' ELSE coalesce(c.email, u.email) END,
      phone = CASE WHEN u.s ? 'phone' THEN u.s->>'phone' ELSE coalesce(c.phone, u.phone) END,
      ${sql.join(text, sql`, `)},
      customer_type = coalesce(u.s->>'customer_type', c.customer_type),
      status = coalesce(u.s->>'status', c.status),
      date_of_birth = CASE WHEN u.s ? 'date_of_birth' THEN (u.s->>'date_of_birth')::date
                           ELSE coalesce(c.date_of_birth, (u.f->>'date_of_birth')::date) END,
      source = coalesce(c.source, u.f->>'source'),
      addresses = CASE WHEN u.s ? 'addresses' THEN u.s->'addresses' ELSE c.addresses END,
      consent = CASE WHEN u.s ? 'consent' THEN c.consent || (u.s->'consent')
                     WHEN c.consent = '{}'::jsonb AND u.f ? 'consent' THEN u.f->'consent'
                     ELSE c.consent END,
      preferences = CASE WHEN u.s ? 'preferences' THEN c.preferences || (u.s->'preferences')
                         ELSE coalesce(u.f->'preferences', '{}'::jsonb) || c.preferences END,
      custom_fields = CASE WHEN u.s ? 'custom_fields' THEN c.custom_fields || (u.s->'custom_fields') ELSE c.custom_fields END,
      last_contact_at = greatest(c.last_contact_at, u.last_contact_at),
      last_activity_at = greatest(c.last_activity_at, u.last_activity_at),
      ${withMetrics ? sql`${metricsAssignments(sql`m`, sql`u.metrics`)},` : sql``}
      ${withLoyalty ? sql`${loyaltyAssignments(sql`lo`, sql`u.loyalty`)},` : sql``}
      updated_at = now()
    FROM unnest(
      ${arr(patches.map((p) => p.customerId))}::uuid[],
      ${arr(patches.map((p) => p.externalId ?? null))}::text[],
      ${arr(patches.map((p) => p.email ?? null))}::text[],
      ${arr(patches.map((p) => p.phone ?? null))}::text[],
      ${arr(patches.map((p) => JSON.stringify(p.fill ?? {})))}::jsonb[],
      ${arr(patches.map((p) => JSON.stringify(p.set ?? {})))}::jsonb[],
      ${arr(patches.map((p) => iso(p.lastContactAt)))}::timestamptz[],
      ${arr(patches.map((p) => iso(p.lastActivityAt)))}::timestamptz[],
      ${arr(patches.map((p) => p.metrics === true))}::boolean[],
      ${arr(patches.map((p) => p.loyalty === true))}::boolean[]
    ) AS u(id, external_id, email, phone, f, s, last_contact_at, last_activity_at, metrics, loyalty)
    ${withMetrics ? sql`LEFT JOIN LATERAL (${metricsLateral(tenantId, sql`u.id`, opts.ltvDays!)} WHERE u.metrics) m ON true` : sql``}
    ${withLoyalty ? sql`LEFT JOIN LATERAL (${loyaltyLateral(tenantId, sql`u.id`)} WHERE u.loyalty) lo ON true` : sql``}
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id`;
  if (!withLoyalty) {
    await tx.run(update);
    return [];
  }
  return tx.rows<TierChange>(sql`
    WITH upd AS (
      ${update}
      RETURNING c.id, lo.old_tier, c.loyalty_tier, c.loyalty_points, c.loyalty_points_earned, u.loyalty
    )
    SELECT id AS customer_id, old_tier, loyalty_tier AS new_tier, loyalty_points AS points, loyalty_points_earned AS points_earned
    FROM upd
    WHERE loyalty AND old_tier IS DISTINCT FROM loyalty_tier`);
}

/**
 * Points balance, earned points (redemptions spend the balance but do not lower the tier), the
 * tier they reach and the tier before, of customer `idExpr`, as a LATERAL subquery: the same
 * figures as recomputeLoyalty, read along loyalty_ledger_customer_idx. The old tier is read
 * from the statement's snapshot, i.e. the row before this update (the caller holds its lock).
 */
const loyaltyLateral = (tenantId: string, idExpr: SQL) => sql`
  SELECT s.points, s.earned,
         (SELECT t.name FROM loyalty_tiers t
           WHERE t.tenant_id = ${tenantId}::uuid AND t.min_points <= greatest(s.earned, 0)
           ORDER BY t.min_points DESC LIMIT 1) AS tier,
         (SELECT o.loyalty_tier FROM customers o WHERE o.tenant_id = ${tenantId}::uuid AND o.id = ${idExpr}) AS old_tier
  FROM (
    SELECT coalesce(sum(l.points), 0)::int AS points,
           coalesce(sum(l.points) FILTER (WHERE l.reason <> 'redeemed'), 0)::int AS earned
    FROM loyalty_ledger l
    WHERE l.tenant_id = ${tenantId}::uuid AND l.customer_id = ${idExpr}
  ) s`;

/** SET assignments for the loyalty columns from a loyaltyLateral row `lo` (when `when` holds). */
const loyaltyAssignments = (lo: SQL, when: SQL) => sql`
  loyalty_points = CASE WHEN ${when} THEN ${lo}.points ELSE c.loyalty_points END,
  loyalty_points_earned = CASE WHEN ${when} THEN ${lo}.earned ELSE c.loyalty_points_earned END,
  loyalty_tier = CASE WHEN ${when} THEN ${lo}.tier ELSE c.loyalty_tier END`;

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

/** Event ids of the batch that were applied before, with the customer they were applied to. */
export async function findIngestedEvents(
  tx: Executor,
  tenantId: string,
  ids: string[],
): Promise<{ id: string; customer_id: string | null }[]> {
  if (ids.length === 0) return [];
  return tx.rows(sql`
    SELECT id, customer_id FROM ingested_events
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(ids)}::text[])))`);
}

/**
 * Records the batch's events; answers the ids that were new. The others were applied before
 * (or by a concurrent batch, whose commit this statement waits for).
 */
export async function insertIngestedEvents(
  tx: Executor,
  tenantId: string,
  rows: { id: string; type: string; customerId: string; occurredAt: string }[],
): Promise<string[]> {
  if (rows.length === 0) return [];
  // The usual answer is "all of them": then only a count comes back, not a row per event.
  const row = await tx.one<{ n: number; ids: string[] | null }>(sql`
    WITH ins AS (${insertIngestedEventsSql(tenantId, rows)})
    SELECT count(*)::int AS n, CASE WHEN count(*) < ${rows.length}::int THEN array_agg(id) END AS ids FROM ins`);
  if (row && row.n === rows.length) return rows.map((r) => r.id);
  return row?.ids ?? [];
}

/**
 * The INSERT statement of insertIngestedEvents (RETURNING the ids that were new), for callers that fold it
 * into a bigger statement.
 */
export function insertIngestedEventsSql(
  tenantId: string,
  rows: readonly { id: string; type: string; customerId: string; occurredAt: string }[],
): SQL {
  // a fixed insertion order, so two batches sharing ids wait on each other instead of deadlocking
  const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return sql`
    INSERT INTO ingested_events (tenant_id, id, type, customer_id, occurred_at)
    SELECT ${tenantId}::uuid, u.id, u.type, u.customer_id, u.occurred_at
    FROM unnest(
      ${arr(sorted.map((r) => r.id))}::text[],
      ${arr(sorted.map((r) => r.type))}::text[],
      ${arr(sorted.map((r) => r.customerId))}::uuid[],
      ${arr(sorted.map((r) => r.occurredAt))}::timestamptz[]
    ) AS u(id, type, customer_id, occurred_at)
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING id`;
}

/**
 * Corrects the idempotency records after the batch's rules ran: events rejected by them are not
 * recorded (resent later, they are applied), and events that belong to another customer than
 * the identity said (an order of someone else) point at that customer.
 */
export async function fixIngestedEvents(
  tx: Executor,
  tenantId: string,
  opts: { remove: string[]; reassign: { id: string; customerId: string }[] },
): Promise<void> {
  if (opts.remove.length === 0 && opts.reassign.length === 0) return;
  await tx.run(sql`
    WITH del AS (
      DELETE FROM ingested_events WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(opts.remove)}::text[])))
    )
    UPDATE ingested_events e SET customer_id = u.customer_id
    FROM unnest(${arr(opts.reassign.map((r) => r.id))}::text[], ${arr(opts.reassign.map((r) => r.customerId))}::uuid[]) AS u(id, customer_id)
    WHERE e.tenant_id = ${tenantId}::uuid AND e.id = u.id`);
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

export interface CatalogRef {
  id: string;
  name: string | null;
  genres: string[] | null;
  venue: string | null;
  city: string | null;
  startsAt: string | null;
}

/**
 * Makes sure every referenced show exists and fills its blank fields; set fields are never
 * overwritten. Only rows that gain something are updated (and so row-locked), in id order.
 */
export async function upsertCatalogEvents(tx: Executor, tenantId: string, refs: CatalogRef[]): Promise<void> {
  if (refs.length === 0) return;
  const sorted = [...refs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  await tx.run(sql`
    WITH u AS (
      SELECT * FROM unnest(
        ${arr(sorted.map((r) => r.id))}::text[],
        ${arr(sorted.map((r) => r.name))}::text[],
        ${arr(sorted.map((r) => (r.genres && r.genres.length > 0 ? JSON.stringify(r.genres) : null)))}::jsonb[],
        ${arr(sorted.map((r) => r.venue))}::text[],
        ${arr(sorted.map((r) => r.city))}::text[],
        ${arr(sorted.map((r) => r.startsAt))}::timestamptz[]
      ) AS u(id, name, genres, venue, city, starts_at)
    ),
    ins AS (
      INSERT INTO catalog_events (tenant_id, id, name, genres, venue, city, starts_at)
      SELECT ${tenantId}::uuid, u.id, coalesce(u.name, u.id),
             coalesce(ARRAY(SELECT jsonb_array_elements_text(u.genres)), '{}'), u.venue, u.city, u.starts_at
      FROM u ORDER BY u.id
      ON CONFLICT (tenant_id, id) DO NOTHING
      RETURNING id
    )
    , fill AS MATERIALIZED (
      SELECT c.id FROM catalog_events c JOIN u ON c.id = u.id
      WHERE c.tenant_id = ${tenantId}::uuid
        AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = u.id)
        AND ((c.name = c.id AND u.name IS NOT NULL AND u.name <> c.name)
             OR (cardinality(c.genres) = 0 AND u.genres IS NOT NULL)
             OR (c.venue IS NULL AND u.venue IS NOT NULL)
             OR (c.city IS NULL AND u.city IS NOT NULL)
             OR (c.starts_at IS NULL AND u.starts_at IS NOT NULL))
      ORDER BY c.id
      FOR UPDATE OF c
    )
    UPDATE catalog_events c SET
      name = CASE WHEN c.name = c.id AND u.name IS NOT NULL THEN u.name ELSE c.name END,
      genres = CASE WHEN cardinality(c.genres) = 0 AND u.genres IS NOT NULL
                    THEN ARRAY(SELECT jsonb_array_elements_text(u.genres)) ELSE c.genres END,
      venue = coalesce(c.venue, u.venue),
      city = coalesce(c.city, u.city),
      starts_at = coalesce(c.starts_at, u.starts_at),
      updated_at = now()
    FROM u, fill
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id AND fill.id = u.id`);
}

// ---------------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------------

export type OrderStatus = 'pending' | 'completed' | 'refunded' | 'cancelled';

export interface OrderRow {
  id: string;
  customer_id: string;
  status: OrderStatus;
  total: number;
  refunded_amount: number;
  currency: string;
  placed_at: Date;
  completed_at: Date | null;
  cancelled_at: Date | null;
}

/** The batch's existing orders, row-locked in id order (refunds are checked against them). */
export async function findOrdersForUpdate(tx: Executor, tenantId: string, ids: string[]): Promise<OrderRow[]> {
  if (ids.length === 0) return [];
  return tx.rows<OrderRow>(sql`
    SELECT id, customer_id, status, total, refunded_amount, currency, placed_at, completed_at, cancelled_at
    FROM orders
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(ARRAY(SELECT unnest(${arr(ids)}::text[])))
    ORDER BY id
    FOR UPDATE`);
}

export interface OrderWrite {
  id: string;
  customerId: string;
  status: OrderStatus;
  total: number;
  refundedAmount: number;
  currency: string;
  placedAt: string;
  completedAt: string | null;
  cancelledAt: string | null;
  source: string | null;
  data: Record<string, unknown> | null;
}

/**
 * Inserts the batch's new orders and writes the final state of its existing (locked) ones, in one
 * statement. Answers how many new orders were inserted: fewer than given means a concurrent batch
 * inserted the same order first.
 */
export async function writeOrders(tx: Executor, tenantId: string, inserts: OrderWrite[], updates: OrderWrite[]): Promise<number> {
  if (inserts.length === 0 && updates.length === 0) return 0;
  const cols = (rows: OrderWrite[]) => sql`unnest(
      ${arr(rows.map((r) => r.id))}::text[],
      ${arr(rows.map((r) => r.customerId))}::uuid[],
      ${arr(rows.map((r) => r.status))}::text[],
      ${arr(rows.map((r) => r.total))}::numeric[],
      ${arr(rows.map((r) => r.refundedAmount))}::numeric[],
      ${arr(rows.map((r) => r.currency))}::text[],
      ${arr(rows.map((r) => r.placedAt))}::timestamptz[],
      ${arr(rows.map((r) => r.completedAt))}::timestamptz[],
      ${arr(rows.map((r) => r.cancelledAt))}::timestamptz[],
      ${arr(rows.map((r) => r.source))}::text[],
      ${arr(rows.map((r) => (r.data ? JSON.stringify(r.data) : null)))}::jsonb[]
    ) AS u(id, customer_id, status, total, refunded_amount, currency, placed_at, completed_at, cancelled_at, source, data)`;
  const sortedInserts = [...inserts].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const row = await tx.one<{ inserted: number }>(sql`
    WITH ins AS (
      INSERT INTO orders (tenant_id, id, customer_id, status, total, refunded_amount, currency, placed_at,
                          completed_at, cancelled_at, source, data)
      SELECT ${tenantId}::uuid, u.id, u.customer_id, u.status, u.total, u.refunded_amount, u.currency, u.placed_at,
             u.completed_at, u.cancelled_at, u.source, coalesce(u.data, '{}')
      FROM ${cols(sortedInserts)}
      ON CONFLICT (tenant_id, id) DO NOTHING
      RETURNING 1
    ),
    upd AS (
      UPDATE orders o SET
        status = u.status, total = u.total, refunded_amount = u.refunded_amount, placed_at = u.placed_at,
        completed_at = u.completed_at, cancelled_at = u.cancelled_at,
        source = coalesce(o.source, u.source), data = CASE WHEN u.data IS NULL THEN o.data ELSE o.data || u.data END,
        updated_at = now()
      FROM ${cols(updates)}
      WHERE o.tenant_id = ${tenantId}::uuid AND o.id = u.id
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT count(*) FROM upd)::int AS updated`);
  return row?.inserted ?? 0;
}

export interface ItemsWrite {
  orderId: string;
  /** the order existed before this batch (it may have more lines than now) */
  existed: boolean;
  items: { event_id: string; ticket_type?: string | null; quantity: number; unit_price: number }[];
}

/** Replaces the lines of the given orders (upsert lines 1..n, drop lines beyond n). */
export async function writeOrderItems(tx: Executor, tenantId: string, orders: ItemsWrite[]): Promise<void> {
  if (orders.length === 0) return;
  const lines = orders.flatMap((o) => o.items.map((it, i) => ({ orderId: o.orderId, lineNo: i + 1, ...it })));
  const existed = orders.filter((o) => o.existed);
  await tx.run(sql`
    ${existed.length > 0 ? sql`WITH del AS (
      DELETE FROM order_items oi
      WHERE oi.tenant_id = ${tenantId}::uuid AND oi.order_id = ANY(ARRAY(SELECT unnest(${arr(existed.map((o) => o.orderId))}::text[])))
        AND oi.line_no > (SELECT d.n FROM unnest(${arr(existed.map((o) => o.orderId))}::text[], ${arr(existed.map((o) => o.items.length))}::int[]) AS d(order_id, n)
                          WHERE d.order_id = oi.order_id)
    )` : sql``}
    INSERT INTO order_items (tenant_id, order_id, line_no, event_id, ticket_type, quantity, unit_price)
    SELECT ${tenantId}::uuid, u.order_id, u.line_no, u.event_id, u.ticket_type, u.quantity, u.unit_price
    FROM unnest(
      ${arr(lines.map((l) => l.orderId))}::text[],
      ${arr(lines.map((l) => l.lineNo))}::int[],
      ${arr(lines.map((l) => l.event_id))}::text[],
      ${arr(lines.map((l) => l.ticket_type ?? null))}::text[],
      ${arr(lines.map((l) => l.quantity))}::int[],
      ${arr(lines.map((l) => l.unit_price))}::numeric[]
    ) AS u(order_id, line_no, event_id, ticket_type, quantity, unit_price)
    ON CONFLICT (tenant_id, order_id, line_no) DO UPDATE SET
      event_id = excluded.event_id, ticket_type = excluded.ticket_type,
      quantity = excluded.quantity, unit_price = excluded.unit_price`);
}

export interface RefundWrite {
  id: string;
  orderId: string;
  customerId: string;
  amount: number;
  reason: string | null;
  refundedAt: string;
}

export async function insertRefunds(tx: Executor, tenantId: string, rows: RefundWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.run(sql`
    INSERT INTO refunds (tenant_id, id, order_id, customer_id, amount, reason, refunded_at)
    SELECT ${tenantId}::uuid, u.id, u.order_id, u.customer_id, u.amount, u.reason, u.refunded_at
    FROM unnest(
      ${arr(rows.map((r) => r.id))}::text[],
      ${arr(rows.map((r) => r.orderId))}::text[],
      ${arr(rows.map((r) => r.customerId))}::uuid[],
      ${arr(rows.map((r) => r.amount))}::numeric[],
      ${arr(rows.map((r) => r.reason))}::text[],
      ${arr(rows.map((r) => r.refundedAt))}::timestamptz[]
    ) AS u(id, order_id, customer_id, amount, reason, refunded_at)
    ON CONFLICT (tenant_id, id) DO NOTHING`);
}

// ---------------------------------------------------------------------------------------------
// Attendance, carts, interactions
// ---------------------------------------------------------------------------------------------

export interface AttendanceWrite {
  customerId: string;
  eventId: string;
  ticketId: string;
  orderId: string | null;
  checkedInAt: string;
}

/** Check-ins; the primary key (customer, event, ticket) makes a repeated check-in a no-op. */
export async function insertAttendance(tx: Executor, tenantId: string, rows: AttendanceWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.run(sql`
    INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, order_id, checked_in_at)
    SELECT ${tenantId}::uuid, u.customer_id, u.event_id, u.ticket_id, u.order_id, u.checked_in_at
    FROM unnest(
      ${arr(rows.map((r) => r.customerId))}::uuid[],
      ${arr(rows.map((r) => r.eventId))}::text[],
      ${arr(rows.map((r) => r.ticketId))}::text[],
      ${arr(rows.map((r) => r.orderId))}::text[],
      ${arr(rows.map((r) => r.checkedInAt))}::timestamptz[]
    ) AS u(customer_id, event_id, ticket_id, order_id, checked_in_at)
    ON CONFLICT (tenant_id, customer_id, event_id, ticket_id) DO NOTHING`);
}

export interface CartWrite {
  id: string;
  customerId: string;
  /** null when the batch only checked the cart out */
  items: unknown[] | null;
  total: number | null;
  currency: string;
  /** occurred_at of the update the items come from */
  itemsAt: string | null;
  createdAt: string;
  updatedAt: string;
  checkedOutAt: string | null;
  orderId: string | null;
}

/**
 * Merges the batch's final view of each cart: the latest update's items win (an older update
 * delivered late changes nothing), a checkout is final, a newer update reopens an abandoned cart.
 * Answers how many carts were written (fewer means a concurrent batch inserted one first).
 */
export async function upsertCarts(tx: Executor, tenantId: string, rows: CartWrite[]): Promise<number> {
  if (rows.length === 0) return 0;
  const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const row = await tx.one<{ n: number }>(sql`
    WITH u AS (
      SELECT * FROM unnest(
        ${arr(sorted.map((r) => r.id))}::text[],
        ${arr(sorted.map((r) => r.customerId))}::uuid[],
        ${arr(sorted.map((r) => (r.items ? JSON.stringify(r.items) : null)))}::jsonb[],
        ${arr(sorted.map((r) => r.total))}::numeric[],
        ${arr(sorted.map((r) => r.currency))}::text[],
        ${arr(sorted.map((r) => r.itemsAt))}::timestamptz[],
        ${arr(sorted.map((r) => r.createdAt))}::timestamptz[],
        ${arr(sorted.map((r) => r.updatedAt))}::timestamptz[],
        ${arr(sorted.map((r) => r.checkedOutAt))}::timestamptz[],
        ${arr(sorted.map((r) => r.orderId))}::text[]
      ) AS u(id, customer_id, items, total, currency, items_at, created_at, updated_at, checked_out_at, order_id)
    ),
    upd AS (
      UPDATE carts c SET
        status = CASE WHEN c.status = 'checked_out' OR u.checked_out_at IS NOT NULL THEN 'checked_out'
                      WHEN u.items_at IS NOT NULL AND u.items_at >= c.updated_at THEN 'open'
                      ELSE c.status END,
        items = CASE WHEN u.items_at IS NOT NULL AND u.items_at >= c.updated_at THEN u.items ELSE c.items END,
        total = CASE WHEN u.items_at IS NOT NULL AND u.items_at >= c.updated_at THEN u.total ELSE c.total END,
        order_id = coalesce(u.order_id, c.order_id),
        checked_out_at = coalesce(c.checked_out_at, u.checked_out_at),
        created_at = least(c.created_at, u.created_at),
        updated_at = greatest(c.updated_at, u.updated_at)
      FROM u
      WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id
      RETURNING c.id
    ),
    ins AS (
      INSERT INTO carts (tenant_id, id, customer_id, status, items, total, currency, order_id, created_at, updated_at, checked_out_at)
      SELECT ${tenantId}::uuid, u.id, u.customer_id,
             CASE WHEN u.checked_out_at IS NOT NULL THEN 'checked_out' ELSE 'open' END,
             coalesce(u.items, '[]'), coalesce(u.total, 0), u.currency, u.order_id, u.created_at, u.updated_at, u.checked_out_at
      FROM u WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.id = u.id)
      ORDER BY u.id
      ON CONFLICT (tenant_id, id) DO NOTHING
      RETURNING id
    )
    SELECT ((SELECT count(*) FROM upd) + (SELECT count(*) FROM ins))::int AS n`);
  return row?.n ?? 0;
}

export interface InteractionWrite {
  id: string;
  customerId: string;
  type: string;
  subject: string;
  description: string | null;
  outcome: string | null;
  priority: string;
  status: string;
  durationMinutes: number | null;
  followUpAt: string | null;
  occurredAt: string;
  sourceId: string;
}

export async function insertInteractions(tx: Executor, tenantId: string, actor: string, rows: InteractionWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.run(sql`
    INSERT INTO interactions (tenant_id, id, customer_id, type, subject, description, outcome, priority, status,
                              duration_minutes, follow_up_at, occurred_at, created_by, source_id)
    SELECT ${tenantId}::uuid, u.id, u.customer_id, u.type, u.subject, u.description, u.outcome, u.priority, u.status,
           u.duration_minutes, u.follow_up_at, u.occurred_at, ${actor}, u.source_id
    FROM unnest(
      ${arr(rows.map((r) => r.id))}::uuid[],
      ${arr(rows.map((r) => r.customerId))}::uuid[],
      ${arr(rows.map((r) => r.type))}::text[],
      ${arr(rows.map((r) => r.subject))}::text[],
      ${arr(rows.map((r) => r.description))}::text[],
      ${arr(rows.map((r) => r.outcome))}::text[],
      ${arr(rows.map((r) => r.priority))}::text[],
      ${arr(rows.map((r) => r.status))}::text[],
      ${arr(rows.map((r) => r.durationMinutes))}::int[],
      ${arr(rows.map((r) => r.followUpAt))}::timestamptz[],
      ${arr(rows.map((r) => r.occurredAt))}::timestamptz[],
      ${arr(rows.map((r) => r.sourceId))}::text[]
    ) AS u(id, customer_id, type, subject, description, outcome, priority, status, duration_minutes, follow_up_at, occurred_at, source_id)`);
}

// ---------------------------------------------------------------------------------------------
// Loyalty ledger (idempotent through the (tenant, reason, ref) unique index); each function
// answers the customers it wrote entries for
// ---------------------------------------------------------------------------------------------

/** Runs a ledger insert and answers the customers it wrote entries for. */
async function customerIdsOf(tx: Executor, query: SQL): Promise<string[]> {
  return (await tx.rows<{ customer_id: string }>(query)).map((r) => r.customer_id);
}

/**
 * floor(total × rate) points for each given order, once per order. The caller passes the orders
 * it has just written as completed (or refunded since), with their customer and total as written:
 * the statement does not read them back from orders.
 */
export async function earnOrderPoints(
  tx: Executor,
  tenantId: string,
  orders: { id: string; customerId: string; total: number }[],
  rate: number,
  actor: string,
): Promise<string[]> {
  if (orders.length === 0 || rate <= 0) return [];
  return customerIdsOf(tx, sql`
    INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, ref, created_by)
    SELECT ${tenantId}::uuid, u.customer_id, floor(u.total * ${rate}::numeric)::int, 'order_completed', u.id, ${actor}
    FROM unnest(
      ${arr(orders.map((o) => o.id))}::text[],
      ${arr(orders.map((o) => o.customerId))}::uuid[],
      -- the orders.total column type, so the points follow the stored total
      ${arr(orders.map((o) => o.total))}::numeric(14, 2)[]
    ) AS u(id, customer_id, total)
    WHERE floor(u.total * ${rate}::numeric) > 0
    ORDER BY u.id
    ON CONFLICT (tenant_id, reason, ref) WHERE ref IS NOT NULL DO NOTHING
    RETURNING customer_id`);
}

/** Points an order earned minus what refunds and a cancellation already took back. */
const remainingPointsSql = (tenantId: string) => sql`
  (SELECT coalesce(sum(l.points), 0) FROM loyalty_ledger l
    WHERE l.tenant_id = ${tenantId}::uuid AND l.reason = 'order_completed' AND l.ref = o.id)
  + (SELECT coalesce(sum(l.points), 0) FROM loyalty_ledger l JOIN refunds rf ON rf.tenant_id = l.tenant_id AND rf.id = l.ref
    WHERE l.tenant_id = ${tenantId}::uuid AND l.reason = 'order_refunded' AND rf.order_id = o.id)
  + (SELECT coalesce(sum(l.points), 0) FROM loyalty_ledger l
    WHERE l.tenant_id = ${tenantId}::uuid AND l.reason = 'order_cancelled' AND l.ref = o.id)`;

/**
 * Takes back floor(amount × rate) per refund (in the given order), never more in total than the
 * order still has earned.
 */
export async function reverseRefundPoints(
  tx: Executor,
  tenantId: string,
  refunds: { id: string; orderId: string; amount: number }[],
  rate: number,
  actor: string,
): Promise<string[]> {
  if (refunds.length === 0 || rate <= 0) return [];
  return customerIdsOf(tx, sql`
    WITH r AS (
      SELECT * FROM unnest(
        ${arr(refunds.map((r) => r.id))}::text[],
        ${arr(refunds.map((r) => r.orderId))}::text[],
        ${arr(refunds.map((r) => r.amount))}::numeric[]
      ) WITH ORDINALITY AS r(id, order_id, amount, ord)
    ),
    cap AS (
      SELECT o.id AS order_id, o.customer_id, ${remainingPointsSql(tenantId)} AS remaining
      FROM orders o
      WHERE o.tenant_id = ${tenantId}::uuid AND o.id IN (SELECT order_id FROM r)
    ),
    calc AS (
      SELECT r.id, cap.customer_id, floor(r.amount * ${rate}::numeric) AS want, cap.remaining,
             coalesce(sum(floor(r.amount * ${rate}::numeric)) OVER (
               PARTITION BY r.order_id ORDER BY r.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
      FROM r JOIN cap ON cap.order_id = r.order_id
    )
    INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, ref, created_by)
    SELECT ${tenantId}::uuid, customer_id, -least(want, greatest(0, remaining - before))::int, 'order_refunded', id, ${actor}
    FROM calc
    WHERE least(want, greatest(0, remaining - before)) > 0
    ON CONFLICT (tenant_id, reason, ref) WHERE ref IS NOT NULL DO NOTHING
    RETURNING customer_id`);
}

/** Takes back whatever the given cancelled orders still have earned. */
export async function reverseCancelledPoints(tx: Executor, tenantId: string, orderIds: string[], actor: string): Promise<string[]> {
  if (orderIds.length === 0) return [];
  return customerIdsOf(tx, sql`
    INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, ref, created_by)
    SELECT o.tenant_id, o.customer_id, -x.remaining, 'order_cancelled', o.id, ${actor}
    FROM orders o
    CROSS JOIN LATERAL (SELECT (${remainingPointsSql(tenantId)})::int AS remaining) x
    WHERE o.tenant_id = ${tenantId}::uuid AND o.id = ANY(ARRAY(SELECT unnest(${arr(orderIds)}::text[]))) AND o.status = 'cancelled'
      AND x.remaining > 0
    ON CONFLICT (tenant_id, reason, ref) WHERE ref IS NOT NULL DO NOTHING
    RETURNING customer_id`);
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

/**
 * Metrics of customer `idExpr` from the base tables, as a LATERAL subquery: index lookups on
 * orders_customer_idx and the attendance primary key, so the cost follows the customer, not the tenant.
 */
const metricsLateral = (tenantId: string, idExpr: SQL, ltvDays: number) => sql`
  SELECT o.total_orders, o.total_spend, o.first_purchase, o.last_purchase, o.ltv,
         (SELECT count(DISTINCT a.event_id)::int FROM attendance a
           WHERE a.tenant_id = ${tenantId}::uuid AND a.customer_id = ${idExpr}) AS events_attended
  FROM (
    SELECT count(*) FILTER (WHERE o.status = 'completed')::int AS total_orders,
           coalesce(sum(o.total - o.refunded_amount) FILTER (WHERE o.status IN ('completed', 'refunded')), 0) AS total_spend,
           min(o.completed_at) FILTER (WHERE o.status = 'completed') AS first_purchase,
           max(o.completed_at) FILTER (WHERE o.status = 'completed') AS last_purchase,
           coalesce(sum(o.total - o.refunded_amount) FILTER (
             WHERE o.status IN ('completed', 'refunded') AND o.completed_at >= now() - make_interval(days => ${ltvDays}::int)), 0) AS ltv
    FROM orders o
    WHERE o.tenant_id = ${tenantId}::uuid AND o.customer_id = ${idExpr}
  ) o`;

/** SET assignments for the metrics columns from a metricsLateral row `m` (when `when` holds). */
const metricsAssignments = (m: SQL, when: SQL) => sql`
  total_orders = CASE WHEN ${when} THEN ${m}.total_orders ELSE c.total_orders END,
  total_spend = CASE WHEN ${when} THEN ${m}.total_spend ELSE c.total_spend END,
  average_order_value = CASE WHEN ${when} THEN
      CASE WHEN ${m}.total_orders > 0 THEN round(${m}.total_spend / ${m}.total_orders, 2) ELSE 0 END
    ELSE c.average_order_value END,
  first_purchase = CASE WHEN ${when} THEN ${m}.first_purchase ELSE c.first_purchase END,
  last_purchase = CASE WHEN ${when} THEN ${m}.last_purchase ELSE c.last_purchase END,
  lifetime_value = CASE WHEN ${when} THEN ${m}.ltv ELSE c.lifetime_value END,
  events_attended = CASE WHEN ${when} THEN ${m}.events_attended ELSE c.events_attended END`;

/**
 * Recomputes the purchase and attendance metrics of the given customers from the base tables
 * (orders, attendance), in one statement: total_orders (completed), total_spend (completed and
 * refunded orders net of refunds), average_order_value, first/last purchase, lifetime_value
 * (spend completed within ltvDays) and events_attended (distinct events checked in). Callers
 * hold the customers' row locks, so concurrent batches and redeliveries converge.
 */
export async function recomputeCustomerMetrics(tx: Executor, tenantId: string, customerIds: string[], ltvDays: number): Promise<void> {
  if (customerIds.length === 0) return;
  await tx.run(sql`
    UPDATE customers c SET ${metricsAssignments(sql`m`, sql`true`)}, updated_at = now()
    FROM unnest(${arr([...new Set(customerIds)])}::uuid[]) AS ids(id)
    CROSS JOIN LATERAL (${metricsLateral(tenantId, sql`ids.id`, ltvDays)}) m
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ids.id`);
}

// ---------------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------------

/**
 * Marks open carts untouched for `abandonMinutes` as abandoned and writes a cart.abandoned
 * timeline entry for each, in one statement. Answers how many carts were marked.
 */
export async function markAbandonedCarts(db: Executor, opts: { abandonMinutes: number; tenantId?: string | null }): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    WITH marked AS (
      UPDATE carts c SET status = 'abandoned'
      WHERE c.status = 'open' AND c.updated_at < now() - make_interval(mins => ${opts.abandonMinutes}::int)
        ${opts.tenantId ? sql`AND c.tenant_id = ${opts.tenantId}::uuid` : sql``}
      RETURNING c.tenant_id, c.id, c.customer_id, c.items, c.total, c.currency, c.updated_at
    ),
    timeline AS (
      INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, source_id, actor)
      SELECT m.tenant_id, m.customer_id, 'cart.abandoned',
             m.updated_at + make_interval(mins => ${opts.abandonMinutes}::int),
             'Cart ' || m.id || ' abandoned: ' || to_char(m.total, 'FM999999999990.00') || ' ' || m.currency,
             jsonb_build_object('cart_id', m.id, 'total', m.total, 'currency', m.currency,
                                'items', jsonb_array_length(m.items), 'last_updated_at', m.updated_at),
             m.id, 'system'
      FROM marked m
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM timeline)::int AS n`);
  return row?.n ?? 0;
}

/**
 * Recomputes lifetime_value (spend of completed orders inside the window) of every customer with
 * purchases, set-based; only rows whose value changes are written.
 */
export async function refreshLifetimeValues(db: Executor, opts: { ltvDays: number; tenantId?: string | null }): Promise<number> {
  return db.run(sql`
    WITH v AS (
      SELECT o.tenant_id, o.customer_id,
             coalesce(sum(o.total - o.refunded_amount) FILTER (
               WHERE o.completed_at >= now() - make_interval(days => ${opts.ltvDays}::int)), 0) AS ltv
      FROM orders o
      WHERE o.status IN ('completed', 'refunded')
        ${opts.tenantId ? sql`AND o.tenant_id = ${opts.tenantId}::uuid` : sql``}
      GROUP BY o.tenant_id, o.customer_id
    )
    UPDATE customers c SET lifetime_value = v.ltv, updated_at = now()
    FROM v
    WHERE c.tenant_id = v.tenant_id AND c.id = v.customer_id AND c.lifetime_value <> v.ltv`);
}
