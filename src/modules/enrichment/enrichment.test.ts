import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError } from '../customers/customers.test-helpers.js';
import { ageOn, companyFromDomain, localEnrichment, timezoneFor } from './enrichment.local.js';

const base = { email: null, phone: null, customer_type: 'individual', company_name: null, country: null, city: null, date_of_birth: null };

describe('local enrichment (no network)', () => {
  it('reads country, line type and allocated carrier from the phone number', () => {
    expect(localEnrichment({ ...base, phone: '+40722123456' })).toMatchObject({
      phone_country: 'RO', phone_line_type: 'mobile', phone_carrier: 'Vodafone', country: 'RO', timezone: 'Europe/Bucharest',
    });
    expect(localEnrichment({ ...base, phone: '+40745123456' }).phone_carrier).toBe('Orange');
    expect(localEnrichment({ ...base, phone: '+40212345678' })).toMatchObject({ phone_line_type: 'fixed_line', phone_carrier: null });
    expect(localEnrichment({ ...base, phone: '+40800123456' }).phone_line_type).toBe('toll_free');
    expect(localEnrichment({ ...base, phone: '+4915112345678' })).toMatchObject({ phone_country: 'DE', phone_line_type: 'mobile', timezone: 'Europe/Berlin' });
  });

  it('tells free-mail from company domains and suggests a company name for business customers', () => {
    for (const email of ['a@gmail.com', 'a@yahoo.ro', 'a@hotmail.com', 'a@outlook.com', 'a@icloud.com']) {
      expect(localEnrichment({ ...base, email, customer_type: 'business' })).toMatchObject({ free_mail: true, company_suggestion: null });
    }
    expect(localEnrichment({ ...base, email: 'ana@exemplu-events.ro', customer_type: 'business' })).toMatchObject({
      email_domain: 'exemplu-events.ro', free_mail: false, company_suggestion: 'Exemplu Events',
    });
    // an individual on a company domain gets no company suggestion
    expect(localEnrichment({ ...base, email: 'ana@exemplu-events.ro' }).company_suggestion).toBeNull();
    expect(companyFromDomain('mail.sunetsrl.co.uk')).toBe('Sunetsrl');
    expect(companyFromDomain('teatrul-mic-srl.ro')).toBe('Teatrul Mic SRL');
  });

  it('answers the time zone from the country, and from the city where the country has several', () => {
    expect(timezoneFor('RO', null)).toBe('Europe/Bucharest');
    expect(timezoneFor('US', 'Los Angeles')).toBe('America/Los_Angeles');
    expect(timezoneFor('US', 'New York')).toBe('America/New_York');
    expect(timezoneFor('US', 'Springfield')).toBeNull();
    expect(timezoneFor('ES', 'Las Palmas')).toBe('Atlantic/Canary');
    expect(timezoneFor('ES', 'Madrid')).toBe('Europe/Madrid');
    expect(timezoneFor(null, 'Cluj')).toBeNull();
  });

  it('computes the age on a given day', () => {
    expect(ageOn('1990-04-01', '2025-03-31')).toBe(34);
    expect(ageOn('1990-04-01', '2025-04-01')).toBe(35);
    expect(ageOn(null, '2025-04-01')).toBeNull();
    expect(ageOn('2030-01-01', '2025-04-01')).toBeNull();
  });
});

// A real local HTTP server plays the external provider.
let provider: http.Server;
let providerUrl: string;
let answer: { status: number; body: unknown } = { status: 200, body: {} };
const received: unknown[] = [];
let ctx: TestContext;

beforeAll(async () => {
  provider = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(data || 'null') });
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/enrich`;
  ctx = await createTestApp({ ENRICHMENT_URL: providerUrl, ENRICHMENT_TIMEOUT_MS: '2000' });
});
afterAll(async () => {
  await ctx.close();
  await new Promise((r) => provider.close(r));
});

describe('enrichment API', () => {
  it('enriches on create, without calling the provider', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const calls = received.length;
    const c = await api.create({ email: 'ana@yahoo.ro', phone: '0733 123 456', date_of_birth: '1990-04-01', country: 'RO' });
    const res = await api.get(`/customers/${c.id}/enrichment`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      customer_id: c.id,
      enrichment: {
        phone_country: 'RO', phone_line_type: 'mobile', phone_carrier: 'Vodafone', email_domain: 'yahoo.ro', free_mail: true,
        country: 'RO', timezone: 'Europe/Bucharest', age: expect.any(Number), enriched_at: expect.any(String),
      },
    });
    expect(received.length).toBe(calls);
  });

  it('POST /enrich adds the external provider\'s answer; a failing provider leaves the local facts and says why', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const c = await api.create({ email: 'ana@exemplu-events.ro', customer_type: 'business', company_name: 'Exemplu', first_name: 'Ana' });
    answer = { status: 200, body: { industry: 'events', employees: 40 } };
    const res = await api.post(`/customers/${c.id}/enrich`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      customer_id: c.id, external_error: null,
      enrichment: { company_suggestion: 'Exemplu Events', external: { industry: 'events', employees: 40 }, external_provider: 'http' },
    });
    expect(received.at(-1)).toMatchObject({
      method: 'POST', contentType: 'application/json', body: { email: 'ana@exemplu-events.ro', first_name: 'Ana', company_name: 'Exemplu' },
    });
    const audit = await ctx.db.one<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND action = 'customer.enrich' AND entity_id = ${c.id}`);
    expect(audit!.n).toBe(1);

    answer = { status: 503, body: { error: 'down' } };
    const failed = await api.post(`/customers/${c.id}/enrich`);
    expect(failed.statusCode).toBe(200);
    expect(failed.json().external_error).toContain('503');
    // the earlier external answer is kept
    expect(failed.json().enrichment.external).toEqual({ industry: 'events', employees: 40 });

    answer = { status: 200, body: 'not json' };
    expect((await api.post(`/customers/${c.id}/enrich`)).json().external_error).toContain('not JSON');
    answer = { status: 404, body: {} };
    expect((await api.post(`/customers/${c.id}/enrich`)).json()).toMatchObject({ external_error: null, enrichment: { external: null } });
  });

  it('answers 404 for unknown and other tenants\' customers, 403 for viewers', async () => {
    const one = await createTestTenant(ctx.db);
    const two = await createTestTenant(ctx.db);
    const theirs = await client(ctx, two.headers).create({ email: 'x@exemplu.ro' });
    const api = client(ctx, one.headers);
    expectError(await api.post(`/customers/${theirs.id}/enrich`), 404, 'customer_not_found');
    expectError(await api.get(`/customers/${theirs.id}/enrichment`), 404, 'customer_not_found');
    expectError(await api.post('/customers/nope/enrich'), 404, 'customer_not_found');
    const viewer = client(ctx, await two.keyFor('viewer'));
    expectError(await viewer.post(`/customers/${theirs.id}/enrich`), 403);
    expect((await viewer.get(`/customers/${theirs.id}/enrichment`)).statusCode).toBe(200);
  });
});
