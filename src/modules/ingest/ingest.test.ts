import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { AppError } from '../../lib/errors.js';
import { identifyCustomers, ingestEvents } from './ingest.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

// --- helpers -----------------------------------------------------------------------------------

const DAY = 24 * 3600 * 1000;
const ago = (days: number, hours = 0) => new Date(Date.now() - days * DAY - hours * 3600 * 1000).toISOString();

let seq = 0;
const uid = (prefix: string) => `${prefix}_${++seq}_${Math.random().toString(36).slice(2, 8)}`;

interface Ev {
  id: string;
  type: string;
  occurred_at: string;
  customer: Record<string, unknown>;
  data: Record<string, unknown>;
  [k: string]: unknown;
}
const ev = (type: string, customer: Record<string, unknown>, data: Record<string, unknown> = {}, occurredAt = ago(1)): Ev => ({
  id: uid('evt'),
  type,
  occurred_at: occurredAt,
  customer,
  data,
});
const completed = (customer: Record<string, unknown>, orderId: string, total: number, at = ago(1), items?: unknown[]) =>
  ev('order.completed', customer, { order_id: orderId, total, currency: 'RON', ...(items ? { items } : {}) }, at);

async function post(t: TestTenant, events: unknown[], headers: Record<string, string> = t.headers) {
  return ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers, payload: { events } });
}
async function ingest(t: TestTenant, events: unknown[]) {
  const res = await post(t, events);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as {
    accepted: number;
    duplicates: number;
    rejected: number;
    results: { id: string | null; status: string; customer_id?: string; code?: string; reason?: string }[];
  };
}

interface CustomerRow {
  id: string;
  external_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  city: string | null;
  source: string | null;
  total_orders: number;
  total_spend: number;
  average_order_value: number;
  lifetime_value: number;
  events_attended: number;
  first_purchase: Date | null;
  last_purchase: Date | null;
  last_activity_at: Date | null;
  last_contact_at: Date | null;
  loyalty_points: number;
  loyalty_tier: string | null;
  consent: Record<string, unknown>;
  preferences: Record<string, unknown>;
}
const customers = (t: TestTenant) =>
  ctx.db.rows<CustomerRow>(sql`SELECT * FROM customers WHERE tenant_id = ${t.tenantId}::uuid ORDER BY created_at, id`);
const customer = async (t: TestTenant, id: string) =>
  (await ctx.db.one<CustomerRow>(sql`SELECT * FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND id = ${id}::uuid`))!;
const count = async (table: 'orders' | 'activities' | 'refunds' | 'attendance' | 'ingested_events' | 'loyalty_ledger' | 'carts', t: TestTenant) =>
  (await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE tenant_id = ${t.tenantId}::uuid`))!.n;
const order = (t: TestTenant, id: string) =>
  ctx.db.one<{ status: string; total: number; refunded_amount: number; placed_at: Date; completed_at: Date | null; customer_id: string }>(
    sql`SELECT * FROM orders WHERE tenant_id = ${t.tenantId}::uuid AND id = ${id}`,
  );
const timeline = (t: TestTenant, customerId: string) =>
  ctx.db.rows<{ type: string; summary: string; data: any; source_id: string | null; occurred_at: Date }>(sql`
    SELECT type, summary, data, source_id, occurred_at FROM activities
    WHERE tenant_id = ${t.tenantId}::uuid AND customer_id = ${customerId}::uuid ORDER BY occurred_at, created_at`);

// --- idempotency ---------------------------------------------------------------------------------

describe('idempotency', () => {
  it('applies a batch posted twice once: the second time every event is a duplicate and nothing changes', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u'), email: `${uid('idem')}@example.ro` };
    const batch = [
      ev('user.registered', who, { source: 'website' }, ago(30)),
      completed(who, uid('ord'), 150, ago(20), [{ event_id: 'ev_1', quantity: 2, unit_price: 75 }]),
      ev('ticket.checked_in', who, { event_id: 'ev_1', ticket_id: 'tk1' }, ago(10)),
    ];
    const first = await ingest(t, batch);
    expect(first).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
    const customerId = first.results[0].customer_id!;
    expect(first.results.every((r) => r.customer_id === customerId)).toBe(true);
    const before = await customer(t, customerId);
    const activitiesBefore = await count('activities', t);

    const second = await ingest(t, batch);
    expect(second).toMatchObject({ accepted: 0, duplicates: 3, rejected: 0 });
    expect(second.results.map((r) => [r.id, r.status, r.customer_id])).toEqual(batch.map((e) => [e.id, 'duplicate', customerId]));

    const after = await customer(t, customerId);
    expect(after.total_orders).toBe(1);
    expect(after.total_spend).toBe(150);
    expect(after.events_attended).toBe(1);
    expect(after.loyalty_points).toBe(before.loyalty_points);
    expect(await count('orders', t)).toBe(1);
    expect(await count('activities', t)).toBe(activitiesBefore);
    expect(await count('ingested_events', t)).toBe(3);
    expect(await customers(t)).toHaveLength(1);
  });

  it('applies the same id twice in one batch once', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    const orderId = uid('ord');
    const refund = ev('order.refunded', who, { order_id: orderId, amount: 40 }, ago(1));
    const res = await ingest(t, [completed(who, orderId, 100, ago(2)), refund, { ...refund }]);
    expect(res.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'duplicate']);
    expect(res.results[2].customer_id).toBe(res.results[1].customer_id);
    expect(res).toMatchObject({ accepted: 2, duplicates: 1, rejected: 0 });
    expect((await order(t, orderId))!.refunded_amount).toBe(40);
    expect((await customer(t, res.results[0].customer_id!)).total_spend).toBe(60);
  });

  it('keeps idempotency per tenant: another tenant may use the same event ids', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const e = ev('user.registered', { email: 'shared@example.ro' });
    expect((await ingest(a, [e])).accepted).toBe(1);
    expect((await ingest(b, [e])).accepted).toBe(1);
  });
});

// --- identity resolution -----------------------------------------------------------------------------

describe('identity resolution', () => {
  it('matches by external_id first and does not overwrite the e-mail it already has', async () => {
    const t = await createTestTenant(ctx.db);
    const ext = uid('u');
    const r1 = await ingest(t, [ev('user.registered', { external_id: ext, email: 'first@example.ro', first_name: 'Ion' })]);
    const r2 = await ingest(t, [ev('email.opened', { external_id: ext, email: 'other@example.ro', first_name: 'Ioan' }, { campaign_id: 'c1' })]);
    expect(r2.results[0].customer_id).toBe(r1.results[0].customer_id);
    const c = await customer(t, r1.results[0].customer_id!);
    expect(c.email).toBe('first@example.ro');
    expect(c.first_name).toBe('Ion');
    expect(await customers(t)).toHaveLength(1);
  });

  it('matches by e-mail regardless of case and surrounding spaces, then attaches the external_id', async () => {
    const t = await createTestTenant(ctx.db);
    const r1 = await ingest(t, [ev('user.registered', { email: 'ana.pop@example.ro' })]);
    const id = r1.results[0].customer_id!;
    const ext = uid('u');
    const r2 = await ingest(t, [ev('email.opened', { external_id: ext, email: '  Ana.Pop@EXAMPLE.ro ', last_name: 'Pop' })]);
    expect(r2.results[0].customer_id).toBe(id);
    const c = await customer(t, id);
    expect(c.external_id).toBe(ext);
    expect(c.last_name).toBe('Pop');
    // the attached external id now resolves on its own
    const r3 = await ingest(t, [ev('custom.visited', { external_id: ext })]);
    expect(r3.results[0].customer_id).toBe(id);
    expect(await customers(t)).toHaveLength(1);
  });

  it('matches by phone in different formats (national and E.164)', async () => {
    const t = await createTestTenant(ctx.db);
    const r1 = await ingest(t, [ev('user.registered', { phone: '0722 123 456' })]);
    const id = r1.results[0].customer_id!;
    expect((await customer(t, id)).phone).toBe('+40722123456');
    const r2 = await ingest(t, [ev('email.opened', { phone: '+40722123456' }), ev('email.opened', { phone: '0040 722-123-456' })]);
    expect(r2.results.map((r) => r.customer_id)).toEqual([id, id]);
    expect(await customers(t)).toHaveLength(1);
  });

  it('prefers e-mail over phone when they point at different customers', async () => {
    const t = await createTestTenant(ctx.db);
    const byEmail = (await ingest(t, [ev('user.registered', { email: 'mail@example.ro' })])).results[0].customer_id;
    const byPhone = (await ingest(t, [ev('user.registered', { phone: '+40733000111' })])).results[0].customer_id;
    expect(byEmail).not.toBe(byPhone);
    const r = await ingest(t, [ev('email.opened', { email: 'mail@example.ro', phone: '+40733000111' })]);
    expect(r.results[0].customer_id).toBe(byEmail);
  });

  it('creates one customer for several events of a new person in one batch, linked by any identifier', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await ingest(t, [
      ev('email.opened', { phone: '+40744555666' }, {}, ago(3)),
      ev('user.registered', { email: 'new.person@example.ro', first_name: 'Maria' }, { source: 'app' }, ago(2)),
      ev('email.clicked', { email: 'new.person@example.ro', phone: '+40744555666' }, { url: 'https://x.ro' }, ago(1)),
      ev('user.registered', { email: 'someone.else@example.ro' }),
    ]);
    const ids = res.results.map((r) => r.customer_id);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[1]).toBe(ids[2]);
    expect(ids[3]).not.toBe(ids[0]);
    const all = await customers(t);
    expect(all).toHaveLength(2);
    const maria = await customer(t, ids[0]!);
    expect(maria).toMatchObject({ email: 'new.person@example.ro', phone: '+40744555666', first_name: 'Maria', source: 'app' });
    const created = (await timeline(t, ids[0]!)).filter((a) => a.type === 'customer.created');
    expect(created).toHaveLength(1);
    expect(maria.loyalty_tier).toBe('bronze');
  });

  it('does not match deleted or merged customers', async () => {
    const t = await createTestTenant(ctx.db);
    const deleted = (await ingest(t, [ev('user.registered', { email: 'gone@example.ro', external_id: 'u_gone' })])).results[0].customer_id!;
    const merged = (await ingest(t, [ev('user.registered', { phone: '+40755111222' })])).results[0].customer_id!;
    await ctx.db.run(sql`UPDATE customers SET deleted_at = now() WHERE tenant_id = ${t.tenantId}::uuid AND id = ${deleted}::uuid`);
    await ctx.db.run(sql`UPDATE customers SET merged_into = ${deleted}::uuid WHERE tenant_id = ${t.tenantId}::uuid AND id = ${merged}::uuid`);
    const res = await ingest(t, [
      ev('email.opened', { email: 'gone@example.ro' }),
      ev('email.opened', { external_id: 'u_gone' }),
      ev('email.opened', { phone: '0755 111 222' }),
    ]);
    const ids = res.results.map((r) => r.customer_id);
    for (const id of ids) expect([deleted, merged]).not.toContain(id);
    // three unrelated identities (no shared identifier) -> three new customers
    expect(new Set(ids).size).toBe(3);
    expect(await customers(t)).toHaveLength(5);
    // the new customer may take the external id the deleted one had
    expect((await customer(t, ids[1]!)).external_id).toBe('u_gone');
  });

  it('takes the oldest customer when several share an e-mail', async () => {
    const t = await createTestTenant(ctx.db);
    await ctx.db.run(sql`
      INSERT INTO customers (tenant_id, id, email, created_at) VALUES
        (${t.tenantId}::uuid, 'ffffffff-0000-4000-8000-000000000001', 'twin@example.ro', now() - interval '2 days'),
        (${t.tenantId}::uuid, '00000000-0000-4000-8000-000000000002', 'twin@example.ro', now() - interval '1 day')`);
    const res = await ingest(t, [ev('email.opened', { email: 'twin@example.ro' })]);
    expect(res.results[0].customer_id).toBe('ffffffff-0000-4000-8000-000000000001');
  });

  it('identifyCustomers finds or creates, normalizes and rejects invalid contacts', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { tenantId: t.tenantId, config: ctx.config, actor: 'test' };
    const first = await identifyCustomers(ctx.db, who, [
      { email: ' Dan@Example.RO ', first_name: 'Dan' },
      { phone: '0766 000 111', email: 'dan@example.ro' },
      { external_id: 'u_other' },
    ]);
    expect(first[0]).toMatchObject({ created: true });
    expect(first[1].customerId).toBe(first[0].customerId);
    expect(first[2].customerId).not.toBe(first[0].customerId);
    const dan = await customer(t, first[0].customerId);
    expect(dan).toMatchObject({ email: 'dan@example.ro', phone: '+40766000111', first_name: 'Dan' });
    const again = await identifyCustomers(ctx.db, who, [{ phone: '+40766000111' }, { external_id: 'u_other', email: 'o@example.ro' }]);
    expect(again).toEqual([
      { customerId: first[0].customerId, created: false },
      { customerId: first[2].customerId, created: false },
    ]);
    expect((await customer(t, first[2].customerId)).email).toBe('o@example.ro');
    await expect(identifyCustomers(ctx.db, who, [{ email: 'not-an-email' }])).rejects.toMatchObject({ code: 'invalid_email' });
    await expect(identifyCustomers(ctx.db, who, [{ phone: '12' }])).rejects.toBeInstanceOf(AppError);
    expect(await customers(t)).toHaveLength(2);
  });
});

// --- metrics ---------------------------------------------------------------------------------------

describe('metrics', () => {
  it('computes exact metrics after completed orders, refunds, a cancellation and check-ins', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u'), email: `${uid('m')}@example.ro` };
    const [o1, o2, o3, o4, o5] = ['o1', 'o2', 'o3', 'o4', 'o5'].map((o) => uid(o));
    const first = await ingest(t, [
      completed(who, o5, 300, ago(400)), // outside the 365-day LTV window
      completed(who, o2, 100, ago(20)),
      completed(who, o1, 200, ago(10), [{ event_id: 'ev_a', event_name: 'Jazz Night', quantity: 2, unit_price: 100 }]),
      completed(who, o3, 50, ago(5)),
      ev('order.created', who, { order_id: o4, total: 80, currency: 'RON' }, ago(3)),
      ev('ticket.checked_in', who, { event_id: 'ev_a', ticket_id: 't1' }, ago(9)),
    ]);
    expect(first.accepted).toBe(6);
    const id = first.results[0].customer_id!;
    const second = await ingest(t, [
      ev('order.refunded', who, { order_id: o2, amount: 30, reason: 'one ticket' }, ago(19)),
      ev('order.refunded', who, { order_id: o3 }, ago(4)), // no amount: the whole order
      ev('order.cancelled', who, { order_id: o4, reason: 'payment_failed' }, ago(3, -1)),
      ev('ticket.checked_in', who, { event_id: 'ev_a', ticket_id: 't1' }, ago(9)), // repeated check-in
      ev('ticket.checked_in', who, { event_id: 'ev_b', ticket_id: 't2' }, ago(8)),
    ]);
    expect(second).toMatchObject({ accepted: 5, rejected: 0 });

    const c = await customer(t, id);
    expect(c.total_orders).toBe(3); // o1, o2, o5 (o3 fully refunded, o4 cancelled)
    expect(c.total_spend).toBe(570); // 200 + (100 - 30) + 0 + 300
    expect(c.average_order_value).toBe(190);
    expect(c.lifetime_value).toBe(270); // 200 + 70 (+ 0 for o3); o5 is older than the window
    expect(c.events_attended).toBe(2);
    expect(Math.abs(c.first_purchase!.getTime() - (Date.now() - 400 * DAY))).toBeLessThan(120_000);
    expect(Math.abs(c.last_purchase!.getTime() - (Date.now() - 10 * DAY))).toBeLessThan(120_000);
    expect(await count('attendance', t)).toBe(2);

    expect((await order(t, o3))!.status).toBe('refunded');
    expect((await order(t, o3))!.refunded_amount).toBe(50);
    expect((await order(t, o2))!).toMatchObject({ status: 'completed', refunded_amount: 30 });
    expect((await order(t, o4))!.status).toBe('cancelled');

    const items = await ctx.db.rows<{ line_no: number; event_id: string; quantity: number; unit_price: number }>(
      sql`SELECT line_no, event_id, quantity, unit_price FROM order_items WHERE tenant_id = ${t.tenantId}::uuid AND order_id = ${o1}`,
    );
    expect(items).toEqual([{ line_no: 1, event_id: 'ev_a', quantity: 2, unit_price: 100 }]);
    const shows = await ctx.db.rows<{ id: string; name: string }>(
      sql`SELECT id, name FROM catalog_events WHERE tenant_id = ${t.tenantId}::uuid ORDER BY id`,
    );
    expect(shows).toEqual([{ id: 'ev_a', name: 'Jazz Night' }, { id: 'ev_b', name: 'ev_b' }]);

    const entries = await timeline(t, id);
    const completedEntry = entries.find((a) => a.type === 'order.completed' && a.data.order_id === o1)!;
    expect(completedEntry.summary).toBe(`Order ${o1} completed: 200.00 RON, 2 tickets`);
    expect(entries.filter((a) => a.type === 'ticket.checked_in')).toHaveLength(3);
    expect(entries.find((a) => a.type === 'order.refunded' && a.data.order_id === o3)!.summary).toBe(`Order ${o3} fully refunded: 50.00 RON`);
    expect(c.last_activity_at!.getTime()).toBe(Date.parse(entries.at(-1)!.occurred_at.toISOString()));
  });

  it('rejects a refund larger than what is left and accumulates partial refunds', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    const o = uid('ord');
    const res = await ingest(t, [
      completed(who, o, 100, ago(5)),
      ev('order.refunded', who, { order_id: o, amount: 60 }, ago(4)),
      ev('order.refunded', who, { order_id: o, amount: 50 }, ago(3)),
      ev('order.refunded', who, { order_id: o, amount: 40 }, ago(2)),
      ev('order.refunded', who, { order_id: o }, ago(1)),
    ]);
    expect(res.results.map((r) => r.code ?? r.status)).toEqual(['accepted', 'accepted', 'refund_exceeds_total', 'accepted', 'refund_exceeds_total']);
    expect((await order(t, o))!).toMatchObject({ status: 'refunded', refunded_amount: 100 });
    const c = await customer(t, res.results[0].customer_id!);
    expect(c.total_orders).toBe(0);
    expect(c.total_spend).toBe(0);
  });

  it('does not downgrade an order when order.created arrives after order.completed', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    const o = uid('ord');
    const createdAt = ago(2);
    const completedAt = ago(1);
    await ingest(t, [completed(who, o, 120, completedAt)]);
    const res = await ingest(t, [ev('order.created', who, { order_id: o, total: 120, currency: 'RON' }, createdAt)]);
    expect(res.accepted).toBe(1);
    const row = (await order(t, o))!;
    expect(row.status).toBe('completed');
    expect(row.completed_at!.toISOString()).toBe(completedAt);
    expect(row.placed_at.toISOString()).toBe(createdAt);
    const c = await customer(t, row.customer_id);
    expect(c.total_orders).toBe(1);
    expect(c.total_spend).toBe(120);

    // within one batch, in request order completed-then-created
    const o2 = uid('ord');
    await ingest(t, [completed(who, o2, 80, ago(0, 1)), ev('order.created', who, { order_id: o2, total: 80, currency: 'RON' }, ago(0, 2))]);
    expect((await order(t, o2))!.status).toBe('completed');
    expect((await customer(t, row.customer_id)).total_orders).toBe(2);

    // a cancellation is final: a late order.completed does not revive the order
    const o3 = uid('ord');
    await ingest(t, [ev('order.cancelled', who, { order_id: o3 }, ago(0, 1))]);
    await ingest(t, [completed(who, o3, 60, ago(0, 2))]);
    expect((await order(t, o3))!).toMatchObject({ status: 'cancelled', total: 60 });
    expect((await customer(t, row.customer_id)).total_orders).toBe(2);
  });

  it('keeps metrics correct when two batches for one customer run concurrently', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u'), email: `${uid('conc')}@example.ro` };
    const batchA = [completed(who, uid('a'), 100, ago(3)), completed(who, uid('a'), 50, ago(2)), ev('ticket.checked_in', who, { event_id: 'ev_1' })];
    const batchB = [completed({ email: who.email }, uid('b'), 70, ago(4)), completed({ external_id: who.external_id }, uid('b'), 30.5, ago(1)), ev('ticket.checked_in', who, { event_id: 'ev_2' })];
    const batchC = [completed(who, uid('c'), 9.5, ago(5))];
    const [a, b, c] = await Promise.all([post(t, batchA), post(t, batchB), post(t, batchC)]);
    for (const r of [a, b, c]) expect(r.statusCode, r.body).toBe(200);
    const all = await customers(t);
    expect(all).toHaveLength(1);
    expect(all[0].total_orders).toBe(5);
    expect(all[0].total_spend).toBe(260);
    expect(all[0].average_order_value).toBe(52);
    expect(all[0].events_attended).toBe(2);
    expect(all[0].loyalty_points).toBe(100 + 50 + 70 + 30 + 9);
  });

  it('applies concurrent batches that share one new customer among unrelated ones exactly once each', async () => {
    const t = await createTestTenant(ctx.db);
    const shared = { external_id: uid('shared'), email: `${uid('shared')}@example.ro` };
    const batches = Array.from({ length: 4 }, (_, b) => [
      ...Array.from({ length: 20 }, (_, i) => completed({ external_id: `solo_${b}_${i}` }, uid('o'), 10, ago(2))),
      // each batch knows the shared person by a different identifier first; the check-in links both
      completed(b % 2 ? { email: shared.email } : { external_id: shared.external_id }, uid('s'), 25, ago(1)),
      ev('ticket.checked_in', shared, { event_id: `ev_${b}` }),
    ]);
    const responses = await Promise.all(batches.map((batch) => post(t, batch)));
    for (const r of responses) {
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().accepted).toBe(22);
    }
    const all = await customers(t);
    expect(all).toHaveLength(81);
    const s = all.find((c) => c.external_id === shared.external_id)!;
    expect(s).toMatchObject({ email: shared.email, total_orders: 4, total_spend: 100, events_attended: 4, loyalty_points: 100 });
    const sharedIds = new Set(responses.flatMap((r) => r.json().results.slice(20).map((x: any) => x.customer_id)));
    expect([...sharedIds]).toEqual([s.id]);
    expect(all.filter((c) => c.external_id !== shared.external_id).every((c) => c.total_orders === 1 && c.total_spend === 10)).toBe(true);
  });
});

// --- loyalty -------------------------------------------------------------------------------------------

describe('loyalty', () => {
  async function twoTiers(t: TestTenant) {
    await ctx.db.run(sql`DELETE FROM loyalty_tiers WHERE tenant_id = ${t.tenantId}::uuid`);
    await ctx.db.run(sql`INSERT INTO loyalty_tiers (tenant_id, name, min_points) VALUES (${t.tenantId}::uuid, 'bronze', 0), (${t.tenantId}::uuid, 'silver', 1000)`);
  }
  const ledger = (t: TestTenant) =>
    ctx.db.rows<{ points: number; reason: string; ref: string }>(
      sql`SELECT points, reason, ref FROM loyalty_ledger WHERE tenant_id = ${t.tenantId}::uuid ORDER BY created_at, points DESC`,
    );

  it('earns points on completion, moves up a tier, and moves back when a refund takes points away', async () => {
    const t = await createTestTenant(ctx.db);
    await twoTiers(t);
    const who = { external_id: uid('u') };
    const o = uid('ord');
    const r1 = await ingest(t, [completed(who, o, 1000, ago(3))]);
    const id = r1.results[0].customer_id!;
    expect(await customer(t, id)).toMatchObject({ loyalty_points: 1000, loyalty_tier: 'silver' });

    const refund = ev('order.refunded', who, { order_id: o, amount: 100.5 }, ago(2));
    await ingest(t, [refund]);
    expect(await customer(t, id)).toMatchObject({ loyalty_points: 900, loyalty_tier: 'bronze' });
    expect(await ledger(t)).toEqual([
      { points: 1000, reason: 'order_completed', ref: o },
      { points: -100, reason: 'order_refunded', ref: refund.id },
    ]);
    const changes = (await timeline(t, id)).filter((a) => a.type === 'loyalty.tier_changed').map((a) => a.data);
    expect(changes).toEqual([
      expect.objectContaining({ from: 'bronze', to: 'silver' }),
      expect.objectContaining({ from: 'silver', to: 'bronze' }),
    ]);

    // redelivering the completion earns nothing more
    await ingest(t, [completed(who, o, 1000, ago(3))]);
    expect((await customer(t, id)).loyalty_points).toBe(900);
  });

  it('never reverses more than the order earned, and a cancellation takes back what is left', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    const [a, b] = [uid('a'), uid('b')];
    const r = await ingest(t, [
      completed(who, a, 10.9, ago(5)), // earns 10
      ev('order.refunded', who, { order_id: a, amount: 5.5 }, ago(4)), // takes back 5
      ev('order.refunded', who, { order_id: a, amount: 5.4 }, ago(3)), // 5 wanted, 5 left
      completed(who, b, 500, ago(3)),
      ev('order.refunded', who, { order_id: b, amount: 200 }, ago(2)),
    ]);
    expect(r.accepted).toBe(5);
    await ingest(t, [ev('order.cancelled', who, { order_id: b }, ago(1))]);
    const rows = await ledger(t);
    const sum = (reason: string, ref?: string) => rows.filter((l) => l.reason === reason && (!ref || l.ref === ref)).reduce((s, l) => s + l.points, 0);
    expect(sum('order_completed')).toBe(510);
    expect(sum('order_refunded')).toBe(-210);
    expect(sum('order_cancelled', b)).toBe(-300);
    const c = await customer(t, r.results[0].customer_id!);
    expect(c.loyalty_points).toBe(0);
    expect(c.total_orders).toBe(0);
  });
});

// --- profile changes, carts, interactions, timeline-only types --------------------------------------------

describe('event types', () => {
  it('user.registered fills blanks only; customer.updated overwrites', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    const r = await ingest(t, [
      ev('user.registered', who, {
        source: 'facebook', city: 'Cluj-Napoca', country: 'RO', date_of_birth: '1990-05-01', gender: 'female',
        consent: { marketing_email: true, marketing_sms: false }, preferences: { genres: ['jazz'] },
      }, ago(10)),
    ]);
    const id = r.results[0].customer_id!;
    await ingest(t, [ev('user.registered', who, { city: 'Iasi', source: 'tiktok', consent: { marketing_email: false } }, ago(9))]);
    let c = await customer(t, id);
    expect(c).toMatchObject({ city: 'Cluj-Napoca', source: 'facebook' });
    expect(c.consent).toMatchObject({ marketing_email: true, marketing_sms: false });
    expect(c.preferences).toEqual({ genres: ['jazz'] });

    await ingest(t, [ev('customer.updated', who, { changes: { city: 'Timisoara', email: ' New@Example.RO ', phone: '0722 999 888' } }, ago(1))]);
    c = await customer(t, id);
    expect(c).toMatchObject({ city: 'Timisoara', email: 'new@example.ro', phone: '+40722999888' });
    const bad = await ingest(t, [ev('customer.updated', who, { changes: { email: 'nope' } }), ev('customer.updated', who, { changes: {} })]);
    expect(bad.results.map((x) => x.code)).toEqual(['invalid_email', 'invalid_event']);
  });

  it('records interactions, carts and timeline-only events', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { email: `${uid('x')}@example.ro` };
    const cartId = uid('cart');
    const items = [{ event_id: 'ev_9', event_name: 'Rock', venue: 'Arena', quantity: 3, unit_price: 75 }];
    const r = await ingest(t, [
      ev('interaction.logged', who, { type: 'call', subject: 'Refund request', priority: 'high', duration_minutes: 7 }, ago(2)),
      ev('cart.updated', who, { cart_id: cartId, items: [items[0], { event_id: 'ev_8', quantity: 1, unit_price: 10 }] }, ago(1, 2)),
      ev('cart.updated', who, { cart_id: cartId, items, currency: 'RON' }, ago(1, 1)),
      ev('cart.checked_out', who, { cart_id: cartId, order_id: 'ord_x' }, ago(1)),
      ev('email.opened', who, { campaign_id: 'cmp_1', message_id: 'm1' }, ago(0, 5)),
      ev('email.clicked', who, { campaign_id: 'cmp_1', url: 'https://tickets.example/ev_9' }, ago(0, 4)),
      ev('custom.survey_answered', who, { score: 9 }, ago(0, 3)),
    ]);
    expect(r.accepted).toBe(7);
    const id = r.results[0].customer_id!;
    const interaction = await ctx.db.one<any>(sql`SELECT * FROM interactions WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(interaction).toMatchObject({ customer_id: id, type: 'call', subject: 'Refund request', priority: 'high', duration_minutes: 7, source_id: r.results[0].id });
    const cart = await ctx.db.one<any>(sql`SELECT * FROM carts WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(cart).toMatchObject({ id: cartId, status: 'checked_out', total: 225, order_id: 'ord_x' });
    expect(cart.items).toHaveLength(1);
    // an older update delivered late changes nothing
    await ingest(t, [ev('cart.updated', who, { cart_id: cartId, items: [{ event_id: 'ev_8', quantity: 1, unit_price: 10 }] }, ago(3))]);
    expect(await ctx.db.one<any>(sql`SELECT status, total FROM carts WHERE tenant_id = ${t.tenantId}::uuid`)).toEqual({ status: 'checked_out', total: 225 });
    const c = await customer(t, id);
    expect(Math.abs(c.last_contact_at!.getTime() - (Date.now() - 2 * DAY))).toBeLessThan(120_000);
    const types = (await timeline(t, id)).map((a) => a.type);
    expect(types).toEqual(expect.arrayContaining(['interaction.logged', 'cart.updated', 'cart.checked_out', 'email.opened', 'email.clicked', 'custom.survey_answered']));
    const venue = await ctx.db.one<any>(sql`SELECT name, venue FROM catalog_events WHERE tenant_id = ${t.tenantId}::uuid AND id = 'ev_9'`);
    expect(venue).toEqual({ name: 'Rock', venue: 'Arena' });
  });
});

describe('catalog', () => {
  it('creates shows named by orders and check-ins, fills blank fields later and never overwrites set ones', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: uid('u') };
    await ingest(t, [
      ev('ticket.checked_in', who, { event_id: 'ev_fill' }, ago(3)),
      completed(who, uid('o'), 50, ago(2), [{ event_id: 'ev_set', event_name: 'Opera', venue: 'ONB', quantity: 1, unit_price: 50 }]),
    ]);
    await ingest(t, [
      completed(who, uid('o'), 90, ago(1), [
        { event_id: 'ev_fill', event_name: 'Folk Fest', city: 'Sibiu', genres: ['folk'], starts_at: '2026-08-01T18:00:00Z', quantity: 1, unit_price: 40 },
        { event_id: 'ev_set', event_name: 'Not Opera', venue: 'Elsewhere', city: 'Cluj', quantity: 1, unit_price: 50 },
      ]),
    ]);
    const shows = await ctx.db.rows<any>(
      sql`SELECT id, name, venue, city, genres, starts_at FROM catalog_events WHERE tenant_id = ${t.tenantId}::uuid ORDER BY id`,
    );
    expect(shows).toEqual([
      { id: 'ev_fill', name: 'Folk Fest', venue: null, city: 'Sibiu', genres: ['folk'], starts_at: new Date('2026-08-01T18:00:00Z') },
      { id: 'ev_set', name: 'Opera', venue: 'ONB', city: 'Cluj', genres: [], starts_at: null },
    ]);
  });
});

// --- bad input --------------------------------------------------------------------------------------

describe('bad input', () => {
  it('rejects each bad event with its code and applies the good ones of the same batch', async () => {
    const t = await createTestTenant(ctx.db);
    const good = { email: 'good@example.ro' };
    const { id: _drop, ...noId } = ev('user.registered', good);
    const batch: unknown[] = [
      ev('user.registered', good),
      ev('ticket.sold', good),
      ev('user.registered', { email: 'not-an-email' }),
      ev('user.registered', { phone: '12345' }),
      ev('user.registered', { first_name: 'Nobody' }),
      { ...ev('user.registered', good), customer: undefined },
      completed(good, 'ord_neg', -5),
      completed(good, 'ord_cents', 10.001),
      ev('user.registered', good, {}, new Date(Date.now() + 3 * DAY).toISOString()),
      ev('user.registered', good, {}, 'yesterday'),
      ev('user.registered', good, {}, '1969-12-31T23:00:00Z'),
      ev('order.completed', good, { order_id: 'ord_eur', total: 10, currency: 'EUR' }),
      { ...ev('user.registered', good), extra: true },
      ev('user.registered', good, { favourite_colour: 'blue' }),
      ev('order.refunded', good, { order_id: 'ord_unknown', amount: 5 }),
      noId,
      42,
      completed(good, 'ord_ok', 25),
    ];
    const res = await ingest(t, batch);
    expect(res.results.map((r) => r.code ?? r.status)).toEqual([
      'accepted',
      'unknown_event_type',
      'invalid_email',
      'invalid_phone',
      'missing_identity',
      'missing_identity',
      'invalid_amount',
      'invalid_amount',
      'invalid_occurred_at',
      'invalid_occurred_at',
      'invalid_occurred_at',
      'currency_mismatch',
      'unknown_field',
      'unknown_field',
      'order_not_found',
      'invalid_event',
      'invalid_event',
      'accepted',
    ]);
    expect(res).toMatchObject({ accepted: 2, duplicates: 0, rejected: 16 });
    for (const r of res.results.filter((x) => x.status === 'rejected')) {
      expect(r.reason).toMatch(/\w+ \w+/);
      expect(r.customer_id).toBeUndefined();
    }
    expect(res.results[1].id).toBe((batch[1] as Ev).id);
    expect(res.results[12].reason).toContain('extra');
    const all = await customers(t);
    expect(all).toHaveLength(1);
    expect(all[0].total_spend).toBe(25);
    expect(await count('orders', t)).toBe(1);
    // a rejected event is not recorded: fixed and resent, it is applied
    const retry = await ingest(t, [{ ...(batch[11] as Ev), data: { order_id: 'ord_eur', total: 10, currency: 'ron' } }]);
    expect(retry.accepted).toBe(1);
  });

  it('refuses a batch over 1000 events as a whole and applies nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const events = Array.from({ length: 1001 }, (_, i) => ev('user.registered', { email: `p${i}@example.ro` }));
    const res = await post(t, events);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('batch_too_large');
    expect(await customers(t)).toHaveLength(0);
    expect(await count('ingested_events', t)).toBe(0);
    await expect(ingestEvents(ctx.db, { tenantId: t.tenantId, config: ctx.config, actor: 'test' }, events)).rejects.toMatchObject({ code: 'batch_too_large' });
  });

  it('answers 400 for an empty batch, malformed JSON and a wrong body shape', async () => {
    const t = await createTestTenant(ctx.db);
    const empty = await post(t, []);
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('validation_failed');
    const malformed = await ctx.app.inject({
      method: 'POST', url: '/api/crm/events', headers: { ...t.headers, 'content-type': 'application/json' }, payload: '{"events": [',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('invalid_json');
    for (const payload of [{}, { events: 'x' }, { events: [], more: 1 }]) {
      const res = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload });
      expect(res.statusCode).toBe(400);
    }
    expect(await customers(t)).toHaveLength(0);
  });

  it('needs a key with at least the employee role', async () => {
    const t = await createTestTenant(ctx.db);
    const e = ev('user.registered', { email: 'role@example.ro' });
    const none = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', payload: { events: [e] } });
    expect(none.statusCode).toBe(401);
    const viewer = await post(t, [e], await t.keyFor('viewer'));
    expect(viewer.statusCode).toBe(403);
    expect(viewer.json().error.code).toBe('forbidden');
    expect(await customers(t)).toHaveLength(0);
    const employee = await post(t, [e], await t.keyFor('employee'));
    expect(employee.statusCode).toBe(200);
    expect(employee.json().accepted).toBe(1);
    const entry = await ctx.db.one<{ actor: string }>(sql`SELECT actor FROM activities WHERE tenant_id = ${t.tenantId}::uuid AND type = 'user.registered'`);
    expect(entry!.actor).toMatch(/^key:/);
  });
});

// --- tenant isolation --------------------------------------------------------------------------------

describe('tenant isolation', () => {
  it('never resolves to, changes or reveals another tenant\'s customers', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const who = { external_id: 'u_same', email: 'same@example.ro', phone: '+40722000333' };
    const ra = await ingest(a, [completed(who, 'ord_same', 100, ago(2))]);
    const rb = await ingest(b, [completed(who, 'ord_same', 40, ago(2)), ev('order.refunded', who, { order_id: 'ord_same', amount: 10 })]);
    const idA = ra.results[0].customer_id!;
    const idB = rb.results[0].customer_id!;
    expect(idB).not.toBe(idA);
    expect((await customers(b)).map((c) => c.id)).toEqual([idB]);
    expect((await customers(a)).map((c) => c.id)).toEqual([idA]);
    expect(await customer(a, idA)).toMatchObject({ total_spend: 100, total_orders: 1 });
    expect(await customer(b, idB)).toMatchObject({ total_spend: 30, total_orders: 1 });
    // b refunding a's order id refers to b's own order
    expect((await order(a, 'ord_same'))!.refunded_amount).toBe(0);
    const leaked = await ctx.db.rows(sql`SELECT 1 FROM activities WHERE tenant_id = ${b.tenantId}::uuid AND customer_id = ${idA}::uuid`);
    expect(leaked).toHaveLength(0);
  });
});
