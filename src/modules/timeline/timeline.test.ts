import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, readAll, type Client } from '../customers/customers.test-helpers.js';
import { insertActivities } from './timeline.repository.js';
import { parseTypeFilter } from './timeline.service.js';

let ctx: TestContext;
let api: Client;
let tenantId: string;

beforeAll(async () => {
  ctx = await createTestApp();
  const t = await createTestTenant(ctx.db);
  tenantId = t.tenantId;
  api = client(ctx, t.headers);
});
afterAll(async () => ctx.close());

const types = (res: { json(): any }) => res.json().data.map((e: any) => e.type);

describe('timeline', () => {
  it('records every API change in order, newest first', async () => {
    const c = await api.create({ email: 'tl@x.ro', consent: { marketing_email: true } });
    await api.patch(`/customers/${c.id}`, { first_name: 'Ana' });
    await api.patch(`/customers/${c.id}`, { consent: { marketing_sms: true } });
    await api.post(`/customers/${c.id}/tags`, { tags: ['vip'] });
    await api.post(`/customers/${c.id}/notes`, { body: 'hello' });
    const res = await api.get(`/customers/${c.id}/timeline`);
    expect(res.statusCode, res.body).toBe(200);
    expect(types(res)).toEqual(['note.added', 'profile.updated', 'consent.changed', 'profile.updated', 'consent.changed', 'customer.created']);
    const [note, tag, sms, name] = res.json().data;
    expect(note).toEqual({
      id: expect.any(String), type: 'note.added', occurred_at: expect.any(String), summary: 'Note added',
      data: expect.objectContaining({ note_id: expect.any(String), pinned: false }), source_id: note.data.note_id,
      actor: expect.stringMatching(/^key:/),
    });
    expect(tag.data).toEqual({ changes: { tags: { from: [], to: ['vip'] } } });
    expect(sms.data).toEqual({ channel: 'sms', granted: true, source: 'api' });
    expect(name.data).toEqual({ changes: { first_name: { from: null, to: 'Ana' } } });
    // alias
    const alias = await api.get(`/customers/${c.id}/activity`);
    expect(alias.statusCode).toBe(200);
    expect(alias.json()).toEqual(res.json());
  });

  describe('with ingested history', () => {
    let id: string;
    beforeAll(async () => {
      id = (await api.create({ email: 'history-tl@x.ro' })).id;
      await insertActivities(ctx.db, tenantId, [
        { customerId: id, type: 'order.created', occurredAt: '2025-01-10T18:00:00Z', sourceId: 'evt_1', data: { order_id: 'o1' }, summary: 'Order o1' },
        { customerId: id, type: 'order.completed', occurredAt: '2025-01-10T18:30:00Z', sourceId: 'evt_2', data: { order_id: 'o1', total: 150 } },
        { customerId: id, type: 'order.refunded', occurredAt: '2025-02-01T10:00:00Z', sourceId: 'evt_3' },
        { customerId: id, type: 'ticket.checked_in', occurredAt: '2025-03-01T19:00:00Z', sourceId: 'evt_4', actor: 'system' },
        { customerId: id, type: 'ticket.checked_in', occurredAt: '2025-03-01T19:00:00Z', sourceId: 'evt_5' },
        { customerId: id, type: 'ticket.checked_in', occurredAt: '2025-03-01T19:00:00Z', sourceId: 'evt_6' },
        { customerId: id, type: 'cart.updated', occurredAt: '2025-03-02T10:00:00.000001Z', sourceId: 'evt_7' },
        { customerId: id, type: 'cart.updated', occurredAt: '2025-03-02T10:00:00.000002Z', sourceId: 'evt_8' },
        { customerId: id, type: 'orders_archive', occurredAt: '2025-03-03T10:00:00Z', sourceId: 'evt_9' },
      ]);
    });

    it('filters by exact types, lists and prefixes', async () => {
      const all = await api.get(`/customers/${id}/timeline?limit=500`);
      expect(types(all)).toEqual([
        'customer.created', 'orders_archive', 'cart.updated', 'cart.updated', 'ticket.checked_in', 'ticket.checked_in',
        'ticket.checked_in', 'order.refunded', 'order.completed', 'order.created',
      ]);
      expect(all.json().data.map((e: any) => e.source_id).slice(2, 4)).toEqual(['evt_8', 'evt_7']);
      expect(types(await api.get(`/customers/${id}/timeline?type=order.*`))).toEqual(['order.refunded', 'order.completed', 'order.created']);
      expect(types(await api.get(`/customers/${id}/timeline?type=order.completed`))).toEqual(['order.completed']);
      expect(types(await api.get(`/customers/${id}/timeline?type=order.created,%20cart.*`))).toEqual(['cart.updated', 'cart.updated', 'order.created']);
      expect(types(await api.get(`/customers/${id}/timeline?type=order`))).toEqual([]);
      expect(types(await api.get(`/customers/${id}/timeline?type=*`))).toHaveLength(10);
      expectError(await api.get(`/customers/${id}/timeline?type=order.%25`), 400, 'validation_failed');
      expectError(await api.get(`/customers/${id}/timeline?type=${encodeURIComponent("x' OR 1=1")}`), 400, 'validation_failed');
    });

    it('filters by time: after inclusive, before exclusive', async () => {
      const window = await api.get(`/customers/${id}/timeline?after=2025-01-10T18:30:00Z&before=2025-03-01T19:00:00Z`);
      expect(types(window)).toEqual(['order.refunded', 'order.completed']);
      const byDate = await api.get(`/customers/${id}/timeline?after=2025-03-01&before=2025-03-03&type=ticket.*,cart.*`);
      expect(types(byDate)).toEqual(['cart.updated', 'cart.updated', 'ticket.checked_in', 'ticket.checked_in', 'ticket.checked_in']);
      expectError(await api.get(`/customers/${id}/timeline?before=soon`), 400, 'validation_failed');
    });

    it('paginates with ties on occurred_at and sub-millisecond times', async () => {
      const everything = (await api.get(`/customers/${id}/timeline?limit=500`)).json().data.map((e: any) => e.id);
      for (const limit of [1, 2, 3, 4]) {
        const { items } = await readAll(api, `/customers/${id}/timeline`, limit);
        expect(items.map((e) => e.id), `limit ${limit}`).toEqual(everything);
      }
      const { items } = await readAll(api, `/customers/${id}/timeline?type=ticket.*`, 2);
      expect(items.map((e) => e.source_id).sort()).toEqual(['evt_4', 'evt_5', 'evt_6']);
      expectError(await api.get(`/customers/${id}/timeline?cursor=nope`), 400, 'invalid_cursor');
    });

    it('is another tenant\'s 404', async () => {
      const b = client(ctx, (await createTestTenant(ctx.db)).headers);
      expectError(await b.get(`/customers/${id}/timeline`), 404, 'customer_not_found');
      expectError(await b.get(`/customers/${id}/activity?type=order.*`), 404, 'customer_not_found');
    });
  });

  it('answers 404 for unknown and malformed customer ids', async () => {
    expectError(await api.get('/customers/00000000-0000-4000-8000-000000000000/timeline'), 404, 'customer_not_found');
    expectError(await api.get('/customers/xyz/activity'), 404, 'customer_not_found');
  });
});

describe('parseTypeFilter', () => {
  it('splits exact types and prefixes', () => {
    expect(parseTypeFilter('order.*, note.added,,cart.*')).toEqual({ types: ['note.added'], prefixes: ['order.', 'cart.'] });
    expect(parseTypeFilter(undefined)).toEqual({ types: [], prefixes: [] });
    expect(parseTypeFilter('*,order.created')).toEqual({ types: [], prefixes: [] });
    expect(() => parseTypeFilter('order%')).toThrow();
  });
});
