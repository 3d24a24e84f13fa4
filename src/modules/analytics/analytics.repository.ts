import { arr, PG_LOCK_NOT_AVAILABLE, pgErrorCode, sql, type Executor, type SQL } from '../../db/database.js';
import { RFM_CODE_MAP } from './rfm.mapping.js';

/** Live customers only: analytics never count deleted or merged-away profiles. */
const LIVE = sql`c.deleted_at IS NULL AND c.merged_into IS NULL`;

export interface TenantInfo {
  timezone: string;
  currency: string;
  /** Today in the tenant's time zone, YYYY-MM-DD. */
  today: string;
}

export async function tenantInfo(db: Executor, tenantId: string): Promise<TenantInfo> {
  const row = await db.one<TenantInfo>(sql`
    SELECT t.timezone, t.currency, (now() AT TIME ZONE t.timezone)::date AS today
    FROM tenants t WHERE t.id = ${tenantId}::uuid`);
  return row!;
}

export async function customerExists(db: Executor, tenantId: string, customerId: string): Promise<boolean> {
  const row = await db.one(sql`
    SELECT 1 FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid AND ${LIVE}`);
  return row !== undefined;
}

/** The tenant's local calendar date of a timestamptz expression. */
const localDay = (expr: SQL, tenantId: string) => sql`(${expr} AT TIME ZONE ${tenantZone(tenantId)})::date`;

/** The tenant's time zone, looked up in the statement. */
function tenantZone(tenantId: string): SQL {
  return sql`(SELECT t.timezone FROM tenants t WHERE t.id = ${tenantId}::uuid)`;
}

// ---------------------------------------------------------------------------------------------
// RFM
// ---------------------------------------------------------------------------------------------

/**
 * Every live buyer's RFM scores and segment, as a subquery (id, r, f, m, segment, total_spend):
 * R from days since the last purchase (tenant-local calendar days), F from completed orders, M the
 * quintile of total spend among buyers (ntile(5) by spend, ties broken by id so the result is stable).
 * The segment comes from the 125-code table of rfm.mapping.ts, passed as one JSON parameter.
 */
function rfmScored(tenantId: string): SQL {
  const codeMap = JSON.stringify(RFM_CODE_MAP);
  return sql`
    SELECT s.id, s.r, s.f, s.m, s.total_spend,
           (${codeMap}::jsonb ->> (s.r::text || s.f::text || s.m::text)) AS segment
    FROM (
      SELECT c.id, c.total_spend,
             CASE WHEN NOT b.buyer THEN NULL WHEN b.days <= 30 THEN 5 WHEN b.days <= 60 THEN 4 WHEN b.days <= 90 THEN 3
                  WHEN b.days <= 180 THEN 2 ELSE 1 END AS r,
             CASE WHEN NOT b.buyer THEN NULL WHEN c.total_orders >= 10 THEN 5 WHEN c.total_orders >= 5 THEN 4
                  WHEN c.total_orders >= 3 THEN 3 WHEN c.total_orders = 2 THEN 2 ELSE 1 END AS f,
             CASE WHEN b.buyer THEN ntile(5) OVER (PARTITION BY b.buyer ORDER BY c.total_spend, c.id) END AS m
      FROM customers c
      CROSS JOIN LATERAL (
        SELECT c.total_orders > 0 AND c.last_purchase IS NOT NULL AS buyer,
               greatest(0, ${localDay(sql`now()`, tenantId)} - ${localDay(sql`c.last_purchase`, tenantId)}) AS days
      ) b
      WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE} AND c.total_orders > 0 AND c.last_purchase IS NOT NULL
    ) s`;
}

export interface RfmSegmentRow {
  segment: string;
  customers: number;
  total_revenue: number;
}
export interface RfmScoreCountRow {
  dimension: 'r' | 'f' | 'm';
  score: number;
  customers: number;
}

/** Current RFM figures, computed from the profile metrics at request time (the same expression the writer uses). */
export async function rfmSummary(db: Executor, tenantId: string): Promise<{ segments: RfmSegmentRow[]; scores: RfmScoreCountRow[] }> {
  const rows = await db.rows<{ kind: string; key: string; customers: number; total_revenue: number }>(sql`
    WITH s AS (${rfmScored(tenantId)})
    SELECT 'segment' AS kind, s.segment AS key, count(*)::int AS customers, coalesce(sum(s.total_spend), 0) AS total_revenue FROM s GROUP BY s.segment
    UNION ALL SELECT 'r', s.r::text, count(*)::int, 0 FROM s GROUP BY s.r
    UNION ALL SELECT 'f', s.f::text, count(*)::int, 0 FROM s GROUP BY s.f
    UNION ALL SELECT 'm', s.m::text, count(*)::int, 0 FROM s GROUP BY s.m`);
  return {
    segments: rows.filter((r) => r.kind === 'segment').map((r) => ({ segment: r.key, customers: r.customers, total_revenue: r.total_revenue })),
    scores: rows.filter((r) => r.kind !== 'segment').map((r) => ({ dimension: r.kind as 'r' | 'f' | 'm', score: Number(r.key), customers: r.customers })),
  };
}

// ---------------------------------------------------------------------------------------------
// CLV sufficient statistics
// ---------------------------------------------------------------------------------------------

/**
 * Per-customer purchase days up to asOf (inclusive, tenant-local calendar days): completed orders, net of
 * partial refunds, orders of one customer on one local day summed into one purchase. Columns:
 * customer_id, x (purchase days − 1), tx_days (last − first), t_days (asOf − first), repeat_sum (spend on
 * every purchase day but the first), historic (all spend up to asOf).
 *
 * `zone` is the time zone: for the whole tenant a value, not a look-up, so the planner estimates the asOf
 * cut-off from its statistics (a sub-select there made it guess a third of the orders and plan for that);
 * for a few customers the look-up (tenantZone) saves a round trip. The first day's spend is the
 * second element of min(ARRAY[day, spend]) (arrays compare element by element), which saves a window pass.
 */
function purchaseStatisticsOf(tenantId: string, asOf: string, zone: SQL, only: SQL): SQL {
  return sql`
    SELECT d.customer_id, (count(*) - 1)::int AS x, (max(d.day) - min(d.day))::int AS tx_days,
           (${asOf}::date - min(d.day))::int AS t_days,
           sum(d.amount) - (min(ARRAY[d.day - DATE '2000-01-01', d.amount]))[2] AS repeat_sum,
           sum(d.amount) AS historic
    FROM (
      SELECT o.customer_id, (o.completed_at AT TIME ZONE ${zone})::date AS day, sum(o.total - o.refunded_amount) AS amount
      FROM orders o
      JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
      WHERE o.tenant_id = ${tenantId}::uuid AND o.status = 'completed' AND o.completed_at IS NOT NULL
        AND o.completed_at < ((${asOf}::date + 1)::timestamp AT TIME ZONE ${zone})
        ${only}
      GROUP BY 1, 2
    ) d
    GROUP BY d.customer_id`;
}

interface StatisticsScope {
  timezone: string;
  /** See purchaseStatistics; null with fewer than two customers. */
  split: string | null;
}

/**
 * The tenant's time zone and an id that splits its customers roughly in half: the middle of the planner's
 * histogram of customer ids within the tenant's id range, else the midpoint of that range (ids are random or
 * time-ordered UUIDs; an uneven split costs speed, never correctness).
 */
async function wholeTenantScope(db: Executor, tenantId: string): Promise<StatisticsScope> {
  const row = (await db.one<{ timezone: string; lo: string | null; hi: string | null; bounds: string[] | null }>(sql`
    SELECT t.timezone,
           (SELECT c.id FROM customers c WHERE c.tenant_id = t.id ORDER BY c.id LIMIT 1)::text AS lo,
           (SELECT c.id FROM customers c WHERE c.tenant_id = t.id ORDER BY c.id DESC LIMIT 1)::text AS hi,
           (SELECT histogram_bounds::text::text[] FROM pg_stats
            WHERE schemaname = current_schema() AND tablename = 'customers' AND attname = 'id') AS bounds
    FROM tenants t WHERE t.id = ${tenantId}::uuid`))!;
  const { timezone, lo, hi } = row;
  if (!lo || !hi || lo === hi) return { timezone, split: null };
  const inside = (row.bounds ?? []).filter((b) => b > lo && b < hi);
  if (inside.length >= 3) return { timezone, split: inside[Math.floor(inside.length / 2)]! };
  const hex = (u: string) => BigInt(`0x${u.replaceAll('-', '')}`);
  const mid = ((hex(lo) + hex(hi)) / 2n).toString(16).padStart(32, '0');
  return { timezone, split: `${mid.slice(0, 8)}-${mid.slice(8, 12)}-${mid.slice(12, 16)}-${mid.slice(16, 20)}-${mid.slice(20)}` };
}

/**
 * The statistics of some customers, or of the whole tenant. For the whole tenant the customers are split in
 * two id ranges and the halves written as a UNION ALL: PostgreSQL can then run each half's whole aggregation
 * (join, per-day and per-customer grouping) in a worker of its own (Parallel Append), where one query
 * gathers every (customer, day) row into the leader and groups them there alone. The halves read disjoint
 * customers, so the union is exactly the one query's result.
 */
async function purchaseStatistics(db: Executor, tenantId: string, asOf: string, customerIds?: string | readonly string[]): Promise<SQL> {
  if (customerIds !== undefined) {
    return purchaseStatisticsOf(tenantId, asOf, tenantZone(tenantId), typeof customerIds === 'string'
      ? sql`AND o.customer_id = ${customerIds}::uuid`
      : sql`AND o.customer_id = ANY(${arr(customerIds)}::uuid[])`);
  }
  const { timezone, split } = await wholeTenantScope(db, tenantId);
  const zone = sql`${timezone}::text`;
  if (!split) return purchaseStatisticsOf(tenantId, asOf, zone, sql``);
  return sql`
    ${purchaseStatisticsOf(tenantId, asOf, zone, sql`AND o.customer_id < ${split}::uuid`)}
    UNION ALL
    ${purchaseStatisticsOf(tenantId, asOf, zone, sql`AND o.customer_id >= ${split}::uuid`)}`;
}

/** The id splitting the tenant's customers for the statistics (exported for its test). */
export async function customerIdSplit(db: Executor, tenantId: string): Promise<string | null> {
  return (await wholeTenantScope(db, tenantId)).split;
}

export interface StatisticsRow {
  x: number;
  tx_days: number;
  t_days: number;
  repeat_sum: number;
}

/** Statistics grouped into weighted rows of identical values: what the fit needs (a few thousand rows at 1M customers). */
export async function groupedStatistics(db: Executor, tenantId: string, asOf: string): Promise<(StatisticsRow & { weight: number })[]> {
  return db.rows(sql`
    SELECT s.x, s.tx_days, s.t_days, s.repeat_sum, count(*)::int AS weight
    FROM (${await purchaseStatistics(db, tenantId, asOf)}) s
    GROUP BY s.x, s.tx_days, s.t_days, s.repeat_sum`);
}

export interface CustomerStatisticsRow extends StatisticsRow {
  customer_id: string;
  historic: number;
  source: string | null;
  rfm_segment: string | null;
}

export type BuyerStatisticsRow = StatisticsRow & { customer_id: string; historic: number };

/** Every buyer's statistics alone (what the scores refresh needs): no read of the profiles. */
export async function buyerStatistics(db: Executor, tenantId: string, asOf: string, customerIds?: readonly string[]): Promise<BuyerStatisticsRow[]> {
  return db.rows(await purchaseStatistics(db, tenantId, asOf, customerIds));
}

export async function customerStatistics(db: Executor, tenantId: string, asOf: string, customerIds?: string | readonly string[]): Promise<CustomerStatisticsRow[]> {
  return db.rows(sql`
    SELECT s.*, c.source, c.rfm_segment
    FROM (${await purchaseStatistics(db, tenantId, asOf, customerIds)}) s
    JOIN customers c ON c.tenant_id = ${tenantId}::uuid AND c.id = s.customer_id`);
}

export interface CustomerNameRow {
  id: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  external_id: string | null;
}

export async function customerNames(db: Executor, tenantId: string, ids: string[]): Promise<CustomerNameRow[]> {
  if (ids.length === 0) return [];
  return db.rows(sql`
    SELECT c.id, c.first_name, c.last_name, c.email, c.external_id FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[])`);
}

// ---------------------------------------------------------------------------------------------
// Stored model, acquisition costs
// ---------------------------------------------------------------------------------------------

export interface StoredModelRow {
  time_unit: 'day' | 'week';
  as_of: string;
  params: {
    bgnbd: { r: number; alpha: number; a: number; b: number };
    gamma_gamma: { p: number; q: number; v: number; log_likelihood: number; customers: number };
    repeat_customers: number;
  };
  log_likelihood: number;
  customers: number;
  fitted_at: Date;
}

export async function storedModel(db: Executor, tenantId: string, timeUnit: string): Promise<StoredModelRow | undefined> {
  return db.one(sql`
    SELECT m.time_unit, m.as_of, m.params, m.log_likelihood, m.customers, m.fitted_at
    FROM clv_models m WHERE m.tenant_id = ${tenantId}::uuid AND m.time_unit = ${timeUnit}`);
}

export async function saveModel(db: Executor, tenantId: string, m: Omit<StoredModelRow, 'fitted_at'>): Promise<void> {
  await db.run(sql`
    INSERT INTO clv_models (tenant_id, time_unit, as_of, params, log_likelihood, customers)
    VALUES (${tenantId}::uuid, ${m.time_unit}, ${m.as_of}::date, ${JSON.stringify(m.params)}::jsonb, ${m.log_likelihood}, ${m.customers})
    ON CONFLICT (tenant_id, time_unit) DO UPDATE SET as_of = excluded.as_of, params = excluded.params,
      log_likelihood = excluded.log_likelihood, customers = excluded.customers, fitted_at = now()`);
}

export async function deleteModel(db: Executor, tenantId: string, timeUnit: string): Promise<void> {
  await db.run(sql`DELETE FROM clv_models WHERE tenant_id = ${tenantId}::uuid AND time_unit = ${timeUnit}`);
}

export async function acquisitionCosts(db: Executor, tenantId: string): Promise<{ source: string; cost: number; updated_at: Date }[]> {
  return db.rows(sql`
    SELECT a.source, a.cost, a.updated_at FROM acquisition_costs a WHERE a.tenant_id = ${tenantId}::uuid ORDER BY a.source`);
}

export async function replaceAcquisitionCosts(tx: Executor, tenantId: string, costs: { source: string; cost: number }[]): Promise<void> {
  await tx.run(sql`DELETE FROM acquisition_costs WHERE tenant_id = ${tenantId}::uuid`);
  if (costs.length === 0) return;
  await tx.run(sql`
    INSERT INTO acquisition_costs (tenant_id, source, cost)
    SELECT ${tenantId}::uuid, u.source, u.cost
    FROM unnest(${arr(costs.map((c) => c.source))}::text[], ${arr(costs.map((c) => c.cost))}::numeric[]) AS u(source, cost)`);
}

// ---------------------------------------------------------------------------------------------
// Scores refresh
// ---------------------------------------------------------------------------------------------

/** Locks the tenant's customer rows in id order (DESIGN: the same order ingestion locks them in). */
export async function lockCustomers(tx: Executor, tenantId: string): Promise<void> {
  await tx.one(sql`SELECT count(*) FROM (SELECT 1 FROM customers c WHERE c.tenant_id = ${tenantId}::uuid ORDER BY c.id FOR UPDATE) l`);
}

/** Which customers a score computation covers: the whole tenant (a full refresh) or a list of ids (the customers an ingestion touched). */
export type ScoreScope = { ids: readonly string[] } | { all: true };

function inScope(col: SQL, scope: ScoreScope): SQL {
  return 'all' in scope ? sql`true` : sql`${col} = ANY(${arr(scope.ids)}::uuid[])`;
}

/** Locks the scope's customer rows in id order (the order ingestion and the other writers lock them in). */
export async function lockScope(tx: Executor, tenantId: string, scope: ScoreScope): Promise<number> {
  const row = await tx.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM (
      SELECT 1 FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND ${inScope(sql`c.id`, scope)} ORDER BY c.id FOR UPDATE) l`);
  return row?.n ?? 0;
}

/** Where monetary quintiles 2..5 start: the first (total_spend, id) of each ntile(5) bucket of the live buyers. */
export interface MonetaryCut {
  spend: number;
  id: string;
}

/**
 * The starts of monetary quintiles 2..5 (ntile(5) over the live buyers by total_spend, ties by id): a buyer's
 * M score is 1 + the number of cuts at or below its (total_spend, id). Computed once per full refresh, so
 * every slice and the later per-customer refreshes score against the same quintiles.
 */
export async function computeMonetaryCuts(db: Executor, tenantId: string): Promise<MonetaryCut[]> {
  return db.rows<MonetaryCut>(sql`
    SELECT DISTINCT ON (q.m) q.total_spend::float8 AS spend, q.id::text AS id
    FROM (
      SELECT c.id, c.total_spend, ntile(5) OVER (ORDER BY c.total_spend, c.id) AS m
      FROM customers c
      WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE} AND c.total_orders > 0 AND c.last_purchase IS NOT NULL
    ) q
    WHERE q.m > 1
    ORDER BY q.m, q.total_spend, q.id`);
}

export async function storedMonetaryCuts(db: Executor, tenantId: string): Promise<MonetaryCut[] | undefined> {
  const row = await db.one<{ monetary_cuts: MonetaryCut[] }>(sql`
    SELECT s.monetary_cuts FROM customer_score_state s WHERE s.tenant_id = ${tenantId}::uuid`);
  return row?.monetary_cuts;
}

export async function saveMonetaryCuts(db: Executor, tenantId: string, cuts: MonetaryCut[]): Promise<void> {
  await db.run(sql`
    INSERT INTO customer_score_state (tenant_id, monetary_cuts, refreshed_at)
    VALUES (${tenantId}::uuid, ${JSON.stringify(cuts)}::jsonb, now())
    ON CONFLICT (tenant_id) DO UPDATE SET monetary_cuts = excluded.monetary_cuts, refreshed_at = excluded.refreshed_at`);
}

export interface ScoreWriteRow {
  id: string;
  old_stage: string | null;
  new_stage: string | null;
  rfm_changed: boolean;
  clv_changed: boolean;
}

export interface ScoreInputs {
  scope: ScoreScope;
  cuts: readonly MonetaryCut[];
  /** the CLV model's predictions, a relation (id, p, clv) of the scope's buyers; customers not in it get NULL */
  clv: SQL;
  churnThresholdDays: number;
}

/** Predictions passed as arrays (a few customers), as the `clv` relation of ScoreInputs. */
export function clvFromArrays(clv: { ids: string[]; pAlive: number[]; predicted: number[] }): SQL {
  return sql`SELECT u.id, u.p, u.clv FROM unnest(${arr(clv.ids)}::uuid[], ${arr(clv.pAlive)}::float8[], ${arr(clv.predicted)}::float8[]) AS u(id, p, clv)`;
}

/** Predictions staged in score_refresh_clv for a run, as the `clv` relation of ScoreInputs. */
function clvFromRun(runId: string): SQL {
  return sql`SELECT w.customer_id AS id, w.p_alive AS p, w.predicted_clv AS clv FROM score_refresh_clv w WHERE w.run_id = ${runId}::uuid`;
}

/**
 * Every score of the scope's live customers, as a relation: the new values, the old lifecycle stage, the
 * row's place and version (ctid, xmin), whether the RFM or CLV columns change and whether anything changes at all:
 *  - rfm_recency/frequency/monetary/segment (M from the quintile cuts; NULL without a purchase);
 *  - p_alive, predicted_clv from the `clv` relation;
 *  - churn_risk, lifecycle_stage, engagement_score from the new values above and the activity tables
 *    (formulas in README.md, "Scores").
 * The engagement inputs are aggregated set-based over the scope (orders, check-ins, e-mail timeline entries
 * and interactions: for the whole tenant one pass over each table grouped by hash; for a few ids, lookups
 * of the per-customer indexes) rather than looked up customer by customer.
 */
function scoreValues(tenantId: string, opts: ScoreInputs): SQL {
  const t = sql`${tenantId}::uuid`;
  const threshold = opts.churnThresholdDays;
  const today = localDay(sql`now()`, tenantId);
  const codes = Object.keys(RFM_CODE_MAP).map(Number);
  const names = Object.values(RFM_CODE_MAP);
  const m = opts.cuts.length === 0 ? sql`1`
    : sql`1 + ${sql.join(opts.cuts.map((cut) => sql`((c.total_spend, c.id) >= (${cut.spend}::numeric, ${cut.id}::uuid))::int`), sql` + `)}`;
  return sql`
    WITH u AS MATERIALIZED (
      SELECT u.id, round(u.p::numeric, 4) AS p, round(u.clv::numeric, 2) AS clv FROM (${opts.clv}) u
    ),
    po AS (
      -- float8 (extract answers numeric): exp of an arbitrary-precision numeric costs more than the rest of the row
      SELECT o.customer_id, sum(exp(-greatest(0, extract(epoch FROM now() - o.completed_at)::float8) / 86400 / 90)) AS purchases
      FROM orders o
      WHERE o.tenant_id = ${t} AND ${inScope(sql`o.customer_id`, opts.scope)} AND o.status = 'completed'
        AND o.completed_at >= now() - interval '365 days'
      GROUP BY o.customer_id
    ),
    pa AS (
      SELECT at.customer_id, sum(exp(-greatest(0, extract(epoch FROM now() - at.checked_in_at)::float8) / 86400 / 180)) AS attended
      FROM attendance at
      WHERE at.tenant_id = ${t} AND ${inScope(sql`at.customer_id`, opts.scope)} AND at.checked_in_at >= now() - interval '365 days'
      GROUP BY at.customer_id
    ),
    pe AS (
      SELECT ac.customer_id, count(*) FILTER (WHERE ac.type = 'email.opened') + 2 * count(*) FILTER (WHERE ac.type = 'email.clicked') AS email
      FROM activities ac
      WHERE ac.tenant_id = ${t} AND ${inScope(sql`ac.customer_id`, opts.scope)} AND ac.type IN ('email.opened', 'email.clicked')
        AND ac.occurred_at >= now() - interval '90 days' AND ac.occurred_at <= now()
      GROUP BY ac.customer_id
    ),
    pi AS (
      SELECT it.customer_id, count(*) AS interactions
      FROM interactions it
      WHERE it.tenant_id = ${t} AND ${inScope(sql`it.customer_id`, opts.scope)} AND it.deleted_at IS NULL
        AND it.occurred_at >= now() - interval '90 days' AND it.occurred_at <= now()
      GROUP BY it.customer_id
    ),
    s AS (
      SELECT c.id, c.ctid AS row_ctid, c.xmin AS row_version, c.lifecycle_stage AS old_stage, c.total_orders, c.first_purchase, c.last_purchase,
             c.rfm_recency, c.rfm_frequency, c.rfm_monetary, c.rfm_segment, c.p_alive AS old_p_alive, c.predicted_clv AS old_clv,
             c.churn_risk AS old_churn, c.engagement_score AS old_engagement, b.buyer, b.days,
             CASE WHEN NOT b.buyer THEN NULL WHEN b.days <= 30 THEN 5 WHEN b.days <= 60 THEN 4 WHEN b.days <= 90 THEN 3
                  WHEN b.days <= 180 THEN 2 ELSE 1 END AS r,
             CASE WHEN NOT b.buyer THEN NULL WHEN c.total_orders >= 10 THEN 5 WHEN c.total_orders >= 5 THEN 4
                  WHEN c.total_orders >= 3 THEN 3 WHEN c.total_orders = 2 THEN 2 ELSE 1 END AS f,
             CASE WHEN b.buyer THEN ${m} END AS m,
             coalesce(po.purchases, 0) AS purchases, coalesce(pa.attended, 0) AS attended,
             coalesce(pe.email, 0) AS email, coalesce(pi.interactions, 0) AS interactions
      FROM customers c
      CROSS JOIN LATERAL (
        SELECT c.total_orders > 0 AND c.last_purchase IS NOT NULL AS buyer,
               greatest(0, ${today} - ${localDay(sql`c.last_purchase`, tenantId)}) AS days
      ) b
      LEFT JOIN po ON po.customer_id = c.id
      LEFT JOIN pa ON pa.customer_id = c.id
      LEFT JOIN pe ON pe.customer_id = c.id
      LEFT JOIN pi ON pi.customer_id = c.id
      WHERE c.tenant_id = ${t} AND ${LIVE} AND ${inScope(sql`c.id`, opts.scope)}
      -- OFFSET 0 (here and in v): the planner keeps the subquery whole, so each computed column is computed
      -- once per row rather than once per place that names it (the CASEs below, the change test)
      OFFSET 0
    ),
    v AS (
      SELECT s.id, s.row_ctid, s.row_version, s.old_stage, s.r, s.f, s.m, x.segment, u.p AS p_alive, u.clv AS predicted_clv,
             (s.rfm_recency IS DISTINCT FROM s.r OR s.rfm_frequency IS DISTINCT FROM s.f
              OR s.rfm_monetary IS DISTINCT FROM s.m OR s.rfm_segment IS DISTINCT FROM x.segment) AS rfm_changed,
             (s.old_p_alive IS DISTINCT FROM u.p OR s.old_clv IS DISTINCT FROM u.clv) AS clv_changed,
             s.old_churn, s.old_engagement,
             -- BG/NBD gives P(alive) = 1 to a customer who never bought again (dropout happens only after a
             -- purchase in the model): for them, as without a model, the days-based ramp decides.
             CASE WHEN u.p IS NOT NULL AND u.p < 1 THEN round(1 - u.p, 4)
                  WHEN s.last_purchase IS NULL THEN NULL
                  ELSE round(least(1.0, s.days::numeric / ${threshold}::numeric), 4) END AS churn_risk,
             CASE WHEN s.last_purchase IS NULL OR s.total_orders = 0 THEN NULL
                  WHEN s.days > ${threshold}::int THEN 'lost'
                  WHEN s.days > ${threshold}::int / 2 OR u.p < 0.5 THEN 'at_risk'
                  WHEN x.segment = 'Champions' THEN 'champion'
                  WHEN s.total_orders >= 3 THEN 'loyal'
                  WHEN s.total_orders = 1 AND ${today} - ${localDay(sql`s.first_purchase`, tenantId)} <= 90 THEN 'new'
                  ELSE 'active' END AS lifecycle_stage,
             round((
               40 * least(1.0, s.purchases / 3.0)
               + 25 * least(1.0, s.attended / 3.0)
               + 20 * least(1.0, s.email / 5.0)
               + 15 * least(1.0, s.interactions / 3.0)
             )::numeric)::smallint AS engagement_score
      FROM s
      -- the 125-code table as a relation: one hash join instead of a JSON lookup per customer
      LEFT JOIN unnest(${arr(codes)}::int[], ${arr(names)}::text[]) AS x(code, segment) ON x.code = s.r * 100 + s.f * 10 + s.m
      LEFT JOIN u ON u.id = s.id
      OFFSET 0
    )
    SELECT v.*, (v.rfm_changed OR v.clv_changed OR v.old_churn IS DISTINCT FROM v.churn_risk
                 OR v.old_stage IS DISTINCT FROM v.lifecycle_stage OR v.old_engagement IS DISTINCT FROM v.engagement_score) AS changed
    FROM v`;
}

/*
 * Scores and the VIP flag are derived values: writing them leaves the profile's updated_at (the last change
 * of the customer's own data) alone. That also keeps a score write's WAL record small: the scores are the
 * last columns of the row, and an update on the same page logs only the changed span.
 */

/**
 * Writes the scores of a few customers (`ids` scope, rows already locked by the caller) in ONE statement,
 * only rows where something changes. Answers, per written row, the old and new lifecycle stage and whether
 * the RFM or CLV columns changed.
 */
export async function writeScores(tx: Executor, tenantId: string, opts: ScoreInputs & { scope: { ids: readonly string[] } }): Promise<ScoreWriteRow[]> {
  return tx.rows(sql`
    WITH v AS MATERIALIZED (${scoreValues(tenantId, opts)})
    UPDATE customers c
    SET rfm_recency = v.r, rfm_frequency = v.f, rfm_monetary = v.m, rfm_segment = v.segment,
        p_alive = v.p_alive, predicted_clv = v.predicted_clv,
        churn_risk = v.churn_risk, lifecycle_stage = v.lifecycle_stage, engagement_score = v.engagement_score
    FROM v
    -- the scope again: the target rows are then read by id, not by a scan of the tenant
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = v.id AND ${inScope(sql`c.id`, opts.scope)} AND v.changed
    RETURNING c.id, v.old_stage, c.lifecycle_stage AS new_stage, v.rfm_changed, v.clv_changed`);
}

/** Stages a run's CLV predictions (score_refresh_clv), one statement per call. */
export async function stageClvPredictions(db: Executor, runId: string, clv: { ids: string[]; pAlive: number[]; predicted: number[] }): Promise<void> {
  if (clv.ids.length === 0) return;
  await db.run(sql`
    INSERT INTO score_refresh_clv (run_id, customer_id, p_alive, predicted_clv)
    SELECT ${runId}::uuid, u.id, u.p, u.clv FROM (${clvFromArrays(clv)}) u`);
}

/** Where a staged change sits in the write order (see score_refresh_changes in migration 0018). */
export interface ScoreChangeKey {
  sweep: number;
  line: number;
}

/**
 * Computes every score of the tenant's live customers in ONE statement and stages the values of those whose
 * scores change (score_refresh_changes), each placed in the write order: sweeps of `sweepPages` neighbouring
 * pages. Answers how many were staged.
 */
export async function stageScoreChanges(
  tx: Executor,
  tenantId: string,
  runId: string,
  opts: Omit<ScoreInputs, 'scope' | 'clv'> & { sweepPages: number },
): Promise<number> {
  const row = await tx.one<{ n: number }>(sql`
    WITH staged AS (
      INSERT INTO score_refresh_changes (run_id, sweep, line, page, customer_id, row_version, old_stage, rfm_recency, rfm_frequency,
        rfm_monetary, rfm_segment, p_alive, predicted_clv, churn_risk, lifecycle_stage, engagement_score, rfm_changed, clv_changed)
      SELECT ${runId}::uuid, p.page / ${opts.sweepPages}::int, p.line, p.page, v.id, v.row_version, v.old_stage, v.r, v.f, v.m,
             v.segment, v.p_alive, v.predicted_clv, v.churn_risk, v.lifecycle_stage, v.engagement_score, v.rfm_changed, v.clv_changed
      FROM (${scoreValues(tenantId, { ...opts, scope: { all: true }, clv: clvFromRun(runId) })}) v
      CROSS JOIN LATERAL (SELECT (v.row_ctid::text::point)[0]::int AS page, (v.row_ctid::text::point)[1]::int AS line) p
      WHERE v.changed
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM staged`);
  return row?.n ?? 0;
}

/**
 * Writes the staged changes of a run that come next after `after`: those of one line number of one sweep (at
 * most one row per page, so at most `sweepPages` rows), in the caller's transaction. The rows are locked in id
 * order (the order every writer locks customers in), and a row written since its values were computed
 * (another xmin) is left alone. Answers the written rows and the key to continue after (null: no more).
 * The caller may commit without waiting for the WAL flush: a slice lost in a crash is recomputed by the next run.
 */
export async function applyScoreChanges(
  tx: Executor,
  tenantId: string,
  runId: string,
  after: ScoreChangeKey | null,
): Promise<{ written: ScoreWriteRow[]; last: ScoreChangeKey | null }> {
  const next = await tx.one<ScoreChangeKey>(sql`
    SELECT w.sweep, w.line FROM score_refresh_changes w
    WHERE w.run_id = ${runId}::uuid ${after === null ? sql`` : sql`AND (w.sweep, w.line) > (${after.sweep}::int, ${after.line}::int)`}
    ORDER BY w.sweep, w.line LIMIT 1`);
  if (!next) return { written: [], last: null };
  // ONE statement locks and writes: the slice's changes in id order drive a nested loop over the customers
  // index, so rows are locked in id order like every other writer of customers locks them (a deadlock would
  // still only roll the slice back for db.transaction to retry).
  const written = await tx.rows<ScoreWriteRow>(sql`
    UPDATE customers c
    SET rfm_recency = w.rfm_recency, rfm_frequency = w.rfm_frequency, rfm_monetary = w.rfm_monetary, rfm_segment = w.rfm_segment,
        p_alive = w.p_alive, predicted_clv = w.predicted_clv,
        churn_risk = w.churn_risk, lifecycle_stage = w.lifecycle_stage, engagement_score = w.engagement_score
    FROM (
      SELECT w.* FROM score_refresh_changes w
      WHERE w.run_id = ${runId}::uuid AND w.sweep = ${next.sweep}::int AND w.line = ${next.line}::int
      ORDER BY w.customer_id
    ) w
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = w.customer_id AND c.xmin = w.row_version
    RETURNING c.id, w.old_stage, c.lifecycle_stage AS new_stage, w.rfm_changed, w.clv_changed`);
  return { written, last: next };
}

/**
 * Removes a run's staged rows, and those of runs older than a day (a refresh that died midway). When no other
 * run has rows, both tables are truncated instead: a refresh stages up to a row per customer, and deleted rows
 * would otherwise pile up wherever autovacuum is off or behind (each run's look-ups then wade through them).
 */
export async function dropScoreRun(db: Executor, runId: string): Promise<void> {
  const truncated = await db.transaction(async (tx) => {
    // NOWAIT: a run writing right now holds its lock; then only this run's rows go
    await tx.run(sql`LOCK TABLE score_refresh_clv, score_refresh_changes IN ACCESS EXCLUSIVE MODE NOWAIT`);
    const other = await tx.one(sql`
      SELECT 1 FROM score_refresh_changes WHERE run_id <> ${runId}::uuid AND started_at >= now() - interval '1 day'
      UNION ALL
      SELECT 1 FROM score_refresh_clv WHERE run_id <> ${runId}::uuid AND started_at >= now() - interval '1 day'
      LIMIT 1`);
    if (other) return false;
    await tx.run(sql`TRUNCATE score_refresh_clv, score_refresh_changes`);
    return true;
  }).catch((err: unknown) => {
    if (pgErrorCode(err) === PG_LOCK_NOT_AVAILABLE) return false;
    throw err;
  });
  if (truncated) return;
  await db.run(sql`DELETE FROM score_refresh_clv WHERE run_id = ${runId}::uuid OR started_at < now() - interval '1 day'`);
  await db.run(sql`DELETE FROM score_refresh_changes WHERE run_id = ${runId}::uuid OR started_at < now() - interval '1 day'`);
}

// ---------------------------------------------------------------------------------------------
// Score refresh after ingestion: a queue of customers whose data changed
// ---------------------------------------------------------------------------------------------

/** Queues customers for a score refresh (ingestion calls this; a ticker job drains the queue). */
export async function queueScoreRefresh(db: Executor, tenantId: string, customerIds: readonly string[]): Promise<void> {
  if (customerIds.length === 0) return;
  await db.run(sql`
    INSERT INTO score_refresh_queue (tenant_id, customer_id)
    SELECT ${tenantId}::uuid, u.id FROM unnest(${arr(customerIds)}::uuid[]) AS u(id)
    ON CONFLICT DO NOTHING`);
}

/**
 * Takes up to `limit` queued customers (oldest first) out of the queue, in the caller's transaction: rolled
 * back with it when their refresh fails. SKIP LOCKED lets two workers drain different customers.
 */
export async function claimQueuedScores(tx: Executor, limit: number, tenantId?: string): Promise<{ tenant_id: string; customer_id: string }[]> {
  return tx.rows(sql`
    DELETE FROM score_refresh_queue q
    USING (
      SELECT tenant_id, customer_id FROM score_refresh_queue
      ${tenantId ? sql`WHERE tenant_id = ${tenantId}::uuid` : sql``}
      ORDER BY queued_at, tenant_id, customer_id
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) x
    WHERE q.tenant_id = x.tenant_id AND q.customer_id = x.customer_id
    RETURNING q.tenant_id, q.customer_id`);
}

/** Tenants with at least one live customer (the scheduled refresh walks them one by one). */
export async function tenantIds(db: Executor): Promise<string[]> {
  const rows = await db.rows<{ id: string }>(sql`SELECT t.id FROM tenants t ORDER BY t.id`);
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------
// Overview, cohorts, purchase patterns
// ---------------------------------------------------------------------------------------------

export interface OverviewRow {
  customers: number;
  buyers: number;
  active_30: number;
  active_60: number;
  active_90: number;
  new_30: number;
  existing_30_days_ago: number;
  new_buyers_30: number;
  churned: number;
  average_ltv: number;
  average_predicted_clv: number | null;
  average_engagement: number | null;
}

export async function overview(db: Executor, tenantId: string, churnThresholdDays: number): Promise<OverviewRow> {
  const row = await db.one<OverviewRow>(sql`
    SELECT count(*)::int AS customers,
           count(*) FILTER (WHERE c.total_orders > 0)::int AS buyers,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '30 days')::int AS active_30,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '60 days')::int AS active_60,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '90 days')::int AS active_90,
           count(*) FILTER (WHERE c.created_at >= now() - interval '30 days')::int AS new_30,
           count(*) FILTER (WHERE c.created_at < now() - interval '30 days')::int AS existing_30_days_ago,
           count(*) FILTER (WHERE c.first_purchase >= now() - interval '30 days')::int AS new_buyers_30,
           count(*) FILTER (WHERE c.total_orders > 0 AND c.last_purchase < now() - make_interval(days => ${churnThresholdDays}::int))::int AS churned,
           coalesce(round(avg(c.lifetime_value) FILTER (WHERE c.total_orders > 0), 2), 0) AS average_ltv,
           round(avg(c.predicted_clv), 2) AS average_predicted_clv,
           round(avg(c.engagement_score), 1) AS average_engagement
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE}`);
  return row!;
}

export async function lifecycleCounts(db: Executor, tenantId: string): Promise<{ stage: string | null; customers: number }[]> {
  return db.rows(sql`
    SELECT c.lifecycle_stage AS stage, count(*)::int AS customers
    FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE}
    GROUP BY c.lifecycle_stage`);
}

/** Live segments with their size and entries/exits in the last 30 days (segment_membership_history). */
export async function segmentGrowth(db: Executor, tenantId: string): Promise<{ id: string; name: string; customers: number; entered_30: number; exited_30: number }[]> {
  return db.rows(sql`
    SELECT s.id, s.name, s.customer_count AS customers,
           coalesce(h.entered, 0)::int AS entered_30, coalesce(h.exited, 0)::int AS exited_30
    FROM segments s
    LEFT JOIN (
      SELECT mh.segment_id, count(*) FILTER (WHERE mh.change = 'entered') AS entered, count(*) FILTER (WHERE mh.change = 'exited') AS exited
      FROM segment_membership_history mh
      WHERE mh.tenant_id = ${tenantId}::uuid AND mh.at >= now() - interval '30 days'
      GROUP BY mh.segment_id
    ) h ON h.segment_id = s.id
    WHERE s.tenant_id = ${tenantId}::uuid AND s.deleted_at IS NULL
    ORDER BY s.name`);
}

/** Completed orders' tenant-local purchase period (period start date), joined to each customer's first period. */
export async function cohortCells(
  db: Executor,
  tenantId: string,
  period: 'month' | 'week',
  since: string,
): Promise<{ cohort: string; period: string; customers: number; revenue: number }[]> {
  return db.rows(sql`
    WITH o AS (
      SELECT o.customer_id, date_trunc(${period}, ${localDay(sql`o.completed_at`, tenantId)})::date AS p,
             o.total - o.refunded_amount AS amount
      FROM orders o
      JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
      WHERE o.tenant_id = ${tenantId}::uuid AND o.status = 'completed' AND o.completed_at IS NOT NULL
    ),
    f AS (SELECT o.customer_id, min(o.p) AS cohort FROM o GROUP BY o.customer_id)
    SELECT f.cohort, o.p AS period, count(DISTINCT o.customer_id)::int AS customers, sum(o.amount) AS revenue
    FROM o JOIN f ON f.customer_id = o.customer_id
    WHERE f.cohort >= ${since}::date
    GROUP BY f.cohort, o.p
    ORDER BY f.cohort, o.p`);
}

export async function weekdayHour(db: Executor, tenantId: string): Promise<{ dow: number; hour: number; orders: number }[]> {
  return db.rows(sql`
    SELECT extract(isodow FROM l.t)::int AS dow, extract(hour FROM l.t)::int AS hour, count(*)::int AS orders
    FROM orders o
    JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
    CROSS JOIN LATERAL (
      SELECT o.completed_at AT TIME ZONE ${tenantZone(tenantId)} AS t
    ) l
    WHERE o.tenant_id = ${tenantId}::uuid AND o.status = 'completed' AND o.completed_at IS NOT NULL
    GROUP BY 1, 2`);
}

/** Per (order, show) pair: days from the purchase to the show (negative = bought after it started). */
export async function leadTimes(db: Executor, tenantId: string): Promise<{ days: number; pairs: number }[]> {
  return db.rows(sql`
    SELECT floor(extract(epoch FROM e.starts_at - o.completed_at) / 86400)::int AS days, count(*)::int AS pairs
    FROM (SELECT DISTINCT oi.order_id, oi.event_id FROM order_items oi WHERE oi.tenant_id = ${tenantId}::uuid AND oi.event_id IS NOT NULL) x
    JOIN orders o ON o.tenant_id = ${tenantId}::uuid AND o.id = x.order_id AND o.status = 'completed' AND o.completed_at IS NOT NULL
    JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
    JOIN catalog_events e ON e.tenant_id = ${tenantId}::uuid AND e.id = x.event_id AND e.starts_at IS NOT NULL
    GROUP BY 1`);
}

export async function genreAffinity(db: Executor, tenantId: string): Promise<{ genre: string; tickets: number; customers: number; revenue: number }[]> {
  return db.rows(sql`
    SELECT g.genre, sum(oi.quantity)::int AS tickets, count(DISTINCT o.customer_id)::int AS customers,
           sum(oi.quantity * oi.unit_price) AS revenue
    FROM order_items oi
    JOIN orders o ON o.tenant_id = oi.tenant_id AND o.id = oi.order_id AND o.status = 'completed'
    JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
    JOIN catalog_events e ON e.tenant_id = oi.tenant_id AND e.id = oi.event_id
    CROSS JOIN LATERAL unnest(e.genres) AS g(genre)
    WHERE oi.tenant_id = ${tenantId}::uuid
    GROUP BY g.genre
    ORDER BY tickets DESC, g.genre`);
}

/** Tickets per completed order (orders without items are not counted). */
export async function ticketsPerOrder(db: Executor, tenantId: string): Promise<{ tickets: number; orders: number }[]> {
  return db.rows(sql`
    SELECT x.tickets, count(*)::int AS orders
    FROM (
      SELECT sum(oi.quantity)::int AS tickets
      FROM order_items oi
      JOIN orders o ON o.tenant_id = oi.tenant_id AND o.id = oi.order_id AND o.status = 'completed'
      JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
      WHERE oi.tenant_id = ${tenantId}::uuid
      GROUP BY oi.order_id
    ) x
    GROUP BY x.tickets`);
}

/** Days between a customer's consecutive purchase days (tenant-local). */
export async function interPurchaseGaps(db: Executor, tenantId: string): Promise<{ days: number; gaps: number }[]> {
  return db.rows(sql`
    SELECT g.days, count(*)::int AS gaps
    FROM (
      SELECT d.day - lag(d.day) OVER (PARTITION BY d.customer_id ORDER BY d.day) AS days
      FROM (
        SELECT DISTINCT o.customer_id, ${localDay(sql`o.completed_at`, tenantId)} AS day
        FROM orders o
        JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id AND ${LIVE}
        WHERE o.tenant_id = ${tenantId}::uuid AND o.status = 'completed' AND o.completed_at IS NOT NULL
      ) d
    ) g
    WHERE g.days IS NOT NULL
    GROUP BY g.days`);
}

// ---------------------------------------------------------------------------------------------
// VIP rule (issue 4, item 7)
// ---------------------------------------------------------------------------------------------

export interface VipRuleRow {
  top_percent: number;
  min_total_spend: number | null;
  rules: unknown;
  updated_by: string | null;
  updated_at: Date;
}

export async function vipRule(db: Executor, tenantId: string): Promise<VipRuleRow | undefined> {
  return db.one<VipRuleRow>(sql`
    SELECT v.top_percent::float8 AS top_percent, v.min_total_spend::float8 AS min_total_spend, v.rules, v.updated_by, v.updated_at
    FROM vip_rules v WHERE v.tenant_id = ${tenantId}::uuid`);
}

export async function saveVipRule(
  tx: Executor,
  tenantId: string,
  r: { topPercent: number; minTotalSpend: number | null; rules: unknown; updatedBy: string },
): Promise<void> {
  await tx.run(sql`
    INSERT INTO vip_rules (tenant_id, top_percent, min_total_spend, rules, updated_by, updated_at)
    VALUES (${tenantId}::uuid, ${r.topPercent}::numeric, ${r.minTotalSpend}::numeric,
            ${r.rules === null ? null : JSON.stringify(r.rules)}::jsonb, ${r.updatedBy}, now())
    ON CONFLICT (tenant_id) DO UPDATE
    SET top_percent = EXCLUDED.top_percent, min_total_spend = EXCLUDED.min_total_spend, rules = EXCLUDED.rules,
        updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`);
}

/**
 * Sets is_vip on every live customer of the tenant in ONE UPDATE (rows whose flag changes only):
 * VIP = (buyer ranked in the top `topPercent` % by total_spend OR total_spend >= minTotalSpend) AND `extra`.
 * Buyers are live customers with a completed order (total_orders > 0); the top k = ceil(buyers × p / 100)
 * by rank() over total_spend descending, so customers tied with the k-th are all in. Answers the changes.
 */
export async function writeVipFlags(
  tx: Executor,
  tenantId: string,
  r: { topPercent: number; minTotalSpend: number | null; extra: SQL | null },
): Promise<{ id: string; is_vip: boolean }[]> {
  const t = sql`${tenantId}::uuid`;
  const buyers = sql`c.tenant_id = ${t} AND ${LIVE} AND c.total_orders > 0`;
  return tx.rows(sql`
    WITH k AS (
      -- how many buyers the top percentage takes
      SELECT ceil(count(*) * ${r.topPercent}::numeric / 100)::bigint AS k FROM customers c WHERE ${buyers}
    ),
    cut AS (
      -- the k-th highest spend among the buyers (a bounded sort): a buyer spending at least that is in the top
      -- percentage, ties included (as rank() would place them)
      SELECT c.total_spend FROM customers c WHERE ${buyers}
      ORDER BY c.total_spend DESC
      OFFSET greatest((SELECT k.k FROM k) - 1, 0) LIMIT (SELECT least(k.k, 1) FROM k)
    ),
    v AS MATERIALIZED (
      -- the customers whose flag changes
      SELECT c.id, x.vip
      FROM customers c
      CROSS JOIN LATERAL (
        SELECT ((coalesce(c.total_orders > 0 AND c.total_spend >= (SELECT cut.total_spend FROM cut), false)
                 OR (${r.minTotalSpend}::numeric IS NOT NULL AND c.total_spend >= ${r.minTotalSpend}::numeric))
                ${r.extra ? sql`AND (${r.extra})` : sql``}) AS vip
      ) x
      WHERE c.tenant_id = ${t} AND ${LIVE} AND c.is_vip IS DISTINCT FROM x.vip
    ),
    -- the rows to change, locked in id order (the order ingestion locks customers in), so this needs no lock on
    -- the whole tenant
    locked AS MATERIALIZED (
      SELECT c.id, v.vip FROM customers c JOIN v ON v.id = c.id
      WHERE c.tenant_id = ${t} AND c.is_vip IS DISTINCT FROM v.vip
      ORDER BY c.id
      FOR UPDATE OF c
    )
    UPDATE customers c SET is_vip = l.vip
    FROM locked l
    WHERE c.tenant_id = ${t} AND c.id = l.id AND c.is_vip IS DISTINCT FROM l.vip
    RETURNING c.id, c.is_vip`);
}

/**
 * Lifetime value so far of the live buyers over money buckets (`bounds` ascending, the last open-ended), with
 * mean and median: the LTV distribution a dashboard can show before the CLV model has enough history.
 */
export async function lifetimeValueDistribution(
  db: Executor,
  tenantId: string,
  bounds: readonly number[],
): Promise<{ customers: number; mean: number; median: number; counts: number[] }> {
  // one scan; the mean and median over all buyers, the counts per bucket
  const row = (await db.one<{ n: number; mean: number | null; median: number | null; buckets: [number, number][] | null }>(sql`
    WITH x AS MATERIALIZED (
      SELECT width_bucket(c.lifetime_value, ${arr(bounds)}::numeric[]) AS i, c.lifetime_value AS v
      FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE} AND c.total_orders > 0
    )
    SELECT t.n, t.mean, t.median, (SELECT json_agg(json_build_array(g.i, g.n)) FROM (SELECT x.i, count(*)::int AS n FROM x GROUP BY x.i) g) AS buckets
    FROM (SELECT count(*)::int AS n, avg(x.v)::float8 AS mean, (percentile_cont(0.5) WITHIN GROUP (ORDER BY x.v))::float8 AS median FROM x) t`))!;
  const counts = bounds.map(() => 0);
  // width_bucket: 0 below the first bound (a negative value, refunds), i for [bounds[i-1], bounds[i])
  for (const [i, n] of row.buckets ?? []) counts[Math.max(0, i - 1)] += n;
  return { customers: row.n, mean: row.mean ?? 0, median: row.median ?? 0, counts };
}

export async function countVips(db: Executor, tenantId: string): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE} AND c.is_vip`);
  return row?.n ?? 0;
}
