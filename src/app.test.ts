import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type CrmApp } from './app.js';
import type { Database } from './db/database.js';
import { createTestTenant, openTestDatabase, testConfig, type TestTenant } from './test/helpers.js';

let db: Database;
let app: CrmApp;
let tenant: TestTenant;

beforeAll(async () => {
  db = await openTestDatabase();
  app = await buildApp({ config: testConfig({ BODY_LIMIT_BYTES: '65536' }), db, logger: false });
  // A route that fails unexpectedly, to check what a 5xx reveals.
  app.get('/api/crm/test-failure', async () => {
    throw new Error('relation "secret_table" does not exist at character 42');
  });
  await app.ready();
  tenant = await createTestTenant(db);
});
afterAll(async () => {
  await app.close();
  await db.close();
});

describe('HTTP edge cases', () => {
  it('answers an oversize body with 413 payload_too_large and applies nothing', async () => {
    const events = Array.from({ length: 400 }, (_, i) => ({
      id: `big_${i}`, type: 'user.registered', occurred_at: '2025-01-01T00:00:00Z',
      customer: { email: `big${i}@example.ro`, first_name: 'x'.repeat(100) }, data: {},
    }));
    const res = await app.inject({ method: 'POST', url: '/api/crm/events', headers: tenant.headers, payload: { events } });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('payload_too_large');
    const list = await app.inject({ method: 'GET', url: '/api/crm/customers', headers: tenant.headers });
    expect(list.json().data).toHaveLength(0);
  });

  it('answers malformed JSON with 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST', url: '/api/crm/customers', headers: { ...tenant.headers, 'content-type': 'application/json' }, payload: '{"email": "a@b.ro",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'invalid_json' });
  });

  it('answers a body that is not JSON with 415', async () => {
    const res = await app.inject({
      method: 'POST', url: '/api/crm/customers', headers: { ...tenant.headers, 'content-type': 'text/csv' }, payload: 'email\na@b.ro',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json().error.code).toBe('unsupported_media_type');
  });

  it('answers an unknown route with 404 route_not_found', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/crm/nothing-here', headers: tenant.headers });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('route_not_found');
  });

  it('never reveals internals on a 500', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/crm/test-failure', headers: tenant.headers });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
    expect(res.body).not.toContain('secret_table');
    expect(res.body).not.toContain('.ts');
  });

  it('reports liveness and readiness', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
  });

  it('exposes Prometheus metrics, including request durations', async () => {
    await app.inject({ method: 'GET', url: '/api/crm/customers', headers: tenant.headers });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/crm_http_request_duration_seconds_count\{method="GET",route="\/api\/crm\/customers",status="200"\} \d+/);
  });
});

describe('OpenAPI document', () => {
  it('is generated from the route schemas and covers every route family', async () => {
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const paths = Object.keys(doc.paths);
    for (const p of [
      '/api/crm/auth/login', '/api/crm/api-keys', '/api/crm/events', '/api/crm/customers', '/api/crm/customers/identify',
      '/api/crm/customers/{id}', '/api/crm/customers/{id}/timeline', '/api/crm/customers/{id}/activity',
      '/api/crm/customers/{id}/orders', '/api/crm/customers/{id}/attendance', '/api/crm/customers/{id}/notes',
      '/api/crm/customers/{id}/tags', '/api/crm/customers/{id}/interactions', '/api/crm/interactions/{id}',
      '/api/crm/follow-ups', '/api/crm/stats', '/api/crm/customers/{id}/stats', '/api/crm/loyalty/tiers',
      '/api/crm/customers/{id}/loyalty/redeem', '/api/crm/catalog/events', '/api/crm/catalog/events/{id}',
    ]) {
      expect(paths, p).toContain(p);
    }
    // Every operation documents its success response (a redirect, for the click-tracking link).
    for (const [p, ops] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(Object.keys(op.responses ?? {}).some((code) => /^[23]/.test(code)), `${method} ${p}`).toBe(true);
      }
    }
  });
});
