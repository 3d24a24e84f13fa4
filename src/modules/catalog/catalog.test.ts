import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const URL = '/api/crm/catalog/events';

const create = (t: TestTenant, payload: unknown, headers = t.headers) =>
  ctx.app.inject({ method: 'POST', url: URL, headers, payload: payload as object });

async function createCustomer(tenantId: string): Promise<string> {
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, first_name, last_name, email, loyalty_tier)
    VALUES (${tenantId}, 'Ion', 'Popescu', NULL, 'bronze') RETURNING id`);
  return row!.id;
}

/** An order with one item for the event; status decides whether its tickets count as sold. */
async function createOrder(tenantId: string, customerId: string, orderId: string, eventId: string, quantity: number, status = 'completed') {
  await ctx.db.run(sql`
    INSERT INTO orders (tenant_id, id, customer_id, status, total, currency, placed_at)
    VALUES (${tenantId}, ${orderId}, ${customerId}::uuid, ${status}, ${quantity * 100}, 'RON', now())`);
  await ctx.db.run(sql`
    INSERT INTO order_items (tenant_id, order_id, line_no, event_id, ticket_type, quantity, unit_price)
    VALUES (${tenantId}, ${orderId}, 1, ${eventId}, 'GA', ${quantity}, 100)`);
}

async function eventCount(tenantId: string): Promise<number> {
  return (await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM catalog_events WHERE tenant_id = ${tenantId}`))!.n;
}

describe('catalog events CRUD', () => {
  it('creates, reads, replaces, patches and deletes a show', async () => {
    const t = await createTestTenant(ctx.db);
    const created = await create(t, {
      id: 'ev_9', name: 'Subcarpați — Tour 2025', genres: ['Rock', 'folk', 'ROCK', ' Folk '], venue: 'Arenele Romane',
      city: 'București', starts_at: '2025-06-01T18:00:00Z', ends_at: '2025-06-01T22:00:00Z', status: 'on_sale',
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      id: 'ev_9', name: 'Subcarpați — Tour 2025', genres: ['rock', 'folk'], venue: 'Arenele Romane', city: 'București',
      starts_at: '2025-06-01T18:00:00.000Z', ends_at: '2025-06-01T22:00:00.000Z', status: 'on_sale', tickets_sold: 0, attendees: 0,
    });

    const got = await ctx.app.inject({ method: 'GET', url: `${URL}/ev_9`, headers: t.headers });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(created.json());

    const replaced = await ctx.app.inject({ method: 'PUT', url: `${URL}/ev_9`, headers: t.headers, payload: { name: 'Subcarpați', genres: ['rock'] } });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ id: 'ev_9', name: 'Subcarpați', genres: ['rock'], venue: null, city: null, starts_at: null, status: 'scheduled' });

    const patched = await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_9`, headers: t.headers, payload: { status: 'sold_out', city: 'Cluj-Napoca' } });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Subcarpați', genres: ['rock'], status: 'sold_out', city: 'Cluj-Napoca' });

    const del = await ctx.app.inject({ method: 'DELETE', url: `${URL}/ev_9`, headers: t.headers });
    expect(del.statusCode).toBe(204);
    const gone = await ctx.app.inject({ method: 'GET', url: `${URL}/ev_9`, headers: t.headers });
    expect(gone.statusCode).toBe(404);
    expect(gone.json().error.code).toBe('catalog_event_not_found');
    expect((await ctx.app.inject({ method: 'DELETE', url: `${URL}/ev_9`, headers: t.headers })).statusCode).toBe(404);
  });

  it('generates an id when none is sent and enforces the id rules', async () => {
    const t = await createTestTenant(ctx.db);
    const generated = await create(t, { name: 'Jazz in the Park' });
    expect(generated.statusCode).toBe(201);
    expect(generated.json().id).toMatch(/^ev_[A-Za-z0-9]+$/);
    expect(generated.json().status).toBe('scheduled');
    const other = await create(t, { name: 'Jazz in the Park' });
    expect(other.json().id).not.toBe(generated.json().id);

    for (const id of ['ev 9', 'ev/9', 'ev#9', '', 'x'.repeat(101), 'ăbc']) {
      const res = await create(t, { id, name: 'x' });
      expect(res.statusCode, id).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    const ok = await create(t, { id: 'platform:ev.9_a-1', name: 'x' });
    expect(ok.statusCode).toBe(201);
    const readBack = await ctx.app.inject({ method: 'GET', url: `${URL}/platform:ev.9_a-1`, headers: t.headers });
    expect(readBack.statusCode).toBe(200);
    const longOk = await create(t, { id: 'y'.repeat(100), name: 'x' });
    expect(longOk.statusCode).toBe(201);

    const dup = await create(t, { id: 'platform:ev.9_a-1', name: 'again' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('catalog_event_exists');
    const still = await ctx.app.inject({ method: 'GET', url: `${URL}/platform:ev.9_a-1`, headers: t.headers });
    expect(still.json().name).toBe('x');
  });

  it('rejects bad input with 400 and changes nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const bad: unknown[] = [
      { name: 'x', starts_at: '2025-06-01T20:00:00Z', ends_at: '2025-06-01T19:00:00Z' },
      {},
      { name: '' },
      { name: '   ' },
      { name: 'x', status: 'postponed' },
      { name: 'x', genres: 'rock' },
      { name: 'x', genres: [''] },
      { name: 'x', genres: ['  '] },
      { name: 'x', starts_at: 'next friday' },
      { name: 'x', capacity: 500 },
    ];
    for (const payload of bad) {
      const res = await create(t, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    expect(await eventCount(t.tenantId)).toBe(0);

    await create(t, { id: 'ev_1', name: 'Show', starts_at: '2025-06-01T20:00:00Z', ends_at: '2025-06-01T23:00:00Z' });
    // PATCH checks the merged values: only ends_at is sent, but it is before the stored starts_at
    const patch = await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_1`, headers: t.headers, payload: { ends_at: '2025-06-01T19:00:00Z' } });
    expect(patch.statusCode).toBe(400);
    expect(patch.json().error.message).toContain('ends_at');
    const emptyPatch = await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_1`, headers: t.headers, payload: {} });
    expect(emptyPatch.statusCode).toBe(400);
    const badParam = await ctx.app.inject({ method: 'GET', url: `${URL}/ev%209`, headers: t.headers });
    expect(badParam.statusCode).toBe(400);
    const after = await ctx.app.inject({ method: 'GET', url: `${URL}/ev_1`, headers: t.headers });
    expect(after.json().ends_at).toBe('2025-06-01T23:00:00.000Z');
    // equal start and end is fine
    const same = await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_1`, headers: t.headers, payload: { ends_at: '2025-06-01T20:00:00Z' } });
    expect(same.statusCode).toBe(200);
  });

  it('counts tickets sold and check-ins, and refuses to delete a show in use', async () => {
    const t = await createTestTenant(ctx.db);
    await create(t, { id: 'ev_sold', name: 'Sold show' });
    await create(t, { id: 'ev_seen', name: 'Show with a check-in only' });
    const c1 = await createCustomer(t.tenantId);
    const c2 = await createCustomer(t.tenantId);
    await createOrder(t.tenantId, c1, 'ord_1', 'ev_sold', 3);
    await createOrder(t.tenantId, c2, 'ord_2', 'ev_sold', 2);
    await createOrder(t.tenantId, c2, 'ord_3', 'ev_sold', 5, 'pending');
    await createOrder(t.tenantId, c2, 'ord_4', 'ev_sold', 7, 'refunded');
    await ctx.db.run(sql`
      INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, checked_in_at) VALUES
        (${t.tenantId}, ${c1}::uuid, 'ev_sold', 't1', now()), (${t.tenantId}, ${c1}::uuid, 'ev_sold', 't2', now()),
        (${t.tenantId}, ${c2}::uuid, 'ev_sold', 't3', now()), (${t.tenantId}, ${c2}::uuid, 'ev_seen', '', now())`);

    const sold = await ctx.app.inject({ method: 'GET', url: `${URL}/ev_sold`, headers: t.headers });
    expect(sold.json()).toMatchObject({ tickets_sold: 5, attendees: 3 });
    const list = await ctx.app.inject({ method: 'GET', url: URL, headers: t.headers });
    expect(list.json().data.map((e: any) => [e.id, e.tickets_sold, e.attendees])).toEqual([['ev_seen', 0, 1], ['ev_sold', 5, 3]]);

    for (const id of ['ev_sold', 'ev_seen']) {
      const del = await ctx.app.inject({ method: 'DELETE', url: `${URL}/${id}`, headers: t.headers });
      expect(del.statusCode, id).toBe(409);
      expect(del.json().error.code).toBe('catalog_event_in_use');
    }
    expect(await eventCount(t.tenantId)).toBe(2);
    const cancelled = await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_sold`, headers: t.headers, payload: { status: 'cancelled' } });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', tickets_sold: 5 });
  });
});

describe('listing the catalog', () => {
  it('filters by genre, city, venue, status, date range and name, sorted by start then id, with pagination', async () => {
    const t = await createTestTenant(ctx.db);
    const shows = [
      { id: 'ev_a', name: 'Rock the City', genres: ['rock'], city: 'București', venue: 'Arena', starts_at: '2025-05-01T18:00:00Z', status: 'on_sale' },
      { id: 'ev_b', name: 'Jazz Nights', genres: ['jazz'], city: 'Cluj-Napoca', venue: 'Form Space', starts_at: '2025-05-10T19:00:00Z' },
      { id: 'ev_c', name: 'Electric Castle', genres: ['festival', 'electronic'], city: 'Bonțida', venue: 'Castelul Banffy', starts_at: '2025-07-16T12:00:00Z', status: 'sold_out' },
      { id: 'ev_d', name: 'Rock & Jazz 100% live', genres: ['rock', 'jazz'], city: 'bucurești', venue: 'Arena', starts_at: '2025-05-10T19:00:00Z' },
      { id: 'ev_e', name: 'Date to be announced', genres: ['comedy'] },
      { id: 'ev_f', name: 'Cancelled gig', genres: ['rock'], city: 'Iași', starts_at: '2025-04-01T19:00:00Z', status: 'cancelled' },
    ];
    for (const s of shows) expect((await create(t, s)).statusCode).toBe(201);
    const ids = async (query: string) => {
      const res = await ctx.app.inject({ method: 'GET', url: `${URL}${query}`, headers: t.headers });
      expect(res.statusCode, query).toBe(200);
      return res.json().data.map((e: any) => e.id);
    };
    // starts_at ascending, undated last, equal starts ordered by id
    expect(await ids('')).toEqual(['ev_f', 'ev_a', 'ev_b', 'ev_d', 'ev_c', 'ev_e']);
    expect(await ids('?genre=rock')).toEqual(['ev_f', 'ev_a', 'ev_d']);
    expect(await ids('?genre=ROCK&genre=comedy')).toEqual(['ev_f', 'ev_a', 'ev_d', 'ev_e']);
    expect(await ids(`?city=${encodeURIComponent('BUCUREȘTI')}`)).toEqual(['ev_a', 'ev_d']);
    expect(await ids('?venue=arena&genre=jazz')).toEqual(['ev_d']);
    expect(await ids('?status=sold_out&status=cancelled')).toEqual(['ev_f', 'ev_c']);
    expect(await ids('?from=2025-05-01T18:00:00Z&to=2025-05-10T19:00:00Z')).toEqual(['ev_a', 'ev_b', 'ev_d']);
    expect(await ids('?from=2025-06-01T00:00:00Z')).toEqual(['ev_c']);
    expect(await ids('?search=rock')).toEqual(['ev_a', 'ev_d']);
    expect(await ids('?search=100%25')).toEqual(['ev_d']);
    expect(await ids('?search=_')).toEqual([]);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `${URL}?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await ctx.app.inject({ method: 'GET', url, headers: t.headers });
      seen.push(...res.json().data.map((e: any) => e.id));
      cursor = res.json().next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['ev_f', 'ev_a', 'ev_b', 'ev_d', 'ev_c', 'ev_e']);
    expect(pages).toBe(3);

    const bad = await ctx.app.inject({ method: 'GET', url: `${URL}?status=postponed`, headers: t.headers });
    expect(bad.statusCode).toBe(400);
    const badCursor = await ctx.app.inject({ method: 'GET', url: `${URL}?cursor=nope`, headers: t.headers });
    expect(badCursor.json().error.code).toBe('invalid_cursor');
  });
});

describe('roles and tenants', () => {
  it('enforces roles: viewers cannot create, employees cannot delete', async () => {
    const t = await createTestTenant(ctx.db);
    const viewer = await t.keyFor('viewer');
    const employee = await t.keyFor('employee');
    expect((await create(t, { id: 'ev_v', name: 'x' }, viewer)).statusCode).toBe(403);
    expect((await create(t, { id: 'ev_e', name: 'x' }, employee)).statusCode).toBe(201);
    expect((await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_e`, headers: viewer, payload: { name: 'y' } })).statusCode).toBe(403);
    expect((await ctx.app.inject({ method: 'PATCH', url: `${URL}/ev_e`, headers: employee, payload: { name: 'y' } })).statusCode).toBe(200);
    const del = await ctx.app.inject({ method: 'DELETE', url: `${URL}/ev_e`, headers: employee });
    expect(del.statusCode).toBe(403);
    expect((await ctx.app.inject({ method: 'GET', url: `${URL}/ev_e`, headers: viewer })).statusCode).toBe(200);
  });

  it('keeps tenants apart: ids are per tenant, another tenant gets 404 and never sees the show', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const created = await create(a, { id: 'ev_9', name: 'Show of A', genres: ['rock'] });
    for (const [method, payload] of [
      ['GET', undefined],
      ['PUT', { name: 'hijack' }],
      ['PATCH', { name: 'hijack' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await ctx.app.inject({ method, url: `${URL}/ev_9`, headers: b.headers, payload });
      expect(res.statusCode, method).toBe(404);
      expect(res.json().error.code).toBe('catalog_event_not_found');
    }
    const listB = await ctx.app.inject({ method: 'GET', url: `${URL}?genre=rock`, headers: b.headers });
    expect(listB.json().data).toEqual([]);
    // the same platform id is free in another tenant
    const inB = await create(b, { id: 'ev_9', name: 'Show of B' });
    expect(inB.statusCode).toBe(201);
    const stillA = await ctx.app.inject({ method: 'GET', url: `${URL}/ev_9`, headers: a.headers });
    expect(stillA.json()).toEqual(created.json());
    const listA = await ctx.app.inject({ method: 'GET', url: URL, headers: a.headers });
    expect(listA.json().data.map((e: any) => e.name)).toEqual(['Show of A']);
  });
});
