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

// ---------------------------------------------------------------------------------------------
// Tiers, balances and the ledger as the loyalty API reads and changes them.

export interface TierRow {
  name: string;
  min_points: number;
  benefits: string[];
}

export async function listTiers(db: Executor, tenantId: string): Promise<TierRow[]> {
  return db.rows<TierRow>(sql`
    SELECT name, min_points, benefits FROM loyalty_tiers
    WHERE tenant_id = ${tenantId}::uuid ORDER BY min_points`);
}

/**
 * Replaces the tenant's tiers. A transaction-scoped advisory lock per tenant serializes two
 * concurrent replacements (the second then sees the first's set, not a mix of both).
 */
export async function replaceTiers(db: Executor, tenantId: string, tiers: TierRow[]): Promise<void> {
  await db.run(sql`SELECT pg_advisory_xact_lock(hashtextextended(${'loyalty_tiers:' + tenantId}, 0))`);
  await db.run(sql`DELETE FROM loyalty_tiers WHERE tenant_id = ${tenantId}::uuid`);
  await db.run(sql`
    INSERT INTO loyalty_tiers (tenant_id, name, min_points, benefits)
    SELECT ${tenantId}::uuid, t.name, t.min_points, t.benefits
    FROM unnest(${arr(tiers.map((t) => t.name))}::text[], ${arr(tiers.map((t) => t.min_points))}::int[],
                ${arr(tiers.map((t) => JSON.stringify(t.benefits)))}::jsonb[]) AS t(name, min_points, benefits)`);
}

/**
 * Puts every live customer of the tenant in the tier matching loyalty_points_earned, in one
 * statement, and answers those whose tier changed. Rows are locked in id order first (the order
 * every other writer of customer metrics uses), so this never deadlocks with ingestion for long.
 */
export async function reassignTenantTiers(db: Executor, tenantId: string): Promise<TierChange[]> {
  return db.rows<TierChange>(sql`
    WITH locked AS MATERIALIZED (
      SELECT id, loyalty_tier, loyalty_points, loyalty_points_earned FROM customers
      WHERE tenant_id = ${tenantId}::uuid AND deleted_at IS NULL AND merged_into IS NULL
      ORDER BY id
      FOR UPDATE
    ),
    target AS (
      SELECT l.id, l.loyalty_tier AS old_tier, l.loyalty_points, l.loyalty_points_earned,
             (SELECT t.name FROM loyalty_tiers t
               WHERE t.tenant_id = ${tenantId}::uuid AND t.min_points <= greatest(l.loyalty_points_earned, 0)
               ORDER BY t.min_points DESC LIMIT 1) AS new_tier
      FROM locked l
    ),
    updated AS (
      UPDATE customers c SET loyalty_tier = target.new_tier, updated_at = now()
      FROM target
      WHERE c.tenant_id = ${tenantId}::uuid AND c.id = target.id AND target.old_tier IS DISTINCT FROM target.new_tier
      RETURNING c.id, target.old_tier, c.loyalty_tier, c.loyalty_points, c.loyalty_points_earned
    )
    SELECT id AS customer_id, old_tier, loyalty_tier AS new_tier, loyalty_points AS points,
           loyalty_points_earned AS points_earned
    FROM updated ORDER BY id`);
}

export interface CustomerLoyaltyRow {
  id: string;
  loyalty_tier: string | null;
  loyalty_points: number;
  loyalty_points_earned: number;
}

/** A live customer's loyalty columns; with forUpdate the row stays locked until the transaction ends. */
export async function findCustomerLoyalty(
  db: Executor,
  tenantId: string,
  customerId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<CustomerLoyaltyRow | undefined> {
  return db.one<CustomerLoyaltyRow>(sql`
    SELECT id, loyalty_tier, loyalty_points, loyalty_points_earned FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid AND deleted_at IS NULL AND merged_into IS NULL
    ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

/** The balance as the ledger has it (the customers columns are derived from it). */
export async function ledgerBalance(db: Executor, tenantId: string, customerId: string): Promise<number> {
  const row = await db.one<{ balance: number }>(sql`
    SELECT coalesce(sum(points), 0)::int AS balance FROM loyalty_ledger
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid`);
  return row?.balance ?? 0;
}

export interface LedgerRow {
  id: string;
  points: number;
  reason: string;
  ref: string | null;
  note: string | null;
  created_at: Date;
  created_by: string | null;
}

export async function insertLedgerEntry(
  db: Executor,
  e: { tenantId: string; customerId: string; points: number; reason: 'redeemed' | 'adjusted'; note: string | null; createdBy: string | null },
): Promise<LedgerRow> {
  const row = await db.one<LedgerRow>(sql`
    INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, note, created_by)
    VALUES (${e.tenantId}::uuid, ${e.customerId}::uuid, ${e.points}, ${e.reason}, ${e.note}, ${e.createdBy})
    RETURNING id, points, reason, ref, note, created_at, created_by`);
  return row!;
}

export async function listLedger(db: Executor, tenantId: string, customerId: string, limit: number): Promise<LedgerRow[]> {
  return db.rows<LedgerRow>(sql`
    SELECT id, points, reason, ref, note, created_at, created_by FROM loyalty_ledger
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid
    ORDER BY created_at DESC, id DESC
    LIMIT ${limit}`);
}

/** The first tier above the given earned points, if any. */
export async function findNextTier(db: Executor, tenantId: string, pointsEarned: number): Promise<TierRow | undefined> {
  return db.one<TierRow>(sql`
    SELECT name, min_points, benefits FROM loyalty_tiers
    WHERE tenant_id = ${tenantId}::uuid AND min_points > ${Math.max(pointsEarned, 0)}
    ORDER BY min_points LIMIT 1`);
}
