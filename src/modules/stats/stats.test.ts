import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

interface CustomerSpec {
  type?: 'individual' | 'business';
  status?: 'active' | 'inactive' | 'prospect';
  createdDaysAgo: number;
  lastPurchaseDaysAgo?: number | null;
  ltv?: number;
  tier?: string | null;
  points?: number;
  deleted?: boolean;
  mergedInto?: string;
}

async function createCustomer(tenantId: string, c: CustomerSpec): Promise<string> {
  const lastPurchase = c.lastPurchaseDaysAgo == null ? null : ago(c.lastPurchaseDaysAgo);
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, first_name, last_name, email, customer_type, status, created_at, last_purchase,
                           lifetime_value, loyalty_tier, loyalty_points, loyalty_points_earned, deleted_at, merged_into)
    VALUES (${tenantId}, 'Ion', 'Popescu', NULL, ${c.type ?? 'individual'}, ${c.status ?? 'active'}, ${ago(c.createdDaysAgo)}::timestamptz,
            ${lastPurchase}::timestamptz, ${c.ltv ?? 0}, ${c.tier === undefined ? 'bronze' : c.tier}, ${c.points ?? 0}, ${c.points ?? 0},
            ${c.deleted ? new Date().toISOString() : null}::timestamptz, ${c.mergedInto ?? null}::uuid)
    RETURNING id`);
  return row!.id;
}

async function createOrder(tenantId: string, customerId: string, o: { id: string; status: string; total: number; refunded?: number; placedDaysAgo: number }) {
  await ctx.db.run(sql`
    INSERT INTO orders (tenant_id, id, customer_id, status, total, refunded_amount, currency, placed_at, completed_at)
    VALUES (${tenantId}, ${o.id}, ${customerId}::uuid, ${o.status}, ${o.total}, ${o.refunded ?? 0}, 'RON',
            ${ago(o.placedDaysAgo)}::timestamptz, ${o.status === 'completed' || o.status === 'refunded' ? ago(o.placedDaysAgo) : null}::timestamptz)`);
}

async function logInteraction(t: TestTenant, customerId: string, body: Record<string, unknown>): Promise<string> {
  const res = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${customerId}/interactions`, headers: t.headers, payload: body });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

/**
 * A small tenant whose every figure is known: five live customers, one deleted and one merged
 * (both must be left out), interactions inside and outside the windows, orders in every status.
 */
async function buildFixture() {
  const t = await createTestTenant(ctx.db);
  const c1 = await createCustomer(t.tenantId, { createdDaysAgo: 100, lastPurchaseDaysAgo: 10, ltv: 300, tier: 'silver', points: 1200 });
  const c2 = await createCustomer(t.tenantId, { type: 'business', createdDaysAgo: 5, lastPurchaseDaysAgo: 45, ltv: 100 });
  const c3 = await createCustomer(t.tenantId, { status: 'inactive', createdDaysAgo: 40, lastPurchaseDaysAgo: 80, ltv: 50 });
  const c4 = await createCustomer(t.tenantId, { status: 'prospect', createdDaysAgo: 1, ltv: 0, tier: null });
  const c5 = await createCustomer(t.tenantId, { type: 'business', status: 'inactive', createdDaysAgo: 200, lastPurchaseDaysAgo: 120, ltv: 150, tier: 'gold' });
  const deleted = await createCustomer(t.tenantId, { createdDaysAgo: 2, lastPurchaseDaysAgo: 1, ltv: 10_000, tier: 'platinum' });
  const merged = await createCustomer(t.tenantId, { createdDaysAgo: 2, lastPurchaseDaysAgo: 1, ltv: 5_000, tier: 'platinum', mergedInto: c1 });

  await logInteraction(t, c1, { type: 'call', subject: 'c1 call 1d', occurred_at: ago(1) });
  await logInteraction(t, c1, { type: 'email', subject: 'c1 email 3d', occurred_at: ago(3) });
  await logInteraction(t, c1, { type: 'meeting', subject: 'c1 meeting 10d', occurred_at: ago(10) });
  await logInteraction(t, c1, { type: 'call', subject: 'c1 call 40d', occurred_at: ago(40), status: 'completed' });
  const overdue = await logInteraction(t, c2, { type: 'support', subject: 'c2 support 6d', occurred_at: ago(6), follow_up_at: ago(2), priority: 'urgent' });
  await logInteraction(t, c2, { type: 'sale', subject: 'c2 sale 20d', occurred_at: ago(20), status: 'completed', follow_up_at: ago(1) });
  await logInteraction(t, c3, { type: 'follow_up', subject: 'c3 follow-up 2d', occurred_at: ago(2), follow_up_at: ago(-3) });
  const removed = await logInteraction(t, c3, { type: 'call', subject: 'c3 deleted', occurred_at: ago(1), follow_up_at: ago(1) });
  await ctx.app.inject({ method: 'DELETE', url: `/api/crm/interactions/${removed}`, headers: t.headers });
  // planned for the future: a pending follow-up, but not an interaction of the last days
  await logInteraction(t, c4, { type: 'meeting', subject: 'c4 planned', occurred_at: ago(-2), follow_up_at: ago(-5) });
  for (const gone of [deleted, merged]) {
    await ctx.db.run(sql`
      INSERT INTO interactions (tenant_id, customer_id, type, subject, occurred_at, follow_up_at)
      VALUES (${t.tenantId}, ${gone}::uuid, 'call', 'gone', ${ago(1)}::timestamptz, ${ago(1)}::timestamptz)`);
  }
  await ctx.db.run(sql`UPDATE customers SET deleted_at = now() WHERE tenant_id = ${t.tenantId} AND id = ${deleted}::uuid`);

  await createOrder(t.tenantId, c1, { id: 'ord_1', status: 'completed', total: 100.1, placedDaysAgo: 30 });
  await createOrder(t.tenantId, c1, { id: 'ord_2', status: 'completed', total: 200.25, refunded: 50.05, placedDaysAgo: 10 });
  await createOrder(t.tenantId, c2, { id: 'ord_3', status: 'refunded', total: 80, refunded: 80, placedDaysAgo: 45 });
  await createOrder(t.tenantId, c2, { id: 'ord_4', status: 'pending', total: 999, placedDaysAgo: 1 });
  await createOrder(t.tenantId, c2, { id: 'ord_5', status: 'cancelled', total: 40, placedDaysAgo: 2 });
  await createOrder(t.tenantId, deleted, { id: 'ord_6', status: 'completed', total: 500, placedDaysAgo: 1 });
  await createOrder(t.tenantId, merged, { id: 'ord_7', status: 'completed', total: 700, placedDaysAgo: 1 });

  await ctx.db.run(sql`
    INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, checked_in_at) VALUES
      (${t.tenantId}, ${c1}::uuid, 'ev_1', 't1', now()), (${t.tenantId}, ${c1}::uuid, 'ev_1', 't2', now()),
      (${t.tenantId}, ${c1}::uuid, 'ev_2', '', now()), (${t.tenantId}, ${c2}::uuid, 'ev_1', 't3', now())`);
  return { t, c1, c2, c3, c4, c5, deleted, merged, overdue };
}

describe('GET /stats', () => {
  it('answers exact figures for a known tenant, leaving deleted and merged customers out', async () => {
    const { t } = await buildFixture();
    const viewer = await t.keyFor('viewer');
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/stats', headers: viewer });
    expect(res.statusCode).toBe(200);
    const s = res.json();
    expect(s.customers).toEqual({
      total: 5,
      by_type: { individual: 3, business: 2 },
      by_status: { active: 2, inactive: 2, prospect: 1 },
      new_last_30_days: 2,
      active: { last_30_days: 1, last_60_days: 2, last_90_days: 3 },
      average_ltv: 120,
    });
    expect(s.interactions).toEqual({
      last_7_days: { total: 4, by_type: { call: 1, email: 1, meeting: 0, support: 1, sale: 0, follow_up: 1, other: 0 } },
      last_30_days: { total: 6, by_type: { call: 1, email: 1, meeting: 1, support: 1, sale: 1, follow_up: 1, other: 0 } },
      pending_follow_ups: 3,
      overdue_follow_ups: 1,
    });
    expect(s.orders).toEqual({ completed: 2, refunded: 1, revenue: 250.3, refunds_total: 130.05 });
    expect(s.loyalty).toEqual({
      tiers: [
        { name: 'bronze', min_points: 0, customers: 2 },
        { name: 'silver', min_points: 1000, customers: 1 },
        { name: 'gold', min_points: 5000, customers: 1 },
        { name: 'platinum', min_points: 10000, customers: 0 },
      ],
      without_tier: 1,
    });
    expect(Math.abs(Date.parse(s.generated_at) - Date.now())).toBeLessThan(60_000);
  });

  it('shows another tenant nothing of this one', async () => {
    await buildFixture();
    const b = await createTestTenant(ctx.db);
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/stats', headers: b.headers });
    const s = res.json();
    expect(s.customers.total).toBe(0);
    expect(s.customers.average_ltv).toBe(0);
    expect(s.interactions.last_30_days.total).toBe(0);
    expect(s.interactions.pending_follow_ups).toBe(0);
    expect(s.orders).toEqual({ completed: 0, refunded: 0, revenue: 0, refunds_total: 0 });
    expect(s.loyalty.tiers.map((x: any) => x.customers)).toEqual([0, 0, 0, 0]);
  });
});

describe('GET /customers/{id}/stats', () => {
  it('breaks down one customer\'s interactions, follow-ups, orders, attendance and loyalty', async () => {
    const { t, c1, c2, overdue } = await buildFixture();
    const r1 = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${c1}/stats`, headers: t.headers });
    expect(r1.statusCode).toBe(200);
    const s1 = r1.json();
    expect(s1.customer_id).toBe(c1);
    expect(s1.interactions).toMatchObject({
      total: 4,
      by_type: { call: 2, email: 1, meeting: 1, support: 0, sale: 0, follow_up: 0, other: 0 },
      by_status: { pending: 3, completed: 1, cancelled: 0 },
    });
    expect(Math.abs(Date.parse(s1.interactions.last_interaction_at) - (Date.now() - DAY))).toBeLessThan(60_000);
    expect(s1.follow_ups).toEqual({ pending: 0, overdue: 0, next_due_at: null, next: null });
    expect(s1.orders).toMatchObject({ completed: 2, refunded: 0, total_spend: 250.3, refunds_total: 50.05, average_order_value: 125.15 });
    expect(Math.abs(Date.parse(s1.orders.first_order_at) - (Date.now() - 30 * DAY))).toBeLessThan(60_000);
    expect(Math.abs(Date.parse(s1.orders.last_order_at) - (Date.now() - 10 * DAY))).toBeLessThan(60_000);
    expect(s1.events_attended).toBe(2);
    expect(s1.loyalty).toEqual({ tier: 'silver', points: 1200, points_earned: 1200, next_tier: 'gold', points_to_next_tier: 3800 });

    const s2 = (await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${c2}/stats`, headers: t.headers })).json();
    expect(s2.interactions.by_status).toEqual({ pending: 1, completed: 1, cancelled: 0 });
    expect(s2.follow_ups).toMatchObject({ pending: 1, overdue: 1, next: { id: overdue, subject: 'c2 support 6d', priority: 'urgent' } });
    expect(s2.follow_ups.next_due_at).toBe(s2.follow_ups.next.follow_up_at);
    expect(s2.orders).toMatchObject({ completed: 0, refunded: 1, total_spend: 0, refunds_total: 80, average_order_value: 0 });
    expect(s2.events_attended).toBe(1);
    expect(s2.loyalty).toMatchObject({ tier: 'bronze', next_tier: 'silver', points_to_next_tier: 1000 });
  });

  it('answers 404 for a deleted, merged, unknown or other tenant\'s customer', async () => {
    const { t, c1, deleted, merged } = await buildFixture();
    for (const id of [deleted, merged, '00000000-0000-4000-8000-000000000000']) {
      const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${id}/stats`, headers: t.headers });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('customer_not_found');
    }
    const b = await createTestTenant(ctx.db);
    const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${c1}/stats`, headers: b.headers });
    expect(res.statusCode).toBe(404);
    const noKey = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${c1}/stats` });
    expect(noKey.statusCode).toBe(401);
  });
});
