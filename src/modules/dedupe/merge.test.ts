import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError, type Client } from '../customers/customers.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

let seq = 0;
const uid = (p: string) => `${p}_${Date.now().toString(36)}_${seq++}`;
const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

async function tenantApi() {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

async function ingest(api: Client, events: { type: string; customer: Record<string, unknown>; data?: Record<string, unknown>; at?: string }[]) {
  const res = await api.post('/events', {
    events: events.map((e) => ({ id: uid('evt'), type: e.type, occurred_at: e.at ?? ago(1), customer: e.customer, data: e.data ?? {} })),
  });
  expect(res.statusCode, res.body).toBe(200);
  const body = res.json();
  expect(body.rejected, res.body).toBe(0);
  return body.results.map((r: { customer_id: string }) => r.customer_id) as string[];
}

const count = async (t: TestTenant, table: string, customerId: string) =>
  (await ctx.db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE tenant_id = ${t.tenantId}::uuid AND customer_id = ${customerId}::uuid`))!.n;

const row = async (t: TestTenant, id: string) =>
  (await ctx.db.one<Record<string, any>>(sql`SELECT * FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND id = ${id}::uuid`))!;

/** A survivor and a duplicate, each with orders, a check-in, a note, an interaction, tags, consent and a static segment. */
async function fixture() {
  const { t, api } = await tenantApi();
  const [s] = await ingest(api, [
    { type: 'order.completed', customer: { external_id: 'u_s', email: 'ion@exemplu.ro', first_name: 'Ion', last_name: 'Popescu' },
      data: { order_id: uid('o'), total: 100, currency: 'RON' }, at: ago(10) },
    { type: 'ticket.checked_in', customer: { external_id: 'u_s' }, data: { event_id: 'ev_1', ticket_id: 't1' }, at: ago(9) },
  ]);
  const [d] = await ingest(api, [
    { type: 'order.completed', customer: { external_id: 'u_d', email: 'ion.popescu@gmail.com', phone: '+40722000111', first_name: 'Ioan', last_name: 'Popescu' },
      data: { order_id: uid('o'), total: 250, currency: 'RON' }, at: ago(5) },
    { type: 'ticket.checked_in', customer: { external_id: 'u_d' }, data: { event_id: 'ev_2', ticket_id: 't2' }, at: ago(4) },
  ]);
  expect(s).not.toBe(d);
  expect((await api.patch(`/customers/${s}`, { tags: ['rock', 'vip'], consent: { marketing_email: true, marketing_sms: true }, city: 'Cluj-Napoca' })).statusCode).toBe(200);
  expect((await api.patch(`/customers/${d}`, { tags: ['jazz', 'rock'], consent: { marketing_email: false }, date_of_birth: '1990-04-01' })).statusCode).toBe(200);
  expect((await api.post(`/customers/${d}/notes`, { body: 'prefers balcony seats' })).statusCode).toBe(201);
  expect((await api.post(`/customers/${d}/interactions`, { type: 'call', subject: 'asked about refunds' })).statusCode).toBe(201);
  const seg = await api.post('/segments', { name: uid('Static'), type: 'static' });
  expect(seg.statusCode, seg.body).toBe(201);
  expect((await api.post(`/segments/${seg.json().id}/members`, { customer_ids: [d] })).statusCode).toBe(200);
  // a dynamic segment the survivor enters only with the duplicate's orders
  const dyn = await api.post('/segments', { name: uid('Two orders'), rules: { conditions: [{ field: 'total_orders', operator: '>=', value: 2 }] } });
  expect(dyn.statusCode, dyn.body).toBe(201);
  expect((await api.post(`/segments/${dyn.json().id}/calculate`)).statusCode).toBe(200);
  return { t, api, s, d, staticSeg: seg.json(), dynSeg: dyn.json() };
}

describe('POST /customers/{id}/merge', () => {
  it('moves everything to the survivor, recomputes metrics and keeps the duplicate as a tombstone', async () => {
    const { t, api, s, d, staticSeg, dynSeg } = await fixture();
    const before = { activities: await count(t, 'activities', d), ledger: await count(t, 'loyalty_ledger', d) };
    const res = await api.post(`/customers/${s}/merge`, { merge_ids: [d], fields: { email: d, first_name: s } });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ dry_run: false, merged_ids: [d], moved: { orders: 1, attendance: 1, notes: 1, interactions: 1, segment_memberships: 1 } });
    const p = body.survivor;
    expect(p).toMatchObject({
      id: s, external_id: 'u_s', email: 'ion.popescu@gmail.com', first_name: 'Ion', phone: '+40722000111',
      city: 'Cluj-Napoca', date_of_birth: '1990-04-01',
      // the most restrictive consent: the duplicate said no to e-mail
      consent: { marketing_email: false, marketing_sms: true },
      metrics: { total_orders: 2, total_spend: 350, events_attended: 2 },
      loyalty_points: 350,
    });
    expect(p.tags.sort()).toEqual(['jazz', 'rock', 'vip']);
    expect(p.segments.sort()).toEqual([dynSeg.name, staticSeg.name].sort());

    // history moved
    expect(await count(t, 'orders', d)).toBe(0);
    expect(await count(t, 'orders', s)).toBe(2);
    expect(await count(t, 'attendance', s)).toBe(2);
    expect(await count(t, 'customer_notes', s)).toBe(1);
    expect(await count(t, 'interactions', s)).toBe(1);
    expect(await count(t, 'loyalty_ledger', s)).toBe(2);
    expect(before.ledger).toBe(1);
    expect(await count(t, 'activities', d)).toBeLessThan(before.activities);
    expect(await count(t, 'segment_members', d)).toBe(0);
    const segs = (await api.get(`/segments/${staticSeg.id}`)).json();
    expect(segs.customer_count).toBe(1);

    // tombstone, and lookups of the merged id answer the survivor
    const tomb = await row(t, d);
    expect(tomb.merged_into).toBe(s);
    expect(tomb.deleted_at).toBeNull();
    const got = await api.get(`/customers/${d}`);
    expect(got.statusCode).toBe(200);
    expect(got.json().id).toBe(s);
    expectError(await api.patch(`/customers/${d}`, { city: 'Iași' }), 404, 'customer_not_found');
    const list = (await api.get('/customers')).json().data.map((c: { id: string }) => c.id);
    expect(list).toEqual([s]);

    // timeline, outbox and audit
    const merged = (await api.get(`/customers/${s}/timeline?type=customer.merged`)).json().data;
    expect(merged).toHaveLength(1);
    expect(merged[0].data.merged_ids).toEqual([d]);
    const events = await ctx.db.rows<{ payload: any }>(sql`
      SELECT payload FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND type = 'customer.merged'`);
    expect(events).toHaveLength(1);
    expect(events[0].payload).toMatchObject({ survivor_id: s, merged_ids: [d], customer: { id: s, email: 'ion.popescu@gmail.com' } });
    const audit = await ctx.db.rows<{ action: string; entity_id: string; before: any; after: any }>(sql`
      SELECT action, entity_id, before, after FROM audit_log
      WHERE tenant_id = ${t.tenantId}::uuid AND action IN ('customer.merge', 'customer.merged_into') ORDER BY action`);
    expect(audit.map((a) => [a.action, a.entity_id])).toEqual([['customer.merge', s], ['customer.merged_into', d]]);
    expect(audit[0].before.email).toBe('ion@exemplu.ro');
    expect(audit[0].after.email).toBe('ion.popescu@gmail.com');
    expect(audit[1].before.external_id).toBe('u_d');
    expect(audit[1].after).toEqual({ merged_into: s });
  });

  it('resolves the merged record\'s external id, e-mail and phone to the survivor in later events', async () => {
    const { t, api, s, d } = await fixture();
    expect((await api.post(`/customers/${s}/merge`, { merge_ids: [d] })).statusCode).toBe(200);
    const ids = await ingest(api, [
      { type: 'order.completed', customer: { external_id: 'u_d' }, data: { order_id: uid('o'), total: 10, currency: 'RON' } },
      { type: 'user.registered', customer: { phone: '+40722000111' } },
      { type: 'user.registered', customer: { email: 'ion.popescu@gmail.com' } },
    ]);
    expect(ids).toEqual([s, s, s]);
    expect((await row(t, s)).total_orders).toBe(3);
    const identify = await api.post('/customers/identify', { external_id: 'u_d' });
    expect(identify.statusCode, identify.body).toBe(200);
    expect(identify.json().customer.id).toBe(s);
  });

  it('dry_run answers the resulting profile and changes nothing', async () => {
    const { t, api, s, d } = await fixture();
    const outboxBefore = (await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${t.tenantId}::uuid`))!.n;
    const res = await api.post(`/customers/${s}/merge`, { merge_ids: [d], fields: { email: d }, dry_run: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      dry_run: true, survivor: { id: s, email: 'ion.popescu@gmail.com', metrics: { total_orders: 2 } }, moved: { orders: 1 },
    });
    expect((await row(t, d)).merged_into).toBeNull();
    expect((await row(t, s)).email).toBe('ion@exemplu.ro');
    expect(await count(t, 'orders', d)).toBe(1);
    expect((await api.get(`/customers/${d}`)).json().id).toBe(d);
    const outboxAfter = (await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${t.tenantId}::uuid`))!.n;
    expect(outboxAfter).toBe(outboxBefore);
  });

  it('rejects bad merges with a clear 4xx and moves nothing', async () => {
    const { t, api, s, d } = await fixture();
    const other = await tenantApi();
    const foreign = (await other.api.create({ email: 'someone@exemplu.ro' })).id;
    const gone = (await api.create({ email: 'gone@exemplu.ro' })).id;
    expect((await api.del(`/customers/${gone}`)).statusCode).toBe(204);
    const third = (await api.create({ email: 'third@exemplu.ro' })).id;
    const fourth = (await api.create({ email: 'fourth@exemplu.ro' })).id;
    expect((await api.post(`/customers/${third}/merge`, { merge_ids: [fourth] })).statusCode).toBe(200);

    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [s] }), 400, 'invalid_merge');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d, d] }), 400, 'invalid_merge');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d], fields: { email: third } }), 400, 'invalid_merge');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d], fields: { loyalty_points: d } }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [] }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d], colour: 'red' }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: ['00000000-0000-4000-8000-000000000000'] }), 404, 'customer_not_found');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: ['nope'] }), 404, 'customer_not_found');
    // another tenant's customer, a deleted one, an already merged one: nothing of d moves
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d, foreign] }), 404, 'customer_not_found');
    expectError(await api.post(`/customers/${s}/merge`, { merge_ids: [d, gone] }), 404, 'customer_not_found');
    const already = await api.post(`/customers/${s}/merge`, { merge_ids: [d, fourth] });
    expectError(already, 409, 'customer_already_merged');
    expect(already.json().error.details.ids).toEqual([{ id: fourth, merged_into: third }]);
    expectError(await api.post(`/customers/${fourth}/merge`, { merge_ids: [d] }), 409, 'customer_already_merged');
    expectError(await other.api.post(`/customers/${s}/merge`, { merge_ids: [foreign] }), 404, 'customer_not_found');
    const viewer = client(ctx, await t.keyFor('viewer'));
    expectError(await viewer.post(`/customers/${s}/merge`, { merge_ids: [d] }), 403);

    expect((await row(t, d)).merged_into).toBeNull();
    expect(await count(t, 'orders', d)).toBe(1);
    expect((await row(other.t, foreign)).merged_into).toBeNull();
  });

  it('is atomic: a failure half-way (after rows were moved) leaves everything as it was', async () => {
    const { t, api, s, d } = await fixture();
    // Fail the statement that moves notes, which runs after orders and check-ins moved.
    await ctx.db.run(sql.raw(`
      CREATE OR REPLACE FUNCTION test_fail_note_move() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.tenant_id = '${t.tenantId}'::uuid AND NEW.customer_id <> OLD.customer_id THEN RAISE EXCEPTION 'injected failure'; END IF;
        RETURN NEW;
      END $$`));
    await ctx.db.run(sql.raw(`CREATE TRIGGER test_fail_note_move BEFORE UPDATE ON customer_notes FOR EACH ROW EXECUTE FUNCTION test_fail_note_move()`));
    try {
      const res = await api.post(`/customers/${s}/merge`, { merge_ids: [d] });
      expect(res.statusCode).toBe(500);
    } finally {
      await ctx.db.run(sql.raw('DROP TRIGGER test_fail_note_move ON customer_notes'));
    }
    expect((await row(t, d)).merged_into).toBeNull();
    expect(await count(t, 'orders', d)).toBe(1);
    expect(await count(t, 'attendance', d)).toBe(1);
    expect((await row(t, s)).total_orders).toBe(1);
    const merged = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND type = 'customer.merged'`);
    expect(merged!.n).toBe(0);
    // and the same merge succeeds afterwards
    expect((await api.post(`/customers/${s}/merge`, { merge_ids: [d] })).statusCode).toBe(200);
  });

  it('marks the merged pair in the duplicate list and merges exact e-mails automatically when asked', async () => {
    const { t, api } = await tenantApi();
    const a = (await api.create({ email: 'same@exemplu.ro', first_name: 'Ana', tags: ['a'] })).id;
    const b = (await api.create({ email: 'same@exemplu.ro', first_name: 'Ana', tags: ['b'] })).id;
    const c = (await api.create({ email: 'same@exemplu.ro', city: 'Iași' })).id;
    expect((await api.put('/duplicates/settings', { auto_merge_exact_email: true })).statusCode).toBe(200);
    const started = (await api.post('/duplicates/scan')).json();
    let scan: any;
    for (let i = 0; i < 500; i++) {
      scan = (await api.get(`/duplicates/scans/${started.id}`)).json();
      if (scan.status !== 'queued' && scan.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(scan).toMatchObject({ status: 'completed', auto_merged: 2 });
    const survivor = (await api.get(`/customers/${a}`)).json();
    expect(survivor).toMatchObject({ id: a, city: 'Iași' });
    expect(survivor.tags.sort()).toEqual(['a', 'b']);
    expect((await row(t, b)).merged_into).toBe(a);
    expect((await row(t, c)).merged_into).toBe(a);
    expect((await api.get('/duplicates')).json().data).toEqual([]);
    const audit = await ctx.db.one<{ actor: string }>(sql`
      SELECT actor FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND action = 'customer.merge'`);
    expect(audit!.actor).toBe('job:dedupe.scan');
  });
});
