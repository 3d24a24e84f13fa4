import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
});
afterAll(async () => ctx.close());

interface Entry {
  id: string;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string | null;
  before: any;
  after: any;
  request_id: string | null;
  chain_seq: number | null;
  hash: string | null;
}

async function call(t: TestTenant, method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object, headers = t.headers) {
  const res = await ctx.app.inject({ method, url: `/api/crm${url}`, headers, ...(payload ? { payload } : {}) });
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.body ? res.json() : null;
}

async function audit(t: TestTenant, query = ''): Promise<Entry[]> {
  const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/audit${query}`, headers: t.headers });
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data;
}

describe('audit trail of API mutations', () => {
  it('records customer, note, tag, interaction, loyalty, segment, webhook, catalog, key and ingestion changes', async () => {
    const t = await createTestTenant(ctx.db);
    const customer = await call(t, 'POST', '/customers', { first_name: 'Ion', email: 'ion@exemplu.ro' });
    await call(t, 'PATCH', `/customers/${customer.id}`, { first_name: 'Ionel', city: 'Cluj' });
    await call(t, 'POST', `/customers/${customer.id}/tags`, { tags: ['vip'] });
    const note = await call(t, 'POST', `/customers/${customer.id}/notes`, { body: 'Prefers balcony seats' });
    await call(t, 'DELETE', `/customers/${customer.id}/notes/${note.id}`);
    const interaction = await call(t, 'POST', `/customers/${customer.id}/interactions`, { type: 'call', subject: 'Asked about VIP' });
    await call(t, 'POST', `/customers/${customer.id}/loyalty/adjust`, { points: 50, note: 'goodwill' });
    const segment = await call(t, 'POST', '/segments', { name: 'Cluj', rules: { operator: 'and', conditions: [{ field: 'city', operator: '=', value: 'Cluj' }] } });
    await call(t, 'DELETE', `/segments/${segment.id}`);
    const webhook = await call(t, 'POST', '/webhooks', { url: 'http://127.0.0.1:9/hook', event_types: ['customer.*'] });
    await call(t, 'POST', '/catalog/events', { id: 'ev_audit', name: 'Audit Fest' });
    const key = await call(t, 'POST', '/api-keys', { name: 'ci', role: 'viewer' });
    await call(t, 'DELETE', `/api-keys/${key.id}`);
    await call(t, 'POST', '/events', {
      events: [
        { id: 'a1', type: 'user.registered', occurred_at: new Date().toISOString(), customer: { email: 'ana@exemplu.ro' }, data: {} },
        { id: 'a2', type: 'order.completed', occurred_at: new Date().toISOString(), customer: { email: 'ana@exemplu.ro' }, data: { order_id: 'o1', total: 10, currency: 'RON' } },
        { id: 'bad', type: 'order.completed', occurred_at: 'yesterday', customer: {}, data: {} },
      ],
    });

    const entries = await audit(t, '?limit=100');
    const byAction = new Map(entries.map((e) => [e.action, e]));
    for (const action of [
      'customer.create', 'customer.update', 'customer.tags_add', 'note.create', 'note.delete', 'interaction.create', 'loyalty.adjust',
      'segment.create', 'segment.delete', 'webhook.create', 'catalog_event.create', 'api_key.create', 'api_key.revoke', 'events.ingest',
      'tenant.create',
    ]) expect(byAction.has(action), action).toBe(true);

    const update = byAction.get('customer.update')!;
    expect(update).toMatchObject({
      entity_type: 'customer', entity_id: customer.id, before: { first_name: 'Ion', city: null }, after: { first_name: 'Ionel', city: 'Cluj' },
    });
    expect(update.actor).toMatch(/^key:/);
    expect(update.request_id).toBeTruthy();
    expect(byAction.get('customer.create')!.after).toMatchObject({ email: 'ion@exemplu.ro', first_name: 'Ion' });
    expect(byAction.get('note.delete')!).toMatchObject({ entity_id: note.id, before: { body: 'Prefers balcony seats' }, after: null });
    expect(byAction.get('interaction.create')!).toMatchObject({ entity_id: interaction.id, after: { subject: 'Asked about VIP' } });
    expect(byAction.get('loyalty.adjust')!.after).toMatchObject({ points: 50, note: 'goodwill' });
    expect(byAction.get('segment.delete')!.before).toMatchObject({ name: 'Cluj' });
    // secrets never enter the trail
    expect(JSON.stringify(byAction.get('webhook.create'))).not.toContain(webhook.secret);
    expect(JSON.stringify(byAction.get('api_key.create'))).not.toContain(key.api_key);
    // one entry per ingested batch, with counts
    expect(entries.filter((e) => e.action === 'events.ingest')).toHaveLength(1);
    expect(byAction.get('events.ingest')!.after).toEqual({
      received: 3, accepted: 2, duplicates: 0, rejected: 1, by_type: { 'user.registered': 1, 'order.completed': 1 },
    });
    // listed entries are sealed (the list seals first), each at its own place in the chain
    expect(entries.every((e) => e.chain_seq !== null && /^[0-9a-f]{64}$/.test(e.hash!))).toBe(true);
    expect(new Set(entries.map((e) => e.chain_seq)).size).toBe(entries.length);

    // filters and pagination
    const forCustomer = await audit(t, `?entity_type=customer&entity_id=${customer.id}`);
    expect(forCustomer.length).toBeGreaterThanOrEqual(3);
    expect(forCustomer.every((e) => e.entity_id === customer.id)).toBe(true);
    expect((await audit(t, '?action=segment.*')).map((e) => e.action).sort()).toEqual(['segment.create', 'segment.delete']);
    expect(await audit(t, `?actor=${encodeURIComponent('user:nobody')}`)).toEqual([]);
    expect(await audit(t, `?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    const first = await ctx.app.inject({ method: 'GET', url: '/api/crm/audit?limit=2', headers: t.headers });
    const page2 = await ctx.app.inject({ method: 'GET', url: `/api/crm/audit?limit=2&cursor=${first.json().next_cursor}`, headers: t.headers });
    expect(page2.json().data.map((e: Entry) => e.id)).toEqual(entries.slice(2, 4).map((e) => e.id));
  });

  it('verify passes, then reports a changed entry and a deleted one', async () => {
    const t = await createTestTenant(ctx.db);
    const customer = await call(t, 'POST', '/customers', { first_name: 'Maria' });
    await call(t, 'PATCH', `/customers/${customer.id}`, { last_name: 'Pop' });
    await call(t, 'PATCH', `/customers/${customer.id}`, { last_name: 'Popa' });
    const ok = await call(t, 'GET', '/audit/verify');
    expect(ok).toMatchObject({ ok: true, first_broken: null, unsealed: 0 });
    expect(ok.checked).toBeGreaterThanOrEqual(5);

    const target = await ctx.db.one<{ chain_seq: number }>(sql`
      SELECT chain_seq FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND action = 'customer.update' ORDER BY chain_seq LIMIT 1`);
    await ctx.db.transaction(async (tx) => {
      await tx.run(sql`SET LOCAL session_replication_role = replica`);
      await tx.run(sql`UPDATE audit_log SET actor = 'someone-else' WHERE tenant_id = ${t.tenantId}::uuid AND chain_seq = ${target!.chain_seq}`);
    });
    const changed = await call(t, 'GET', '/audit/verify');
    expect(changed).toMatchObject({ ok: false, first_broken: { chain_seq: target!.chain_seq, problem: 'hash_mismatch' } });

    await ctx.db.transaction(async (tx) => {
      await tx.run(sql`SET LOCAL session_replication_role = replica`);
      await tx.run(sql`DELETE FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND chain_seq = ${target!.chain_seq}`);
    });
    const deleted = await call(t, 'GET', '/audit/verify');
    expect(deleted).toMatchObject({ ok: false, first_broken: { chain_seq: target!.chain_seq, problem: 'missing_entry' } });

    // another tenant's chain is untouched
    const other = await createTestTenant(ctx.db);
    expect((await call(other, 'GET', '/audit/verify')).ok).toBe(true);
  });

  it('is for admins only, per tenant, and rejects bad filters', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const customer = await call(t, 'POST', '/customers', { first_name: 'Secret' });
    for (const role of ['viewer', 'employee'] as const) {
      const headers = await t.keyFor(role);
      for (const url of ['/api/crm/audit', '/api/crm/audit/verify']) {
        const res = await ctx.app.inject({ method: 'GET', url, headers });
        expect(res.statusCode, `${role} ${url}`).toBe(403);
      }
    }
    expect((await audit(other, `?entity_id=${customer.id}`))).toEqual([]);
    expect((await audit(other)).some((e) => e.entity_id === customer.id)).toBe(false);
    for (const query of ['?from=yesterday', '?limit=0', '?cursor=nope', '?action=DROP%20TABLE', '?unknown=1']) {
      const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/audit${query}`, headers: t.headers });
      expect(res.statusCode, query).toBe(400);
    }
    // nothing in the API changes the trail
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      const res = await ctx.app.inject({ method, url: '/api/crm/audit', headers: t.headers, payload: {} });
      expect(res.statusCode).toBe(404);
    }
  });
});
