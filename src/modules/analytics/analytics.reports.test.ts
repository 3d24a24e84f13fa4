import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestEvents } from '../ingest/ingest.service.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

/*
 * Cohorts, overview and purchase patterns on a fixture: three buyers over the last three calendar months
 * (the 15th at 12:00 UTC of the two previous months, and a minute ago for the current one), each order
 * for its own show starting ten days after the purchase.
 *   P1: months −2, −1, 0   rock, 2 tickets × 25
 *   P2: month −2           rock, 2 tickets × 25
 *   P3: months −1, 0       jazz, 1 ticket × 40
 */

let t: TestContext;
let a: TestTenant;
let b: TestTenant;

// The current month in the tenant's time zone (test tenants use the default, Europe/Bucharest).
const [YEAR, MONTH] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Bucharest', year: 'numeric', month: '2-digit' })
  .format(new Date()).split('-').map(Number);
const monthAgo = (k: number) => new Date(Date.UTC(YEAR, MONTH - 1 - k, 15, 12));
const iso = (d: Date) => d.toISOString();
const monthStart = (k: number) => new Date(Date.UTC(YEAR, MONTH - 1 - k, 1)).toISOString().slice(0, 10);

beforeAll(async () => {
  t = await createTestApp();
  a = await createTestTenant(t.db, 'Reports A');
  b = await createTestTenant(t.db, 'Reports B');
  const now = new Date(Date.now() - 60_000);
  const plan: [string, Date, string, number, number][] = [
    ['P1', monthAgo(2), 'rock', 2, 25], ['P1', monthAgo(1), 'rock', 2, 25], ['P1', now, 'rock', 2, 25],
    ['P2', monthAgo(2), 'rock', 2, 25],
    ['P3', monthAgo(1), 'jazz', 1, 40], ['P3', now, 'jazz', 1, 40],
  ];
  const events = plan.map(([ext, at, genre, quantity, price], i) => ({
    id: `ev-${i}`, type: 'order.completed', occurred_at: iso(at), customer: { external_id: ext },
    data: {
      order_id: `order-${i}`,
      items: [{
        event_id: `show-${i}`, event_name: `Show ${i}`, genres: [genre], quantity, unit_price: price,
        starts_at: iso(new Date(at.getTime() + 10 * 86_400_000)),
      }],
    },
  }));
  const res = await ingestEvents(t.db, { tenantId: a.tenantId, config: t.config, actor: 'system' }, events);
  expect(res.rejected, JSON.stringify(res.results)).toBe(0);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const get = async (url: string, headers: object = a.headers) => {
  const res = await t.app.inject({ method: 'GET', url: `/api/crm${url}`, headers: headers as any });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
};

describe('GET /analytics/cohorts', () => {
  it('retention by month', async () => {
    const body = await get('/analytics/cohorts?period=month&metric=retention&cohorts=3');
    expect(body).toEqual({
      period: 'month',
      metric: 'retention',
      cohorts: [
        { cohort: monthStart(2), customers: 2, values: [1, 0.5, 0.5] },
        { cohort: monthStart(1), customers: 1, values: [1, 1] },
      ],
    });
  });

  it('customers and revenue by month', async () => {
    expect((await get('/analytics/cohorts?period=month&metric=customers')).cohorts.map((c: any) => c.values)).toEqual([[2, 1, 1], [1, 1]]);
    expect((await get('/analytics/cohorts?period=month&metric=revenue')).cohorts.map((c: any) => c.values)).toEqual([[100, 50, 50], [40, 40]]);
  });

  it('weekly cohorts start on Mondays; bad parameters are 400', async () => {
    const body = await get('/analytics/cohorts?period=week&metric=customers&cohorts=52');
    expect(body.cohorts).toHaveLength(2);
    for (const c of body.cohorts) expect(new Date(`${c.cohort}T00:00:00Z`).getUTCDay()).toBe(1);
    expect(body.cohorts.map((c: any) => c.customers)).toEqual([2, 1]);
    const bad = await t.app.inject({ method: 'GET', url: '/api/crm/analytics/cohorts?period=year', headers: a.headers });
    expect(bad.statusCode).toBe(400);
  });
});

describe('GET /analytics/overview', () => {
  it('active customers, churn, average LTV', async () => {
    const body = await get('/analytics/overview');
    expect(body.customers).toEqual({ total: 3, buyers: 3 });
    expect(body.active).toEqual({ last_30_days: 2, last_60_days: body.active.last_60_days, last_90_days: 3 });
    expect(body.churn).toEqual({ threshold_days: 180, churned_buyers: 0, rate: 0 });
    expect(body.average_ltv).toBeCloseTo((150 + 50 + 80) / 3, 2);
    expect(body.acquisition).toMatchObject({ new_customers_30_days: 3, rate_30_days: null });
    expect(body.lifecycle).toMatchObject({ none: 3, new: 0 });
    // lifetime value so far (150, 50, 80) over the buckets, before any CLV model
    expect(body.ltv_distribution).toMatchObject({ customers: 3, median: 80 });
    expect(body.ltv_distribution.mean).toBeCloseTo(93.33, 2);
    expect(body.ltv_distribution.buckets.filter((b: any) => b.count > 0)).toEqual([
      { min: 50, max: 100, count: 2 },
      { min: 100, max: 250, count: 1 },
    ]);
    expect(body.campaigns).toMatchObject({ campaigns: 0, sent: 0, conversions: 0, conversion_rate: null });
  });
});

describe('GET /analytics/purchase-patterns', () => {
  it('weekday × hour, lead time, genres, tickets per order, inter-purchase time', async () => {
    const body = await get('/analytics/purchase-patterns');
    expect(body.weekday_hour.weekdays[0]).toBe('Monday');
    expect(body.weekday_hour.orders).toHaveLength(7);
    expect(body.weekday_hour.orders.flat().reduce((n: number, v: number) => n + v, 0)).toBe(6);
    expect(body.days_before_event.count).toBe(6);
    expect(body.days_before_event.median).toBe(10);
    expect(body.days_before_event.buckets.find((x: any) => x.bucket === '8-14').count).toBe(6);
    expect(body.genre_affinity).toEqual([
      { genre: 'rock', tickets: 8, customers: 2, revenue: 200, share_of_tickets: 0.8 },
      { genre: 'jazz', tickets: 2, customers: 1, revenue: 80, share_of_tickets: 0.2 },
    ]);
    expect(body.tickets_per_order).toMatchObject({ count: 6, mean: 1.67, median: 2 });
    expect(body.tickets_per_order.buckets.slice(0, 2)).toEqual([{ bucket: '1', count: 2 }, { bucket: '2', count: 4 }]);
    expect(body.inter_purchase_days.count).toBe(3);
  });
});

describe('tenant isolation and roles', () => {
  it("B sees none of A's figures", async () => {
    expect((await get('/analytics/overview', b.headers)).customers).toEqual({ total: 0, buyers: 0 });
    expect((await get('/analytics/cohorts', b.headers)).cohorts).toEqual([]);
    const p = await get('/analytics/purchase-patterns', b.headers);
    expect(p.genre_affinity).toEqual([]);
    expect(p.tickets_per_order.count).toBe(0);
  });

  it('a viewer may read the reports', async () => {
    const viewer = await a.keyFor('viewer');
    for (const url of ['/analytics/overview', '/analytics/cohorts', '/analytics/purchase-patterns']) {
      expect((await t.app.inject({ method: 'GET', url: `/api/crm${url}`, headers: viewer })).statusCode).toBe(200);
    }
  });
});
