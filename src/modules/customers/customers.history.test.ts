import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, readAll, type Client } from './customers.test-helpers.js';

let ctx: TestContext;
let api: Client;
let tenantId: string;
let customerId: string;
let otherCustomerId: string;

beforeAll(async () => {
  ctx = await createTestApp();
  const t = await createTestTenant(ctx.db);
  tenantId = t.tenantId;
  api = client(ctx, t.headers);
  customerId = (await api.create({ email: 'history@x.ro' })).id;
  otherCustomerId = (await api.create({ email: 'someone-else@x.ro' })).id;

  // Orders, items, refunds and check-ins arrive through ingestion; written directly here.
  await ctx.db.run(sql`
    INSERT INTO catalog_events (tenant_id, id, name, genres, venue, city, starts_at) VALUES
      (${tenantId}, 'ev_rock', 'Rock the City', '{rock}', 'Arena', 'Bucuresti', '2025-06-01T18:00:00Z'),
      (${tenantId}, 'ev_jazz', 'Jazz Nights', '{jazz,blues}', 'Club A', 'Cluj-Napoca', '2025-07-01T19:00:00Z')`);
  await ctx.db.run(sql`
    INSERT INTO orders (tenant_id, id, customer_id, status, total, refunded_amount, currency, placed_at, completed_at, cancelled_at) VALUES
      (${tenantId}, 'ord_1', ${customerId}, 'completed', 150.00, 0, 'RON', '2025-01-10T18:30:00Z', '2025-01-10T18:31:00Z', NULL),
      (${tenantId}, 'ord_2', ${customerId}, 'refunded', 90.50, 40.25, 'RON', '2025-02-10T10:00:00Z', '2025-02-10T10:01:00Z', NULL),
      (${tenantId}, 'ord_3', ${customerId}, 'cancelled', 20.00, 0, 'RON', '2025-03-10T10:00:00Z', NULL, '2025-03-11T10:00:00Z'),
      (${tenantId}, 'ord_4', ${customerId}, 'pending', 10.00, 0, 'RON', '2025-03-10T10:00:00Z', NULL, NULL),
      (${tenantId}, 'ord_5', ${customerId}, 'completed', 75.10, 0, 'RON', '2025-03-10T10:00:00.000001Z', '2025-03-10T10:00:00Z', NULL),
      (${tenantId}, 'ord_x', ${otherCustomerId}, 'completed', 999.00, 0, 'RON', '2025-03-12T10:00:00Z', NULL, NULL)`);
  await ctx.db.run(sql`
    INSERT INTO order_items (tenant_id, order_id, line_no, event_id, ticket_type, quantity, unit_price) VALUES
      (${tenantId}, 'ord_1', 1, 'ev_rock', 'GA', 2, 75.00),
      (${tenantId}, 'ord_2', 1, 'ev_jazz', 'VIP', 1, 50.25),
      (${tenantId}, 'ord_2', 2, 'ev_unknown', 'GA', 1, 40.25),
      (${tenantId}, 'ord_x', 1, 'ev_rock', 'GA', 1, 999.00)`);
  await ctx.db.run(sql`
    INSERT INTO refunds (tenant_id, id, order_id, customer_id, amount, reason, refunded_at) VALUES
      (${tenantId}, 'evt_r1', 'ord_2', ${customerId}, 20.00, 'partial', '2025-02-11T10:00:00Z'),
      (${tenantId}, 'evt_r2', 'ord_2', ${customerId}, 20.25, NULL, '2025-02-12T10:00:00Z')`);
  await ctx.db.run(sql`
    INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, order_id, checked_in_at) VALUES
      (${tenantId}, ${customerId}, 'ev_rock', 't1', 'ord_1', '2025-06-01T18:05:00Z'),
      (${tenantId}, ${customerId}, 'ev_rock', 't2', 'ord_1', '2025-06-01T18:05:00Z'),
      (${tenantId}, ${customerId}, 'ev_jazz', '', 'ord_2', '2025-07-01T19:10:00Z'),
      (${tenantId}, ${customerId}, 'ev_unknown', 't9', NULL, '2025-05-01T19:10:00Z'),
      (${tenantId}, ${otherCustomerId}, 'ev_jazz', 'tx', NULL, '2025-07-01T19:10:00Z')`);
});
afterAll(async () => ctx.close());

describe('GET /customers/{id}/orders', () => {
  it('answers the orders newest first with items (show names from the catalog) and refunds', async () => {
    const res = await api.get(`/customers/${customerId}/orders`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.next_cursor).toBeNull();
    expect(body.data.map((o: any) => o.id)).toEqual(['ord_5', 'ord_4', 'ord_3', 'ord_2', 'ord_1']);
    const byId = Object.fromEntries(body.data.map((o: any) => [o.id, o]));
    expect(byId.ord_2).toEqual({
      id: 'ord_2', status: 'refunded', total: 90.5, refunded_amount: 40.25, currency: 'RON',
      placed_at: '2025-02-10T10:00:00.000Z', completed_at: '2025-02-10T10:01:00.000Z', cancelled_at: null,
      items: [
        { event_id: 'ev_jazz', event_name: 'Jazz Nights', ticket_type: 'VIP', quantity: 1, unit_price: 50.25 },
        { event_id: 'ev_unknown', event_name: null, ticket_type: 'GA', quantity: 1, unit_price: 40.25 },
      ],
      refunds: [
        { id: 'evt_r1', amount: 20, reason: 'partial', refunded_at: '2025-02-11T10:00:00.000Z' },
        { id: 'evt_r2', amount: 20.25, reason: null, refunded_at: '2025-02-12T10:00:00.000Z' },
      ],
    });
    expect(byId.ord_1.items).toEqual([{ event_id: 'ev_rock', event_name: 'Rock the City', ticket_type: 'GA', quantity: 2, unit_price: 75 }]);
    expect(byId.ord_3).toMatchObject({ status: 'cancelled', cancelled_at: '2025-03-11T10:00:00.000Z', items: [], refunds: [] });
  });

  it('paginates with a cursor (sub-millisecond and equal placed_at included)', async () => {
    for (const limit of [1, 2, 3]) {
      const { items } = await readAll(api, `/customers/${customerId}/orders`, limit);
      expect(items.map((o) => o.id)).toEqual(['ord_5', 'ord_4', 'ord_3', 'ord_2', 'ord_1']);
    }
    expectError(await api.get(`/customers/${customerId}/orders?cursor=zzz`), 400, 'invalid_cursor');
  });

  it('a customer without orders has an empty history; unknown customers 404', async () => {
    const c = await api.create({ email: 'no-orders@x.ro' });
    expect((await api.get(`/customers/${c.id}/orders`)).json()).toEqual({ data: [], next_cursor: null });
    expectError(await api.get('/customers/00000000-0000-4000-8000-000000000000/orders'), 404, 'customer_not_found');
  });
});

describe('GET /customers/{id}/attendance', () => {
  it('answers check-ins newest first with the show', async () => {
    const res = await api.get(`/customers/${customerId}/attendance`);
    expect(res.statusCode, res.body).toBe(200);
    const data = res.json().data;
    expect(data).toEqual([
      {
        event_id: 'ev_jazz', ticket_id: null, order_id: 'ord_2', checked_in_at: '2025-07-01T19:10:00.000Z',
        event_name: 'Jazz Nights', venue: 'Club A', city: 'Cluj-Napoca', starts_at: '2025-07-01T19:00:00.000Z', genres: ['jazz', 'blues'],
      },
      {
        event_id: 'ev_rock', ticket_id: 't2', order_id: 'ord_1', checked_in_at: '2025-06-01T18:05:00.000Z',
        event_name: 'Rock the City', venue: 'Arena', city: 'Bucuresti', starts_at: '2025-06-01T18:00:00.000Z', genres: ['rock'],
      },
      expect.objectContaining({ event_id: 'ev_rock', ticket_id: 't1' }),
      {
        event_id: 'ev_unknown', ticket_id: 't9', order_id: null, checked_in_at: '2025-05-01T19:10:00.000Z',
        event_name: null, venue: null, city: null, starts_at: null, genres: [],
      },
    ]);
  });

  it('paginates with a cursor', async () => {
    const { items, pages } = await readAll(api, `/customers/${customerId}/attendance`, 1);
    expect(pages).toBe(4);
    expect(items.map((a) => `${a.event_id}/${a.ticket_id}`)).toEqual(['ev_jazz/null', 'ev_rock/t2', 'ev_rock/t1', 'ev_unknown/t9']);
  });

  it('another tenant gets 404 for the customer\'s orders and attendance', async () => {
    const b = client(ctx, (await createTestTenant(ctx.db)).headers);
    expectError(await b.get(`/customers/${customerId}/orders`), 404, 'customer_not_found');
    expectError(await b.get(`/customers/${customerId}/attendance`), 404, 'customer_not_found');
  });
});
