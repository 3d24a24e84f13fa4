import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { listOutbox } from '../outbox/outbox.repository.js';

/**
 * Changes made through the API (not only ingested events) move segment membership at once:
 * profile edits, tags, consent, loyalty points and deletion, each in the change's own transaction.
 */

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => {
  await ctx.close();
});

const call = (t: TestTenant, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  ctx.app.inject({ method, url: `/api/crm${url}`, headers: t.headers, ...(payload ? { payload } : {}) });

async function segment(t: TestTenant, name: string, conditions: object[]): Promise<string> {
  const res = await call(t, 'POST', '/segments', { name, rules: { operator: 'and', conditions } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function members(t: TestTenant, segmentId: string): Promise<string[]> {
  const res = await call(t, 'GET', `/segments/${segmentId}/customers?limit=100`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data.map((c: { id: string }) => c.id);
}

describe('membership follows API changes at once', () => {
  it('create, edit, tags, consent, loyalty and delete each re-evaluate the customer', async () => {
    const t = await createTestTenant(ctx.db);
    const cluj = await segment(t, 'Cluj', [{ field: 'city', operator: '=', value: 'Cluj-Napoca' }]);
    const vipTag = await segment(t, 'Tagged VIP', [{ field: 'tags', operator: 'contains', value: 'vip' }]);
    const mailable = await segment(t, 'Mailable', [{ field: 'consent.marketing_email', operator: '=', value: true }]);
    const silver = await segment(t, 'Silver tier', [{ field: 'loyalty_tier', operator: '=', value: 'silver' }]);

    const created = await call(t, 'POST', '/customers', { email: 'ana@example.ro', city: 'Cluj-Napoca', consent: { marketing_email: true } });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    expect(created.json().segments.sort()).toEqual(['Cluj', 'Mailable']);
    expect(await members(t, cluj)).toEqual([id]);

    expect((await call(t, 'PATCH', `/customers/${id}`, { city: 'Iași' })).json().segments).toEqual(['Mailable']);
    expect(await members(t, cluj)).toEqual([]);

    expect((await call(t, 'POST', `/customers/${id}/tags`, { tags: ['vip'] })).statusCode).toBe(200);
    expect(await members(t, vipTag)).toEqual([id]);

    const withdrawn = await call(t, 'POST', `/customers/${id}/consent`, { channel: 'email', purpose: 'marketing', granted: false });
    expect(withdrawn.statusCode, withdrawn.body).toBe(201);
    expect(await members(t, mailable)).toEqual([]);

    const adjusted = await call(t, 'POST', `/customers/${id}/loyalty/adjust`, { points: 1500, note: 'welcome gift' });
    expect(adjusted.json().tier).toBe('silver');
    expect(await members(t, silver)).toEqual([id]);

    // every entry and exit was published for subscribers
    const changes = (await listOutbox(ctx.db, t.tenantId, 1000)).filter((e) => e.type === 'customer.segment_changed');
    const entered = changes.flatMap((e) => (e.payload as { entered: { name: string }[] }).entered.map((s) => s.name));
    const exited = changes.flatMap((e) => (e.payload as { exited: { name: string }[] }).exited.map((s) => s.name));
    expect(entered.sort()).toEqual(['Cluj', 'Mailable', 'Silver tier', 'Tagged VIP']);
    expect(exited.sort()).toEqual(['Cluj', 'Mailable']);

    expect((await call(t, 'DELETE', `/customers/${id}`)).statusCode).toBe(204);
    expect(await members(t, vipTag)).toEqual([]);
    expect(await members(t, silver)).toEqual([]);
  });
});
