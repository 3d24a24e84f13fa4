import { arr, sql, type Executor, type SQL } from '../../db/database.js';

/** bronze 0 / silver 1000 / gold 5000 / platinum 10000 (seed 004), editable per tenant. */
export const DEFAULT_TIERS = [
  { name: 'bronze', min_points: 0 },
  { name: 'silver', min_points: 1000 },
  { name: 'gold', min_points: 5000 },
  { name: 'platinum', min_points: 10000 },
];

export async function insertDefaultTiers(db: Executor, tenantId: string): Promise<void> {
  await db.run(sql`
    INSERT INTO loyalty_tiers (tenant_id, name, min_points)
    SELECT ${tenantId}, t.name, t.min_points
    FROM unnest(${arr(DEFAULT_TIERS.map((t) => t.name))}::text[], ${arr(DEFAULT_TIERS.map((t) => t.min_points))}::int[]) AS t(name, min_points)
    ON CONFLICT DO NOTHING`);
}

export interface TierChange {
  customer_id: string;
  old_tier: string | null;
  new_tier: string | null;
  points: number;
  points_earned: number;
}

/**
 * Recomputes the points balance, the earned points and the tier of the given customers from the
 * ledger, in one statement, and answers the customers whose tier changed. Callers hold the
 * customers' row locks (same transaction as the ledger writes), so concurrent batches serialize.
 */
export async function recomputeLoyalty(db: Executor, tenantId: string, customerIds: string[]): Promise<TierChange[]> {
  if (customerIds.length === 0) return [];
  return db.rows<TierChange>(sql`
    WITH ids AS (SELECT DISTINCT unnest(${arr(customerIds)}::uuid[]) AS id),
    sums AS (
      SELECT ids.id,
             coalesce(sum(l.points), 0)::int AS points,
             -- redemptions spend the balance but do not lower the tier
             coalesce(sum(l.points) FILTER (WHERE l.reason <> 'redeemed'), 0)::int AS earned
      FROM ids LEFT JOIN loyalty_ledger l ON l.tenant_id = ${tenantId} AND l.customer_id = ids.id
      GROUP BY ids.id
    ),
    target AS (
      SELECT s.id, s.points, s.earned,
             (SELECT t.name FROM loyalty_tiers t
               WHERE t.tenant_id = ${tenantId} AND t.min_points <= greatest(s.earned, 0)
               ORDER BY t.min_points DESC LIMIT 1) AS tier
      FROM sums s
    ),
    old AS (
      SELECT c.id, c.loyalty_tier FROM customers c JOIN target ON c.id = target.id
      WHERE c.tenant_id = ${tenantId}
    ),
    updated AS (
      UPDATE customers c
      SET loyalty_points = target.points, loyalty_points_earned = target.earned, loyalty_tier = target.tier,
          updated_at = CASE WHEN c.loyalty_tier IS DISTINCT FROM target.tier OR c.loyalty_points <> target.points
                            THEN now() ELSE c.updated_at END
      FROM target
      WHERE c.tenant_id = ${tenantId} AND c.id = target.id
        AND (c.loyalty_points <> target.points OR c.loyalty_points_earned <> target.earned
             OR c.loyalty_tier IS DISTINCT FROM target.tier)
      RETURNING c.id, c.loyalty_tier, c.loyalty_points, c.loyalty_points_earned
    )
    SELECT u.id AS customer_id, old.loyalty_tier AS old_tier, u.loyalty_tier AS new_tier,
           u.loyalty_points AS points, u.loyalty_points_earned AS points_earned
    FROM updated u JOIN old ON old.id = u.id
    WHERE old.loyalty_tier IS DISTINCT FROM u.loyalty_tier`);
}

/** SQL for the tenant's lowest tier: the tier a new customer starts in. */
export function initialTierSql(tenantId: string): SQL {
  return sql`(SELECT name FROM loyalty_tiers WHERE tenant_id = ${tenantId}::uuid ORDER BY min_points LIMIT 1)`;
}
