import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { ingestEvents } from '../ingest/ingest.service.js';
import { ingestAndSegment } from '../ingest/ingest.pipeline.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { randomUUID } from 'node:crypto';
import { applyScoreChanges, computeMonetaryCuts, dropScoreRun, saveModel, stageScoreChanges, type ScoreChangeKey } from './analytics.repository.js';
import { refreshQueuedScores, refreshScores } from './scores.service.js';

/*
 * The fixture is too small for a BG/NBD fit (the fit itself is tested in clv.model.test.ts and
 * analytics.cdnow.test.ts); the queued refresh predicts with a stored model, as after a full refresh.
 *
 * The full refresh (computed in one statement, written in slices: same result whatever the slice size; a row
 * written between the computation and the write is left to that write), and the refresh of just the customers an
 * ingestion touched (queued by the pipeline, drained by refreshQueuedScores): lifecycle changes reach the
 * timeline and the outbox, segments naming scores follow, other tenants are untouched.
 */

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

let t: TestContext;
let a: TestTenant;
let b: TestTenant;
const idOf = new Map<string, string>();

/** Deterministic PRNG (mulberry32), so the fixture is the same on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x6d2b79f5) >>> 0;
    let r = Math.imul(x ^ (x >>> 15), 1 | x);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 80 buyers drawn from a BG/NBD-like process (first purchase 30–700 days ago, a purchase rate each, a dropout
 * chance after every purchase), so the model has dropouts to find, and one registered non-buyer.
 */
function history(prefix: string): object[] {
  const events: object[] = [];
  for (let i = 0; i < 80; i++) {
    const rnd = prng(1000 + i);
    const rate = 1 / (15 + rnd() * 100);
    const dropout = 0.1 + rnd() * 0.4;
    let at = 30 + Math.floor(rnd() * 670);
    for (let k = 0; at > 0; k++) {
      events.push({
        id: `${prefix}${i}-o${k}`, type: 'order.completed', occurred_at: ago(at),
        customer: { external_id: `${prefix}${i}` }, data: { order_id: `${prefix}${i}-${k}`, total: 10 + Math.floor(rnd() * 90) },
      });
      if (rnd() < dropout) break;
      at -= 1 + Math.floor(-Math.log(1 - rnd()) / rate);
    }
  }
  events.push({ id: `${prefix}reg`, type: 'user.registered', occurred_at: ago(20), customer: { external_id: `${prefix}none` }, data: {} });
  return events;
}

const SCORES = sql.raw(`external_id, rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, churn_risk::float8 AS churn_risk,
  p_alive::float8 AS p_alive, predicted_clv::float8 AS predicted_clv, lifecycle_stage, engagement_score`);

async function scores(tenantId: string) {
  return t.db.rows<Record<string, unknown>>(sql`SELECT ${SCORES} FROM customers WHERE tenant_id = ${tenantId}::uuid ORDER BY external_id`);
}

async function queued(tenantId: string): Promise<string[]> {
  const rows = await t.db.rows<{ customer_id: string }>(sql`
    SELECT customer_id FROM score_refresh_queue WHERE tenant_id = ${tenantId}::uuid ORDER BY customer_id`);
  return rows.map((r) => r.customer_id);
}

beforeAll(async () => {
  t = await createTestApp();
  a = await createTestTenant(t.db, 'Scores A');
  b = await createTestTenant(t.db, 'Scores B');
  for (const [tenant, prefix] of [[a, 'a'], [b, 'b']] as const) {
    const res = await ingestEvents(t.db, { tenantId: tenant.tenantId, config: t.config, actor: 'system' }, history(prefix));
    expect(res.rejected).toBe(0);
  }
  const rows = await t.db.rows<{ id: string; external_id: string }>(sql`SELECT id, external_id FROM customers WHERE tenant_id = ${a.tenantId}::uuid`);
  for (const r of rows) idOf.set(r.external_id, r.id);
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('full refresh', () => {
  it('writes the same scores whether a sweep spans the table or one page', async () => {
    const one = await refreshScores(t.db, t.config, a.tenantId);
    expect(one.scores_updated).toBe(81);
    const single = await scores(a.tenantId);
    expect(single.filter((r) => r.rfm_segment !== null)).toHaveLength(80);
    await t.db.run(sql`
      UPDATE customers SET rfm_recency = NULL, rfm_frequency = NULL, rfm_monetary = NULL, rfm_segment = NULL, churn_risk = NULL,
        p_alive = NULL, predicted_clv = NULL, lifecycle_stage = NULL, engagement_score = NULL
      WHERE tenant_id = ${a.tenantId}::uuid`);
    const sliced = await refreshScores(t.db, t.config, a.tenantId, { sweepPages: 1 });
    expect(sliced.scores_updated).toBe(81);
    expect(await scores(a.tenantId)).toEqual(single);
    // monetary quintiles: 16 buyers each (80 buyers), as ntile(5) gives
    const m = await t.db.rows<{ m: number; n: number }>(sql`
      SELECT rfm_monetary AS m, count(*)::int AS n FROM customers WHERE tenant_id = ${a.tenantId}::uuid AND rfm_monetary IS NOT NULL
      GROUP BY 1 ORDER BY 1`);
    expect(m).toEqual([1, 2, 3, 4, 5].map((q) => ({ m: q, n: 16 })));
    const again = await refreshScores(t.db, t.config, a.tenantId, { sweepPages: 1 });
    expect(again).toMatchObject({ scores_updated: 0, lifecycle_changes: 0 });
    expect(Object.keys(again.timings_ms ?? {}).sort()).toEqual(['compute', 'fit', 'predict', 'statistics', 'vip', 'write']);
  });

  it('leaves a row written after its scores were computed to that write', async () => {
    const [x, y] = [idOf.get('a3')!, idOf.get('a4')!];
    await t.db.run(sql`UPDATE customers SET engagement_score = NULL, rfm_segment = NULL WHERE id IN (${x}::uuid, ${y}::uuid)`);
    const runId = randomUUID();
    try {
      const cuts = await computeMonetaryCuts(t.db, a.tenantId);
      expect(await stageScoreChanges(t.db, a.tenantId, runId, { cuts, churnThresholdDays: t.config.churnThresholdDays, sweepPages: 1000 })).toBe(2);
      // an ingestion (or a user) writes x after the computation read it
      await t.db.run(sql`UPDATE customers SET first_name = 'Later' WHERE id = ${x}::uuid`);
      const written: string[] = [];
      let after: ScoreChangeKey | null = null;
      for (let step = 0; step < 3; step++) {
        const r: Awaited<ReturnType<typeof applyScoreChanges>> = await t.db.transaction((tx) => applyScoreChanges(tx, a.tenantId, runId, after));
        written.push(...r.written.map((w) => w.id));
        after = r.last;
        if (!after) break;
      }
      expect(after).toBeNull();
      expect(written).toEqual([y]);
    } finally {
      await dropScoreRun(t.db, runId);
    }
    const after = await t.db.rows<{ id: string; rfm_segment: string | null }>(sql`
      SELECT id, rfm_segment FROM customers WHERE id IN (${x}::uuid, ${y}::uuid)`);
    expect(after.find((r) => r.id === x)?.rfm_segment).toBeNull();
    expect(after.find((r) => r.id === y)?.rfm_segment).not.toBeNull();
    expect(await t.db.one(sql`SELECT 1 FROM score_refresh_changes WHERE run_id = ${runId}::uuid`)).toBeUndefined();
    // the next full refresh catches x up
    await refreshScores(t.db, t.config, a.tenantId);
    expect((await t.db.one<{ s: string | null }>(sql`SELECT rfm_segment AS s FROM customers WHERE id = ${x}::uuid`))?.s).not.toBeNull();
  });
});

describe('refresh after ingestion', () => {
  it('queues the touched customers; the drain refreshes just them, with lifecycle events and segment membership', async () => {
    await refreshScores(t.db, t.config, a.tenantId);
    await refreshScores(t.db, t.config, b.tenantId);
    // the model as a full refresh stores it (CDNOW's published parameters): the queued refresh predicts with it
    await saveModel(t.db, a.tenantId, {
      time_unit: 'week', as_of: new Date().toISOString().slice(0, 10),
      params: { bgnbd: { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 }, gamma_gamma: { p: 6.25, q: 3.74, v: 15.44, log_likelihood: -4055.9, customers: 946 }, repeat_customers: 946 },
      log_likelihood: -9582.4, customers: 2357,
    });
    // the non-buyer has no lifecycle; a segment of "new" customers is empty of it
    const seg = await t.app.inject({
      method: 'POST', url: '/api/crm/segments', headers: a.headers,
      payload: { name: 'New customers', rules: { operator: 'and', conditions: [{ field: 'lifecycle_stage', operator: '=', value: 'new' }] } },
    });
    expect(seg.statusCode, seg.body).toBe(201);
    const segmentId = seg.json().id as string;
    const none = idOf.get('anone')!;
    const before = await scores(a.tenantId);
    const bBefore = await scores(b.tenantId);

    const res = await ingestAndSegment(t.db, { tenantId: a.tenantId, config: t.config, actor: 'system' }, [
      { id: 'anone-first', type: 'order.completed', occurred_at: ago(0), customer: { external_id: 'anone' }, data: { order_id: 'anone-1', total: 42 } },
    ]);
    expect(res.accepted).toBe(1);
    expect(await queued(a.tenantId)).toEqual([none]);
    // nothing refreshed yet
    expect((await scores(a.tenantId)).find((r) => r.external_id === 'anone')).toMatchObject({ lifecycle_stage: null, rfm_segment: null });

    await refreshQueuedScores(t.db, t.config, { tenantId: a.tenantId });
    expect(await queued(a.tenantId)).toEqual([]);
    const after = await scores(a.tenantId);
    const row = after.find((r) => r.external_id === 'anone')!;
    expect(row).toMatchObject({ rfm_recency: 5, rfm_frequency: 1, lifecycle_stage: 'new' });
    expect(row.p_alive).toBe(1); // one purchase: BG/NBD says alive
    expect(row.predicted_clv).toBeGreaterThan(0);
    // every other customer of A is as before, B is untouched
    expect(after.filter((r) => r.external_id !== 'anone')).toEqual(before.filter((r) => r.external_id !== 'anone'));
    expect(await scores(b.tenantId)).toEqual(bBefore);
    // the first classification (NULL → new) is not a lifecycle change; the segment follows the new score
    const members = await t.app.inject({ method: 'GET', url: `/api/crm/segments/${segmentId}/customers`, headers: a.headers });
    expect(members.json().data.map((c: { id: string }) => c.id)).toContain(none);
    const changed = await t.db.rows(sql`
      SELECT type FROM outbox WHERE tenant_id = ${a.tenantId}::uuid AND customer_id = ${none}::uuid AND type = 'customer.segment_changed'`);
    expect(changed).toHaveLength(1);
  });

  it('a stage change after ingestion reaches the timeline and customer.lifecycle_changed', async () => {
    const order = (id: string) => ({ id, type: 'order.completed', occurred_at: ago(0), customer: { external_id: 'afresh' }, data: { order_id: id, total: 15 } });
    // a new customer's first order: classified "new" (a first classification, no event)
    await ingestAndSegment(t.db, { tenantId: a.tenantId, config: t.config, actor: 'system' }, [order('afresh-1')]);
    await refreshQueuedScores(t.db, t.config, { tenantId: a.tenantId });
    const [{ id }] = await t.db.rows<{ id: string }>(sql`SELECT id FROM customers WHERE tenant_id = ${a.tenantId}::uuid AND external_id = 'afresh'`);
    expect((await scores(a.tenantId)).find((r) => r.external_id === 'afresh')).toMatchObject({ lifecycle_stage: 'new', rfm_frequency: 1 });
    // a second order: active
    await ingestAndSegment(t.db, { tenantId: a.tenantId, config: t.config, actor: 'system' }, [order('afresh-2')]);
    await refreshQueuedScores(t.db, t.config, { tenantId: a.tenantId });
    expect((await scores(a.tenantId)).find((r) => r.external_id === 'afresh')).toMatchObject({ lifecycle_stage: 'active', rfm_frequency: 2 });
    const timeline = await t.db.rows(sql`
      SELECT data FROM activities WHERE tenant_id = ${a.tenantId}::uuid AND customer_id = ${id}::uuid AND type = 'lifecycle.changed'`);
    expect(timeline).toEqual([{ data: { old_stage: 'new', new_stage: 'active' } }]);
    const events = await t.db.rows(sql`
      SELECT payload FROM outbox WHERE tenant_id = ${a.tenantId}::uuid AND customer_id = ${id}::uuid AND type = 'customer.lifecycle_changed'`);
    expect(events).toEqual([{ payload: { customer_id: id, old_stage: 'new', new_stage: 'active' } }]);
  });

  it('an empty queue is a no-op; rejected events queue nobody', async () => {
    expect(await refreshQueuedScores(t.db, t.config, { tenantId: a.tenantId })).toBe(0);
    const res = await ingestAndSegment(t.db, { tenantId: a.tenantId, config: t.config, actor: 'system' }, [
      { id: 'bad', type: 'order.completed', occurred_at: 'not a date', customer: { external_id: 'a1' }, data: {} },
    ]);
    expect(res.rejected).toBe(1);
    expect(await queued(a.tenantId)).toEqual([]);
  });
});
