import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError, type Client } from '../customers/customers.test-helpers.js';
import { insertCustomer } from '../segments/segments.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function setup(): Promise<{ t: TestTenant; api: Client }> {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

/**
 * 43 buyers: 40 spending 10, 20 … 400, a second one at 390 (tie), one at 6000 in Cluj, one more at 5000;
 * plus a non-buyer. 43 buyers → top 5 % = ceil(2.15) = 3 ranks: 6000, 5000, 400.
 */
async function fixture(tenantId: string) {
  const bySpend = new Map<number, string>();
  for (let i = 1; i <= 40; i++) {
    bySpend.set(i * 10, await insertCustomer(ctx.db, tenantId, { total_orders: 1, total_spend: i * 10, city: i === 40 ? 'Cluj' : 'Iasi' }));
  }
  const tie = await insertCustomer(ctx.db, tenantId, { total_orders: 1, total_spend: 390, city: 'Cluj' });
  const big = await insertCustomer(ctx.db, tenantId, { total_orders: 3, total_spend: 6000, city: 'Cluj' });
  const five = await insertCustomer(ctx.db, tenantId, { total_orders: 2, total_spend: 5000, city: 'Iasi' });
  const none = await insertCustomer(ctx.db, tenantId, { total_orders: 0, total_spend: 0 });
  return { s: (v: number) => bySpend.get(v)!, tie, big, five, none };
}

async function vipIds(tenantId: string): Promise<string[]> {
  const rows = await ctx.db.rows<{ id: string }>(sql`
    SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND is_vip ORDER BY id`);
  return rows.map((r) => r.id);
}

async function vipTimeline(tenantId: string, customerId: string) {
  return ctx.db.rows<{ data: { is_vip: boolean }; actor: string | null }>(sql`
    SELECT data, actor FROM activities
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid AND type = 'vip.changed' ORDER BY occurred_at, id`);
}

const sorted = (ids: string[]) => [...ids].sort();

describe('VIP rule', () => {
  it('default rule (top 5 % of buyers by spend, or spend >= 5000) is applied by the scores refresh', async () => {
    const { t, api } = await setup();
    const f = await fixture(t.tenantId);
    const before = (await api.get('/analytics/vip-rule')).json();
    expect(before).toEqual({ top_percent: 5, min_total_spend: 5000, rules: null, is_default: true, updated_at: null, vip_customers: 0 });

    const refresh = await api.post('/analytics/scores/refresh');
    expect(refresh.statusCode, refresh.body).toBe(200);
    expect(refresh.json().vip_changes).toBe(3);
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.five, f.s(400)]));
    expect((await api.get('/analytics/vip-rule')).json().vip_customers).toBe(3);

    // the profile shows the flag
    expect((await api.get(`/customers/${f.big}`)).json().is_vip).toBe(true);
    expect((await api.get(`/customers/${f.s(10)}`)).json().is_vip).toBe(false);
    // timeline: one vip.changed entry; a second refresh changes nothing
    expect(await vipTimeline(t.tenantId, f.big)).toEqual([{ data: { is_vip: true }, actor: 'system' }]);
    expect((await api.post('/analytics/scores/refresh')).json().vip_changes).toBe(0);
    expect(await vipTimeline(t.tenantId, f.big)).toHaveLength(1);
  });

  it('a rule change recomputes at once: ties at the cut-off, threshold disabled, extra rules ANDed; timeline entries', async () => {
    const { t, api } = await setup();
    const f = await fixture(t.tenantId);
    await api.post('/analytics/scores/refresh');

    // threshold only (top_percent 0): 5000 and 6000
    let res = await api.put('/analytics/vip-rule', { top_percent: 0, min_total_spend: 5000 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ top_percent: 0, min_total_spend: 5000, rules: null, is_default: false, vip_customers: 2, became_vip: 0, lost_vip: 1 });
    expect(res.json().updated_at).not.toBeNull();
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.five]));

    // threshold disabled, top 10 % of 43 buyers = 5 ranks: 6000, 5000, 400, 390, 390 (tie: both) → 5
    res = await api.put('/analytics/vip-rule', { top_percent: 10, min_total_spend: null });
    expect(res.json()).toMatchObject({ min_total_spend: null, vip_customers: 5, became_vip: 3, lost_vip: 0 });
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.five, f.s(400), f.s(390), f.tie]));
    // top 8 % = ceil(3.44) = 4 ranks; the two 390s share rank 4, so both are in
    res = await api.put('/analytics/vip-rule', { top_percent: 8, min_total_spend: null });
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.five, f.s(400), f.s(390), f.tie]));

    // extra rules ANDed: only those in Cluj
    res = await api.put('/analytics/vip-rule', {
      top_percent: 10, min_total_spend: 100000, rules: { operator: 'and', conditions: [{ field: 'city', operator: 'eq', value: 'Cluj' }] },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rules).toEqual({ operator: 'and', conditions: [{ field: 'city', operator: '=', value: 'Cluj' }] });
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.s(400), f.tie]));
    expect((await api.get(`/customers/${f.five}`)).json().is_vip).toBe(false);

    // f.five: VIP from the refresh on (5000 >= threshold, then top ranks), no longer VIP with the Cluj rule
    const five = await vipTimeline(t.tenantId, f.five);
    expect(five.map((e) => e.data.is_vip)).toEqual([true, false]);
    expect(five[1].actor).toMatch(/^key:/);
    const got = (await api.get('/analytics/vip-rule')).json();
    expect(got).toMatchObject({ top_percent: 10, min_total_spend: 100000, is_default: false, vip_customers: 3 });
  });

  it('segments with is_vip rules follow a rule change at once', async () => {
    const { t, api } = await setup();
    const f = await fixture(t.tenantId);
    const seg = await api.post('/segments', { name: 'VIPs', rules: { operator: 'and', conditions: [{ field: 'is_vip', operator: '=', value: true }] } });
    expect(seg.json().customer_count).toBe(0);
    await api.put('/analytics/vip-rule', { top_percent: 0, min_total_spend: 5500 });
    expect((await api.get(`/segments/${seg.json().id}`)).json().customer_count).toBe(1);
    expect((await api.get(`/customers/${f.big}`)).json().segments).toEqual(['VIPs']);
  });

  it('validation: ranges, unknown fields, invalid or self-referencing rules → 400 and nothing changes', async () => {
    const { t, api } = await setup();
    await fixture(t.tenantId);
    expectError(await api.put('/analytics/vip-rule', { top_percent: 51, min_total_spend: null }), 400);
    expectError(await api.put('/analytics/vip-rule', { top_percent: -1, min_total_spend: null }), 400);
    expectError(await api.put('/analytics/vip-rule', { top_percent: 5, min_total_spend: -5 }), 400);
    expectError(await api.put('/analytics/vip-rule', { top_percent: 5 }), 400);
    expectError(await api.put('/analytics/vip-rule', { top_percent: 5, min_total_spend: null, extra: 1 }), 400);
    const bad = await api.put('/analytics/vip-rule', {
      top_percent: 5, min_total_spend: null, rules: { operator: 'and', conditions: [{ field: 'shoe_size', operator: '=', value: 1 }] },
    });
    expectError(bad, 400, 'invalid_rule');
    expect(bad.json().error.details.path).toBe('conditions[0].field');
    const self = await api.put('/analytics/vip-rule', {
      top_percent: 5, min_total_spend: null, rules: { operator: 'or', conditions: [{ field: 'is_vip', operator: '=', value: true }] },
    });
    expectError(self, 400, 'invalid_rule');
    expect(self.json().error.details.path).toBe('conditions[0].field');
    expect((await api.get('/analytics/vip-rule')).json()).toMatchObject({ is_default: true, vip_customers: 0 });
    expect(await vipIds(t.tenantId)).toEqual([]);
  });

  it('roles: viewers read the rule, only admins change it; tenants are isolated', async () => {
    const { t, api } = await setup();
    const f = await fixture(t.tenantId);
    const viewer = client(ctx, await t.keyFor('viewer'));
    const employee = client(ctx, await t.keyFor('employee'));
    expect((await viewer.get('/analytics/vip-rule')).statusCode).toBe(200);
    expectError(await viewer.put('/analytics/vip-rule', { top_percent: 1, min_total_spend: null }), 403);
    expectError(await employee.put('/analytics/vip-rule', { top_percent: 1, min_total_spend: null }), 403);

    await api.put('/analytics/vip-rule', { top_percent: 0, min_total_spend: 1000 });
    const other = await setup();
    const o = await insertCustomer(ctx.db, other.t.tenantId, { total_orders: 1, total_spend: 2000 });
    // the other tenant still has the default rule, and its change leaves this tenant's flags alone
    expect((await other.api.get('/analytics/vip-rule')).json()).toMatchObject({ is_default: true, vip_customers: 0 });
    await other.api.put('/analytics/vip-rule', { top_percent: 50, min_total_spend: null });
    expect(await vipIds(other.t.tenantId)).toEqual([o]);
    expect(await vipIds(t.tenantId)).toEqual(sorted([f.big, f.five]));
    expect((await api.get('/analytics/vip-rule')).json()).toMatchObject({ min_total_spend: 1000, top_percent: 0 });
  });
});
