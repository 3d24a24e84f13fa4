import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, type Client } from './customers.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function tenantApi(): Promise<{ api: Client; tenantId: string; keyFor: (r: 'viewer' | 'employee' | 'admin') => Promise<{ authorization: string }> }> {
  const t = await createTestTenant(ctx.db);
  return { api: client(ctx, t.headers), tenantId: t.tenantId, keyFor: t.keyFor };
}

async function timelineTypes(api: Client, id: string): Promise<string[]> {
  const res = await api.get(`/customers/${id}/timeline?limit=500`);
  expect(res.statusCode).toBe(200);
  return res.json().data.map((e: any) => e.type);
}

const FULL = {
  external_id: 'u_42',
  email: '  Ion.Popescu@Exemplu.RO ',
  phone: '0722 123 456',
  first_name: 'Ion',
  last_name: 'Popescu',
  customer_type: 'individual',
  status: 'prospect',
  date_of_birth: '1990-05-17',
  gender: 'male',
  addresses: [{ type: 'Home', line1: 'Str. Memorandumului 1', city: 'Cluj-Napoca', postal_code: '400114', country: 'ro' }],
  city: 'Cluj-Napoca',
  state: 'CJ',
  country: 'ro',
  postal_code: '400114',
  source: 'box_office',
  tags: [' VIP', 'rock-fans', 'vip'],
  preferences: { genres: ['rock', 'jazz'], communication: ['email'] },
  consent: { marketing_email: true, marketing_sms: false },
  custom_fields: { shoe_size: 43, member_since: '2019' },
};

describe('customer CRUD', () => {
  it('creates a customer, normalizes contact data and answers the full profile', async () => {
    const { api } = await tenantApi();
    const res = await api.post('/customers', FULL);
    expect(res.statusCode, res.body).toBe(201);
    const c = res.json();
    expect(c).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      external_id: 'u_42',
      email: 'ion.popescu@exemplu.ro',
      phone: '+40722123456',
      first_name: 'Ion',
      last_name: 'Popescu',
      name: 'Ion Popescu',
      company_name: null,
      customer_type: 'individual',
      status: 'prospect',
      date_of_birth: '1990-05-17',
      gender: 'male',
      addresses: [{ type: 'home', line1: 'Str. Memorandumului 1', city: 'Cluj-Napoca', postal_code: '400114', country: 'RO' }],
      city: 'Cluj-Napoca',
      state: 'CJ',
      country: 'RO',
      postal_code: '400114',
      source: 'box_office',
      tags: ['vip', 'rock-fans'],
      preferences: { genres: ['rock', 'jazz'], communication: ['email'] },
      consent: { marketing_email: true, marketing_sms: false, updated_at: expect.any(String) },
      custom_fields: { shoe_size: 43, member_since: '2019' },
      loyalty_tier: 'bronze',
      loyalty_points: 0,
      is_vip: false,
      metrics: {
        total_orders: 0, total_spend: 0, events_attended: 0, average_order_value: 0, lifetime_value: 0,
        first_purchase: null, last_purchase: null,
      },
      segments: [],
      last_contact_at: null,
      last_activity_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const got = await api.get(`/customers/${c.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(c);
  });

  it('answers metrics from the stored columns as numbers with two decimals', async () => {
    const { api, tenantId } = await tenantApi();
    const c = await api.create({ email: 'metrics@x.ro' });
    await ctx.db.run(sql`
      UPDATE customers SET total_orders = 3, total_spend = 150.5, events_attended = 2, average_order_value = 50.17,
        lifetime_value = 1200, first_purchase = '2024-01-15T10:00:00Z', last_purchase = '2025-01-10T18:30:00Z',
        loyalty_points = 150, loyalty_tier = 'silver'
      WHERE tenant_id = ${tenantId} AND id = ${c.id}::uuid`);
    const body = (await api.get(`/customers/${c.id}`)).json();
    expect(body.metrics).toEqual({
      total_orders: 3, total_spend: 150.5, events_attended: 2, average_order_value: 50.17, lifetime_value: 1200,
      first_purchase: '2024-01-15T10:00:00.000Z', last_purchase: '2025-01-10T18:30:00.000Z',
    });
    expect(body).toMatchObject({ loyalty_points: 150, loyalty_tier: 'silver' });
  });

  it('PATCH changes only the given fields and records what changed', async () => {
    const { api } = await tenantApi();
    const c = await api.create(FULL);
    const res = await api.patch(`/customers/${c.id}`, { phone: '+40 (744) 555-666', city: 'Iași', gender: null });
    expect(res.statusCode, res.body).toBe(200);
    const after = res.json();
    expect(after).toMatchObject({ phone: '+40744555666', city: 'Iași', gender: null, email: c.email, tags: c.tags, status: 'prospect' });
    expect(new Date(after.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(c.updated_at).getTime());
    const entry = (await api.get(`/customers/${c.id}/timeline?type=profile.updated`)).json().data[0];
    expect(entry.data.changes).toEqual({
      phone: { from: '+40722123456', to: '+40744555666' },
      city: { from: 'Cluj-Napoca', to: 'Iași' },
      gender: { from: 'male', to: null },
    });
    expect(entry.actor).toMatch(/^key:/);
  });

  it('PUT replaces the editable fields (omitted ones reset, consent kept)', async () => {
    const { api } = await tenantApi();
    const c = await api.create(FULL);
    const res = await api.put(`/customers/${c.id}`, { email: 'firma@exemplu.ro', customer_type: 'business', company_name: 'Exemplu SRL' });
    expect(res.statusCode, res.body).toBe(200);
    const after = res.json();
    expect(after).toMatchObject({
      email: 'firma@exemplu.ro', customer_type: 'business', company_name: 'Exemplu SRL', name: 'Exemplu SRL',
      external_id: null, phone: null, first_name: null, last_name: null, status: 'active', date_of_birth: null,
      addresses: [], tags: [], preferences: {}, custom_fields: {}, country: null,
      consent: { marketing_email: true, marketing_sms: false },
    });
    const entry = (await api.get(`/customers/${c.id}/timeline?type=profile.updated`)).json().data[0];
    expect(Object.keys(entry.data.changes).sort()).toEqual([
      'addresses', 'city', 'company_name', 'country', 'custom_fields', 'customer_type', 'date_of_birth', 'email',
      'external_id', 'first_name', 'gender', 'last_name', 'phone', 'postal_code', 'preferences', 'source', 'state',
      'status', 'tags',
    ]);
    expect(entry.data.changes.email).toEqual({ from: 'ion.popescu@exemplu.ro', to: 'firma@exemplu.ro' });
  });

  it('writes no timeline entry when nothing changed', async () => {
    const { api } = await tenantApi();
    const c = await api.create(FULL);
    const before = await timelineTypes(api, c.id);
    // Same values in another spelling and key order: still no change.
    const same = await api.patch(`/customers/${c.id}`, {
      email: 'ION.POPESCU@exemplu.ro', phone: '+40722123456', custom_fields: { member_since: '2019', shoe_size: 43 },
      consent: { marketing_email: true },
    });
    expect(same.statusCode).toBe(200);
    expect(same.json().updated_at).toBe(c.updated_at);
    const empty = await api.patch(`/customers/${c.id}`, {});
    expect(empty.statusCode).toBe(200);
    expect(await timelineTypes(api, c.id)).toEqual(before);
  });

  it('records consent changes per channel and stamps consent.updated_at', async () => {
    const { api } = await tenantApi();
    const c = await api.create({ email: 'consent@x.ro', consent: { marketing_email: true } });
    const res = await api.patch(`/customers/${c.id}`, { consent: { marketing_email: false, marketing_sms: true }, first_name: 'Ana' });
    const after = res.json();
    expect(after.consent).toEqual({ marketing_email: false, marketing_sms: true, updated_at: expect.any(String) });
    expect(new Date(after.consent.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(c.consent.updated_at).getTime());
    const entries = (await api.get(`/customers/${c.id}/timeline?type=consent.changed`)).json().data;
    expect(entries.map((e: any) => e.data)).toEqual([
      { channel: 'sms', granted: true, source: 'api' },
      { channel: 'email', granted: false, source: 'api' },
      { channel: 'email', granted: true, source: 'api' },
    ]);
    // The profile change is recorded apart from consent.
    const profile = (await api.get(`/customers/${c.id}/timeline?type=profile.updated`)).json().data;
    expect(profile).toHaveLength(1);
    expect(profile[0].data.changes).toEqual({ first_name: { from: null, to: 'Ana' } });
  });

  it('soft-deletes: the customer answers 404 afterwards and leaves every listing', async () => {
    const { api, tenantId } = await tenantApi();
    const c = await api.create({ email: 'gone@x.ro', external_id: 'gone-1' });
    const res = await api.del(`/customers/${c.id}`);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');
    expectError(await api.get(`/customers/${c.id}`), 404, 'customer_not_found');
    expectError(await api.patch(`/customers/${c.id}`, { first_name: 'X' }), 404, 'customer_not_found');
    expectError(await api.get(`/customers/${c.id}/timeline`), 404, 'customer_not_found');
    expectError(await api.del(`/customers/${c.id}`), 404, 'customer_not_found');
    expect((await api.get('/customers?search=gone')).json().data).toEqual([]);
    const row = await ctx.db.one<{ deleted_at: Date | null; n: number }>(sql`
      SELECT c.deleted_at, (SELECT count(*) FROM activities a WHERE a.tenant_id = c.tenant_id AND a.customer_id = c.id
                            AND a.type = 'customer.deleted')::int AS n
      FROM customers c WHERE c.tenant_id = ${tenantId} AND c.id = ${c.id}::uuid`);
    expect(row!.deleted_at).toBeInstanceOf(Date);
    expect(row!.n).toBe(1);
    // The external id is free again.
    expect((await api.post('/customers', { external_id: 'gone-1' })).statusCode).toBe(201);
  });

  it('answers 404 for unknown and malformed ids; a merged id reads as its survivor and cannot be written', async () => {
    const { api, tenantId } = await tenantApi();
    expectError(await api.get('/customers/00000000-0000-4000-8000-000000000000'), 404, 'customer_not_found');
    expectError(await api.get('/customers/not-a-uuid'), 404, 'customer_not_found');
    expectError(await api.patch('/customers/not-a-uuid', { first_name: 'x' }), 404, 'customer_not_found');
    const a = await api.create({ email: 'keep@x.ro' });
    const b = await api.create({ email: 'dup@x.ro' });
    await ctx.db.run(sql`UPDATE customers SET merged_into = ${a.id}::uuid WHERE tenant_id = ${tenantId} AND id = ${b.id}::uuid`);
    // GET follows the merge (issue 6: lookups of a merged id answer the survivor)
    const merged = await api.get(`/customers/${b.id}`);
    expect(merged.statusCode).toBe(200);
    expect(merged.json().id).toBe(a.id);
    const write = await api.patch(`/customers/${b.id}`, { first_name: 'x' });
    expectError(write, 404, 'customer_not_found');
    expect(write.json().error.details).toEqual({ id: b.id, merged_into: a.id });
    expect((await api.get('/customers')).json().data.map((c: any) => c.id)).toEqual([a.id]);
  });

  it('rejects a duplicate external_id with 409', async () => {
    const { api } = await tenantApi();
    await api.create({ external_id: 'ext-1' });
    const other = await api.create({ external_id: 'ext-2' });
    const dup = await api.post('/customers', { external_id: 'ext-1', email: 'dup@x.ro' });
    expectError(dup, 409, 'customer_conflict');
    expect(dup.json().error.details).toMatchObject({ field: 'external_id' });
    expectError(await api.patch(`/customers/${other.id}`, { external_id: 'ext-1' }), 409, 'customer_conflict');
    expect((await api.get(`/customers/${other.id}`)).json().external_id).toBe('ext-2');
    expect((await api.get('/customers?search=dup@x.ro')).json().data).toEqual([]);
    // Another tenant may use the same external id.
    const { api: api2 } = await tenantApi();
    expect((await api2.post('/customers', { external_id: 'ext-1' })).statusCode).toBe(201);
  });
});

describe('validation', () => {
  it('rejects bad input with 400 and changes nothing', async () => {
    const { api } = await tenantApi();
    const c = await api.create({ first_name: 'Maria', email: 'maria@x.ro', phone: '0744 000 111' });
    const before = (await api.get(`/customers/${c.id}`)).json();
    const entries = await timelineTypes(api, c.id);

    const cases: [Record<string, unknown>, string, string?][] = [
      [{ nickname: 'Mary' }, 'validation_failed'],
      [{ email: 'maria@' }, 'invalid_email', 'email'],
      [{ email: 'not an email' }, 'invalid_email', 'email'],
      [{ phone: '12' }, 'invalid_phone', 'phone'],
      [{ phone: '0722 12' }, 'invalid_phone', 'phone'],
      [{ customer_type: 'business' }, 'validation_failed', 'company_name'],
      [{ customer_type: 'business', company_name: '   ' }, 'validation_failed', 'company_name'],
      [{ customer_type: 'reseller' }, 'validation_failed'],
      [{ status: 'vip' }, 'validation_failed'],
      [{ date_of_birth: '2999-01-01' }, 'validation_failed', 'date_of_birth'],
      [{ date_of_birth: new Date(Date.now() + 2 * 86400_000).toISOString().slice(0, 10) }, 'validation_failed', 'date_of_birth'],
      [{ date_of_birth: '1899-12-31' }, 'validation_failed', 'date_of_birth'],
      [{ date_of_birth: '1990-02-30' }, 'validation_failed'],
      [{ date_of_birth: '17/05/1990' }, 'validation_failed'],
      [{ tags: 'vip' }, 'validation_failed'],
      [{ tags: ['ok', ''] }, 'validation_failed'],
      [{ tags: ['   '] }, 'validation_failed', 'tags'],
      [{ tags: ['x'.repeat(51)] }, 'validation_failed'],
      [{ tags: [1] }, 'validation_failed'],
      [{ first_name: 42 }, 'validation_failed'],
      [{ consent: { marketing_email: 'yes' } }, 'validation_failed'],
      [{ consent: { marketing_push: true } }, 'validation_failed'],
      [{ country: 'ROU' }, 'validation_failed'],
      [{ addresses: [{ line1: 'Str. 1' }] }, 'validation_failed'],
      [{ addresses: [{ line1: 'Str. 1', city: 'Cluj', floor: 2 }] }, 'validation_failed'],
      [{ preferences: ['rock'] }, 'validation_failed'],
      [{ custom_fields: 'x' }, 'validation_failed'],
      [{ custom_fields: { blob: 'x'.repeat(20000) } }, 'validation_failed', 'custom_fields'],
      [{ first_name: null, email: null, phone: null }, 'validation_failed'],
    ];
    for (const [body, code, field] of cases) {
      const res = await api.patch(`/customers/${c.id}`, body);
      expect(res.statusCode, `${JSON.stringify(body).slice(0, 80)} → ${res.body}`).toBe(400);
      expect(res.json().error.code, JSON.stringify(body).slice(0, 80)).toBe(code);
      if (field) expect(res.json().error.details).toMatchObject({ field });
      const created = await api.post('/customers', { email: 'new@x.ro', ...body });
      expect(created.statusCode, `POST ${JSON.stringify(body).slice(0, 80)} → ${created.body}`).toBe(400);
    }
    expect((await api.get(`/customers/${c.id}`)).json()).toEqual(before);
    expect(await timelineTypes(api, c.id)).toEqual(entries);
    expect((await api.get('/customers')).json().data.map((x: any) => x.id)).toEqual([c.id]);
  });

  it('needs at least a name or a contact to create a customer', async () => {
    const { api } = await tenantApi();
    expectError(await api.post('/customers', {}), 400, 'validation_failed');
    expectError(await api.post('/customers', { status: 'prospect', tags: ['x'] }), 400, 'validation_failed');
    expectError(await api.post('/customers', { email: '   ' }), 400, 'validation_failed');
  });

  it('rejects malformed JSON', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await ctx.app.inject({
      method: 'POST', url: '/api/crm/customers', headers: { ...t.headers, 'content-type': 'application/json' }, payload: '{"email":',
    });
    expectError(res, 400, 'invalid_json');
  });

  it('normalizes phones in national, international and 00 forms to E.164', async () => {
    const { api } = await tenantApi();
    for (const [input, e164] of [
      ['0722 123 456', '+40722123456'],
      ['0722-123-456', '+40722123456'],
      ['+40 722 123 456', '+40722123456'],
      ['0040722123456', '+40722123456'],
      ['+36 30 123 4567', '+36301234567'],
    ]) {
      const c = await api.create({ phone: input });
      expect(c.phone, input).toBe(e164);
    }
  });

  it('uses DEFAULT_PHONE_REGION for national numbers', async () => {
    const hu = await createTestApp({ DEFAULT_PHONE_REGION: 'HU' });
    try {
      const t = await createTestTenant(hu.db);
      const api = client(hu, t.headers);
      expect((await api.create({ phone: '06 30 123 4567' })).phone).toBe('+36301234567');
      expectError(await api.post('/customers', { phone: '0722 123 456' }), 400, 'invalid_phone');
    } finally {
      await hu.close();
    }
  });
});

describe('tags', () => {
  it('adds idempotently and removes by body or query, recording each change', async () => {
    const { api } = await tenantApi();
    const c = await api.create({ email: 'tags@x.ro', tags: ['rock'] });
    const added = await api.post(`/customers/${c.id}/tags`, { tags: ['VIP', ' jazz ', 'rock'] });
    expect(added.statusCode, added.body).toBe(200);
    expect(added.json()).toEqual({ tags: ['rock', 'vip', 'jazz'] });
    const again = await api.post(`/customers/${c.id}/tags`, { tags: ['vip'] });
    expect(again.json()).toEqual({ tags: ['rock', 'vip', 'jazz'] });

    const byBody = await api.del(`/customers/${c.id}/tags`, { tags: ['ROCK', 'never-had'] });
    expect(byBody.statusCode, byBody.body).toBe(200);
    expect(byBody.json()).toEqual({ tags: ['vip', 'jazz'] });
    const byQuery = await api.del(`/customers/${c.id}/tags?tags=jazz,%20vip`);
    expect(byQuery.json()).toEqual({ tags: [] });
    expect((await api.get(`/customers/${c.id}`)).json().tags).toEqual([]);

    const changes = (await api.get(`/customers/${c.id}/timeline?type=profile.updated`)).json().data.map((e: any) => e.data.changes.tags);
    expect(changes).toEqual([
      { from: ['vip', 'jazz'], to: [] },
      { from: ['rock', 'vip', 'jazz'], to: ['vip', 'jazz'] },
      { from: ['rock'], to: ['rock', 'vip', 'jazz'] },
    ]);
  });

  it('rejects empty or missing tag lists', async () => {
    const { api } = await tenantApi();
    const c = await api.create({ email: 'tags2@x.ro' });
    expectError(await api.post(`/customers/${c.id}/tags`, { tags: [] }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/tags`, { tags: ['  '] }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/tags`, { labels: ['x'] }), 400, 'validation_failed');
    expectError(await api.del(`/customers/${c.id}/tags`), 400, 'validation_failed');
    expectError(await api.del(`/customers/${c.id}/tags?tags=,,`), 400, 'validation_failed');
  });
});

describe('roles', () => {
  it('viewers read, employees write but do not delete customers, admins delete', async () => {
    const { api, keyFor } = await tenantApi();
    const viewer = client(ctx, await keyFor('viewer'));
    const employee = client(ctx, await keyFor('employee'));
    const c = await api.create({ email: 'roles@x.ro', tags: ['a', 'b'] });

    expect((await viewer.get(`/customers/${c.id}`)).statusCode).toBe(200);
    expect((await viewer.get('/customers')).statusCode).toBe(200);
    expect((await viewer.get(`/customers/${c.id}/timeline`)).statusCode).toBe(200);
    expectError(await viewer.post('/customers', { email: 'v@x.ro' }), 403, 'forbidden');
    expectError(await viewer.patch(`/customers/${c.id}`, { first_name: 'V' }), 403, 'forbidden');
    expectError(await viewer.post(`/customers/${c.id}/tags`, { tags: ['x'] }), 403, 'forbidden');
    expectError(await viewer.del(`/customers/${c.id}/tags?tags=a`), 403, 'forbidden');
    expectError(await viewer.post(`/customers/${c.id}/notes`, { body: 'x' }), 403, 'forbidden');

    expect((await employee.post('/customers', { email: 'e@x.ro' })).statusCode).toBe(201);
    expect((await employee.patch(`/customers/${c.id}`, { first_name: 'E' })).statusCode).toBe(200);
    expectError(await employee.del(`/customers/${c.id}`), 403, 'forbidden');
    const untag = await employee.del(`/customers/${c.id}/tags?tags=a`);
    expect(untag.statusCode, untag.body).toBe(200);
    expect(untag.json().tags).toEqual(['b']);
    const note = (await employee.post(`/customers/${c.id}/notes`, { body: 'called' })).json();
    expectError(await employee.del(`/customers/${c.id}/notes/${note.id}`), 403, 'forbidden');
    expect((await api.get(`/customers/${c.id}`)).statusCode).toBe(200);

    expect((await api.del(`/customers/${c.id}/notes/${note.id}`)).statusCode).toBe(204);
    expect((await api.del(`/customers/${c.id}`)).statusCode).toBe(204);
  });

  it('needs credentials', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/customers' });
    expectError(res, 401, 'unauthorized');
  });
});

describe('tenant isolation', () => {
  it('another tenant gets 404 on every customer route and never sees the customer', async () => {
    const a = await tenantApi();
    const b = await tenantApi();
    const c = await a.api.create({ ...FULL, email: 'secret@a.ro', company_name: 'Alpha SRL' });
    const note = (await a.api.post(`/customers/${c.id}/notes`, { body: 'private' })).json();
    const before = (await a.api.get(`/customers/${c.id}`)).json();
    const timelineBefore = await timelineTypes(a.api, c.id);
    const id = c.id;
    const attempts = [
      b.api.get(`/customers/${id}`),
      b.api.put(`/customers/${id}`, { email: 'x@b.ro' }),
      b.api.patch(`/customers/${id}`, { first_name: 'Hijack' }),
      b.api.del(`/customers/${id}`),
      b.api.post(`/customers/${id}/tags`, { tags: ['b'] }),
      b.api.del(`/customers/${id}/tags?tags=vip`),
      b.api.get(`/customers/${id}/notes`),
      b.api.post(`/customers/${id}/notes`, { body: 'from b' }),
      b.api.get(`/customers/${id}/notes/${note.id}`),
      b.api.put(`/customers/${id}/notes/${note.id}`, { body: 'b' }),
      b.api.patch(`/customers/${id}/notes/${note.id}`, { pinned: true }),
      b.api.del(`/customers/${id}/notes/${note.id}`),
      b.api.get(`/customers/${id}/timeline`),
      b.api.get(`/customers/${id}/activity`),
      b.api.get(`/customers/${id}/orders`),
      b.api.get(`/customers/${id}/attendance`),
    ];
    for (const res of await Promise.all(attempts)) expectError(res, 404, 'customer_not_found');

    // B's own customer with B's path cannot reach A's note either.
    const own = await b.api.create({ email: 'own@b.ro' });
    expectError(await b.api.get(`/customers/${own.id}/notes/${note.id}`), 404, 'note_not_found');
    expectError(await b.api.del(`/customers/${own.id}/notes/${note.id}`), 404, 'note_not_found');

    for (const q of ['', '?search=secret', '?search=alpha', '?search=popescu', '?search=0722123456', '?tags=vip', '?sort=name', '?country=RO']) {
      const list = await b.api.get(`/customers${q}`);
      expect(list.statusCode).toBe(200);
      expect(list.json().data.map((x: any) => x.id), q).not.toContain(id);
    }
    expect((await a.api.get(`/customers/${id}`)).json()).toEqual(before);
    expect(await timelineTypes(a.api, id)).toEqual(timelineBefore);
    expect((await a.api.get(`/customers/${id}/notes/${note.id}`)).json().body).toBe('private');
  });
});
