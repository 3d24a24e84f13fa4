import { sql, type Executor } from '../../db/database.js';

/** Live customers only: statistics never count deleted or merged-away profiles. */
const LIVE = sql`c.deleted_at IS NULL AND c.merged_into IS NULL`;

export interface CustomerTotalsRow {
  total: number;
  individual: number;
  business: number;
  active: number;
  inactive: number;
  prospect: number;
  new_30: number;
  active_30: number;
  active_60: number;
  active_90: number;
  average_ltv: number;
}

export async function customerTotals(db: Executor, tenantId: string): Promise<CustomerTotalsRow> {
  const row = await db.one<CustomerTotalsRow>(sql`
    SELECT count(*)::int AS total,
           count(*) FILTER (WHERE c.customer_type = 'individual')::int AS individual,
           count(*) FILTER (WHERE c.customer_type = 'business')::int AS business,
           count(*) FILTER (WHERE c.status = 'active')::int AS active,
           count(*) FILTER (WHERE c.status = 'inactive')::int AS inactive,
           count(*) FILTER (WHERE c.status = 'prospect')::int AS prospect,
           count(*) FILTER (WHERE c.created_at >= now() - interval '30 days')::int AS new_30,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '30 days')::int AS active_30,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '60 days')::int AS active_60,
           count(*) FILTER (WHERE c.last_purchase >= now() - interval '90 days')::int AS active_90,
           coalesce(round(avg(c.lifetime_value), 2), 0) AS average_ltv
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND ${LIVE}`);
  return row!;
}

export interface InteractionWindowRow {
  type: string;
  last_7: number;
  last_30: number;
}

/** Interactions that took place in the last 30 days (not future-dated ones), by type. */
export async function recentInteractionsByType(db: Executor, tenantId: string): Promise<InteractionWindowRow[]> {
  return db.rows<InteractionWindowRow>(sql`
    SELECT i.type,
           count(*) FILTER (WHERE i.occurred_at >= now() - interval '7 days')::int AS last_7,
           count(*)::int AS last_30
    FROM interactions i
    JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
    WHERE i.tenant_id = ${tenantId}::uuid AND i.deleted_at IS NULL
      AND i.occurred_at >= now() - interval '30 days' AND i.occurred_at <= now() AND ${LIVE}
    GROUP BY i.type`);
}

/** Pending follow-ups (partial index interactions_follow_up_idx) and how many are overdue. */
export async function followUpTotals(db: Executor, tenantId: string): Promise<{ pending: number; overdue: number }> {
  const row = await db.one<{ pending: number; overdue: number }>(sql`
    SELECT count(*)::int AS pending, count(*) FILTER (WHERE i.follow_up_at < now())::int AS overdue
    FROM interactions i
    JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
    WHERE i.tenant_id = ${tenantId}::uuid AND i.status = 'pending' AND i.follow_up_at IS NOT NULL
      AND i.deleted_at IS NULL AND ${LIVE}`);
  return row!;
}

export interface OrderTotalsRow {
  completed: number;
  refunded: number;
  revenue: number;
  refunds_total: number;
}

export async function orderTotals(db: Executor, tenantId: string): Promise<OrderTotalsRow> {
  const row = await db.one<OrderTotalsRow>(sql`
    SELECT count(*) FILTER (WHERE o.status = 'completed')::int AS completed,
           count(*) FILTER (WHERE o.status = 'refunded')::int AS refunded,
           coalesce(sum(o.total - o.refunded_amount), 0) AS revenue,
           coalesce(sum(o.refunded_amount), 0) AS refunds_total
    FROM orders o
    JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id
    WHERE o.tenant_id = ${tenantId}::uuid AND o.status IN ('completed', 'refunded') AND ${LIVE}`);
  return row!;
}

export async function tierDistribution(db: Executor, tenantId: string): Promise<{ name: string; min_points: number; customers: number }[]> {
  return db.rows(sql`
    SELECT t.name, t.min_points, count(c.id)::int AS customers
    FROM loyalty_tiers t
    LEFT JOIN customers c ON c.tenant_id = t.tenant_id AND c.loyalty_tier = t.name AND ${LIVE}
    WHERE t.tenant_id = ${tenantId}::uuid
    GROUP BY t.name, t.min_points
    ORDER BY t.min_points`);
}

// ---- one customer ----

export async function customerExists(db: Executor, tenantId: string, customerId: string): Promise<boolean> {
  const row = await db.one(sql`
    SELECT 1 AS x FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid AND ${LIVE}`);
  return row !== undefined;
}

export async function customerInteractionCounts(
  db: Executor,
  tenantId: string,
  customerId: string,
): Promise<{ type: string; status: string; n: number; last_at: Date }[]> {
  return db.rows(sql`
    SELECT type, status, count(*)::int AS n, max(occurred_at) AS last_at
    FROM interactions
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid AND deleted_at IS NULL
    GROUP BY type, status`);
}

export interface CustomerFollowUpsRow {
  pending: number;
  overdue: number;
  next_id: string | null;
  next_subject: string | null;
  next_priority: string | null;
  next_due_at: Date | null;
}

export async function customerFollowUps(db: Executor, tenantId: string, customerId: string): Promise<CustomerFollowUpsRow> {
  const row = await db.one<CustomerFollowUpsRow>(sql`
    WITH f AS (
      SELECT id, subject, priority, follow_up_at FROM interactions
      WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid
        AND status = 'pending' AND follow_up_at IS NOT NULL AND deleted_at IS NULL
    ),
    nxt AS (SELECT * FROM f ORDER BY follow_up_at, id LIMIT 1)
    SELECT (SELECT count(*)::int FROM f) AS pending,
           (SELECT count(*)::int FROM f WHERE follow_up_at < now()) AS overdue,
           nxt.id AS next_id, nxt.subject AS next_subject, nxt.priority AS next_priority, nxt.follow_up_at AS next_due_at
    FROM (SELECT 1) one LEFT JOIN nxt ON true`);
  return row!;
}

export interface CustomerOrdersRow {
  completed: number;
  refunded: number;
  total_spend: number;
  refunds_total: number;
  first_order_at: Date | null;
  last_order_at: Date | null;
}

export async function customerOrders(db: Executor, tenantId: string, customerId: string): Promise<CustomerOrdersRow> {
  const row = await db.one<CustomerOrdersRow>(sql`
    SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
           count(*) FILTER (WHERE status = 'refunded')::int AS refunded,
           coalesce(sum(total - refunded_amount), 0) AS total_spend,
           coalesce(sum(refunded_amount), 0) AS refunds_total,
           min(placed_at) AS first_order_at,
           max(placed_at) AS last_order_at
    FROM orders
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid AND status IN ('completed', 'refunded')`);
  return row!;
}

export async function customerEventsAttended(db: Executor, tenantId: string, customerId: string): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(DISTINCT event_id)::int AS n FROM attendance
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid`);
  return row?.n ?? 0;
}
