import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { patternMatches, patternProblem, PUBLISHED_EVENT_TYPES } from './outbox.events.js';
import { enqueueEvents, listOutbox } from './outbox.repository.js';
import { purgeOutbox } from './outbox.service.js';

// The dispatcher and delivery are tested with real receivers in webhooks.test.ts; this file checks
// what is written to the outbox, and that it is written with the change or not at all.

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const call = (t: TestTenant, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
  ctx.app.inject({ method, url: `/api/crm${url}`, headers: t.headers, ...(payload === undefined ? {} : { payload: payload as object }) });

async function events(t: TestTenant) {
  return (await listOutbox(ctx.db, t.tenantId, 1000)).map((e) => ({ type: e.type, customer_id: e.customer_id, data: e.payload as any, seq: e.seq }));
}

describe('enqueueEvents', () => {
  it('writes events in the order given, in the caller transaction', async () => {
    const t = await createTestTenant(ctx.db);
    await ctx.db.transaction((tx) =>
      enqueueEvents(tx, t.tenantId, [
        { type: 'campaign.sent', payload: { n: 1 } },
        { type: 'campaign.sent', payload: { n: 2 }, occurredAt: '2025-01-10T18:30:00Z' },
        { type: 'campaign.sent', payload: { n: 3 } },
      ]),
    );
    const rows = await listOutbox(ctx.db, t.tenantId);
    expect(rows.map((r) => r.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(rows[1].occurred_at.toISOString()).toBe('2025-01-10T18:30:00.000Z');
    expect(rows[0].seq).toBeLessThan(rows[1].seq);
    expect(rows[1].seq).toBeLessThan(rows[2].seq);
    await enqueueEvents(ctx.db, t.tenantId, []);
    expect(await listOutbox(ctx.db, t.tenantId)).toHaveLength(3);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const t = await createTestTenant(ctx.db);
    await expect(
      ctx.db.transaction(async (tx) => {
        await enqueueEvents(tx, t.tenantId, [{ type: 'customer.deleted', payload: {} }]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await listOutbox(ctx.db, t.tenantId)).toHaveLength(0);
  });
});

describe('customer events', () => {
  it('publishes created, updated (changed fields only), tags, consent and deleted', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await call(t, 'POST', '/customers', { email: 'Ion@Exemplu.ro', first_name: 'Ion', tags: ['vip'] });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().id;

    // No change, no event.
    expect((await call(t, 'PATCH', `/customers/${id}`, { first_name: 'Ion' })).statusCode).toBe(200);
    expect((await call(t, 'PATCH', `/customers/${id}`, { first_name: 'Ioan', city: 'Iași' })).statusCode).toBe(200);
    expect((await call(t, 'PATCH', `/customers/${id}`, { consent: { marketing_email: true } })).statusCode).toBe(200);
    expect((await call(t, 'POST', `/customers/${id}/tags`, { tags: ['rock'] })).statusCode).toBeLessThan(300);
    expect((await call(t, 'DELETE', `/customers/${id}`)).statusCode).toBe(204);

    const got = await events(t);
    expect(got.map((e) => e.type)).toEqual(['customer.created', 'customer.updated', 'customer.updated', 'customer.updated', 'customer.deleted']);
    expect(got.every((e) => e.customer_id === id)).toBe(true);
    expect(got[0].data.customer).toMatchObject({ id, email: 'ion@exemplu.ro', first_name: 'Ion', tags: ['vip'] });
    expect(got[1].data).toEqual({ customer_id: id, changes: { first_name: { from: 'Ion', to: 'Ioan' }, city: { from: null, to: 'Iași' } } });
    expect(got[2].data).toEqual({ customer_id: id, changes: { 'consent.marketing_email': { from: false, to: true } } });
    expect(got[3].data).toEqual({ customer_id: id, changes: { tags: { from: ['vip'], to: ['vip', 'rock'] } } });
    expect(got[4].data).toEqual({ customer_id: id, external_id: null });
  });

  it('publishes nothing when the change is rejected', async () => {
    const t = await createTestTenant(ctx.db);
    expect((await call(t, 'POST', '/customers', { email: 'not-an-email' })).statusCode).toBe(400);
    const id = (await call(t, 'POST', '/customers', { email: 'x@exemplu.ro' })).json().id;
    expect((await call(t, 'PATCH', `/customers/${id}`, { phone: 'nope' })).statusCode).toBe(400);
    expect((await events(t)).map((e) => e.type)).toEqual(['customer.created']);
  });
});

describe('loyalty events', () => {
  it('publishes customer.tier_changed on adjust, redeem does not lower the tier, and on a tier-table change', async () => {
    const t = await createTestTenant(ctx.db);
    const id = (await call(t, 'POST', '/customers', { email: 'tier@exemplu.ro' })).json().id;
    const startTier = (await call(t, 'GET', `/customers/${id}/loyalty`)).json().tier;
    expect((await call(t, 'POST', `/customers/${id}/loyalty/adjust`, { points: 1200, note: 'gift' })).json().tier).toBe('silver');
    // Redemptions spend the balance but keep the tier: no event.
    expect((await call(t, 'POST', `/customers/${id}/loyalty/redeem`, { points: 100 })).statusCode).toBe(200);
    // Silver moves up to 2000: the customer drops back.
    const put = await call(t, 'PUT', '/loyalty/tiers', { tiers: [{ name: 'bronze', min_points: 0 }, { name: 'silver', min_points: 2000 }] });
    expect(put.statusCode, put.body).toBe(200);
    expect((await call(t, 'POST', `/customers/${id}/loyalty/adjust`, { points: -1000, note: 'correction' })).statusCode).toBe(200);

    const tier = (await events(t)).filter((e) => e.type === 'customer.tier_changed');
    expect(tier.map((e) => e.data)).toEqual([
      { customer_id: id, old_tier: startTier, new_tier: 'silver', points_earned: 1200, cause: 'adjusted' },
      { customer_id: id, old_tier: 'silver', new_tier: 'bronze', points_earned: 1200, cause: 'tiers_updated' },
    ]);
    expect(tier.every((e) => e.customer_id === id)).toBe(true);
  });
});

describe('event type patterns', () => {
  it('accepts *, published types and namespace wildcards; names what is wrong otherwise', () => {
    for (const ok of ['*', 'customer.*', 'campaign.*', ...PUBLISHED_EVENT_TYPES]) expect(patternProblem(ok), ok).toBeNull();
    for (const bad of ['customer.nope', 'order.*', 'webhook.test', 'customer']) expect(patternProblem(bad), bad).toMatch(/"/);
  });

  it('matches like the dispatcher', () => {
    expect(patternMatches('*', 'customer.created')).toBe(true);
    expect(patternMatches('customer.*', 'customer.tier_changed')).toBe(true);
    expect(patternMatches('customer.*', 'campaign.sent')).toBe(false);
    expect(patternMatches('customer.created', 'customer.created')).toBe(true);
    expect(patternMatches('customer.created', 'customer.updated')).toBe(false);
  });

  it('sees the outbox rows of its own tenant only', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    await enqueueEvents(ctx.db, a.tenantId, [{ type: 'campaign.sent', payload: {} }]);
    expect(await listOutbox(ctx.db, b.tenantId)).toHaveLength(0);
    const n = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${a.tenantId}::uuid`);
    expect(n!.n).toBe(1);
  });
});

describe('purgeOutbox', () => {
  it('deletes dispatched events and finished deliveries past their retention, nothing else', async () => {
    const t = await createTestTenant(ctx.db);
    await enqueueEvents(ctx.db, t.tenantId, [
      { type: 'campaign.sent', payload: { n: 'old dispatched' } },
      { type: 'campaign.sent', payload: { n: 'old not dispatched' } },
      { type: 'campaign.sent', payload: { n: 'recent dispatched' } },
    ]);
    const [oldDone, , recent] = await listOutbox(ctx.db, t.tenantId);
    await ctx.db.run(sql`UPDATE outbox SET webhooks_dispatched_at = now() - interval '8 days' WHERE tenant_id = ${t.tenantId}::uuid AND id = ${oldDone.id}::uuid`);
    await ctx.db.run(sql`UPDATE outbox SET webhooks_dispatched_at = now() - interval '1 day' WHERE tenant_id = ${t.tenantId}::uuid AND id = ${recent.id}::uuid`);
    const sub = await ctx.db.one<{ id: string }>(sql`
      -- inactive: a dispatcher running in another test file must not queue anything for it
      INSERT INTO webhook_subscriptions (tenant_id, url, event_types, secret, active)
      VALUES (${t.tenantId}::uuid, 'https://example.invalid/', '{*}', 'whsec_x', false)
      RETURNING id`);
    for (const [status, age] of [['succeeded', 31], ['dead', 31], ['failed', 31], ['succeeded', 1]] as const) {
      await ctx.db.run(sql`
        INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, event_seq, event_type, payload, status, updated_at)
        VALUES (${t.tenantId}::uuid, ${sub!.id}::uuid, gen_random_uuid(), 1, 'campaign.sent', '{}', ${status},
                now() - ${age} * interval '1 day')`);
    }
    await purgeOutbox(ctx.db);
    expect((await listOutbox(ctx.db, t.tenantId)).map((e) => (e.payload as any).n)).toEqual(['old not dispatched', 'recent dispatched']);
    const left = await ctx.db.rows<{ status: string }>(sql`
      SELECT status FROM webhook_deliveries WHERE tenant_id = ${t.tenantId}::uuid ORDER BY status`);
    expect(left.map((d) => d.status)).toEqual(['failed', 'succeeded']);
  });
});
