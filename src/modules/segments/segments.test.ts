import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, testConfig, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError, readAll, type Client } from '../customers/customers.test-helpers.js';
import type { JobDefinition, JobQueue } from '../../jobs/queue.js';
import { cronForInterval, defineSegmentJobs } from './segments.jobs.js';
import { reevaluateCustomers, refreshAllSegments } from './segments.service.js';
import { listOutbox } from '../outbox/outbox.repository.js';
import { ago, insertCustomer } from './segments.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const SEED_001 = {
  operator: 'and',
  conditions: [
    { field: 'total_spend', operator: '>=', value: 100 },
    { operator: 'or', conditions: [
      { field: 'last_purchase', operator: 'within', value: '90d' },
      { field: 'events_attended', operator: '>=', value: 3 },
    ] },
  ],
};

async function setup(): Promise<{ t: TestTenant; api: Client }> {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

async function createSegment(api: Client, body: Record<string, unknown>) {
  const res = await api.post('/segments', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

async function history(tenantId: string, segmentId: string) {
  return ctx.db.rows<{ customer_id: string; change: string }>(sql`
    SELECT customer_id, change FROM segment_membership_history
    WHERE tenant_id = ${tenantId}::uuid AND segment_id = ${segmentId}::uuid ORDER BY id`);
}

async function timeline(tenantId: string, customerId: string) {
  return ctx.db.rows<{ type: string; data: any; actor: string | null }>(sql`
    SELECT type, data, actor FROM activities
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid AND type LIKE 'segment.%' ORDER BY occurred_at, id`);
}

async function memberIds(api: Client, segmentId: string): Promise<string[]> {
  const { items } = await readAll(api, `/segments/${segmentId}/customers`, 2);
  return items.map((c) => c.id).sort();
}

describe('segments CRUD, preview, calculate', () => {
  it('creates a dynamic segment from seed 001 rules, materializes membership, lists, reads, updates, deletes', async () => {
    const { t, api } = await setup();
    const recent = await insertCustomer(ctx.db, t.tenantId, { total_spend: 150, last_purchase: ago(30), first_name: 'Recent' });
    const fan = await insertCustomer(ctx.db, t.tenantId, { total_spend: 300, last_purchase: ago(200), events_attended: 4 });
    const low = await insertCustomer(ctx.db, t.tenantId, { total_spend: 20, last_purchase: ago(2) });

    const seg = await createSegment(api, { name: 'Engaged spenders', description: 'seed 001', rules: SEED_001, auto_update: true });
    expect(seg).toMatchObject({ name: 'Engaged spenders', description: 'seed 001', type: 'dynamic', rules: SEED_001, auto_update: true, customer_count: 2 });
    expect(seg.last_refreshed_at).not.toBeNull();
    expect(await memberIds(api, seg.id)).toEqual([recent, fan].sort());

    // history and timeline for every entry
    expect((await history(t.tenantId, seg.id)).map((h) => h.change)).toEqual(['entered', 'entered']);
    const entries = await timeline(t.tenantId, recent);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ type: 'segment.entered', data: { segment_id: seg.id, segment_name: 'Engaged spenders' } });
    expect(entries[0].actor).toMatch(/^key:/);

    const got = await api.get(`/segments/${seg.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(seg);
    const list = await api.get('/segments');
    expect(list.json()).toMatchObject({ data: [{ id: seg.id, customer_count: 2 }], next_cursor: null });

    // a second segment with the same name is a conflict
    expectError(await api.post('/segments', { name: 'engaged SPENDERS', rules: SEED_001 }), 409, 'segment_exists');

    // narrowing the rules: the fan leaves
    const put = await api.put(`/segments/${seg.id}`, {
      name: 'Recent spenders', rules: { conditions: [{ type: 'total_spent', operator: 'gte', value: 100 }, { type: 'last_purchase', operator: 'within', value: '90d' }] },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ name: 'Recent spenders', description: 'seed 001', customer_count: 1 });
    expect(put.json().rules).toEqual({ operator: 'and', conditions: [
      { field: 'total_spend', operator: '>=', value: 100 }, { field: 'last_purchase', operator: 'within', value: '90d' },
    ] });
    expect(await memberIds(api, seg.id)).toEqual([recent]);
    expect((await timeline(t.tenantId, fan)).map((e) => e.type)).toEqual(['segment.entered', 'segment.exited']);
    expect(await timeline(t.tenantId, low)).toEqual([]);

    const del = await api.del(`/segments/${seg.id}`);
    expect(del.statusCode).toBe(204);
    expectError(await api.get(`/segments/${seg.id}`), 404, 'segment_not_found');
    expectError(await api.get(`/segments/${seg.id}/customers`), 404, 'segment_not_found');
    // the name is free again
    await createSegment(api, { name: 'Recent spenders', rules: SEED_001 });
  });

  it('answers 400 invalid_rule with the condition path, and changes nothing', async () => {
    const { api } = await setup();
    const bad = { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 1 }, { operator: 'or', conditions: [{ field: 'shoe_size', operator: '=', value: 9 }] }] };
    const res = await api.post('/segments', { name: 'Bad', rules: bad });
    expectError(res, 400, 'invalid_rule');
    expect(res.json().error.details).toMatchObject({ path: 'conditions[1].conditions[0].field' });
    const wrongType = await api.post('/segments', { name: 'Bad', rules: { conditions: [{ field: 'last_purchase', operator: 'within', value: 90 }] } });
    expectError(wrongType, 400, 'invalid_rule');
    expect(wrongType.json().error.details.path).toBe('conditions[0].value');
    expectError(await api.post('/segments', { name: 'Bad', type: 'dynamic' }), 400, 'invalid_rule');
    expectError(await api.post('/segments', { name: 'Bad', type: 'static', rules: SEED_001 }), 400, 'validation_failed');
    expectError(await api.post('/segments', { name: 'Bad', rules: SEED_001, colour: 'red' }), 400, 'validation_failed');
    expectError(await api.post('/segments/preview', { rules: { conditions: [{ field: 'city', operator: '>', value: 'a' }] } }), 400, 'invalid_rule');
    expect((await api.get('/segments')).json().data).toEqual([]);
  });

  it('previews count and sample without saving; calculate answers entered/exited/total', async () => {
    const { t, api } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await insertCustomer(ctx.db, t.tenantId, { total_spend: 100 + i, city: 'Cluj' }));
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 5, city: 'Cluj' });
    const preview = await api.post('/segments/preview', { rules: { conditions: [{ type: 'total_spent', operator: 'gte', value: 100 }] } });
    expect(preview.statusCode, preview.body).toBe(200);
    expect(preview.json().count).toBe(12);
    expect(preview.json().sample).toHaveLength(10);
    expect(ids).toContain(preview.json().sample[0].id);
    expect(preview.json().sample[0]).toHaveProperty('metrics.total_spend');
    expect((await api.get('/segments')).json().data).toEqual([]);

    const seg = await createSegment(api, { name: 'Big', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 110 }] } });
    expect(seg.customer_count).toBe(2);
    // data changes behind the segment's back (no re-evaluation): calculate catches up
    await ctx.db.run(sql`UPDATE customers SET total_spend = 500 WHERE tenant_id = ${t.tenantId}::uuid AND id = ${ids[0]}::uuid`);
    await ctx.db.run(sql`UPDATE customers SET total_spend = 1 WHERE tenant_id = ${t.tenantId}::uuid AND id = ${ids[11]}::uuid`);
    const calc = await api.post(`/segments/${seg.id}/calculate`);
    expect(calc.statusCode, calc.body).toBe(200);
    expect(calc.json()).toEqual({ entered: 1, exited: 1, total: 2 });
    expect((await api.post(`/segments/${seg.id}/calculate`)).json()).toEqual({ entered: 0, exited: 0, total: 2 });
  });

  it('segment membership as a rule: references must exist, cycles are refused, a used segment cannot be deleted', async () => {
    const { t, api } = await setup();
    const a = await insertCustomer(ctx.db, t.tenantId, { total_spend: 500, city: 'Cluj' });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 500, city: 'Iasi' });
    const big = await createSegment(api, { name: 'Big', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    const cluj = await createSegment(api, {
      name: 'Big in Cluj', rules: { conditions: [{ field: 'segment', operator: '=', value: big.id }, { field: 'city', operator: '=', value: 'Cluj' }] },
    });
    expect(cluj.customer_count).toBe(1);
    expect(await memberIds(api, cluj.id)).toEqual([a]);

    const missing = await api.post('/segments', { name: 'X', rules: { conditions: [{ field: 'segment', operator: '=', value: '00000000-0000-4000-8000-000000000000' }] } });
    expectError(missing, 400, 'invalid_rule');
    expect(missing.json().error.details.path).toBe('conditions[0].value');
    const cycle = await api.put(`/segments/${big.id}`, {
      name: 'Big', rules: { conditions: [{ field: 'segment', operator: 'not_in', value: [cluj.id] }] },
    });
    expectError(cycle, 400, 'invalid_rule');
    const self = await api.put(`/segments/${big.id}`, { name: 'Big', rules: { conditions: [{ field: 'segment', operator: '=', value: big.id }] } });
    expectError(self, 400, 'invalid_rule');
    expectError(await api.del(`/segments/${big.id}`), 409, 'segment_in_use');
  });
});

describe('static segments', () => {
  it('adds and removes members by hand, with history and timeline', async () => {
    const { t, api } = await setup();
    const a = await insertCustomer(ctx.db, t.tenantId);
    const b = await insertCustomer(ctx.db, t.tenantId);
    const seg = await createSegment(api, { name: 'Press list', type: 'manual' });
    expect(seg).toMatchObject({ type: 'static', rules: null, customer_count: 0 });

    const add = await api.post(`/segments/${seg.id}/members`, { customer_ids: [a, b, a] });
    expect(add.json()).toEqual({ added: 2, customer_count: 2 });
    expect((await api.post(`/segments/${seg.id}/members`, { customer_ids: [a] })).json()).toEqual({ added: 0, customer_count: 2 });
    const unknown = await api.post(`/segments/${seg.id}/members`, { customer_ids: [a, '00000000-0000-4000-8000-000000000000'] });
    expectError(unknown, 404, 'customer_not_found');

    const rm = await api.del(`/segments/${seg.id}/members`, { customer_ids: [b, '00000000-0000-4000-8000-000000000001'] });
    expect(rm.json()).toEqual({ removed: 1, customer_count: 1 });
    expect(await memberIds(api, seg.id)).toEqual([a]);
    // one statement writes both entries, in no particular order; the exit comes after them
    const changes = (await history(t.tenantId, seg.id)).map((h) => [h.customer_id, h.change]);
    expect(changes.slice(0, 2).sort()).toEqual([a, b].sort().map((id) => [id, 'entered']));
    expect(changes.slice(2)).toEqual([[b, 'exited']]);
    expect((await timeline(t.tenantId, b)).map((e) => e.type)).toEqual(['segment.entered', 'segment.exited']);
    // calculate on a static segment just counts
    expect((await api.post(`/segments/${seg.id}/calculate`)).json()).toEqual({ entered: 0, exited: 0, total: 1 });

    const dyn = await createSegment(api, { name: 'Dyn', rules: SEED_001 });
    expectError(await api.post(`/segments/${dyn.id}/members`, { customer_ids: [a] }), 409, 'conflict');
  });

  it('lists members newest first with a cursor', async () => {
    const { t, api } = await setup();
    const seg = await createSegment(api, { name: 'List', type: 'static' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = await insertCustomer(ctx.db, t.tenantId, { first_name: `C${i}` });
      ids.push(id);
      await api.post(`/segments/${seg.id}/members`, { customer_ids: [id] });
    }
    const { items, pages } = await readAll(api, `/segments/${seg.id}/customers`, 2);
    expect(pages).toBe(3);
    expect(items.map((c) => c.id)).toEqual([...ids].reverse());
    expect(items[0].segments).toEqual(['List']);
    expectError(await api.get(`/segments/${seg.id}/customers?cursor=bad`), 400, 'invalid_cursor');
  });
});

describe('keeping membership current', () => {
  it('reevaluateCustomers moves just the changed customers, across every auto-update segment', async () => {
    const { t, api } = await setup();
    const a = await insertCustomer(ctx.db, t.tenantId, { total_spend: 50 });
    const b = await insertCustomer(ctx.db, t.tenantId, { total_spend: 500 });
    const untouched = await insertCustomer(ctx.db, t.tenantId, { total_spend: 50 });
    const big = await createSegment(api, { name: 'Big', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    const small = await createSegment(api, { name: 'Small', rules: { conditions: [{ field: 'total_spend', operator: '<', value: 100 }] } });
    const manual = await createSegment(api, { name: 'Manual', rules: { conditions: [{ field: 'total_spend', operator: '<', value: 100 }] }, auto_update: false });
    const bigOfSmall = await createSegment(api, { name: 'Not small', rules: { conditions: [{ field: 'segment', operator: '!=', value: small.id }] } });
    expect([big.customer_count, small.customer_count, manual.customer_count, bigOfSmall.customer_count]).toEqual([1, 2, 2, 1]);

    await ctx.db.run(sql`UPDATE customers SET total_spend = CASE WHEN id = ${a}::uuid THEN 300 ELSE 10 END
      WHERE tenant_id = ${t.tenantId}::uuid AND id IN (${a}::uuid, ${b}::uuid, ${untouched}::uuid)`);
    const result = await reevaluateCustomers(ctx.db, t.tenantId, [a, b, a]);
    // a: Small→Big and enters Not small; b: Big→Small and leaves Not small (segment dependencies in order)
    expect(result).toEqual({ entered: 3, exited: 3 });
    expect(await memberIds(api, big.id)).toEqual([a]);
    expect(await memberIds(api, small.id)).toEqual([b, untouched].sort());
    expect(await memberIds(api, bigOfSmall.id)).toEqual([a]);
    // auto_update false: left alone
    expect(await memberIds(api, manual.id)).toEqual([a, untouched].sort());
    const counts = Object.fromEntries((await api.get('/segments')).json().data.map((s: any) => [s.name, s.customer_count]));
    expect(counts).toEqual({ Big: 1, Small: 2, Manual: 2, 'Not small': 1 });
    expect((await timeline(t.tenantId, a)).map((e) => `${e.type}:${e.data.segment_name}`)).toEqual(expect.arrayContaining([
      'segment.exited:Small', 'segment.entered:Big', 'segment.entered:Not small',
    ]));
    expect((await timeline(t.tenantId, a))[3].actor).toBe('system');
    // customer.segment_changed is published with the segments entered and left, before and after
    const published = (await listOutbox(ctx.db, t.tenantId, 1000)).filter((e) => e.type === 'customer.segment_changed');
    const lastForA = published.filter((e) => e.customer_id === a).at(-1)!;
    expect(lastForA.payload).toEqual({
      customer_id: a,
      entered: expect.arrayContaining([{ id: big.id, name: 'Big' }, { id: bigOfSmall.id, name: 'Not small' }]),
      exited: [{ id: small.id, name: 'Small' }],
      old_segments: [small.id, manual.id].sort(),
      new_segments: [big.id, manual.id, bigOfSmall.id].sort(),
    });
    expect(await reevaluateCustomers(ctx.db, t.tenantId, [])).toEqual({ entered: 0, exited: 0 });
    expect(await reevaluateCustomers(ctx.db, t.tenantId, [a, b])).toEqual({ entered: 0, exited: 0 });
  });

  it('the scheduled refresh applies only the difference (time-based drift)', async () => {
    const { t, api } = await setup();
    const stays = await insertCustomer(ctx.db, t.tenantId, { last_purchase: ago(10) });
    const drifts = await insertCustomer(ctx.db, t.tenantId, { last_purchase: ago(29) });
    const seg = await createSegment(api, { name: 'Recent', rules: { conditions: [{ field: 'last_purchase', operator: 'within', value: '30d' }] } });
    const lapsed = await createSegment(api, { name: 'Lapsed', rules: { conditions: [{ field: 'last_purchase', operator: 'not_within', value: '30d' }] } });
    expect(seg.customer_count).toBe(2);
    const before = await ctx.db.one<{ added_at: Date }>(sql`
      SELECT added_at FROM segment_members WHERE tenant_id = ${t.tenantId}::uuid AND segment_id = ${seg.id}::uuid AND customer_id = ${stays}::uuid`);

    // time passes for one customer: their purchase is now 31 days old
    await ctx.db.run(sql`UPDATE customers SET last_purchase = ${ago(31)}::timestamptz WHERE tenant_id = ${t.tenantId}::uuid AND id = ${drifts}::uuid`);
    const r = await refreshAllSegments(ctx.db, { tenantId: t.tenantId });
    expect(r).toEqual({ segments: 2, entered: 1, exited: 1 });
    expect(await memberIds(api, seg.id)).toEqual([stays]);
    expect(await memberIds(api, lapsed.id)).toEqual([drifts]);
    const after = await ctx.db.one<{ added_at: Date }>(sql`
      SELECT added_at FROM segment_members WHERE tenant_id = ${t.tenantId}::uuid AND segment_id = ${seg.id}::uuid AND customer_id = ${stays}::uuid`);
    expect(after!.added_at).toEqual(before!.added_at);
    expect((await history(t.tenantId, seg.id)).map((h) => `${h.change}:${h.customer_id === stays ? 'stays' : 'drifts'}`).sort())
      .toEqual(['entered:drifts', 'entered:stays', 'exited:drifts']);
    // nothing changed: nothing written
    expect(await refreshAllSegments(ctx.db, { tenantId: t.tenantId })).toEqual({ segments: 2, entered: 0, exited: 0 });
    expect(await history(t.tenantId, seg.id)).toHaveLength(3);
  });

  it('schedules the refresh from SEGMENT_REFRESH_INTERVAL', async () => {
    expect(cronForInterval(60)).toBe('0 * * * *');
    expect(cronForInterval(15)).toBe('*/15 * * * *');
    expect(cronForInterval(180)).toBe('0 */3 * * *');
    expect(cronForInterval(1440)).toBe('0 0 * * *');
    const defined: JobDefinition<any>[] = [];
    const queue = { define: (d: JobDefinition<any>) => defined.push(d) } as unknown as JobQueue;
    defineSegmentJobs(queue, { db: ctx.db, config: testConfig({ SEGMENT_REFRESH_INTERVAL: '30' }) });
    expect(defined.map((d) => [d.name, d.cron])).toEqual([['segments.refresh', '*/30 * * * *']]);
    // the handler refreshes every tenant's auto-update segments
    const { t, api } = await setup();
    const seg = await createSegment(api, { name: 'Rich', rules: { conditions: [{ field: 'total_spend', operator: '>', value: 10 }] } });
    const id = await insertCustomer(ctx.db, t.tenantId, { total_spend: 50 });
    await defined[0].handler({});
    expect(await memberIds(api, seg.id)).toEqual([id]);
  });

  it('re-evaluation, calculation and a rule change running at once all complete and converge', async () => {
    const { t, api } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await insertCustomer(ctx.db, t.tenantId, { total_spend: i * 10 }));
    const seg = await createSegment(api, { name: 'Half', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 200 }] } });
    await createSegment(api, { name: 'Other', rules: { conditions: [{ field: 'total_spend', operator: '<', value: 200 }] } });
    await ctx.db.run(sql`UPDATE customers SET total_spend = 400 - total_spend WHERE tenant_id = ${t.tenantId}::uuid`);
    const batches = [0, 1, 2, 3].map((k) => ids.filter((_, i) => i % 4 === k));
    await Promise.all([
      ...batches.map((b) => ctx.db.transaction((tx) => reevaluateCustomers(tx, t.tenantId, b))),
      api.post(`/segments/${seg.id}/calculate`).then((r) => expect(r.statusCode, r.body).toBe(200)),
      api.put(`/segments/${seg.id}`, { name: 'Half', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 250 }] } })
        .then((r) => expect(r.statusCode, r.body).toBe(200)),
    ]);
    await api.post(`/segments/${seg.id}/calculate`);
    const want = (await ctx.db.rows<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND total_spend >= 250 ORDER BY id`)).map((r) => r.id);
    expect(await memberIds(api, seg.id)).toEqual(want);
    // every member entered once more than it left; non-members balance out
    const rows = await history(t.tenantId, seg.id);
    const net = new Map<string, number>();
    for (const h of rows) net.set(h.customer_id, (net.get(h.customer_id) ?? 0) + (h.change === 'entered' ? 1 : -1));
    for (const id of ids) expect(net.get(id) ?? 0).toBe(want.includes(id) ? 1 : 0);
  });
});

describe('roles and tenant isolation', () => {
  it('viewers read and preview; employees write and remove members; only admins delete segments', async () => {
    const { t, api } = await setup();
    const c = await insertCustomer(ctx.db, t.tenantId);
    const seg = await createSegment(api, { name: 'S', type: 'static' });
    const viewer = client(ctx, await t.keyFor('viewer'));
    const employee = client(ctx, await t.keyFor('employee'));
    expect((await viewer.get('/segments')).statusCode).toBe(200);
    expect((await viewer.get(`/segments/${seg.id}`)).statusCode).toBe(200);
    expect((await viewer.get(`/segments/${seg.id}/customers`)).statusCode).toBe(200);
    expect((await viewer.post('/segments/preview', { rules: SEED_001 })).statusCode).toBe(200);
    expectError(await viewer.post('/segments', { name: 'V', rules: SEED_001 }), 403, 'forbidden');
    expectError(await viewer.post(`/segments/${seg.id}/calculate`), 403, 'forbidden');
    expectError(await viewer.post(`/segments/${seg.id}/members`, { customer_ids: [c] }), 403, 'forbidden');
    expectError(await viewer.del(`/segments/${seg.id}/members`, { customer_ids: [c] }), 403, 'forbidden');
    expectError(await viewer.put(`/segments/${seg.id}`, { name: 'x' }), 403, 'forbidden');

    expect((await employee.post(`/segments/${seg.id}/members`, { customer_ids: [c] })).statusCode).toBe(200);
    expect((await employee.del(`/segments/${seg.id}/members`, { customer_ids: [c] })).statusCode).toBe(200);
    expect((await employee.put(`/segments/${seg.id}`, { name: 'S2' })).statusCode).toBe(200);
    expect((await employee.post('/segments', { name: 'E', rules: SEED_001 })).statusCode).toBe(201);
    expectError(await employee.del(`/segments/${seg.id}`), 403, 'forbidden');
    expect((await api.del(`/segments/${seg.id}`)).statusCode).toBe(204);
  });

  it('another tenant gets 404 for every segment route and never sees members', async () => {
    const { t: a, api: apiA } = await setup();
    const { t: b, api: apiB } = await setup();
    const ca = await insertCustomer(ctx.db, a.tenantId, { total_spend: 1000 });
    const cb = await insertCustomer(ctx.db, b.tenantId, { total_spend: 1000 });
    const dyn = await createSegment(apiA, { name: 'Whales', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    const stat = await createSegment(apiA, { name: 'Static', type: 'static' });
    await apiA.post(`/segments/${stat.id}/members`, { customer_ids: [ca] });
    expect(dyn.customer_count).toBe(1);

    for (const id of [dyn.id, stat.id]) {
      expectError(await apiB.get(`/segments/${id}`), 404, 'segment_not_found');
      expectError(await apiB.put(`/segments/${id}`, { name: 'mine' }), 404, 'segment_not_found');
      expectError(await apiB.get(`/segments/${id}/customers`), 404, 'segment_not_found');
      expectError(await apiB.post(`/segments/${id}/calculate`), 404, 'segment_not_found');
      expectError(await apiB.post(`/segments/${id}/members`, { customer_ids: [cb] }), 404, 'segment_not_found');
      expectError(await apiB.del(`/segments/${id}/members`, { customer_ids: [ca] }), 404, 'segment_not_found');
      expectError(await apiB.del(`/segments/${id}`), 404, 'segment_not_found');
      expectError(await apiB.get(`/customers?segment_id=${id}`), 404, 'segment_not_found');
    }
    expect((await apiB.get('/segments')).json().data).toEqual([]);
    // B's rules cannot name A's segment, and B's segments only ever hold B's customers
    expectError(await apiB.post('/segments', { name: 'Spy', rules: { conditions: [{ field: 'segment', operator: '=', value: dyn.id }] } }), 400, 'invalid_rule');
    const own = await createSegment(apiB, { name: 'Whales', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    expect(await memberIds(apiB, own.id)).toEqual([cb]);
    const stB = await createSegment(apiB, { name: 'Static', type: 'static' });
    expectError(await apiB.post(`/segments/${stB.id}/members`, { customer_ids: [ca] }), 404, 'customer_not_found');
    const preview = await apiB.post('/segments/preview', { rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    expect(preview.json().count).toBe(1);
    expect(preview.json().sample.map((c: any) => c.id)).toEqual([cb]);
    // A's re-evaluation with B's customer id touches nothing
    expect(await reevaluateCustomers(ctx.db, a.tenantId, [cb])).toEqual({ entered: 0, exited: 0 });
    expect(await memberIds(apiA, dyn.id)).toEqual([ca]);
    expect((await apiA.get(`/segments/${stat.id}`)).json().customer_count).toBe(1);
  });
});

describe('customers: segment_id filter and profile segments', () => {
  it('filters the list by membership and names the segments on the profile', async () => {
    const { t, api } = await setup();
    const big = await insertCustomer(ctx.db, t.tenantId, { total_spend: 900, first_name: 'Big' });
    const small = await insertCustomer(ctx.db, t.tenantId, { total_spend: 9, first_name: 'Small' });
    const whales = await createSegment(api, { name: 'Whales', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } });
    const vip = await createSegment(api, { name: 'A-list', type: 'static' });
    await api.post(`/segments/${vip.id}/members`, { customer_ids: [big] });

    const list = await api.get(`/customers?segment_id=${whales.id}`);
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data.map((c: any) => c.id)).toEqual([big]);
    expect(list.json().data[0].segments).toEqual(['A-list', 'Whales']);
    const empty = await createSegment(api, { name: 'Nobody', type: 'static' });
    expect((await api.get(`/customers?segment_id=${empty.id}`)).json().data).toEqual([]);
    expectError(await api.get('/customers?segment_id=00000000-0000-4000-8000-000000000000'), 404, 'segment_not_found');

    expect((await api.get(`/customers/${big}`)).json().segments).toEqual(['A-list', 'Whales']);
    expect((await api.get(`/customers/${small}`)).json().segments).toEqual([]);
    const all = await api.get('/customers');
    expect(Object.fromEntries(all.json().data.map((c: any) => [c.id, c.segments]))).toEqual({ [big]: ['A-list', 'Whales'], [small]: [] });
    await api.del(`/segments/${vip.id}`);
    expect((await api.get(`/customers/${big}`)).json().segments).toEqual(['Whales']);
  });
});
