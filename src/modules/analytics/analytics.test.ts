import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { ingestEvents } from '../ingest/ingest.service.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

/*
 * RFM, scores refresh, refusals, roles and tenant isolation on a hand-built fixture loaded through
 * ingestion. Purchase dates are whole days before now, away from the score boundaries (a DST change
 * between then and now can move a tenant-local day by one).
 */

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

/** external id → last purchase (days ago), number of orders (3 days apart), amount per order. */
const FIXTURE: Record<string, { last: number; orders: number; amount: number }> = {
  A: { last: 5, orders: 12, amount: 100 }, //   spend 1200 → 555 Champions
  B: { last: 40, orders: 6, amount: 50 }, //    300 → 443 Loyal Customers
  C: { last: 75, orders: 3, amount: 30 }, //    90 → 333 Need Attention
  D: { last: 120, orders: 2, amount: 20 }, //   40 → 222 Hibernating
  E: { last: 400, orders: 1, amount: 5 }, //    5 → 111 Lost
  F: { last: 10, orders: 1, amount: 500 }, //   500 → 514 Promising
  G: { last: 10, orders: 1, amount: 1 }, //     1 → 511 New Customers
  H: { last: 400, orders: 12, amount: 110 }, // 1320 → 155 At Risk
  I: { last: 150, orders: 5, amount: 200 }, //  1000 → 244 Can't Lose Them
  J: { last: 45, orders: 2, amount: 10 }, //    20 → 422 Promising
};
const EXPECTED: Record<string, { code: string; segment: string; lifecycle: string; churn: number }> = {
  A: { code: '555', segment: 'Champions', lifecycle: 'champion', churn: 5 / 180 },
  B: { code: '443', segment: 'Loyal Customers', lifecycle: 'loyal', churn: 40 / 180 },
  C: { code: '333', segment: 'Need Attention', lifecycle: 'loyal', churn: 75 / 180 },
  D: { code: '222', segment: 'Hibernating', lifecycle: 'at_risk', churn: 120 / 180 },
  E: { code: '111', segment: 'Lost', lifecycle: 'lost', churn: 1 },
  F: { code: '514', segment: 'Promising', lifecycle: 'new', churn: 10 / 180 },
  G: { code: '511', segment: 'New Customers', lifecycle: 'new', churn: 10 / 180 },
  H: { code: '155', segment: 'At Risk', lifecycle: 'lost', churn: 1 },
  I: { code: '244', segment: "Can't Lose Them", lifecycle: 'at_risk', churn: 150 / 180 },
  J: { code: '422', segment: 'Promising', lifecycle: 'active', churn: 45 / 180 },
};

let t: TestContext;
let a: TestTenant;
let b: TestTenant;
const idOf = new Map<string, string>();

async function ingest(tenant: TestTenant, events: object[]) {
  const res = await ingestEvents(t.db, { tenantId: tenant.tenantId, config: t.config, actor: 'system' }, events);
  expect(res.rejected, JSON.stringify(res.results.filter((r) => r.status === 'rejected'))).toBe(0);
  return res;
}

beforeAll(async () => {
  t = await createTestApp();
  a = await createTestTenant(t.db, 'Analytics A');
  b = await createTestTenant(t.db, 'Analytics B');
  const events: object[] = [];
  for (const [ext, f] of Object.entries(FIXTURE)) {
    for (let k = 0; k < f.orders; k++) {
      events.push({
        id: `${ext}-o${k}`, type: 'order.completed', occurred_at: ago(f.last + 3 * k),
        customer: { external_id: ext }, data: { order_id: `${ext}-${k}`, total: f.amount },
      });
    }
  }
  // K: registered, never bought; opened 3 e-mails, clicked 1, and had 3 interactions in the last 90 days.
  events.push({ id: 'K-reg', type: 'user.registered', occurred_at: ago(20), customer: { external_id: 'K' }, data: {} });
  for (let k = 0; k < 3; k++) {
    events.push({ id: `K-open${k}`, type: 'email.opened', occurred_at: ago(2 + k), customer: { external_id: 'K' }, data: {} });
    events.push({
      id: `K-call${k}`, type: 'interaction.logged', occurred_at: ago(3 + k), customer: { external_id: 'K' },
      data: { type: 'call', subject: `call ${k}` },
    });
  }
  events.push({ id: 'K-click', type: 'email.clicked', occurred_at: ago(1), customer: { external_id: 'K' }, data: { url: 'https://x.test' } });
  await ingest(a, events);
  const rows = await t.db.rows<{ id: string; external_id: string }>(sql`
    SELECT id, external_id FROM customers WHERE tenant_id = ${a.tenantId}::uuid`);
  for (const r of rows) idOf.set(r.external_id, r.id);
  // tenant B has one buyer of its own
  await ingest(b, [{ id: 'b1', type: 'order.completed', occurred_at: ago(3), customer: { external_id: 'B-only' }, data: { order_id: 'b1', total: 77 } }]);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

const get = (url: string, headers: object) => t.app.inject({ method: 'GET', url: `/api/crm${url}`, headers: headers as any });

describe('GET /analytics/rfm', () => {
  it('answers seed 003 shape with exact segments and distributions', async () => {
    const res = await get('/analytics/rfm', a.headers);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.customers).toBe(10);
    expect(body.segments.map((s: any) => s.name)).toEqual([
      'Champions', 'Loyal Customers', 'Potential Loyalists', 'New Customers', 'Promising', 'Need Attention',
      'About to Sleep', 'At Risk', "Can't Lose Them", 'Hibernating', 'Lost',
    ]);
    const seg = Object.fromEntries(body.segments.map((s: any) => [s.name, s]));
    expect(seg.Champions).toEqual({ name: 'Champions', count: 1, percentage: 10, avgRevenue: 1200, totalRevenue: 1200 });
    expect(seg.Promising).toEqual({ name: 'Promising', count: 2, percentage: 20, avgRevenue: 260, totalRevenue: 520 });
    expect(seg['Potential Loyalists']).toEqual({ name: 'Potential Loyalists', count: 0, percentage: 0, avgRevenue: 0, totalRevenue: 0 });
    expect(seg['At Risk'].totalRevenue).toBe(1320);
    expect(body.distribution).toEqual({
      recency: { 1: 2, 2: 2, 3: 1, 4: 2, 5: 3 },
      frequency: { 1: 3, 2: 2, 3: 1, 4: 2, 5: 2 },
      monetary: { 1: 2, 2: 2, 3: 2, 4: 2, 5: 2 },
    });
  });
});

describe('POST /analytics/scores/refresh (no model: 10 buyers are too few)', () => {
  it('writes RFM, churn risk from days, lifecycle and engagement; leaves p_alive/predicted_clv NULL', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers: a.headers });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().model).toMatchObject({ status: 'unavailable', reason: 'not_enough_history' });
    const rows = await t.db.rows<any>(sql`
      SELECT external_id, rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, churn_risk, p_alive, predicted_clv,
             lifecycle_stage, engagement_score
      FROM customers WHERE tenant_id = ${a.tenantId}::uuid`);
    const by = Object.fromEntries(rows.map((r) => [r.external_id, r]));
    for (const [ext, e] of Object.entries(EXPECTED)) {
      const r = by[ext];
      expect({ ext, code: `${r.rfm_recency}${r.rfm_frequency}${r.rfm_monetary}`, segment: r.rfm_segment, lifecycle: r.lifecycle_stage })
        .toEqual({ ext, code: e.code, segment: e.segment, lifecycle: e.lifecycle });
      expect(r.churn_risk).toBeCloseTo(e.churn, 2);
      expect(r.p_alive).toBeNull();
      expect(r.predicted_clv).toBeNull();
    }
    expect(by.K).toMatchObject({ rfm_segment: null, rfm_recency: null, lifecycle_stage: null, churn_risk: null });
    // K: e-mail (3 opens + 2×1 click)/5 → 20, interactions 3/3 → 15
    expect(by.K.engagement_score).toBe(35);
    // A: 12 purchases in the last 38 days (Σ e^(−d/90) > 3) → the full 40 purchase points
    expect(by.A.engagement_score).toBe(40);
    // E: one purchase 400 days ago: outside the 365-day window → 0
    expect(by.E.engagement_score).toBe(0);
    for (const r of rows) {
      expect(r.engagement_score).toBeGreaterThanOrEqual(0);
      expect(r.engagement_score).toBeLessThanOrEqual(100);
    }
  });

  it('a lifecycle change writes lifecycle.changed to the timeline and customer.lifecycle_changed to the outbox', async () => {
    // E (lost) buys again today: 2 orders, last today → active
    await ingest(a, [{ id: 'E-back', type: 'order.completed', occurred_at: ago(0), customer: { external_id: 'E' }, data: { order_id: 'E-back', total: 5 } }]);
    const res = await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers: a.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json().lifecycle_changes).toBe(1);
    const e = idOf.get('E')!;
    const timeline = await t.db.rows<any>(sql`
      SELECT type, data FROM activities WHERE tenant_id = ${a.tenantId}::uuid AND customer_id = ${e}::uuid AND type = 'lifecycle.changed'`);
    expect(timeline).toEqual([{ type: 'lifecycle.changed', data: { old_stage: 'lost', new_stage: 'active' } }]);
    const outbox = await t.db.rows<any>(sql`
      SELECT type, payload FROM outbox
      WHERE tenant_id = ${a.tenantId}::uuid AND customer_id = ${e}::uuid AND type = 'customer.lifecycle_changed'`);
    expect(outbox).toEqual([{ type: 'customer.lifecycle_changed', payload: { customer_id: e, old_stage: 'lost', new_stage: 'active' } }]);
    // a second refresh changes nothing
    const again = await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers: a.headers });
    expect(again.json()).toMatchObject({ rfm_updated: 0, clv_updated: 0, lifecycle_changes: 0 });
    // each run is in the audit trail, by the key that asked for it, with its result
    const audited = await t.db.rows<any>(sql`
      SELECT actor, entity_id, after FROM audit_log WHERE tenant_id = ${a.tenantId}::uuid AND action = 'scores.refresh'
      ORDER BY seq DESC LIMIT 2`);
    expect(audited.map((r) => r.after.lifecycle_changes)).toEqual([0, 1]);
    for (const r of audited) {
      expect(r.actor).toMatch(/^key:[0-9a-f-]{36}$/);
      expect(r.entity_id).toBe(a.tenantId);
    }
  });
});

describe('CLV refusals', () => {
  it('GET /analytics/ltv answers 422 not_enough_history instead of numbers', async () => {
    const res = await get('/analytics/ltv?time_unit=week', a.headers);
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatchObject({ code: 'not_enough_history', details: { reason: 'not_enough_history', time_unit: 'week' } });
    expect(res.json().error.message).toMatch(/Not enough purchase history/);
  });

  it('GET /customers/{id}/clv answers 422 too', async () => {
    const res = await get(`/customers/${idOf.get('A')}/clv?as_of=2026-01-01`, a.headers);
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('not_enough_history');
  });

  it('validates the query', async () => {
    expect((await get('/analytics/ltv?time_unit=month', a.headers)).statusCode).toBe(400);
    expect((await get('/analytics/ltv?as_of=2026-13-01', a.headers)).statusCode).toBe(400);
    expect((await get(`/customers/${idOf.get('A')}/clv?horizon=-1`, a.headers)).statusCode).toBe(400);
    expect((await get(`/customers/${idOf.get('A')}/clv?horizon=5000`, a.headers)).statusCode).toBe(400);
    const future = await get('/analytics/ltv?as_of=2999-01-01', a.headers);
    expect(future.statusCode).toBe(400);
    expect(future.json().error.code).toBe('validation_failed');
  });
});

describe('roles', () => {
  it('a viewer reads analytics but cannot refresh scores or set acquisition costs', async () => {
    const viewer = await a.keyFor('viewer');
    expect((await get('/analytics/rfm', viewer)).statusCode).toBe(200);
    expect((await get('/analytics/ltv', viewer)).statusCode).toBe(422); // readable; the answer is the refusal
    expect((await get('/analytics/acquisition-costs', viewer)).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers: viewer })).statusCode).toBe(403);
    const employee = await a.keyFor('employee');
    const put = await t.app.inject({
      method: 'PUT', url: '/api/crm/analytics/acquisition-costs', headers: employee, payload: { costs: [{ source: 'x', cost: 1 }] },
    });
    expect(put.statusCode).toBe(403);
    expect((await get('/analytics/rfm', {})).statusCode).toBe(401);
  });

  it('acquisition costs: admin replaces them; bad bodies are 400', async () => {
    const bad = await t.app.inject({
      method: 'PUT', url: '/api/crm/analytics/acquisition-costs', headers: a.headers, payload: { costs: [{ source: 'x', cost: -1 }] },
    });
    expect(bad.statusCode).toBe(400);
    const dup = await t.app.inject({
      method: 'PUT', url: '/api/crm/analytics/acquisition-costs', headers: a.headers,
      payload: { costs: [{ source: 'x', cost: 1 }, { source: 'x', cost: 2 }] },
    });
    expect(dup.statusCode).toBe(400);
    const ok = await t.app.inject({
      method: 'PUT', url: '/api/crm/analytics/acquisition-costs', headers: a.headers, payload: { costs: [{ source: 'facebook', cost: 1500.5 }] },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().data).toMatchObject([{ source: 'facebook', cost: 1500.5 }]);
  });
});

describe('tenant isolation', () => {
  it("B never sees A's numbers", async () => {
    const rfm = (await get('/analytics/rfm', b.headers)).json();
    expect(rfm.customers).toBe(1);
    expect(rfm.segments.find((s: any) => s.count > 0)).toMatchObject({ name: 'New Customers', count: 1, totalRevenue: 77 });
    expect((await get('/analytics/acquisition-costs', b.headers)).json().data).toEqual([]);
  });

  it("A's customer CLV is 404 for B", async () => {
    const res = await get(`/customers/${idOf.get('A')}/clv`, b.headers);
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('customer_not_found');
  });

  it("B's refresh leaves A's scores alone", async () => {
    const before = await t.db.rows(sql`SELECT id, rfm_segment, lifecycle_stage, engagement_score FROM customers WHERE tenant_id = ${a.tenantId}::uuid ORDER BY id`);
    const res = await t.app.inject({ method: 'POST', url: '/api/crm/analytics/scores/refresh', headers: b.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tenant_id: b.tenantId, rfm_updated: 1 });
    const after = await t.db.rows(sql`SELECT id, rfm_segment, lifecycle_stage, engagement_score FROM customers WHERE tenant_id = ${a.tenantId}::uuid ORDER BY id`);
    expect(after).toEqual(before);
  });
});
