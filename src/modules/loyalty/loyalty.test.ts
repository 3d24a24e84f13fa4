import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { recomputeLoyalty } from './loyalty.repository.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

/** Seed 003: LOYALTY_TIER_THRESHOLDS=0,1000,5000,15000,50000 */
const SEED_003_TIERS = [
  { name: 'bronze', min_points: 0 },
  { name: 'silver', min_points: 1000, benefits: ['early access'] },
  { name: 'gold', min_points: 5000 },
  { name: 'platinum', min_points: 15000 },
  { name: 'diamond', min_points: 50000, benefits: ['backstage tour', 'free upgrade'] },
];

/** A customer with `earned` points from one completed order, with columns recomputed from the ledger. */
async function createCustomer(tenantId: string, earned = 0, opts: { deleted?: boolean } = {}): Promise<string> {
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, first_name, last_name, email, loyalty_tier, deleted_at)
    VALUES (${tenantId}, 'Maria', 'Ionescu', NULL, 'bronze', ${opts.deleted ? new Date().toISOString() : null}::timestamptz)
    RETURNING id`);
  const id = row!.id;
  if (earned !== 0) {
    await ctx.db.run(sql`
      INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, ref)
      VALUES (${tenantId}, ${id}::uuid, ${earned}, 'order_completed', ${'ord_' + id})`);
  }
  await recomputeLoyalty(ctx.db, tenantId, [id]);
  return id;
}

async function customerRow(tenantId: string, id: string) {
  return (await ctx.db.one<{ loyalty_tier: string | null; loyalty_points: number; loyalty_points_earned: number }>(sql`
    SELECT loyalty_tier, loyalty_points, loyalty_points_earned FROM customers WHERE tenant_id = ${tenantId} AND id = ${id}::uuid`))!;
}

async function activities(tenantId: string, customerId: string, type?: string) {
  return ctx.db.rows<{ type: string; data: any; actor: string | null }>(sql`
    SELECT type, data, actor FROM activities
    WHERE tenant_id = ${tenantId} AND customer_id = ${customerId}::uuid ${type ? sql`AND type = ${type}` : sql``}
    ORDER BY created_at, type`);
}

async function ledgerCount(tenantId: string, customerId: string): Promise<number> {
  return (await ctx.db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM loyalty_ledger WHERE tenant_id = ${tenantId} AND customer_id = ${customerId}::uuid`))!.n;
}

const putTiers = (t: TestTenant, payload: unknown, headers = t.headers) =>
  ctx.app.inject({ method: 'PUT', url: '/api/crm/loyalty/tiers', headers, payload: payload as object });

describe('loyalty tiers', () => {
  it('starts with bronze 0 / silver 1000 / gold 5000 / platinum 10000', async () => {
    const t = await createTestTenant(ctx.db);
    const viewer = await t.keyFor('viewer');
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: viewer });
    expect(res.statusCode).toBe(200);
    expect(res.json().tiers).toEqual([
      { name: 'bronze', min_points: 0, benefits: [] },
      { name: 'silver', min_points: 1000, benefits: [] },
      { name: 'gold', min_points: 5000, benefits: [] },
      { name: 'platinum', min_points: 10000, benefits: [] },
    ]);
  });

  it('rejects an invalid tier set with 400 and keeps the old one', async () => {
    const t = await createTestTenant(ctx.db);
    const before = (await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: t.headers })).json();
    const invalid: unknown[] = [
      { tiers: [] },
      { tiers: [{ name: 'silver', min_points: 1000 }] },
      { tiers: [{ name: 'bronze', min_points: 0 }, { name: 'bronze', min_points: 100 }] },
      { tiers: [{ name: 'bronze', min_points: 0 }, { name: 'silver', min_points: 500 }, { name: 'gold', min_points: 500 }] },
      { tiers: [{ name: 'bronze', min_points: 0 }, { name: 'basic', min_points: 0 }] },
      { tiers: Array.from({ length: 21 }, (_, i) => ({ name: `t${i}`, min_points: i * 100 })) },
      { tiers: [{ name: 'Bronze Tier', min_points: 0 }] },
      { tiers: [{ name: 'bronze', min_points: -1 }] },
      { tiers: [{ name: 'bronze', min_points: 0.5 }] },
      { tiers: [{ name: 'bronze', min_points: 0, color: 'brown' }] },
      { levels: [{ name: 'bronze', min_points: 0 }] },
    ];
    for (const payload of invalid) {
      const res = await putTiers(t, payload);
      expect(res.statusCode, JSON.stringify(payload).slice(0, 120)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    const dup = await putTiers(t, { tiers: [{ name: 'bronze', min_points: 0 }, { name: 'bronze', min_points: 100 }] });
    expect(dup.json().error.message).toContain('bronze');
    const after = (await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: t.headers })).json();
    expect(after).toEqual(before);
    // 20 tiers are allowed
    const twenty = await putTiers(t, { tiers: Array.from({ length: 20 }, (_, i) => ({ name: `t${i}`, min_points: i * 100 })) });
    expect(twenty.statusCode).toBe(200);
    expect(twenty.json().tiers).toHaveLength(20);
  });

  it('expresses seed 003\'s five thresholds and moves every customer to the matching tier, with timeline entries', async () => {
    const t = await createTestTenant(ctx.db);
    const c0 = await createCustomer(t.tenantId, 0);
    const c1200 = await createCustomer(t.tenantId, 1200);
    const c12000 = await createCustomer(t.tenantId, 12000);
    const c20000 = await createCustomer(t.tenantId, 20000);
    const c60000 = await createCustomer(t.tenantId, 60000);
    const deleted = await createCustomer(t.tenantId, 60000, { deleted: true });
    expect((await customerRow(t.tenantId, c12000)).loyalty_tier).toBe('platinum');
    expect((await customerRow(t.tenantId, c60000)).loyalty_tier).toBe('platinum');

    // listed out of order on purpose: the answer is sorted by threshold
    const res = await putTiers(t, { tiers: [SEED_003_TIERS[4], ...SEED_003_TIERS.slice(0, 4)] });
    expect(res.statusCode).toBe(200);
    expect(res.json().tiers).toEqual(SEED_003_TIERS.map((x) => ({ benefits: [], ...x })));
    expect(res.json().customers_changed).toBe(2);

    const tiers = await Promise.all([c0, c1200, c12000, c20000, c60000, deleted].map(async (id) => (await customerRow(t.tenantId, id)).loyalty_tier));
    expect(tiers).toEqual(['bronze', 'silver', 'gold', 'platinum', 'diamond', 'platinum']);

    expect((await activities(t.tenantId, c12000, 'loyalty.tier_changed')).map((a) => a.data)).toEqual([
      expect.objectContaining({ from: 'platinum', to: 'gold' }),
    ]);
    expect((await activities(t.tenantId, c60000, 'loyalty.tier_changed')).map((a) => a.data)).toEqual([
      expect.objectContaining({ from: 'platinum', to: 'diamond' }),
    ]);
    for (const id of [c0, c1200, c20000, deleted]) expect(await activities(t.tenantId, id, 'loyalty.tier_changed')).toEqual([]);

    const listed = await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: t.headers });
    expect(listed.json().tiers.map((x: any) => x.name)).toEqual(['bronze', 'silver', 'gold', 'platinum', 'diamond']);

    // Renaming the base tier moves its members too; putting the same set again changes nobody.
    const renamed = await putTiers(t, { tiers: [{ name: 'starter', min_points: 0 }, ...SEED_003_TIERS.slice(1)] });
    expect(renamed.json().customers_changed).toBe(1);
    expect((await customerRow(t.tenantId, c0)).loyalty_tier).toBe('starter');
    const same = await putTiers(t, { tiers: [{ name: 'starter', min_points: 0 }, ...SEED_003_TIERS.slice(1)] });
    expect(same.json().customers_changed).toBe(0);
  });

  it('lets only admins replace tiers', async () => {
    const t = await createTestTenant(ctx.db);
    const employee = await t.keyFor('employee');
    const res = await putTiers(t, { tiers: SEED_003_TIERS }, employee);
    expect(res.statusCode).toBe(403);
    const listed = await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: employee });
    expect(listed.json().tiers).toHaveLength(4);
  });
});

describe('customer loyalty', () => {
  it('shows tier, balance, progress to the next tier and the ledger', async () => {
    const t = await createTestTenant(ctx.db);
    const id = await createCustomer(t.tenantId, 1200);
    const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${id}/loyalty`, headers: t.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      customer_id: id, tier: 'silver', points: 1200, points_earned: 1200, next_tier: 'gold', points_to_next_tier: 3800,
    });
    expect(res.json().ledger).toEqual([
      expect.objectContaining({ points: 1200, reason: 'order_completed', ref: `ord_${id}`, note: null, created_by: null }),
    ]);

    const top = await createCustomer(t.tenantId, 12000);
    const topRes = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${top}/loyalty`, headers: t.headers });
    expect(topRes.json()).toMatchObject({ tier: 'platinum', next_tier: null, points_to_next_tier: null });

    // the last 50 entries, newest first
    await ctx.db.run(sql`
      INSERT INTO loyalty_ledger (tenant_id, customer_id, points, reason, note, created_at)
      SELECT ${t.tenantId}::uuid, ${id}::uuid, 1, 'adjusted', 'n' || g, now() + g * interval '1 second'
      FROM generate_series(1, 60) g`);
    const many = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${id}/loyalty`, headers: t.headers });
    expect(many.json().ledger).toHaveLength(50);
    expect(many.json().ledger[0].note).toBe('n60');
    expect(many.json().ledger[49].note).toBe('n11');
  });

  it('redeems points: a negative ledger entry, the new balance and a timeline entry; the tier stays', async () => {
    const t = await createTestTenant(ctx.db);
    const id = await createCustomer(t.tenantId, 1500);
    const res = await ctx.app.inject({
      method: 'POST', url: `/api/crm/customers/${id}/loyalty/redeem`, headers: await t.keyFor('employee'),
      payload: { points: 600, note: 'free drink voucher' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      customer_id: id, points: 900, points_earned: 1500, tier: 'silver',
      entry: { points: -600, reason: 'redeemed', note: 'free drink voucher' },
    });
    expect(res.json().entry.created_by).toMatch(/^key:/);
    expect(await customerRow(t.tenantId, id)).toEqual({ loyalty_tier: 'silver', loyalty_points: 900, loyalty_points_earned: 1500 });
    const entries = await activities(t.tenantId, id, 'loyalty.points_redeemed');
    expect(entries).toHaveLength(1);
    expect(entries[0].data).toMatchObject({ points: 600, balance: 900, note: 'free drink voucher' });

    const viewer = await t.keyFor('viewer');
    const byViewer = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/redeem`, headers: viewer, payload: { points: 1 } });
    expect(byViewer.statusCode).toBe(403);
  });

  it('refuses to redeem more than the balance with 409 and changes nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const id = await createCustomer(t.tenantId, 300);
    const res = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/redeem`, headers: t.headers, payload: { points: 301 } });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'insufficient_points', details: { balance: 300, requested: 301 } });
    expect(await customerRow(t.tenantId, id)).toMatchObject({ loyalty_points: 300 });
    expect(await ledgerCount(t.tenantId, id)).toBe(1);
    expect(await activities(t.tenantId, id)).toEqual([]);

    for (const payload of [{ points: 0 }, { points: -5 }, { points: 1.5 }, { points: '10' }, {}, { points: 5, reason: 'x' }]) {
      const bad = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/redeem`, headers: t.headers, payload });
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await ledgerCount(t.tenantId, id)).toBe(1);
  });

  it('never overdraws when redemptions race', async () => {
    const t = await createTestTenant(ctx.db);
    const id = await createCustomer(t.tenantId, 100);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/redeem`, headers: t.headers, payload: { points: 30 } })),
    );
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 200, 200, 409, 409, 409]);
    expect(await customerRow(t.tenantId, id)).toMatchObject({ loyalty_points: 10, loyalty_points_earned: 100 });
    const sum = await ctx.db.one<{ s: number }>(sql`
      SELECT sum(points)::int AS s FROM loyalty_ledger WHERE tenant_id = ${t.tenantId} AND customer_id = ${id}::uuid`);
    expect(sum!.s).toBe(10);
    expect(results.filter((r) => r.statusCode === 200).map((r) => r.json().points).sort((a, b) => b - a)).toEqual([70, 40, 10]);
  });

  it('lets admins adjust points with a note; the tier follows and the change is on the timeline', async () => {
    const t = await createTestTenant(ctx.db);
    const id = await createCustomer(t.tenantId, 900);
    const employee = await t.keyFor('employee');
    const byEmployee = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: employee, payload: { points: 200, note: 'goodwill' } });
    expect(byEmployee.statusCode).toBe(403);
    for (const payload of [{ points: 0, note: 'x' }, { points: 100 }, { points: 100, note: '' }, { points: 100, note: '   ' }]) {
      const bad = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: t.headers, payload });
      expect(bad.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(await ledgerCount(t.tenantId, id)).toBe(1);

    const up = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: t.headers, payload: { points: 200, note: 'goodwill after a cancelled show' } });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toMatchObject({
      points: 1100, points_earned: 1100, tier: 'silver', next_tier: 'gold', points_to_next_tier: 3900,
      entry: { points: 200, reason: 'adjusted', note: 'goodwill after a cancelled show' },
    });
    expect((await activities(t.tenantId, id, 'loyalty.tier_changed')).map((a) => a.data)).toEqual([
      expect.objectContaining({ from: 'bronze', to: 'silver' }),
    ]);
    expect((await activities(t.tenantId, id, 'loyalty.points_adjusted')).map((a) => a.data.points)).toEqual([200]);

    const down = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: t.headers, payload: { points: -150, note: 'duplicate credit' } });
    expect(down.json()).toMatchObject({ points: 950, tier: 'bronze' });
    expect((await activities(t.tenantId, id, 'loyalty.tier_changed')).map((a) => [a.data.from, a.data.to])).toEqual([
      ['bronze', 'silver'],
      ['silver', 'bronze'],
    ]);
    const tooMuch = await ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: t.headers, payload: { points: -951, note: 'x' } });
    expect(tooMuch.statusCode).toBe(409);
    expect(await customerRow(t.tenantId, id)).toMatchObject({ loyalty_points: 950 });
  });
});

describe('tenant isolation', () => {
  it('never shows or changes another tenant\'s customers or tiers', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const customerA = await createCustomer(a.tenantId, 12000);
    for (const [method, url, payload] of [
      ['GET', `/api/crm/customers/${customerA}/loyalty`, undefined],
      ['POST', `/api/crm/customers/${customerA}/loyalty/redeem`, { points: 10 }],
      ['POST', `/api/crm/customers/${customerA}/loyalty/adjust`, { points: 10, note: 'x' }],
    ] as const) {
      const res = await ctx.app.inject({ method, url, headers: b.headers, payload });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('customer_not_found');
    }
    const put = await putTiers(b, { tiers: SEED_003_TIERS });
    expect(put.statusCode).toBe(200);
    expect(put.json().customers_changed).toBe(0);
    const tiersA = await ctx.app.inject({ method: 'GET', url: '/api/crm/loyalty/tiers', headers: a.headers });
    expect(tiersA.json().tiers.map((x: any) => x.min_points)).toEqual([0, 1000, 5000, 10000]);
    expect(await customerRow(a.tenantId, customerA)).toEqual({ loyalty_tier: 'platinum', loyalty_points: 12000, loyalty_points_earned: 12000 });
    expect(await ledgerCount(a.tenantId, customerA)).toBe(1);
    expect(await activities(a.tenantId, customerA)).toEqual([]);
  });
});
