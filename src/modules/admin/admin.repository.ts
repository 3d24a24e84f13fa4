import { sql, type Executor } from '../../db/database.js';

export interface TenantRow {
  id: string;
  name: string;
  currency: string;
  timezone: string;
  created_at: Date;
}

export function findTenant(db: Executor, tenantId: string): Promise<TenantRow | undefined> {
  return db.one<TenantRow>(sql`SELECT id, name, currency, timezone, created_at FROM tenants WHERE id = ${tenantId}::uuid`);
}

export interface RfmCellRow {
  recency: number;
  frequency: number;
  customers: number;
  revenue: number;
  segment: string;
}

/** One pass over the scored customers: per (R, F) cell the count, revenue and the dominant segment name. */
export function rfmGrid(db: Executor, tenantId: string): Promise<RfmCellRow[]> {
  return db.rows<RfmCellRow>(sql`
    SELECT c.rfm_recency::int AS recency, c.rfm_frequency::int AS frequency, count(*)::int AS customers,
           coalesce(sum(c.total_spend), 0)::numeric(14,2) AS revenue,
           mode() WITHIN GROUP (ORDER BY c.rfm_segment) AS segment
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL
      AND c.rfm_recency IS NOT NULL AND c.rfm_frequency IS NOT NULL AND c.rfm_segment IS NOT NULL
    GROUP BY 1, 2
    ORDER BY 1 DESC, 2 DESC`);
}

export interface CustomerScoresRow {
  customer_id: string;
  rfm_segment: string | null;
  rfm_recency: number | null;
  rfm_frequency: number | null;
  rfm_monetary: number | null;
  lifecycle_stage: string | null;
  churn_risk: number | null;
  p_alive: number | null;
  engagement_score: number | null;
  predicted_clv: number | null;
}

/** The stored scores of one customer (written by the analytics score refresh). */
export function customerScores(db: Executor, tenantId: string, customerId: string): Promise<CustomerScoresRow | undefined> {
  return db.one<CustomerScoresRow>(sql`
    SELECT c.id AS customer_id, c.rfm_segment, c.rfm_recency::int AS rfm_recency, c.rfm_frequency::int AS rfm_frequency,
           c.rfm_monetary::int AS rfm_monetary, c.lifecycle_stage, c.churn_risk, c.p_alive, c.engagement_score::int AS engagement_score,
           c.predicted_clv
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL`);
}
