import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, type Client } from './customers.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function tenant(): Promise<{ api: Client; keyFor: (r: 'viewer' | 'employee' | 'admin') => Promise<{ authorization: string }> }> {
  const t = await createTestTenant(ctx.db);
  return { api: client(ctx, t.headers), keyFor: t.keyFor };
}

describe('POST /customers/identify', () => {
  it('creates a customer on first sight (201) and finds it afterwards (200)', async () => {
    const { api } = await tenant();
    const first = await api.post('/customers/identify', { email: ' Ion@Exemplu.RO ', first_name: 'Ion', last_name: 'Popescu' });
    expect(first.statusCode, first.body).toBe(201);
    const body = first.json();
    expect(body.created).toBe(true);
    expect(body.customer).toMatchObject({ email: 'ion@exemplu.ro', first_name: 'Ion', last_name: 'Popescu', name: 'Ion Popescu', segments: [] });
    expect(body.customer.metrics).toMatchObject({ total_orders: 0, total_spend: 0 });

    const again = await api.post('/customers/identify', { email: 'ION@exemplu.ro' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ customer: body.customer, created: false });

    const timeline = (await api.get(`/customers/${body.customer.id}/timeline`)).json().data;
    expect(timeline.map((e: any) => e.type)).toEqual(['customer.created']);
    expect((await api.get('/customers')).json().data).toHaveLength(1);
  });

  it('resolves by external_id first, then e-mail, then phone in any format', async () => {
    const { api } = await tenant();
    const byExt = await api.create({ external_id: 'u_42', email: 'ext@x.ro' });
    const byPhone = await api.create({ phone: '+40722123456', first_name: 'Ana' });

    const ext = await api.post('/customers/identify', { external_id: 'u_42', email: 'ext@x.ro' });
    expect(ext.statusCode).toBe(200);
    expect(ext.json().customer.id).toBe(byExt.id);

    const phone = await api.post('/customers/identify', { phone: '0722 123 456' });
    expect(phone.statusCode).toBe(200);
    expect(phone.json()).toMatchObject({ created: false, customer: { id: byPhone.id, phone: '+40722123456' } });

    const fresh = await api.post('/customers/identify', { external_id: 'u_43' });
    expect(fresh.statusCode).toBe(201);
    expect(fresh.json().customer).toMatchObject({ external_id: 'u_43' });
    expect(new Set([byExt.id, byPhone.id, fresh.json().customer.id]).size).toBe(3);
  });

  it('does not find deleted customers', async () => {
    const { api } = await tenant();
    const c = await api.create({ email: 'deleted@x.ro' });
    expect((await api.del(`/customers/${c.id}`)).statusCode).toBe(204);
    const res = await api.post('/customers/identify', { email: 'deleted@x.ro' });
    expect(res.statusCode).toBe(201);
    expect(res.json().customer.id).not.toBe(c.id);
  });

  it('rejects bodies without an identifier or with bad ones, creating nothing', async () => {
    const { api } = await tenant();
    expectError(await api.post('/customers/identify', {}), 400, 'validation_failed');
    expectError(await api.post('/customers/identify', { first_name: 'Ion' }), 400, 'validation_failed');
    expectError(await api.post('/customers/identify', { email: '   ' }), 400, 'validation_failed');
    const email = await api.post('/customers/identify', { email: 'ion@' });
    expectError(email, 400, 'invalid_email');
    expect(email.json().error.details).toMatchObject({ field: 'email' });
    const phone = await api.post('/customers/identify', { phone: '12345' });
    expectError(phone, 400, 'invalid_phone');
    expect(phone.json().error.details).toMatchObject({ field: 'phone' });
    expectError(await api.post('/customers/identify', { email: 'a@x.ro', company: 'X' }), 400, 'validation_failed');
    expectError(await api.post('/customers/identify', { email: 42 }), 400, 'validation_failed');
    expect((await api.get('/customers')).json().data).toEqual([]);
  });

  it('stays inside the tenant and needs the employee role', async () => {
    const a = await tenant();
    const b = await tenant();
    const mine = await a.api.create({ email: 'shared@x.ro' });
    const theirs = await b.api.post('/customers/identify', { email: 'shared@x.ro' });
    expect(theirs.statusCode).toBe(201);
    expect(theirs.json().customer.id).not.toBe(mine.id);
    expect((await a.api.get('/customers')).json().data.map((c: any) => c.id)).toEqual([mine.id]);

    const viewer = client(ctx, await a.keyFor('viewer'));
    expectError(await viewer.post('/customers/identify', { email: 'shared@x.ro' }), 403, 'forbidden');
    const employee = client(ctx, await a.keyFor('employee'));
    const found = await employee.post('/customers/identify', { email: 'shared@x.ro' });
    expect(found.statusCode).toBe(200);
    expect(found.json().customer.id).toBe(mine.id);
  });
});
