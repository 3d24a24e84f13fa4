import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { bootstrap, createUser } from './auth.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

describe('API keys', () => {
  it('rejects requests without or with a wrong key', async () => {
    const none = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error.code).toBe('unauthorized');
    const wrong = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: 'Bearer crm_nope' } });
    expect(wrong.statusCode).toBe(401);
    const malformed = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: 'Basic abc' } });
    expect(malformed.statusCode).toBe(401);
  });

  it('creates, lists and revokes keys; a revoked key stops working', async () => {
    const t = await createTestTenant(ctx.db);
    const created = await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: t.headers, payload: { name: 'box office', role: 'employee' } });
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body.api_key).toMatch(/^crm_/);
    expect(body.role).toBe('employee');
    const me = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: `Bearer ${body.api_key}` } });
    expect(me.json()).toMatchObject({ tenant_id: t.tenantId, role: 'employee' });

    const list = await ctx.app.inject({ method: 'GET', url: '/api/crm/api-keys', headers: t.headers });
    expect(list.json().data.map((k: any) => k.name)).toEqual(['admin', 'box office']);
    expect(JSON.stringify(list.json())).not.toContain(body.api_key);

    const revoked = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/api-keys/${body.id}`, headers: t.headers });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json().revoked_at).not.toBeNull();
    const after = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: `Bearer ${body.api_key}` } });
    expect(after.statusCode).toBe(401);
  });

  it('records a key\'s use at most once a minute, and never for a revoked key', async () => {
    const t = await createTestTenant(ctx.db);
    const created = (await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: t.headers, payload: { name: 'pos', role: 'viewer' } })).json();
    const headers = { authorization: `Bearer ${created.api_key}` };
    const lastUsed = async () =>
      (await ctx.db.one<{ last_used_at: Date | null }>(sql`SELECT last_used_at FROM api_keys WHERE id = ${created.id}::uuid`))!.last_used_at;
    expect(await lastUsed()).toBeNull();
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers })).statusCode).toBe(200);
    const first = await lastUsed();
    expect(first).toBeInstanceOf(Date);
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers })).statusCode).toBe(200);
    expect((await lastUsed())!.getTime()).toBe(first!.getTime());
    // a minute later the next request records it again
    await ctx.db.run(sql`UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = ${created.id}::uuid`);
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers })).statusCode).toBe(200);
    expect(Date.now() - (await lastUsed())!.getTime()).toBeLessThan(60_000);
    // revoked: rejected, and its last use stays what it was
    await ctx.db.run(sql`UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = ${created.id}::uuid`);
    const before = await lastUsed();
    await ctx.app.inject({ method: 'DELETE', url: `/api/crm/api-keys/${created.id}`, headers: t.headers });
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers })).statusCode).toBe(401);
    expect((await lastUsed())!.getTime()).toBe(before!.getTime());
  });

  it('enforces roles: employees cannot manage keys, viewers cannot write', async () => {
    const t = await createTestTenant(ctx.db);
    const employee = await t.keyFor('employee');
    const viewer = await t.keyFor('viewer');
    const byEmployee = await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: employee, payload: { name: 'x', role: 'admin' } });
    expect(byEmployee.statusCode).toBe(403);
    expect(byEmployee.json().error.code).toBe('forbidden');
    const byViewer = await ctx.app.inject({ method: 'GET', url: '/api/crm/api-keys', headers: viewer });
    expect(byViewer.statusCode).toBe(403);
  });

  it('cannot revoke another tenant\'s key', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const keys = await ctx.app.inject({ method: 'GET', url: '/api/crm/api-keys', headers: b.headers });
    const bKey = keys.json().data[0].id;
    const res = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/api-keys/${bKey}`, headers: a.headers });
    expect(res.statusCode).toBe(404);
    const stillWorks = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: b.headers });
    expect(stillWorks.statusCode).toBe(200);
  });

  it('rejects unknown fields and wrong types in the body', async () => {
    const t = await createTestTenant(ctx.db);
    const extra = await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: t.headers, payload: { name: 'x', role: 'admin', owner: 'me' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.code).toBe('validation_failed');
    const badRole = await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: t.headers, payload: { name: 'x', role: 'root' } });
    expect(badRole.statusCode).toBe(400);
    const badJson = await ctx.app.inject({ method: 'POST', url: '/api/crm/api-keys', headers: { ...t.headers, 'content-type': 'application/json' }, payload: '{"name":' });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('invalid_json');
    const keys = await ctx.app.inject({ method: 'GET', url: '/api/crm/api-keys', headers: t.headers });
    expect(keys.json().data).toHaveLength(1);
  });
});

describe('users and sessions', () => {
  it('logs in with a password, answers /me from the cookie, and logs out', async () => {
    const t = await createTestTenant(ctx.db);
    await createUser(ctx.db, { tenantId: t.tenantId, email: 'Ana.Pop@Example.ro', password: 'correct horse', role: 'employee' });
    const bad = await ctx.app.inject({ method: 'POST', url: '/api/crm/auth/login', payload: { email: 'ana.pop@example.ro', password: 'wrong password' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error.code).toBe('invalid_credentials');

    const ok = await ctx.app.inject({ method: 'POST', url: '/api/crm/auth/login', payload: { email: 'ana.pop@example.ro', password: 'correct horse' } });
    expect(ok.statusCode).toBe(200);
    const cookie = ok.cookies.find((c) => c.name === 'crm_session')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');
    const me = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', cookies: { crm_session: cookie.value } });
    expect(me.json()).toMatchObject({ tenant_id: t.tenantId, role: 'employee', user: { email: 'ana.pop@example.ro' } });

    const out = await ctx.app.inject({ method: 'POST', url: '/api/crm/auth/logout', cookies: { crm_session: cookie.value } });
    expect(out.statusCode).toBe(204);
    const after = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', cookies: { crm_session: cookie.value } });
    expect(after.statusCode).toBe(401);
  });

  it('stores passwords hashed, never in clear', async () => {
    const t = await createTestTenant(ctx.db);
    const user = await createUser(ctx.db, { tenantId: t.tenantId, email: 'hash@example.ro', password: 'plain-text-secret', role: 'viewer' });
    expect(user.password_hash).toMatch(/^scrypt\$/);
    expect(user.password_hash).not.toContain('plain-text-secret');
  });
});

describe('bootstrap', () => {
  it('uses CRM_BOOTSTRAP_API_KEY and is idempotent across restarts', async () => {
    // bootstrap acts on the first tenant of the database; on a shared PostgreSQL other test
    // tenants may exist, so this checks the key is registered (once) rather than which tenant.
    const key = 'crm_bootstrap_test_key_' + Math.random().toString(36).slice(2);
    const opts = { apiKey: key, adminEmail: null, adminPassword: null, tenantName: 'Boot', currency: 'RON' };
    const first = await bootstrap(ctx.db, opts);
    const second = await bootstrap(ctx.db, opts);
    expect(second.tenantId).toBe(first.tenantId);
    expect(second.createdTenant).toBe(false);
    const me = await ctx.app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: `Bearer ${key}` } });
    expect(me.json()).toMatchObject({ tenant_id: first.tenantId, role: 'admin' });
  });
});
