import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError, type Client } from '../customers/customers.test-helpers.js';
import { insertOperation } from './bulk.repository.js';
import { BATCH_SIZE, runBulk } from './bulk.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function tenantApi() {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

/** Starts a bulk operation and waits until its row says it finished. */
async function run(api: Client, body: unknown) {
  const res = await api.post('/bulk', body);
  expect(res.statusCode, res.body).toBe(202);
  const { id, status } = res.json();
  expect(status).toBe('queued');
  for (let i = 0; i < 1000; i++) {
    const got = await api.get(`/bulk/${id}`);
    expect(got.statusCode).toBe(200);
    const op = got.json();
    if (op.status === 'completed' || op.status === 'failed') return op;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('bulk operation did not finish');
}

const tagsOf = async (t: TestTenant, id: string) =>
  (await ctx.db.one<{ tags: string[] }>(sql`SELECT tags FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND id = ${id}::uuid`))!.tags;
const outbox = (t: TestTenant, type: string) =>
  ctx.db.rows<{ customer_id: string; payload: any }>(sql`
    SELECT customer_id, payload FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND type = ${type} ORDER BY seq`);
const audits = (t: TestTenant, action: string) =>
  ctx.db.rows<{ entity_id: string; before: any; after: any; actor: string }>(sql`
    SELECT entity_id, before, after, actor FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND action = ${action}`);

describe('bulk operations', () => {
  it('tags customers by id, reporting unknown ids, with timeline, events, audit and segment re-evaluation', async () => {
    const { t, api } = await tenantApi();
    const seg = await api.post('/segments', { name: 'VIPs', rules: { conditions: [{ field: 'tags', operator: 'contains', value: 'vip' }] } });
    expect(seg.statusCode, seg.body).toBe(201);
    const a = (await api.create({ email: 'a@bulk.ro', tags: ['x'] })).id;
    const b = (await api.create({ email: 'b@bulk.ro', tags: ['vip'] })).id;
    const c = (await api.create({ email: 'c@bulk.ro' })).id;
    const unknown = '00000000-0000-4000-8000-000000000000';
    const op = await run(api, { action: 'tag', params: { tags: ['VIP', 'gala'] }, target: { ids: [a, b, c, unknown] } });
    expect(op).toMatchObject({ status: 'completed', total: 4, processed: 4, succeeded: 3, failed: 1 });
    expect(op.report.errors).toEqual([{ id: unknown, code: 'customer_not_found', message: expect.any(String) }]);
    expect(await tagsOf(t, a)).toEqual(['x', 'vip', 'gala']);
    expect(await tagsOf(t, b)).toEqual(['vip', 'gala']);
    const updated = await outbox(t, 'customer.updated');
    expect(updated.map((e) => e.customer_id).sort()).toEqual([a, b, c].sort());
    expect(updated.find((e) => e.customer_id === a)!.payload.changes.tags).toEqual({ from: ['x'], to: ['x', 'vip', 'gala'] });
    const audit = await audits(t, 'customer.bulk_tag');
    expect(audit).toHaveLength(3);
    expect(audit.find((x) => x.entity_id === c)).toMatchObject({ before: { tags: [] }, after: { tags: ['vip', 'gala'] }, actor: expect.stringMatching(/^key:/) });
    const timeline = (await api.get(`/customers/${c}/timeline?type=profile.updated`)).json().data;
    expect(timeline[0].summary).toContain('Tagged vip, gala');
    const members = (await api.get(`/segments/${seg.json().id}/customers`)).json().data.map((x: { id: string }) => x.id);
    expect(members.sort()).toEqual([a, b, c].sort());
    // running the same tag again changes nothing and publishes nothing
    await run(api, { action: 'tag', params: { tags: ['vip'] }, target: { ids: [a] } });
    expect(await outbox(t, 'customer.updated')).toHaveLength(3);
  });

  it('untags and updates fields of the customers a filter selects, in batches', async () => {
    const { t, api } = await tenantApi();
    const n = BATCH_SIZE + 20;
    await ctx.db.run(sql`
      INSERT INTO customers (tenant_id, email, city, tags)
      SELECT ${t.tenantId}::uuid, 'c' || i || '@bulk.ro', CASE WHEN i % 2 = 0 THEN 'Iași' ELSE 'Cluj' END, ARRAY['promo', 'x']
      FROM generate_series(1, ${n}::int) AS i`);
    const untag = await run(api, { action: 'untag', params: { tags: ['promo'] }, target: { filter: { tags: 'promo' } } });
    expect(untag).toMatchObject({ status: 'completed', total: n, processed: n, succeeded: n, failed: 0 });
    const left = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND 'promo' = ANY(tags)`);
    expect(left!.n).toBe(0);
    const status = await run(api, { action: 'update_field', params: { field: 'status', value: 'inactive' }, target: { filter: { city: 'Iași' } } });
    expect(status).toMatchObject({ status: 'completed', processed: n / 2, succeeded: n / 2 });
    const byStatus = await ctx.db.rows<{ status: string; n: number }>(sql`
      SELECT status, count(*)::int AS n FROM customers WHERE tenant_id = ${t.tenantId}::uuid GROUP BY status ORDER BY status`);
    expect(byStatus).toEqual([{ status: 'active', n: n / 2 }, { status: 'inactive', n: n / 2 }]);
    const custom = await run(api, { action: 'update_field', params: { field: 'custom.newsletter', value: 'weekly' }, target: { filter: { city: 'Cluj', status: 'active' } } });
    expect(custom.succeeded).toBe(n / 2);
    const cf = await ctx.db.one<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND custom_fields ->> 'newsletter' = 'weekly'`);
    expect(cf!.n).toBe(n / 2);
    expect((await audits(t, 'customer.bulk_update_field')).length).toBe(n);
  });

  it('adds customers to a static segment, and targets a segment\'s members', async () => {
    const { t, api } = await tenantApi();
    const a = (await api.create({ email: 'a@seg.ro' })).id;
    const b = (await api.create({ email: 'b@seg.ro' })).id;
    const stat = (await api.post('/segments', { name: 'Picked', type: 'static' })).json();
    const op = await run(api, { action: 'add_to_segment', params: { segment_id: stat.id }, target: { ids: [a, b] } });
    expect(op).toMatchObject({ status: 'completed', succeeded: 2 });
    expect((await api.get(`/segments/${stat.id}`)).json().customer_count).toBe(2);
    const tagged = await run(api, { action: 'tag', params: { tags: ['picked'] }, target: { segment_id: stat.id } });
    expect(tagged).toMatchObject({ total: 2, succeeded: 2 });
    expect(await tagsOf(t, a)).toEqual(['picked']);
    const dyn = (await api.post('/segments', { name: 'Dyn', rules: { conditions: [{ field: 'total_orders', operator: '>=', value: 1 }] } })).json();
    expectError(await api.post('/bulk', { action: 'add_to_segment', params: { segment_id: dyn.id }, target: { ids: [a] } }), 409, 'conflict');
  });

  it('deletes only with an admin key, publishing customer.deleted', async () => {
    const { t, api } = await tenantApi();
    const a = (await api.create({ email: 'a@del.ro', external_id: 'ext_a' })).id;
    const b = (await api.create({ email: 'b@del.ro' })).id;
    const employee = client(ctx, await t.keyFor('employee'));
    expectError(await employee.post('/bulk', { action: 'delete', target: { ids: [a, b] } }), 403, 'forbidden');
    expect((await api.get(`/customers/${a}`)).statusCode).toBe(200);
    const op = await run(api, { action: 'delete', target: { ids: [a, b] } });
    expect(op).toMatchObject({ status: 'completed', succeeded: 2 });
    expectError(await api.get(`/customers/${a}`), 404, 'customer_not_found');
    const deleted = await outbox(t, 'customer.deleted');
    expect(deleted.map((e) => e.payload)).toEqual(expect.arrayContaining([{ customer_id: a, external_id: 'ext_a' }, { customer_id: b, external_id: null }]));
    const audit = await audits(t, 'customer.bulk_delete');
    expect(audit.find((x) => x.entity_id === a)!.before.email).toBe('a@del.ro');
    // an employee may still tag
    expect((await employee.post('/bulk', { action: 'tag', params: { tags: ['x'] }, target: { ids: [a] } })).statusCode).toBe(202);
  });

  it('a redelivered job resumes after the last committed batch and never applies a batch twice', async () => {
    const { t, api } = await tenantApi();
    const ids = (await ctx.db.rows<{ id: string }>(sql`
      INSERT INTO customers (tenant_id, email, loyalty_tier)
      SELECT ${t.tenantId}::uuid, 'r' || i || '@bulk.ro', 'bronze' FROM generate_series(1, 3) AS i RETURNING id`)).map((r) => r.id).sort();
    // as if a worker died after committing the batch that ended with ids[0]
    const op = await insertOperation(ctx.db, t.tenantId, {
      action: 'tag', params: { tags: ['resumed'] }, target: { ids }, total: 3, createdBy: 'test', requestId: null,
    });
    await ctx.db.run(sql`UPDATE bulk_operations SET status = 'running', processed = 1, succeeded = 1, resume_cursor = ${ids[0]}
      WHERE tenant_id = ${t.tenantId}::uuid AND id = ${op.id}::uuid`);
    await runBulk(ctx.db, ctx.config, t.tenantId, op.id);
    const done = (await api.get(`/bulk/${op.id}`)).json();
    expect(done).toMatchObject({ status: 'completed', total: 3, processed: 3, succeeded: 3, failed: 0 });
    expect(await tagsOf(t, ids[0])).toEqual([]);
    expect(await tagsOf(t, ids[1])).toEqual(['resumed']);
    expect(await tagsOf(t, ids[2])).toEqual(['resumed']);
    // a finished operation is not run again
    await runBulk(ctx.db, ctx.config, t.tenantId, op.id);
    expect((await api.get(`/bulk/${op.id}`)).json().processed).toBe(3);
  });

  it('rejects bad requests with a 4xx and creates nothing', async () => {
    const { t, api } = await tenantApi();
    const a = (await api.create({ email: 'a@bad.ro' })).id;
    const cases: [unknown, number, string][] = [
      [{ action: 'explode', target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'tag', target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: [' '] }, target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'], field: 'city' }, target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'] }, target: { ids: ['nope'] } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'] }, target: { ids: [a], segment_id: a } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'] }, target: {} }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'] }, target: { filter: { colour: 'red' } } }, 400, 'validation_failed'],
      [{ action: 'tag', params: { tags: ['x'] }, target: { segment_id: '00000000-0000-4000-8000-000000000000' } }, 404, 'segment_not_found'],
      [{ action: 'tag', params: { tags: ['x'] }, target: { filter: { segment_id: '00000000-0000-4000-8000-000000000000' } } }, 404, 'segment_not_found'],
      [{ action: 'update_field', params: { field: 'email', value: 'x@y.ro' }, target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'update_field', params: { field: 'status', value: 'sleeping' }, target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'update_field', params: { field: 'city' }, target: { ids: [a] } }, 400, 'validation_failed'],
      [{ action: 'add_to_segment', params: { segment_id: '00000000-0000-4000-8000-000000000000' }, target: { ids: [a] } }, 404, 'segment_not_found'],
    ];
    for (const [body, status, code] of cases) expectError(await api.post('/bulk', body), status, code);
    const n = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM bulk_operations WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(n!.n).toBe(0);
    expectError(await api.get('/bulk/00000000-0000-4000-8000-000000000000'), 404, 'bulk_operation_not_found');
    expectError(await api.get('/bulk/nope'), 404, 'bulk_operation_not_found');
    const viewer = client(ctx, await t.keyFor('viewer'));
    expectError(await viewer.post('/bulk', { action: 'tag', params: { tags: ['x'] }, target: { ids: [a] } }), 403);
  });

  it('keeps tenants apart: another tenant\'s customers are not found and its operations are unknown', async () => {
    const one = await tenantApi();
    const two = await tenantApi();
    const mine = (await one.api.create({ email: 'mine@iso.ro' })).id;
    const theirs = (await two.api.create({ email: 'theirs@iso.ro' })).id;
    const op = await run(one.api, { action: 'tag', params: { tags: ['x'] }, target: { ids: [mine, theirs] } });
    expect(op).toMatchObject({ succeeded: 1, failed: 1 });
    expect(op.report.errors[0].id).toBe(theirs);
    expect(await tagsOf(two.t, theirs)).toEqual([]);
    expectError(await two.api.get(`/bulk/${op.id}`), 404, 'bulk_operation_not_found');
    // a filter only ever sees the caller's customers
    const all = await run(two.api, { action: 'tag', params: { tags: ['y'] }, target: { filter: {} } });
    expect(all).toMatchObject({ total: 1, succeeded: 1 });
    expect(await tagsOf(one.t, mine)).toEqual(['x']);
  });
});
