import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { roundMoney } from '../../lib/money.js';
import { INTERACTION_STATUSES, INTERACTION_TYPES } from '../interactions/interactions.schemas.js';
import { loyaltyStatus } from '../loyalty/loyalty.service.js';
import * as repo from './stats.repository.js';

const zeros = (keys: readonly string[]): Record<string, number> => Object.fromEntries(keys.map((k) => [k, 0]));

/** Tenant-wide figures for the CRM dashboard (seed 004 "CRM Statistics"): a handful of aggregate queries. */
export async function tenantStats(db: Executor, tenantId: string) {
  const generatedAt = new Date();
  const [customers, interactions, followUps, orders, tiers] = await Promise.all([
    repo.customerTotals(db, tenantId),
    repo.recentInteractionsByType(db, tenantId),
    repo.followUpTotals(db, tenantId),
    repo.orderTotals(db, tenantId),
    repo.tierDistribution(db, tenantId),
  ]);
  const last7 = { total: 0, by_type: zeros(INTERACTION_TYPES) };
  const last30 = { total: 0, by_type: zeros(INTERACTION_TYPES) };
  for (const r of interactions) {
    last7.total += r.last_7;
    last7.by_type[r.type] = r.last_7;
    last30.total += r.last_30;
    last30.by_type[r.type] = r.last_30;
  }
  const tiered = tiers.reduce((n, t) => n + t.customers, 0);
  return {
    generated_at: generatedAt,
    customers: {
      total: customers.total,
      by_type: { individual: customers.individual, business: customers.business },
      by_status: { active: customers.active, inactive: customers.inactive, prospect: customers.prospect },
      new_last_30_days: customers.new_30,
      active: { last_30_days: customers.active_30, last_60_days: customers.active_60, last_90_days: customers.active_90 },
      average_ltv: roundMoney(customers.average_ltv),
    },
    interactions: {
      last_7_days: last7,
      last_30_days: last30,
      pending_follow_ups: followUps.pending,
      overdue_follow_ups: followUps.overdue,
    },
    orders: {
      completed: orders.completed,
      refunded: orders.refunded,
      revenue: roundMoney(orders.revenue),
      refunds_total: roundMoney(orders.refunds_total),
    },
    loyalty: { tiers, without_tier: customers.total - tiered },
  };
}

/** One customer's figures (seed 004 "CustomerStats"). */
export async function customerStats(db: Executor, tenantId: string, customerId: string) {
  if (!(await repo.customerExists(db, tenantId, customerId))) {
    throw new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
  }
  const [counts, followUps, orders, eventsAttended, loyalty] = await Promise.all([
    repo.customerInteractionCounts(db, tenantId, customerId),
    repo.customerFollowUps(db, tenantId, customerId),
    repo.customerOrders(db, tenantId, customerId),
    repo.customerEventsAttended(db, tenantId, customerId),
    loyaltyStatus(db, tenantId, customerId),
  ]);
  const byType = zeros(INTERACTION_TYPES);
  const byStatus = zeros(INTERACTION_STATUSES);
  let total = 0;
  let lastAt: Date | null = null;
  for (const r of counts) {
    byType[r.type] += r.n;
    byStatus[r.status] += r.n;
    total += r.n;
    if (lastAt === null || r.last_at > lastAt) lastAt = r.last_at;
  }
  return {
    customer_id: customerId,
    interactions: { total, by_type: byType, by_status: byStatus, last_interaction_at: lastAt },
    follow_ups: {
      pending: followUps.pending,
      overdue: followUps.overdue,
      next_due_at: followUps.next_due_at,
      next: followUps.next_id
        ? { id: followUps.next_id, subject: followUps.next_subject!, priority: followUps.next_priority!, follow_up_at: followUps.next_due_at! }
        : null,
    },
    orders: {
      completed: orders.completed,
      refunded: orders.refunded,
      total_spend: roundMoney(orders.total_spend),
      refunds_total: roundMoney(orders.refunds_total),
      average_order_value: orders.completed > 0 ? roundMoney(orders.total_spend / orders.completed) : 0,
      first_order_at: orders.first_order_at,
      last_order_at: orders.last_order_at,
    },
    events_attended: eventsAttended,
    loyalty,
  };
}
