import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const DAY = 86_400_000;
const HOUR = 3_600_000;
const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();

async function createCustomer(
  tenantId: string,
  c: { first?: string; last?: string; email?: string; deleted?: boolean } = {},
): Promise<string> {
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, first_name, last_name, email, loyalty_tier, deleted_at)
    VALUES (${tenantId}, ${c.first ?? 'Ion'}, ${c.last ?? 'Popescu'}, ${c.email ?? null}, 'bronze',
            ${c.deleted ? new Date().toISOString() : null}::timestamptz)
    RETURNING id`);
  return row!.id;
}

async function activities(tenantId: string, customerId: string) {
  return ctx.db.rows<{ type: string; data: any; source_id: string | null; actor: string | null }>(sql`
    SELECT type, data, source_id, actor FROM activities
    WHERE tenant_id = ${tenantId} AND customer_id = ${customerId}::uuid ORDER BY created_at, type`);
}

async function interactionCount(tenantId: string): Promise<number> {
  const row = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM interactions WHERE tenant_id = ${tenantId}`);
  return row!.n;
}

async function lastContact(tenantId: string, customerId: string): Promise<Date | null> {
  const row = await ctx.db.one<{ last_contact_at: Date | null }>(sql`
    SELECT last_contact_at FROM customers WHERE tenant_id = ${tenantId} AND id = ${customerId}::uuid`);
  return row!.last_contact_at;
}

function post(t: TestTenant, customerId: string, payload: unknown, headers = t.headers) {
  return ctx.app.inject({ method: 'POST', url: `/api/crm/customers/${customerId}/interactions`, headers, payload: payload as object });
}

describe('interactions CRUD', () => {
  it('logs an interaction with defaults, reads, replaces, patches and soft-deletes it', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);

    const created = await post(t, customerId, { type: 'call', subject: 'Asked about VIP tickets', duration_minutes: 12 });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({
      customer_id: customerId, type: 'call', subject: 'Asked about VIP tickets', priority: 'medium', status: 'pending',
      duration_minutes: 12, description: null, outcome: null, follow_up_at: null,
    });
    expect(body.created_by).toMatch(/^key:/);
    expect(Math.abs(Date.parse(body.occurred_at) - Date.now())).toBeLessThan(60_000);

    const got = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${body.id}`, headers: t.headers });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(body);

    const replaced = await ctx.app.inject({
      method: 'PUT', url: `/api/crm/interactions/${body.id}`, headers: t.headers,
      payload: { type: 'meeting', subject: 'Met at the box office', priority: 'high', outcome: 'bought 4 tickets' },
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({
      type: 'meeting', subject: 'Met at the box office', priority: 'high', outcome: 'bought 4 tickets',
      // PUT replaces: the duration that was not sent again is gone; occurred_at is kept
      duration_minutes: null, status: 'pending', occurred_at: body.occurred_at,
    });

    const patched = await ctx.app.inject({
      method: 'PATCH', url: `/api/crm/interactions/${body.id}`, headers: t.headers,
      payload: { status: 'completed', outcome: null },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ type: 'meeting', status: 'completed', outcome: null, priority: 'high' });

    const del = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/interactions/${body.id}`, headers: t.headers });
    expect(del.statusCode).toBe(204);
    const gone = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${body.id}`, headers: t.headers });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('interaction_not_found');
    const again = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/interactions/${body.id}`, headers: t.headers });
    expect(again.statusCode).toBe(404);
    const list = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions`, headers: t.headers });
    expect(list.json().data).toEqual([]);
    // soft delete: the row is still there, marked
    const row = await ctx.db.one<{ deleted_at: Date | null }>(sql`SELECT deleted_at FROM interactions WHERE tenant_id = ${t.tenantId} AND id = ${body.id}::uuid`);
    expect(row!.deleted_at).toBeInstanceOf(Date);

    const entries = await activities(t.tenantId, customerId);
    expect(entries.map((e) => e.type)).toEqual(['interaction.logged', 'interaction.updated', 'interaction.updated', 'interaction.deleted']);
    expect(entries.every((e) => e.source_id === body.id && e.actor?.startsWith('key:'))).toBe(true);
    expect(entries[0].data).toMatchObject({ interaction_id: body.id, type: 'call', subject: 'Asked about VIP tickets' });
    expect(entries[1].data.changes).toMatchObject({ type: { from: 'call', to: 'meeting' }, duration_minutes: { from: 12, to: null } });
    expect(entries[2].data.changes).toEqual({ status: { from: 'pending', to: 'completed' }, outcome: { from: 'bought 4 tickets', to: null } });
  });

  it('rejects bad input with 400 and changes nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);
    const bad: unknown[] = [
      { type: 'visit', subject: 'x' },
      { type: 'call', subject: 'x', priority: 'critical' },
      { type: 'call', subject: 'x', status: 'done' },
      { type: 'call', subject: 'x', duration_minutes: -5 },
      { type: 'call', subject: 'x', duration_minutes: 1441 },
      { type: 'call', subject: 'x', duration_minutes: '10' },
      { type: 'call', subject: 'x', channel: 'phone' },
      { type: 'call' },
      { type: 'call', subject: '' },
      { type: 'call', subject: 'x'.repeat(301) },
      { type: 'call', subject: 'x', follow_up_at: 'tomorrow' },
      { type: 'call', subject: 'x', occurred_at: '20225-01-01T00:00:00Z' },
      { type: 'call', subject: 'x', follow_up_at: '1850-01-01T00:00:00Z' },
    ];
    for (const payload of bad) {
      const res = await post(t, customerId, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    const badJson = await ctx.app.inject({
      method: 'POST', url: `/api/crm/customers/${customerId}/interactions`,
      headers: { ...t.headers, 'content-type': 'application/json' }, payload: '{"type":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(await interactionCount(t.tenantId)).toBe(0);
    expect(await activities(t.tenantId, customerId)).toEqual([]);
    expect(await lastContact(t.tenantId, customerId)).toBeNull();

    const ok = await post(t, customerId, { type: 'email', subject: 'Newsletter reply' });
    const id = ok.json().id;
    for (const payload of [{}, { priority: 'p1' }, { duration_minutes: -1 }, { subject: 'y', extra: 1 }]) {
      const res = await ctx.app.inject({ method: 'PATCH', url: `/api/crm/interactions/${id}`, headers: t.headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const put = await ctx.app.inject({ method: 'PUT', url: `/api/crm/interactions/${id}`, headers: t.headers, payload: { subject: 'no type' } });
    expect(put.statusCode).toBe(400);
    const badId = await ctx.app.inject({ method: 'GET', url: '/api/crm/interactions/not-a-uuid', headers: t.headers });
    expect(badId.statusCode).toBe(400);
    const after = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${id}`, headers: t.headers });
    expect(after.json()).toEqual(ok.json());
    expect((await activities(t.tenantId, customerId)).map((e) => e.type)).toEqual(['interaction.logged']);
  });

  it('answers 404 customer_not_found for an unknown or deleted customer', async () => {
    const t = await createTestTenant(ctx.db);
    const deleted = await createCustomer(t.tenantId, { deleted: true });
    for (const id of [deleted, '00000000-0000-4000-8000-000000000000']) {
      const res = await post(t, id, { type: 'call', subject: 'hello' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('customer_not_found');
      const list = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${id}/interactions`, headers: t.headers });
      expect(list.statusCode).toBe(404);
    }
    expect(await interactionCount(t.tenantId)).toBe(0);
  });

  it('moves last_contact_at to the latest interaction time, never backwards', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);
    const t1 = '2025-03-10T10:00:00.000Z';
    const first = await post(t, customerId, { type: 'call', subject: 'first', occurred_at: t1 });
    expect((await lastContact(t.tenantId, customerId))?.toISOString()).toBe(t1);

    await post(t, customerId, { type: 'email', subject: 'older', occurred_at: '2025-01-01T00:00:00Z' });
    expect((await lastContact(t.tenantId, customerId))?.toISOString()).toBe(t1);

    const t2 = '2025-04-01T08:30:00.000Z';
    const patched = await ctx.app.inject({ method: 'PATCH', url: `/api/crm/interactions/${first.json().id}`, headers: t.headers, payload: { occurred_at: t2 } });
    expect(patched.statusCode).toBe(200);
    expect((await lastContact(t.tenantId, customerId))?.toISOString()).toBe(t2);

    const t3 = '2025-05-05T05:05:05.000Z';
    await ctx.app.inject({ method: 'PUT', url: `/api/crm/interactions/${first.json().id}`, headers: t.headers, payload: { type: 'call', subject: 'first', occurred_at: t3 } });
    expect((await lastContact(t.tenantId, customerId))?.toISOString()).toBe(t3);
  });
});

describe('listing a customer\'s interactions', () => {
  it('lists newest first with type and status filters and cursor pagination', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);
    const other = await createCustomer(t.tenantId, { first: 'Ana' });
    await post(t, other, { type: 'call', subject: 'someone else' });
    const same = '2025-02-02T12:00:00.000Z';
    const specs = [
      { type: 'call', subject: 's1', occurred_at: '2025-02-01T09:00:00Z' },
      { type: 'email', subject: 's2', occurred_at: same, status: 'completed' },
      { type: 'call', subject: 's3', occurred_at: same },
      { type: 'meeting', subject: 's4', occurred_at: '2025-02-03T09:00:00Z', status: 'cancelled' },
      { type: 'call', subject: 's5', occurred_at: '2025-02-04T09:00:00Z' },
    ];
    const ids: Record<string, string> = {};
    for (const s of specs) ids[s.subject] = (await post(t, customerId, s)).json().id;

    const all = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions`, headers: t.headers });
    const subjects = all.json().data.map((i: any) => i.subject);
    // equal times are ordered by id, descending
    const tie = [ids.s2, ids.s3].sort().reverse().map((id) => (id === ids.s2 ? 's2' : 's3'));
    expect(subjects).toEqual(['s5', 's4', ...tie, 's1']);
    expect(all.json().next_cursor).toBeNull();

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/crm/customers/${customerId}/interactions?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await ctx.app.inject({ method: 'GET', url, headers: t.headers });
      expect(page.statusCode).toBe(200);
      seen.push(...page.json().data.map((i: any) => i.subject));
      cursor = page.json().next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(subjects);
    expect(pages).toBe(3);

    const calls = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions?type=call`, headers: t.headers });
    expect(calls.json().data.map((i: any) => i.subject).sort()).toEqual(['s1', 's3', 's5']);
    const two = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions?type=email&type=meeting`, headers: t.headers });
    expect(two.json().data.map((i: any) => i.subject)).toEqual(['s4', 's2']);
    const pending = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions?status=pending`, headers: t.headers });
    expect(pending.json().data.map((i: any) => i.subject).sort()).toEqual(['s1', 's3', 's5']);

    const badType = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions?type=visit`, headers: t.headers });
    expect(badType.statusCode).toBe(400);
    const badCursor = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}/interactions?cursor=abc`, headers: t.headers });
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().error.code).toBe('invalid_cursor');
  });
});

describe('follow-ups', () => {
  it('lists pending follow-ups due by due_before, soonest first, flagging overdue ones', async () => {
    const t = await createTestTenant(ctx.db);
    const ion = await createCustomer(t.tenantId, { first: 'Ion', last: 'Popescu', email: 'ion@example.ro' });
    const ana = await createCustomer(t.tenantId, { first: 'Ana', last: 'Ionescu' });
    const gone = await createCustomer(t.tenantId, { first: 'Gone' });
    const mk = async (customerId: string, subject: string, followUpMs: number | null, extra: object = {}) =>
      (await post(t, customerId, { type: 'follow_up', subject, follow_up_at: followUpMs === null ? null : at(followUpMs), ...extra })).json();

    const overdue = await mk(ion, 'overdue 2d', -2 * DAY, { priority: 'high' });
    const soon = await mk(ana, 'in 3h', 3 * HOUR);
    const in5d = await mk(ion, 'in 5d', 5 * DAY, { priority: 'urgent' });
    const in10d = await mk(ana, 'in 10d', 10 * DAY);
    await mk(ion, 'done', -1 * DAY, { status: 'completed' });
    await mk(ion, 'cancelled', -1 * DAY, { status: 'cancelled' });
    await mk(ion, 'no follow-up', null);
    const deleted = await mk(ana, 'deleted', -3 * DAY);
    await ctx.app.inject({ method: 'DELETE', url: `/api/crm/interactions/${deleted.id}`, headers: t.headers });
    await mk(gone, 'customer deleted later', -4 * DAY);
    await ctx.db.run(sql`UPDATE customers SET deleted_at = now() WHERE tenant_id = ${t.tenantId} AND id = ${gone}::uuid`);

    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups', headers: t.headers });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    // default horizon: now + 7 days
    expect(Math.abs(Date.parse(body.due_before) - (Date.now() + 7 * DAY))).toBeLessThan(60_000);
    expect(body.data.map((f: any) => f.id)).toEqual([overdue.id, soon.id, in5d.id]);
    expect(body.data.map((f: any) => f.overdue)).toEqual([true, false, false]);
    expect(body.data[0].customer).toEqual({ id: ion, name: 'Ion Popescu', email: 'ion@example.ro', phone: null });
    expect(body.data[1].customer).toMatchObject({ id: ana, name: 'Ana Ionescu' });

    const wider = await ctx.app.inject({ method: 'GET', url: `/api/crm/follow-ups?due_before=${encodeURIComponent(at(11 * DAY))}`, headers: t.headers });
    expect(wider.json().data.map((f: any) => f.id)).toEqual([overdue.id, soon.id, in5d.id, in10d.id]);
    const narrow = await ctx.app.inject({ method: 'GET', url: `/api/crm/follow-ups?due_before=${encodeURIComponent(at(HOUR))}`, headers: t.headers });
    expect(narrow.json().data.map((f: any) => f.id)).toEqual([overdue.id]);
    const urgent = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups?priority=urgent&priority=high', headers: t.headers });
    expect(urgent.json().data.map((f: any) => f.id)).toEqual([overdue.id, in5d.id]);
    const completed = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups?status=completed', headers: t.headers });
    expect(completed.json().data.map((f: any) => f.subject)).toEqual(['done']);
    expect(completed.json().data[0].overdue).toBe(false);

    const p1 = await ctx.app.inject({ method: 'GET', url: `/api/crm/follow-ups?limit=2&due_before=${encodeURIComponent(at(11 * DAY))}`, headers: t.headers });
    expect(p1.json().data.map((f: any) => f.id)).toEqual([overdue.id, soon.id]);
    const p2 = await ctx.app.inject({
      method: 'GET', url: `/api/crm/follow-ups?limit=2&due_before=${encodeURIComponent(at(11 * DAY))}&cursor=${p1.json().next_cursor}`, headers: t.headers,
    });
    expect(p2.json().data.map((f: any) => f.id)).toEqual([in5d.id, in10d.id]);
    expect(p2.json().next_cursor).toBeNull();

    const bad = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups?due_before=soon', headers: t.headers });
    expect(bad.statusCode).toBe(400);
  });

  it('reads pending follow-ups through the partial index', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);
    // A realistic shape: thousands of interactions, a handful of pending follow-ups.
    await ctx.db.run(sql`
      INSERT INTO interactions (tenant_id, customer_id, type, subject, status, occurred_at)
      SELECT ${t.tenantId}::uuid, ${customerId}::uuid, 'call', 'call ' || g, 'completed', now() - g * interval '1 minute'
      FROM generate_series(1, 3000) g`);
    for (let i = 0; i < 3; i++) await post(t, customerId, { type: 'follow_up', subject: `f${i}`, follow_up_at: at(i * HOUR) });
    await ctx.db.run(sql`ANALYZE interactions`);
    const plan = await ctx.db.rows<Record<string, string>>(sql`
      EXPLAIN SELECT i.id FROM interactions i
      JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
      WHERE i.tenant_id = ${t.tenantId}::uuid AND i.status = 'pending' AND i.follow_up_at IS NOT NULL
        AND i.deleted_at IS NULL AND i.follow_up_at <= now() + interval '7 days'
        AND c.deleted_at IS NULL AND c.merged_into IS NULL
      ORDER BY i.follow_up_at, i.id LIMIT 51`);
    expect(plan.map((r) => Object.values(r)[0]).join('\n')).toContain('interactions_follow_up_idx');
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups', headers: t.headers });
    expect(res.json().data.map((f: any) => f.subject)).toEqual(['f0', 'f1', 'f2']);
  });
});

describe('roles and tenants', () => {
  it('enforces roles: viewers read only, employees may not delete', async () => {
    const t = await createTestTenant(ctx.db);
    const customerId = await createCustomer(t.tenantId);
    const viewer = await t.keyFor('viewer');
    const employee = await t.keyFor('employee');
    const byViewer = await post(t, customerId, { type: 'call', subject: 'x' }, viewer);
    expect(byViewer.statusCode).toBe(403);
    expect(byViewer.json().error.code).toBe('forbidden');
    const byEmployee = await post(t, customerId, { type: 'call', subject: 'by employee' }, employee);
    expect(byEmployee.statusCode).toBe(201);
    const id = byEmployee.json().id;
    const viewerRead = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${id}`, headers: viewer });
    expect(viewerRead.statusCode).toBe(200);
    const viewerPatch = await ctx.app.inject({ method: 'PATCH', url: `/api/crm/interactions/${id}`, headers: viewer, payload: { status: 'completed' } });
    expect(viewerPatch.statusCode).toBe(403);
    const employeePatch = await ctx.app.inject({ method: 'PATCH', url: `/api/crm/interactions/${id}`, headers: employee, payload: { status: 'completed' } });
    expect(employeePatch.statusCode).toBe(200);
    const employeeDelete = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/interactions/${id}`, headers: employee });
    expect(employeeDelete.statusCode).toBe(403);
    const still = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${id}`, headers: t.headers });
    expect(still.statusCode).toBe(200);
    const noKey = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${id}` });
    expect(noKey.statusCode).toBe(401);
  });

  it('keeps tenants apart: another tenant gets 404 and never sees the data', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const customerA = await createCustomer(a.tenantId);
    const created = await post(a, customerA, { type: 'support', subject: 'secret of A', follow_up_at: at(-DAY) });
    const id = created.json().id;

    expect((await post(b, customerA, { type: 'call', subject: 'x' })).statusCode).toBe(404);
    const listB = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerA}/interactions`, headers: b.headers });
    expect(listB.statusCode).toBe(404);
    for (const [method, payload] of [
      ['GET', undefined],
      ['PUT', { type: 'call', subject: 'hijack' }],
      ['PATCH', { subject: 'hijack' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await ctx.app.inject({ method, url: `/api/crm/interactions/${id}`, headers: b.headers, payload });
      expect(res.statusCode, method).toBe(404);
      expect(res.json().error.code).toBe('interaction_not_found');
    }
    const followB = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups', headers: b.headers });
    expect(followB.json().data).toEqual([]);
    const followA = await ctx.app.inject({ method: 'GET', url: '/api/crm/follow-ups', headers: a.headers });
    expect(followA.json().data.map((f: any) => f.id)).toEqual([id]);

    const unchanged = await ctx.app.inject({ method: 'GET', url: `/api/crm/interactions/${id}`, headers: a.headers });
    expect(unchanged.json()).toEqual(created.json());
    expect((await activities(a.tenantId, customerA)).map((e) => e.type)).toEqual(['interaction.logged']);
  });
});
