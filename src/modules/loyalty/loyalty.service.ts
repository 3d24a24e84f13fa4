import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { enqueueEvents, type NewOutboxEvent } from '../outbox/outbox.repository.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import * as repo from './loyalty.repository.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import type { PutTiersInput } from './loyalty.schemas.js';

export interface Actor {
  tenantId: string;
  actor: string;
  /** request.id when from HTTP, for the audit trail */
  requestId?: string | null;
}

const LEDGER_LIMIT = 50;
// Timeline rows are written in slices so a tier change over a million customers stays within
// reasonable parameter sizes.
const ACTIVITY_CHUNK = 5_000;

function customerNotFound(customerId: string): AppError {
  return new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
}

function tierChangedActivity(c: repo.TierChange, actor: string, cause: string): NewActivity {
  return {
    customerId: c.customer_id,
    type: 'loyalty.tier_changed',
    occurredAt: new Date(),
    summary: `Loyalty tier changed from ${c.old_tier ?? 'none'} to ${c.new_tier ?? 'none'}`,
    data: { from: c.old_tier, to: c.new_tier, points_earned: c.points_earned, cause },
    actor,
  };
}

/** customer.tier_changed for the outbox (published to webhooks), in the change's transaction. */
function tierChangedEvents(changes: repo.TierChange[], cause: string): NewOutboxEvent[] {
  return changes.map((c) => ({
    type: 'customer.tier_changed',
    customerId: c.customer_id,
    payload: { customer_id: c.customer_id, old_tier: c.old_tier, new_tier: c.new_tier, points_earned: c.points_earned, cause },
  }));
}

async function writeActivities(db: Executor, tenantId: string, rows: NewActivity[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ACTIVITY_CHUNK) {
    await insertActivities(db, tenantId, rows.slice(i, i + ACTIVITY_CHUNK));
  }
}

export async function getTiers(db: Executor, tenantId: string) {
  return { tiers: await repo.listTiers(db, tenantId) };
}

/** The rules a tier set must follow, with every problem named (400 validation_failed). */
export function validateTiers(tiers: PutTiersInput['tiers']): void {
  const problems: string[] = [];
  const names = new Set<string>();
  const thresholds = new Set<number>();
  for (const t of tiers) {
    if (names.has(t.name)) problems.push(`tier name "${t.name}" appears more than once`);
    if (thresholds.has(t.min_points)) problems.push(`min_points ${t.min_points} appears more than once`);
    names.add(t.name);
    thresholds.add(t.min_points);
  }
  const zero = tiers.filter((t) => t.min_points === 0).length;
  if (zero !== 1) problems.push('exactly one tier must start at min_points 0 (every customer needs a tier)');
  if (problems.length > 0) {
    throw new AppError('validation_failed', `invalid loyalty tiers: ${problems.join('; ')}`, { problems });
  }
}

/**
 * Replaces the tier set and moves every customer to the tier their earned points now reach,
 * writing a loyalty.tier_changed timeline entry for each customer that moved; all in one transaction.
 */
export async function replaceTiers(db: Executor, who: Actor, input: PutTiersInput) {
  validateTiers(input.tiers);
  const tiers = [...input.tiers]
    .sort((a, b) => a.min_points - b.min_points)
    .map((t) => ({ name: t.name, min_points: t.min_points, benefits: t.benefits ?? [] }));
  return db.transaction(async (tx) => {
    const previous = await repo.listTiers(tx, who.tenantId);
    await repo.replaceTiers(tx, who.tenantId, tiers);
    const changes = await repo.reassignTenantTiers(tx, who.tenantId);
    await writeActivities(tx, who.tenantId, changes.map((c) => tierChangedActivity(c, who.actor, 'tiers_updated')));
    await enqueueEvents(tx, who.tenantId, tierChangedEvents(changes, 'tiers_updated'));
    await recordAudit(tx, {
      tenantId: who.tenantId, actor: who.actor, requestId: who.requestId ?? null, action: 'loyalty.tiers_replace', entityType: 'loyalty_tiers',
      entityId: null, before: { tiers: previous }, after: { tiers, customers_changed: changes.length },
    });
    await reevaluateCustomers(tx, who.tenantId, changes.map((c) => c.customer_id));
    return { tiers: await repo.listTiers(tx, who.tenantId), customers_changed: changes.length };
  });
}

async function statusOf(db: Executor, tenantId: string, c: { loyalty_tier: string | null; loyalty_points: number; loyalty_points_earned: number }) {
  const next = await repo.findNextTier(db, tenantId, c.loyalty_points_earned);
  return {
    tier: c.loyalty_tier,
    points: c.loyalty_points,
    points_earned: c.loyalty_points_earned,
    next_tier: next?.name ?? null,
    points_to_next_tier: next ? next.min_points - Math.max(c.loyalty_points_earned, 0) : null,
  };
}

/** Tier, balance, progress to the next tier: also used by the customer statistics. */
export async function loyaltyStatus(db: Executor, tenantId: string, customerId: string) {
  const c = await repo.findCustomerLoyalty(db, tenantId, customerId);
  if (!c) throw customerNotFound(customerId);
  return statusOf(db, tenantId, c);
}

export async function getCustomerLoyalty(db: Executor, tenantId: string, customerId: string) {
  const c = await repo.findCustomerLoyalty(db, tenantId, customerId);
  if (!c) throw customerNotFound(customerId);
  const [status, ledger] = [await statusOf(db, tenantId, c), await repo.listLedger(db, tenantId, customerId, LEDGER_LIMIT)];
  return { customer_id: c.id, ...status, ledger };
}

/**
 * One ledger entry for one customer, under the customer's row lock: the balance check and the
 * write cannot interleave with another redemption, so the balance never goes below zero.
 */
async function applyEntry(
  db: Executor,
  who: Actor,
  customerId: string,
  entry: { points: number; reason: 'redeemed' | 'adjusted'; note: string | null },
) {
  return db.transaction(async (tx) => {
    const locked = await repo.findCustomerLoyalty(tx, who.tenantId, customerId, { forUpdate: true });
    if (!locked) throw customerNotFound(customerId);
    const balance = await repo.ledgerBalance(tx, who.tenantId, customerId);
    if (balance + entry.points < 0) {
      throw new AppError(
        'insufficient_points',
        `the customer has ${balance} points; ${-entry.points} cannot be ${entry.reason === 'redeemed' ? 'redeemed' : 'taken away'}`,
        { balance, requested: -entry.points },
      );
    }
    const row = await repo.insertLedgerEntry(tx, {
      tenantId: who.tenantId, customerId, points: entry.points, reason: entry.reason, note: entry.note, createdBy: who.actor,
    });
    const changes = await repo.recomputeLoyalty(tx, who.tenantId, [customerId]);
    const after = await repo.findCustomerLoyalty(tx, who.tenantId, customerId);
    const activities: NewActivity[] = [
      entry.reason === 'redeemed'
        ? {
            customerId, type: 'loyalty.points_redeemed', occurredAt: row.created_at,
            summary: `Redeemed ${-entry.points} loyalty points`,
            data: { points: -entry.points, balance: after!.loyalty_points, note: entry.note, ledger_id: row.id },
            sourceId: row.id, actor: who.actor,
          }
        : {
            customerId, type: 'loyalty.points_adjusted', occurredAt: row.created_at,
            summary: `Loyalty points adjusted by ${entry.points > 0 ? '+' : ''}${entry.points}`,
            data: { points: entry.points, balance: after!.loyalty_points, note: entry.note, ledger_id: row.id },
            sourceId: row.id, actor: who.actor,
          },
      ...changes.map((c) => tierChangedActivity(c, who.actor, entry.reason)),
    ];
    await insertActivities(tx, who.tenantId, activities);
    await enqueueEvents(tx, who.tenantId, tierChangedEvents(changes, entry.reason));
    await recordAudit(tx, {
      tenantId: who.tenantId, actor: who.actor, requestId: who.requestId ?? null,
      action: entry.reason === 'redeemed' ? 'loyalty.redeem' : 'loyalty.adjust', entityType: 'customer', entityId: customerId,
      before: { loyalty_points: locked.loyalty_points, loyalty_tier: locked.loyalty_tier },
      after: { loyalty_points: after!.loyalty_points, loyalty_tier: after!.loyalty_tier, points: entry.points, note: entry.note, ledger_id: row.id },
    });
    await reevaluateCustomers(tx, who.tenantId, [customerId]);
    return { customer_id: customerId, ...(await statusOf(tx, who.tenantId, after!)), entry: row };
  });
}

export async function redeemPoints(db: Executor, who: Actor, customerId: string, input: { points: number; note?: string }) {
  const note = input.note?.trim() || null;
  return applyEntry(db, who, customerId, { points: -input.points, reason: 'redeemed', note });
}

export async function adjustPoints(db: Executor, who: Actor, customerId: string, input: { points: number; note: string }) {
  const note = input.note.trim();
  if (!note) throw new AppError('validation_failed', 'note must say why the points are adjusted', { path: 'body/note' });
  if (input.points === 0) throw new AppError('validation_failed', 'points must not be 0', { path: 'body/points' });
  return applyEntry(db, who, customerId, { points: input.points, reason: 'adjusted', note });
}
