import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { listOutbox } from '../outbox/outbox.repository.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const order = (id: string, total: number, email = 'ana@example.ro') => ({
  id: `evt_${id}`, type: 'order.completed', occurred_at: new Date(Date.now() - 3600_000).toISOString(),
  customer: { email, first_name: 'Ana' },
  data: { order_id: `ord_${id}`, total, currency: 'RON', items: [{ event_id: 'ev_1', quantity: 1, unit_price: total }] },
});

describe('ingestion pipeline', () => {
  it('moves the customer into matching segments as soon as the batch is applied', async () => {
    const t = await createTestTenant(ctx.db);
    const seg = await ctx.app.inject({
      method: 'POST', url: '/api/crm/segments', headers: t.headers,
      payload: { name: 'Spent 500+', rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 500 }] } },
    });
    expect(seg.statusCode, seg.body).toBe(201);
    const segmentId = seg.json().id;

    const first = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [order('1', 200)] } });
    const customerId = first.json().results[0].customer_id;
    const members = async () =>
      (await ctx.app.inject({ method: 'GET', url: `/api/crm/segments/${segmentId}/customers`, headers: t.headers })).json().data.map((c: any) => c.id);
    expect(await members()).toEqual([]);

    await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [order('2', 350)] } });
    expect(await members()).toEqual([customerId]);
    const profile = (await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${customerId}`, headers: t.headers })).json();
    expect(profile.segments).toEqual(['Spent 500+']);

    const refund = {
      id: 'evt_3', type: 'order.refunded', occurred_at: new Date().toISOString(), customer: { email: 'ana@example.ro' },
      data: { order_id: 'ord_2', amount: 350 },
    };
    await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [refund] } });
    expect(await members()).toEqual([]);
  });

  it('publishes customer.created, customer.tier_changed and customer.segment_changed to the outbox', async () => {
    const t = await createTestTenant(ctx.db);
    await ctx.app.inject({
      method: 'POST', url: '/api/crm/segments', headers: t.headers,
      payload: { name: 'Buyers', rules: { conditions: [{ field: 'total_orders', operator: '>=', value: 1 }] } },
    });
    const res = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [order('9', 1200, 'ion@example.ro')] } });
    const customerId = res.json().results[0].customer_id;
    const events = (await listOutbox(ctx.db, t.tenantId)).filter((e) => e.customer_id === customerId);
    expect(events.map((e) => e.type)).toEqual(['customer.created', 'customer.tier_changed', 'customer.segment_changed']);
    expect(events[0].payload).toMatchObject({ customer: { id: customerId, email: 'ion@example.ro', source: 'ingest' } });
    expect(events[1].payload).toMatchObject({ customer_id: customerId, old_tier: 'bronze', new_tier: 'silver', cause: 'orders' });
    expect(events[2].payload).toMatchObject({ entered: [{ name: 'Buyers' }], exited: [] });

    // a redelivered batch publishes nothing new
    await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [order('9', 1200, 'ion@example.ro')] } });
    expect((await listOutbox(ctx.db, t.tenantId)).filter((e) => e.customer_id === customerId)).toHaveLength(3);
  });

  it('publishes customer.updated with from/to for what an ingested customer.updated event really changed', async () => {
    const t = await createTestTenant(ctx.db);
    const who = { external_id: 'u_upd', email: 'maria@example.ro', first_name: 'Maria' };
    const reg = {
      id: 'evt_reg', type: 'user.registered', occurred_at: new Date(Date.now() - 7200_000).toISOString(), customer: who,
      data: { city: 'Cluj-Napoca', consent: { marketing_email: true, marketing_sms: false } },
    };
    const first = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [reg] } });
    const customerId = first.json().results[0].customer_id;
    const upd = {
      id: 'evt_upd', type: 'customer.updated', occurred_at: new Date(Date.now() - 3600_000).toISOString(), customer: who,
      // city changes, the e-mail consent is withdrawn, the first name is sent unchanged
      data: { changes: { city: 'Iași', first_name: 'Maria', consent: { marketing_email: false } } },
    };
    const res = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events: [upd] } });
    expect(res.json().accepted).toBe(1);
    const updated = (await listOutbox(ctx.db, t.tenantId)).filter((e) => e.type === 'customer.updated');
    expect(updated).toHaveLength(1);
    expect(updated[0].payload).toEqual({
      customer_id: customerId,
      changes: { city: { from: 'Cluj-Napoca', to: 'Iași' }, 'consent.marketing_email': { from: true, to: false } },
    });
  });
});
