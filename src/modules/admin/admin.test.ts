import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { KNOWN_FIELDS } from '../segments/segments.rules.js';
import { FIELDS, OPS_BY_TYPE, toApiRules, newGroup, newLeaf } from '../../../web/src/segments/fields.js';
import { registerAdminUi } from './admin.static.js';
import { STEP_TYPES as API_STEP_TYPES } from '../automation/automation.schemas.js';
import { normalizeSteps, UPDATABLE_FIELDS as API_UPDATABLE_FIELDS } from '../automation/automation.steps.js';
import { urlProblem } from '../webhooks/webhooks.delivery.js';
import { STEP_TYPES, UPDATABLE_FIELDS, stepProblem, webhookUrlOk, type Step } from '../../../web/src/journeys/steps.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function customer(tenantId: string, c: { name: string; r?: number; f?: number; segment?: string; spend?: number; stage?: string; churn?: number }) {
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, first_name, total_spend, rfm_recency, rfm_frequency, rfm_monetary, rfm_segment, lifecycle_stage, churn_risk)
    VALUES (${tenantId}, ${c.name}, ${c.spend ?? 0}, ${c.r ?? null}, ${c.f ?? null}, ${c.r ? 3 : null}, ${c.segment ?? null},
            ${c.stage ?? null}, ${c.churn ?? null})
    RETURNING id`);
  return row!.id;
}

describe('admin UI serving', () => {
  let dist: string;
  beforeAll(() => {
    dist = mkdtempSync(path.join(tmpdir(), 'crm-admin-dist-'));
    mkdirSync(path.join(dist, 'assets'));
    writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>shell</title>');
    writeFileSync(path.join(dist, 'assets', 'app-abc123.js'), 'console.log(1)');
    writeFileSync(path.join(dist, 'favicon.svg'), '<svg/>');
  });
  afterAll(() => rmSync(dist, { recursive: true, force: true }));

  async function appFor(distDir: string) {
    const app = Fastify();
    await registerAdminUi(app, { distDir });
    await app.ready();
    return app;
  }

  it('serves index.html at /admin and for every client route, assets with a long cache, without auth', async () => {
    const app = await appFor(dist);
    for (const url of ['/admin', '/admin/', '/admin/customers', '/admin/customers/5d4c2a8e-0000-4000-8000-000000000000', '/admin/segments/new?x=1']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.body).toContain('<title>shell</title>');
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    const asset = await app.inject({ url: '/admin/assets/app-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.body).toBe('console.log(1)');
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await app.inject({ url: '/admin/favicon.svg' })).statusCode).toBe(200);
    await app.close();
  });

  it('answers 404 for a missing asset and never serves files outside the build folder', async () => {
    const app = await appFor(dist);
    const missing = await app.inject({ url: '/admin/assets/old-chunk.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('route_not_found');
    for (const url of ['/admin/../package.json', '/admin/%2e%2e/%2e%2e/package.json', '/admin/..%2f..%2fpackage.json']) {
      const res = await app.inject({ url });
      expect(res.body, url).not.toContain('"name": "encore-crm"');
    }
    await app.close();
  });

  it('answers a clear 503 page when web/dist has not been built', async () => {
    const app = await appFor(path.join(dist, 'does-not-exist'));
    const res = await app.inject({ url: '/admin/customers' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('npm run build:web');
    await app.close();
  });

  it('is mounted by the API app beside /api/crm, and /api/crm still needs authentication', async () => {
    const res = await ctx.app.inject({ url: '/admin/' });
    expect([200, 503]).toContain(res.statusCode);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect((await ctx.app.inject({ url: '/api/crm/tenant' })).statusCode).toBe(401);
  });
});

describe('GET /tenant', () => {
  it("answers the caller's tenant with its currency, to every role", async () => {
    const t = await createTestTenant(ctx.db, 'Filarmonica');
    const res = await ctx.app.inject({ url: '/api/crm/tenant', headers: await t.keyFor('viewer') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: t.tenantId, name: 'Filarmonica', currency: 'RON' });
    expect(res.json().timezone).toEqual(expect.any(String));
  });
});

describe('GET /dashboard/rfm-grid', () => {
  it('counts customers and revenue per recency × frequency cell with the dominant segment', async () => {
    const t = await createTestTenant(ctx.db);
    await customer(t.tenantId, { name: 'a', r: 5, f: 5, segment: 'Champions', spend: 100 });
    await customer(t.tenantId, { name: 'b', r: 5, f: 5, segment: 'Champions', spend: 50.5 });
    await customer(t.tenantId, { name: 'c', r: 5, f: 5, segment: 'Loyal Customers', spend: 10 });
    await customer(t.tenantId, { name: 'd', r: 1, f: 1, segment: 'Lost', spend: 5 });
    await customer(t.tenantId, { name: 'never bought' });
    const res = await ctx.app.inject({ url: '/api/crm/dashboard/rfm-grid', headers: t.headers });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      customers: 4,
      cells: [
        { recency: 5, frequency: 5, customers: 3, revenue: 160.5, segment: 'Champions' },
        { recency: 1, frequency: 1, customers: 1, revenue: 5, segment: 'Lost' },
      ],
    });
  });

  it("never shows another tenant's customers", async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    await customer(a.tenantId, { name: 'a', r: 3, f: 2, segment: 'Need Attention', spend: 10 });
    const res = await ctx.app.inject({ url: '/api/crm/dashboard/rfm-grid', headers: b.headers });
    expect(res.json()).toEqual({ customers: 0, cells: [] });
  });
});

describe('GET /customers/:id/scores', () => {
  it("answers a customer's stored scores; another tenant's customer is a 404; a bad id is a 400", async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const id = await customer(a.tenantId, { name: 'x', r: 4, f: 2, segment: 'Promising', stage: 'active', churn: 0.25 });
    const res = await ctx.app.inject({ url: `/api/crm/customers/${id}/scores`, headers: await a.keyFor('viewer') });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      customer_id: id, rfm_segment: 'Promising', rfm_recency: 4, rfm_frequency: 2, rfm_monetary: 3, lifecycle_stage: 'active', churn_risk: 0.25,
      p_alive: null, predicted_clv: null,
    });
    const other = await ctx.app.inject({ url: `/api/crm/customers/${id}/scores`, headers: b.headers });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('customer_not_found');
    const bad = await ctx.app.inject({ url: '/api/crm/customers/not-a-uuid/scores', headers: a.headers });
    expect(bad.statusCode).toBe(400);
  });
});

describe('rule builder field list (web/src/segments/fields.ts)', () => {
  it('offers exactly the fields the segment rule language knows', () => {
    expect(FIELDS.map((f) => f.field).sort()).toEqual(KNOWN_FIELDS.filter((f) => f !== 'custom.<key>').sort());
  });

  it('builds rules the API accepts: every field with its first operator and a nested group', async () => {
    const t = await createTestTenant(ctx.db);
    for (const f of FIELDS) {
      if (f.type === 'segment') continue; // needs an existing segment id
      const leaf = newLeaf(f.field);
      if (leaf.value === '') leaf.value = f.type === 'number' || f.type === 'money' ? '1' : f.type === 'date' ? '2025-01-01' : 'x';
      const rules = toApiRules(newGroup('and', [leaf, newGroup('or', [newLeaf('total_spend'), newLeaf('city')].map((l) => ({ ...l, value: l.field === 'city' ? 'Cluj' : '5' })))]));
      const res = await ctx.app.inject({ method: 'POST', url: '/api/crm/segments/preview', headers: t.headers, payload: { rules } });
      expect(res.statusCode, `${f.field}: ${res.body}`).toBe(200);
    }
    expect(Object.keys(OPS_BY_TYPE).length).toBe(10);
  });
});

describe('journey step checks (web/src/journeys/steps.ts)', () => {
  it('offers the step types and updatable fields the API knows', () => {
    expect([...STEP_TYPES].sort()).toEqual([...API_STEP_TYPES].sort());
    expect([...UPDATABLE_FIELDS].sort()).toEqual([...API_UPDATABLE_FIELDS].sort());
  });

  it('accepts a webhook URL exactly when the API does (private addresses aside)', () => {
    const urls = ['https://hooks.example.com/crm', 'http://203.0.113.7:8080/x?y=1', 'http://localhost/p', 'ftp://hooks.example.com/', 'https://user:pw@hooks.example.com/',
      'not a url', 'hooks.example.com/crm', 'https://', 'mailto:a@example.com'];
    for (const u of urls) expect(webhookUrlOk(u), u).toBe(urlProblem(u, true) === null);
  });

  it('finds a problem in a step exactly when the API refuses its settings', () => {
    const id = '0b6a3f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b';
    const steps: Omit<Step, 'id'>[] = [
      { type: 'update_field', config: { field: 'city', value: 'Cluj-Napoca' } },
      { type: 'update_field', config: { field: 'city', value: null } },
      { type: 'update_field', config: { field: 'city', value: 5 } },
      { type: 'update_field', config: { field: 'status', value: 'inactive' } },
      { type: 'update_field', config: { field: 'status', value: 'gone' } },
      { type: 'update_field', config: { field: 'status', value: null } },
      { type: 'update_field', config: { field: 'email', value: 'a@example.com' } },
      { type: 'update_field', config: { field: 'custom.vip_note', value: 'gold' } },
      { type: 'update_field', config: { field: 'custom.seats', value: 4 } },
      { type: 'update_field', config: { field: 'custom.', value: 'x' } },
      { type: 'update_field', config: { field: 'custom.bad key', value: 'x' } },
      { type: 'update_field', config: { field: 'city', value: 'x'.repeat(1001) } },
      { type: 'add_to_segment', config: { segment_id: id } },
      { type: 'add_to_segment', config: { segment_id: 'front-row' } },
      { type: 'add_to_segment', config: {} },
      { type: 'webhook', config: { url: 'https://hooks.example.com/crm' } },
      { type: 'webhook', config: { url: 'https://hooks.example.com/crm', payload: { source: 'crm' } } },
      { type: 'webhook', config: { url: 'https://hooks.example.com/crm', payload: [1] } },
      { type: 'webhook', config: { url: 'ftp://hooks.example.com/' } },
      { type: 'webhook', config: { url: '' } },
    ];
    for (const s of steps) {
      let accepted = true;
      try {
        normalizeSteps([{ id: 'a', ...s } as never], { allowPrivateWebhooks: true });
      } catch {
        accepted = false;
      }
      expect(stepProblem({ id: 'a', ...s }) === null, JSON.stringify(s)).toBe(accepted);
    }
  });
});
