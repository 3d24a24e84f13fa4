import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTenant } from '../auth/auth.service.js';
import { ingestEvents } from '../ingest/ingest.service.js';
import { createTestApp, type TestContext } from '../../test/helpers.js';
import { buyerStatistics, customerIdSplit } from './analytics.repository.js';

/*
 * The paper test of issue 4 item 9, through the CRM's own ingestion: CDNOW_sample.txt loaded as
 * order.completed events with their original 1997-98 dates (customer external_id = sample id, one order
 * per transaction line, tenant in USD), then GET /analytics/ltv?as_of=1997-09-30 must reproduce Fader,
 * Hardie & Lee (2005) and Fader & Hardie note 025.
 *
 * The scores refresh fits "as of today"; 28 years after the data every customer is long gone, so that
 * part loads the same lines moved forward by exactly 28 calendar years (10,227 days for every date of the
 * data set: the same seven 29 Februaries lie between each date and its twin), which keeps every gap
 * between dates, hence x, t_x, T and the fit, unchanged.
 */

const here = dirname(fileURLToPath(import.meta.url));
const CDNOW_DIR = resolve(here, '../../test/fixtures/cdnow');
const SHIFT_YEARS = 28;

interface Line { sampleId: string; date: string; dollars: number }

function readSample(): Line[] {
  return readFileSync(resolve(CDNOW_DIR, 'CDNOW_sample.txt'), 'utf8')
    .trim().split('\n')
    .map((l) => l.trim().split(/\s+/))
    .map(([, sampleId, ymd, , dollars]) => ({
      sampleId,
      date: `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}`,
      dollars: Number(dollars),
    }));
}

const shifted = (date: string) => `${Number(date.slice(0, 4)) + SHIFT_YEARS}${date.slice(4)}`;

const PAPER = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, p: 6.25, q: 3.74, v: 15.44 };

function expectPaper(model: any) {
  expect(model.customers).toBe(2357);
  expect(model.bgnbd.r).toBeCloseTo(PAPER.r, 2);
  expect(Math.abs(model.bgnbd.r - PAPER.r)).toBeLessThanOrEqual(0.005);
  expect(Math.abs(model.bgnbd.alpha - PAPER.alpha)).toBeLessThanOrEqual(0.005);
  expect(Math.abs(model.bgnbd.a - PAPER.a)).toBeLessThanOrEqual(0.005);
  expect(Math.abs(model.bgnbd.b - PAPER.b)).toBeLessThanOrEqual(0.005);
  expect(model.bgnbd.log_likelihood).toBeCloseTo(-9582.4, 0);
  expect(Math.abs(model.gamma_gamma.p - PAPER.p)).toBeLessThanOrEqual(0.05);
  expect(Math.abs(model.gamma_gamma.q - PAPER.q)).toBeLessThanOrEqual(0.05);
  expect(Math.abs(model.gamma_gamma.v - PAPER.v)).toBeLessThanOrEqual(0.05);
}

let t: TestContext;
const lines = readSample();

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe('CDNOW through ingestion (original dates)', () => {
  let headers: { authorization: string };
  let tenantId: string;

  beforeAll(async () => {
    const { tenant, apiKey } = await createTenant(t.db, { name: 'CDNOW', currency: 'USD' });
    tenantId = tenant.id;
    headers = { authorization: `Bearer ${apiKey}` };
    const events = lines.map((l, i) => ({
      id: `cdnow-${i + 1}`,
      type: 'order.completed',
      occurred_at: `${l.date}T12:00:00Z`,
      customer: { external_id: l.sampleId },
      data: { order_id: `cdnow-order-${i + 1}`, total: l.dollars, currency: 'USD' },
    }));
    for (let i = 0; i < events.length; i += 1000) {
      const res = await ingestEvents(t.db, { tenantId, config: t.config, actor: 'system' }, events.slice(i, i + 1000));
      expect(res.rejected, JSON.stringify(res.results.find((r) => r.status === 'rejected'))).toBe(0);
    }
  }, 300_000);

  it('loaded 2,357 customers and 6,919 orders', async () => {
    const row = await t.db.one<{ customers: number; orders: number }>(sql`
      SELECT (SELECT count(*)::int FROM customers WHERE tenant_id = ${tenantId}::uuid) AS customers,
             (SELECT count(*)::int FROM orders WHERE tenant_id = ${tenantId}::uuid AND status = 'completed') AS orders`);
    expect(row).toEqual({ customers: 2357, orders: 6919 });
  });

  it('GET /analytics/ltv reproduces the published BG/NBD and Gamma-Gamma estimates', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/crm/analytics/ltv?as_of=1997-09-30&time_unit=week', headers });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    console.log('CDNOW via ingestion:', JSON.stringify(body.model));
    expectPaper(body.model);
    expect(body.model.repeat_customers).toBe(946);
    expect(body.model).toMatchObject({ as_of: '1997-09-30', time_unit: 'week' });
    expect(body.distribution.customers).toBe(2357);
    expect(body.distribution.buckets.reduce((n: number, b: any) => n + b.count, 0)).toBe(2357);
    expect(body.top_customers).toHaveLength(10);
    expect(body.top_customers[0].predicted_clv).toBeGreaterThanOrEqual(body.top_customers[9].predicted_clv);
    // ingestion records where a customer came from ('ingest'); no acquisition cost yet → no ROI
    expect(body.by_source).toHaveLength(1);
    expect(body.by_source[0]).toMatchObject({ source: 'ingest', customers: 2357, acquisition_cost: null, roi: null });

    const put = await t.app.inject({
      method: 'PUT', url: '/api/crm/analytics/acquisition-costs', headers, payload: { costs: [{ source: 'ingest', cost: 20000 }] },
    });
    expect(put.statusCode, put.body).toBe(200);
    const again = (await t.app.inject({ method: 'GET', url: '/api/crm/analytics/ltv?as_of=1997-09-30&time_unit=week', headers })).json();
    const src = again.by_source[0];
    expect(src).toMatchObject({ source: 'ingest', acquisition_cost: 20000, cost_per_customer: 8.49 });
    expect(src.roi).toBeCloseTo((src.historic_clv + src.predicted_clv - 20000) / 20000, 3);
  });

  it("GET /customers/{id}/clv reproduces the paper's worked example (customer 0001: 1.226 purchases in 39 weeks)", async () => {
    const c = await t.db.one<{ id: string }>(sql`SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND external_id = '0001'`);
    const res = await t.app.inject({
      method: 'GET', url: `/api/crm/customers/${c!.id}/clv?as_of=1997-09-30&time_unit=week&horizon=39`, headers,
    });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(
      ['as_of', 'expected_average_order_value', 'expected_purchases', 'historic_clv', 'horizon', 'p_alive', 'predicted_clv', 'time_unit'],
    );
    expect(body.expected_purchases).toBeCloseTo(1.226, 2);
    expect(body.p_alive).toBeGreaterThan(0);
    expect(body.p_alive).toBeLessThan(1);
    // 0001 bought 29.33 + 29.73 + 14.96 up to 1997-09-30: historic CLV
    expect(body.historic_clv).toBeCloseTo(29.33 + 29.73 + 14.96, 2);
    expect(body.expected_average_order_value).toBeGreaterThan(0);
    // discounted at 10 % a year, so a little less than E[M] × E[Y]
    expect(body.predicted_clv).toBeLessThan(body.expected_average_order_value * body.expected_purchases);
    expect(body.predicted_clv).toBeGreaterThan(0.9 * body.expected_average_order_value * body.expected_purchases);
    expect(body).toMatchObject({ horizon: 39, time_unit: 'week', as_of: '1997-09-30' });
  });

  it('whole-tenant statistics, computed in two id ranges, equal the statistics of every customer asked by id; live customers only', async () => {
    const split = await customerIdSplit(t.db, tenantId);
    const ids = (await t.db.rows<{ id: string }>(sql`SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid`)).map((r) => r.id);
    expect(ids.filter((id) => id < split!).length).toBeGreaterThan(0);
    expect(ids.filter((id) => id >= split!).length).toBeGreaterThan(0);
    const byId = (rows: { customer_id: string }[]) => [...rows].sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1));
    const whole = await buyerStatistics(t.db, tenantId, '1997-09-30');
    expect(whole).toHaveLength(2357);
    expect(byId(whole)).toEqual(byId(await buyerStatistics(t.db, tenantId, '1997-09-30', ids)));
    // a customer of one purchase day: no repeat spend
    expect(whole.filter((r) => r.x === 0).every((r) => Number(r.repeat_sum) === 0)).toBe(true);

    // deleted and merged records are not customers any more: their orders count for nobody (restored after)
    const idOf = async (ext: string) => (await t.db.one<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND external_id = ${ext}`))!.id;
    const [gone, merged, survivor] = [await idOf('0002'), await idOf('0003'), await idOf('0004')];
    await t.db.run(sql`UPDATE customers SET deleted_at = now() WHERE tenant_id = ${tenantId}::uuid AND id = ${gone}::uuid`);
    await t.db.run(sql`UPDATE customers SET merged_into = ${survivor}::uuid WHERE tenant_id = ${tenantId}::uuid AND id = ${merged}::uuid`);
    try {
      const live = await buyerStatistics(t.db, tenantId, '1997-09-30');
      expect(live).toHaveLength(2355);
      expect(live.some((r) => r.customer_id === gone || r.customer_id === merged)).toBe(false);
      expect(await buyerStatistics(t.db, tenantId, '1997-09-30', [gone, merged])).toEqual([]);
    } finally {
      await t.db.run(sql`UPDATE customers SET deleted_at = NULL, merged_into = NULL WHERE tenant_id = ${tenantId}::uuid AND id IN (${gone}::uuid, ${merged}::uuid)`);
    }
  });

  it("another tenant cannot read this tenant's customer CLV", async () => {
    const other = await createTenant(t.db, { name: 'Other', currency: 'USD' });
    const c = await t.db.one<{ id: string }>(sql`SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND external_id = '0001'`);
    const res = await t.app.inject({
      method: 'GET', url: `/api/crm/customers/${c!.id}/clv?as_of=1997-09-30`, headers: { authorization: `Bearer ${other.apiKey}` },
    });
    expect(res.statusCode).toBe(404);
    const ltv = await t.app.inject({
      method: 'GET', url: '/api/crm/analytics/ltv?as_of=1997-09-30', headers: { authorization: `Bearer ${other.apiKey}` },
    });
    expect(ltv.statusCode).toBe(422);
  });
});

describe('scores refresh on CDNOW moved to recent dates (+28 years)', () => {
  let headers: { authorization: string };
  let tenantId: string;

  beforeAll(async () => {
    const { tenant, apiKey } = await createTenant(t.db, { name: 'CDNOW recent', currency: 'USD' });
    tenantId = tenant.id;
    headers = { authorization: `Bearer ${apiKey}` };
    const events = lines.map((l, i) => ({
      id: `cdnow-${i + 1}`,
      type: 'order.completed',
      occurred_at: `${shifted(l.date)}T12:00:00Z`,
      customer: { external_id: l.sampleId },
      data: { order_id: `cdnow-order-${i + 1}`, total: l.dollars, currency: 'USD' },
    }));
    for (let i = 0; i < events.length; i += 1000) {
      const res = await ingestEvents(t.db, { tenantId, config: t.config, actor: 'system' }, events.slice(i, i + 1000));
      expect(res.rejected).toBe(0);
    }
  }, 300_000);

  it('POST /analytics/scores/refresh fits the model as of today and writes p_alive, predicted_clv and churn risk', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().model).toEqual({ status: 'fitted', customers: 2357 });
    expect(res.json().clv_updated).toBe(2357);
    const stored = await t.db.one<any>(sql`SELECT as_of, time_unit, customers, params FROM clv_models WHERE tenant_id = ${tenantId}::uuid`);
    expect(stored).toMatchObject({ time_unit: 'week', customers: 2357, as_of: res.json().as_of });
    const agg = await t.db.one<any>(sql`
      SELECT count(*)::int AS n, count(p_alive)::int AS with_p, count(predicted_clv)::int AS with_clv,
             count(*) FILTER (WHERE p_alive < 1 AND churn_risk <> round(1 - p_alive, 4))::int AS churn_mismatch,
             count(*) FILTER (WHERE p_alive < 0 OR p_alive > 1 OR predicted_clv < 0)::int AS out_of_range,
             count(lifecycle_stage)::int AS with_stage
      FROM customers WHERE tenant_id = ${tenantId}::uuid`);
    expect(agg).toEqual({ n: 2357, with_p: 2357, with_clv: 2357, churn_mismatch: 0, out_of_range: 0, with_stage: 2357 });

    // The customer endpoint without as_of reads the stored fit: same numbers as the profile columns.
    const c = await t.db.one<any>(sql`
      SELECT id, p_alive, predicted_clv FROM customers WHERE tenant_id = ${tenantId}::uuid AND external_id = '0001'`);
    const clv = await t.app.inject({ method: 'GET', url: `/api/crm/customers/${c.id}/clv`, headers });
    expect(clv.statusCode, clv.body).toBe(200);
    expect(clv.json().p_alive).toBeCloseTo(c.p_alive, 4);
    expect(clv.json().predicted_clv).toBeCloseTo(c.predicted_clv, 2);
    expect(clv.json()).toMatchObject({ time_unit: 'week', as_of: res.json().as_of, horizon: 365 / 7 });
  }, 120_000);
});
