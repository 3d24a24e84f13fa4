import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => {
  await ctx.close();
});

const call = (headers: object, method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  ctx.app.inject({ method, url: `/api/crm${url}`, headers: headers as Record<string, string>, ...(payload ? { payload } : {}) });

async function login(email: string, password: string) {
  return ctx.app.inject({ method: 'POST', url: '/api/crm/auth/login', payload: { email, password } });
}

async function createUser(t: TestTenant, body: object) {
  const res = await call(t.headers, 'POST', '/users', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; email: string; role: string; disabled_at: string | null };
}

describe('users API', () => {
  it('an admin creates, lists, renames, changes the role of and disables users; the tenant keeps one admin', async () => {
    const t = await createTestTenant(ctx.db);
    const ana = await createUser(t, { email: ' Ana@Sala.RO ', password: 'parola-lunga', role: 'admin', name: 'Ana' });
    expect(ana).toMatchObject({ email: 'ana@sala.ro', role: 'admin', disabled_at: null });
    expect(ana).not.toHaveProperty('password_hash');
    const ion = await createUser(t, { email: 'ion@sala.ro', password: 'parola-lunga', role: 'employee' });

    const list = (await call(t.headers, 'GET', '/users')).json().data;
    expect(list.map((u: { email: string }) => u.email)).toEqual(['ana@sala.ro', 'ion@sala.ro']);

    // Ion logs in as an employee; promoting him ends that session so the new role applies on the next login
    const session = await login('ion@sala.ro', 'parola-lunga');
    expect(session.statusCode).toBe(200);
    const cookie = { cookie: String(session.headers['set-cookie']).split(';')[0] };
    expect((await call(cookie, 'GET', '/auth/me')).json().role).toBe('employee');
    const promoted = await call(t.headers, 'PATCH', `/users/${ion.id}`, { role: 'admin', name: 'Ion Pop' });
    expect(promoted.json()).toMatchObject({ role: 'admin', name: 'Ion Pop' });
    expect((await call(cookie, 'GET', '/auth/me')).statusCode).toBe(401);

    // disabled: cannot log in; re-enabled: can
    expect((await call(t.headers, 'PATCH', `/users/${ion.id}`, { disabled: true })).json().disabled_at).not.toBeNull();
    expect((await login('ion@sala.ro', 'parola-lunga')).statusCode).toBe(401);
    expect((await call(t.headers, 'PATCH', `/users/${ion.id}`, { disabled: false })).json().disabled_at).toBeNull();
    expect((await login('ion@sala.ro', 'parola-lunga')).statusCode).toBe(200);

    // the last active admin cannot be demoted or disabled; nothing changes
    await call(t.headers, 'PATCH', `/users/${ion.id}`, { role: 'viewer' });
    const last = await call(t.headers, 'PATCH', `/users/${ana.id}`, { disabled: true });
    expect(last.statusCode, last.body).toBe(409);
    expect(last.json().error.code).toBe('last_admin');
    expect((await call(t.headers, 'PATCH', `/users/${ana.id}`, { role: 'employee' })).statusCode).toBe(409);
    const stored = await ctx.db.one<{ role: string; disabled_at: Date | null }>(sql`SELECT role, disabled_at FROM users WHERE id = ${ana.id}::uuid`);
    expect(stored).toEqual({ role: 'admin', disabled_at: null });

    const audited = await ctx.db.rows<{ action: string }>(sql`
      SELECT action FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND entity_type = 'user' ORDER BY seq`);
    expect(audited.map((a) => a.action)).toEqual(['user.create', 'user.create', 'user.update', 'user.update', 'user.update', 'user.update']);
  });

  it('rejects bad input and duplicates; employees and other tenants get nowhere', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const u = await createUser(t, { email: 'mara@sala.ro', password: 'parola-lunga', role: 'viewer' });
    const bad = [
      { email: 'mara2@sala.ro', password: 'short', role: 'viewer' },
      { email: 'mara2@sala.ro', password: 'parola-lunga', role: 'owner' },
      { email: 'mara2@sala.ro', password: 'parola-lunga', role: 'viewer', extra: 1 },
    ];
    for (const body of bad) expect((await call(t.headers, 'POST', '/users', body)).statusCode).toBe(400);
    expect((await call(t.headers, 'POST', '/users', { email: 'not-an-email', password: 'parola-lunga', role: 'viewer' })).statusCode).toBe(400);
    const dup = await call(t.headers, 'POST', '/users', { email: 'MARA@sala.ro', password: 'parola-lunga', role: 'viewer' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe('user_exists');
    expect((await call(t.headers, 'PATCH', `/users/${u.id}`, {})).statusCode).toBe(400);

    const employee = await t.keyFor('employee');
    expect((await call(employee, 'GET', '/users')).statusCode).toBe(403);
    expect((await call(employee, 'POST', '/users', { email: 'x@sala.ro', password: 'parola-lunga', role: 'admin' })).statusCode).toBe(403);
    expect((await call(employee, 'PATCH', `/users/${u.id}`, { role: 'admin' })).statusCode).toBe(403);

    expect((await call(other.headers, 'GET', '/users')).json().data).toEqual([]);
    expect((await call(other.headers, 'PATCH', `/users/${u.id}`, { role: 'admin' })).statusCode).toBe(404);
    expect((await ctx.db.one<{ role: string }>(sql`SELECT role FROM users WHERE id = ${u.id}::uuid`))!.role).toBe('viewer');
  });
});
