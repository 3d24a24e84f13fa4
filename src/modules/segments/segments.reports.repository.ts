import { sql, type Executor, type SQL } from '../../db/database.js';

/**
 * SQL of segment analytics and export (issue 4, item 6): read-only, tenant-scoped, set-based.
 * Kept apart from segments.repository.ts (membership writes).
 */

/** A customer that segments may hold: neither soft-deleted nor merged into another. */
const LIVE = sql.raw('c.deleted_at IS NULL AND c.merged_into IS NULL');

export interface SizeSeriesRow {
  day: string;
  size: number;
  entered: number;
  exited: number;
}

/**
 * The segment's size at the end of each tenant-local day of the window [today - days + 1, today],
 * with entries and exits per day, from segment_membership_history alone: one aggregation of the
 * segment's history by local day, the size before the window as the sum of earlier entries minus
 * exits, then a running sum over generate_series (days without history carry the size forward).
 */
export async function sizeSeries(
  db: Executor,
  q: { tenantId: string; segmentId: string; days: number },
): Promise<SizeSeriesRow[]> {
  const t = sql`${q.tenantId}::uuid`;
  return db.rows<SizeSeriesRow>(sql`
    WITH tz AS (
      SELECT t.timezone, (now() AT TIME ZONE t.timezone)::date AS today FROM tenants t WHERE t.id = ${t}
    ),
    w AS (SELECT tz.timezone, tz.today, tz.today - (${q.days}::int - 1) AS first_day FROM tz),
    h AS (
      SELECT (x.at AT TIME ZONE w.timezone)::date AS day,
             count(*) FILTER (WHERE x.change = 'entered')::int AS entered,
             count(*) FILTER (WHERE x.change = 'exited')::int AS exited
      FROM segment_membership_history x CROSS JOIN w
      WHERE x.tenant_id = ${t} AND x.segment_id = ${q.segmentId}::uuid
        AND x.at < ((w.today + 1)::timestamp AT TIME ZONE w.timezone)
      GROUP BY 1
    ),
    base AS (
      SELECT coalesce(sum(h.entered - h.exited), 0)::int AS size FROM h CROSS JOIN w WHERE h.day < w.first_day
    ),
    d AS (SELECT g::date AS day FROM w CROSS JOIN generate_series(w.first_day, w.today, interval '1 day') AS g)
    SELECT d.day::text AS day,
           ((SELECT size FROM base) + sum(coalesce(h.entered, 0) - coalesce(h.exited, 0)) OVER (ORDER BY d.day))::int AS size,
           coalesce(h.entered, 0) AS entered,
           coalesce(h.exited, 0) AS exited
    FROM d LEFT JOIN h ON h.day = d.day
    ORDER BY d.day`);
}

export interface MemberValueRow {
  members: number;
  customers: number;
  total_spend: number;
  average_spend: number | null;
  average_lifetime_value: number | null;
  average_predicted_clv: number | null;
  predicted_clv_members: number;
  average_clv: number | null;
}

/** Revenue and LTV of the segment's current (live) members, and the tenant's live customer base. */
export async function memberValue(db: Executor, q: { tenantId: string; segmentId: string }): Promise<MemberValueRow> {
  const t = sql`${q.tenantId}::uuid`;
  const row = await db.one<MemberValueRow>(sql`
    SELECT count(*)::int AS members,
           (SELECT count(*)::int FROM customers c WHERE c.tenant_id = ${t} AND ${LIVE}) AS customers,
           coalesce(sum(c.total_spend), 0)::numeric(16, 2)::float8 AS total_spend,
           round(avg(c.total_spend), 2)::float8 AS average_spend,
           round(avg(c.lifetime_value), 2)::float8 AS average_lifetime_value,
           round(avg(c.predicted_clv), 2)::float8 AS average_predicted_clv,
           count(c.predicted_clv)::int AS predicted_clv_members,
           round(avg(c.lifetime_value + coalesce(c.predicted_clv, 0)), 2)::float8 AS average_clv
    FROM segment_members m
    JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id AND ${LIVE}
    WHERE m.tenant_id = ${t} AND m.segment_id = ${q.segmentId}::uuid`);
  return row!;
}

/** ISO 8601 UTC text of a timestamptz (the same on both backends, whatever the session time zone). */
const isoUtc = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;

/**
 * Columns a segment export may contain: the SQL rendering each as text, and whether the value is
 * client-entered text (formula-neutralized in the CSV) or formatted by the database (numbers,
 * dates, booleans, ids: written as is, so `-12.50` stays a number).
 */
export const EXPORT_COLUMNS = {
  id: { sql: 'c.id::text', text: false },
  external_id: { sql: 'c.external_id', text: true },
  email: { sql: 'c.email', text: true },
  phone: { sql: 'c.phone', text: true },
  first_name: { sql: 'c.first_name', text: true },
  last_name: { sql: 'c.last_name', text: true },
  company_name: { sql: 'c.company_name', text: true },
  customer_type: { sql: 'c.customer_type', text: false },
  status: { sql: 'c.status', text: false },
  gender: { sql: 'c.gender', text: true },
  date_of_birth: { sql: 'c.date_of_birth::text', text: false },
  city: { sql: 'c.city', text: true },
  state: { sql: 'c.state', text: true },
  country: { sql: 'c.country', text: true },
  postal_code: { sql: 'c.postal_code', text: true },
  source: { sql: 'c.source', text: true },
  tags: { sql: "array_to_string(c.tags, ';')", text: true },
  loyalty_tier: { sql: 'c.loyalty_tier', text: true },
  loyalty_points: { sql: 'c.loyalty_points::text', text: false },
  total_orders: { sql: 'c.total_orders::text', text: false },
  total_spend: { sql: 'c.total_spend::text', text: false },
  events_attended: { sql: 'c.events_attended::text', text: false },
  average_order_value: { sql: 'c.average_order_value::text', text: false },
  lifetime_value: { sql: 'c.lifetime_value::text', text: false },
  predicted_clv: { sql: 'c.predicted_clv::text', text: false },
  rfm_segment: { sql: 'c.rfm_segment', text: false },
  lifecycle_stage: { sql: 'c.lifecycle_stage', text: false },
  churn_risk: { sql: 'c.churn_risk::text', text: false },
  engagement_score: { sql: 'c.engagement_score::text', text: false },
  is_vip: { sql: "CASE WHEN c.is_vip THEN 'true' ELSE 'false' END", text: false },
  first_purchase: { sql: isoUtc('c.first_purchase'), text: false },
  last_purchase: { sql: isoUtc('c.last_purchase'), text: false },
  created_at: { sql: isoUtc('c.created_at'), text: false },
  member_since: { sql: isoUtc('m.added_at'), text: false },
} as const satisfies Record<string, { sql: string; text: boolean }>;

export type ExportColumn = keyof typeof EXPORT_COLUMNS;

/**
 * One keyset page of live members (by customer id), each row the chosen columns as text (`v0`, `v1`…),
 * plus `k`, the key of the next page. Column SQL comes only from EXPORT_COLUMNS.
 */
export async function exportPage(
  db: Executor,
  q: { tenantId: string; segmentId: string; columns: ExportColumn[]; after: string | null; limit: number },
): Promise<{ k: string; values: (string | null)[] }[]> {
  const select: SQL = sql.raw(q.columns.map((c, i) => `${EXPORT_COLUMNS[c].sql} AS v${i}`).join(', '));
  const rows = await db.rows<Record<string, string | null>>(sql`
    SELECT m.customer_id::text AS k, ${select}
    FROM segment_members m
    JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id AND ${LIVE}
    WHERE m.tenant_id = ${q.tenantId}::uuid AND m.segment_id = ${q.segmentId}::uuid
      ${q.after ? sql`AND m.customer_id > ${q.after}::uuid` : sql``}
    ORDER BY m.customer_id
    LIMIT ${q.limit}`);
  return rows.map((r) => ({ k: r.k as string, values: q.columns.map((_, i) => r[`v${i}`] ?? null) }));
}
