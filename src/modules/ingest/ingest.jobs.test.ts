import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { recomputeCustomerMetrics } from './ingest.repository.js';
import { ingestEvents, markAbandonedCarts, refreshLifetimeValues } from './ingest.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp({ CART_ABANDON_MINUTES: '60', LTV_CALCULATION_PERIOD_DAYS: '365' });
});
afterAll(async () => ctx.close());

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
let n = 0;
const ev = (type: string, customer: object, data: object, occurredAt: string) => ({ id: `job_evt_${++n}`, type, occurred_at: occurredAt, customer, data });

async function ingest(t: TestTenant, events: unknown[]) {
  const res = await ingestEvents(ctx.db, { tenantId: t.tenantId, config: ctx.config, actor: 'test' }, events);
  expect(res.rejected, JSON.stringify(res.results)).toBe(0);
  return res;
}

describe('carts.mark_abandoned', () => {
  it('marks open carts untouched for CART_ABANDON_MINUTES as abandoned, once, with a timeline entry', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: 'u_cart' };
    const item = { event_id: 'ev_1', quantity: 2, unit_price: 50 };
    const res = await ingest(t, [
      ev('cart.updated', who, { cart_id: 'stale', items: [item] }, ago(120)),
      ev('cart.updated', who, { cart_id: 'fresh', items: [item] }, ago(5)),
      ev('cart.updated', who, { cart_id: 'bought', items: [item] }, ago(180)),
      ev('cart.checked_out', who, { cart_id: 'bought', order_id: 'o1' }, ago(170)),
    ]);
    const customerId = res.results[0].customer_id!;

    expect(await markAbandonedCarts(ctx.db, { config: ctx.config, tenantId: t.tenantId })).toBe(1);
    const carts = await ctx.db.rows<{ id: string; status: string }>(
      sql`SELECT id, status FROM carts WHERE tenant_id = ${t.tenantId}::uuid ORDER BY id`,
    );
    expect(carts).toEqual([
      { id: 'bought', status: 'checked_out' },
      { id: 'fresh', status: 'open' },
      { id: 'stale', status: 'abandoned' },
    ]);
    const entries = await ctx.db.rows<{ customer_id: string; summary: string; data: any }>(
      sql`SELECT customer_id, summary, data FROM activities WHERE tenant_id = ${t.tenantId}::uuid AND type = 'cart.abandoned'`,
    );
    expect(entries).toEqual([{ customer_id: customerId, summary: 'Cart stale abandoned: 100.00 RON', data: expect.objectContaining({ cart_id: 'stale', total: 100 }) }]);

    // idempotent: nothing more to mark
    expect(await markAbandonedCarts(ctx.db, { config: ctx.config, tenantId: t.tenantId })).toBe(0);

    // a newer update reopens an abandoned cart
    await ingest(t, [ev('cart.updated', who, { cart_id: 'stale', items: [item, item] }, ago(1))]);
    const reopened = await ctx.db.one<{ status: string; total: number }>(
      sql`SELECT status, total FROM carts WHERE tenant_id = ${t.tenantId}::uuid AND id = 'stale'`,
    );
    expect(reopened).toEqual({ status: 'open', total: 200 });
  });
});

describe('customers.refresh_ltv', () => {
  it('recomputes lifetime_value as the window slides', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await ingest(t, [
      ev('order.completed', { external_id: 'u_ltv' }, { order_id: 'old', total: 100 }, ago(300 * 24 * 60)),
      ev('order.completed', { external_id: 'u_ltv' }, { order_id: 'new', total: 40 }, ago(10 * 24 * 60)),
      ev('order.completed', { external_id: 'u_other' }, { order_id: 'other', total: 10 }, ago(5 * 24 * 60)),
    ]);
    const id = res.results[0].customer_id!;
    const ltv = async (customerId: string) =>
      (await ctx.db.one<{ lifetime_value: number; total_spend: number }>(
        sql`SELECT lifetime_value, total_spend FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND id = ${customerId}::uuid`,
      ))!;
    expect(await ltv(id)).toEqual({ lifetime_value: 140, total_spend: 140 });

    // Time passes: the old order leaves the 365-day window.
    await ctx.db.run(sql`UPDATE orders SET completed_at = completed_at - interval '100 days' WHERE tenant_id = ${t.tenantId}::uuid AND id = 'old'`);
    expect(await ltv(id)).toEqual({ lifetime_value: 140, total_spend: 140 });
    expect(await refreshLifetimeValues(ctx.db, { config: ctx.config, tenantId: t.tenantId })).toBe(1);
    expect(await ltv(id)).toEqual({ lifetime_value: 40, total_spend: 140 });
    expect(await ltv(res.results[2].customer_id!)).toEqual({ lifetime_value: 10, total_spend: 10 });
    expect(await refreshLifetimeValues(ctx.db, { config: ctx.config, tenantId: t.tenantId })).toBe(0);
  });
});

describe('recomputeCustomerMetrics', () => {
  it('recomputes the given customers from orders and attendance (as imports use it)', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await ingest(t, [
      ev('order.completed', { external_id: 'u_m' }, { order_id: 'm1', total: 80 }, ago(60)),
      ev('order.completed', { external_id: 'u_m' }, { order_id: 'm2', total: 20 }, ago(30)),
      ev('ticket.checked_in', { external_id: 'u_m' }, { event_id: 'ev_1' }, ago(20)),
    ]);
    const id = res.results[0].customer_id!;
    // rows written behind ingestion's back (e.g. an import): metrics are stale until recomputed
    await ctx.db.run(sql`UPDATE orders SET status = 'cancelled' WHERE tenant_id = ${t.tenantId}::uuid AND id = 'm2'`);
    await ctx.db.run(sql`INSERT INTO attendance (tenant_id, customer_id, event_id, checked_in_at) VALUES (${t.tenantId}::uuid, ${id}::uuid, 'ev_2', now())`);
    const read = () => ctx.db.one<any>(sql`
      SELECT total_orders, total_spend, average_order_value, lifetime_value, events_attended FROM customers
      WHERE tenant_id = ${t.tenantId}::uuid AND id = ${id}::uuid`);
    expect(await read()).toEqual({ total_orders: 2, total_spend: 100, average_order_value: 50, lifetime_value: 100, events_attended: 1 });
    await ctx.db.transaction((tx) => recomputeCustomerMetrics(tx, t.tenantId, [id, id], 365));
    expect(await read()).toEqual({ total_orders: 1, total_spend: 80, average_order_value: 80, lifetime_value: 80, events_attended: 2 });
  });
});
