import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type CrmApp } from '../../../src/app.js';
import type { Database } from '../../../src/db/database.js';
import { createTestTenant, openTestDatabase, testConfig, type TestTenant } from '../../../src/test/helpers.js';
import { createCrmClient, CrmApiError, type CrmClient, type TrackEvent } from '../src/index.js';

/**
 * The SDK against the real service: buildApp on the test database (PGlite, or PostgreSQL with
 * TEST_DATABASE_URL), listening on a real port; every call below goes over HTTP.
 */

const here = dirname(fileURLToPath(import.meta.url));

let db: Database;
let app: CrmApp;
let baseUrl: string;
let tenant: TestTenant;
let crm: CrmClient;
/** Requests the SDK made, by "METHOD path". */
const seen: string[] = [];

const countingFetch: typeof fetch = async (input, init) => {
  const req = input instanceof Request ? input : new Request(input, init);
  seen.push(`${req.method} ${new URL(req.url).pathname}`);
  return fetch(req);
};

beforeAll(async () => {
  db = await openTestDatabase();
  app = await buildApp({ config: testConfig(), db, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  tenant = await createTestTenant(db, 'SDK tenant');
  crm = createCrmClient({ baseUrl, apiKey: tenant.apiKey, fetch: countingFetch, retryBaseDelayMs: 10 });
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

describe('findOrCreate', () => {
  it('creates the customer, then finds the same one', async () => {
    const first = await crm.findOrCreate({ email: 'Ana.Pop@Example.com', first_name: 'Ana', last_name: 'Pop' });
    expect(first.created).toBe(true);
    expect(first.email).toBe('ana.pop@example.com');
    const again = await crm.findOrCreate({ email: 'ana.pop@example.com' });
    expect(again.created).toBe(false);
    expect(again.id).toBe(first.id);
    expect((await crm.getCustomer(first.id)).first_name).toBe('Ana');
  });
});

describe('errors', () => {
  it('404 is a typed CrmApiError with the API code', async () => {
    const err = await crm.getCustomer('00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmApiError);
    expect(err).toMatchObject({ status: 404, code: 'customer_not_found' });
    expect((err as CrmApiError).message).toMatch(/customer/);
  });

  it('401 with a wrong key', async () => {
    const bad = createCrmClient({ baseUrl, apiKey: 'crm_nope' });
    const err = await bad.findOrCreate({ email: 'x@example.com' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmApiError);
    expect((err as CrmApiError).status).toBe(401);
    expect((err as CrmApiError).code).toEqual(expect.any(String));
  });

  it('400 validation errors carry details', async () => {
    const err = await crm.findOrCreate({ email: 'not-an-email' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CrmApiError);
    expect((err as CrmApiError).status).toBe(400);
  });
});

describe('segments and activity', () => {
  it('addToSegment adds the customer to a static segment', async () => {
    const customer = await crm.findOrCreate({ external_id: 'u_seg_1' });
    const seg = await crm.raw.POST('/api/crm/segments', { body: { name: 'SDK static', type: 'static' } as any });
    expect(seg.response.status, JSON.stringify(seg.error)).toBe(201);
    const segmentId = (seg.data as { id: string }).id;
    const added = await crm.addToSegment(customer.id, segmentId);
    expect(added).toMatchObject({ added: 1, customer_count: 1 });
    const members = await crm.raw.GET('/api/crm/segments/{id}/customers', { params: { path: { id: segmentId } } });
    expect(members.data?.data.map((c: { id: string }) => c.id)).toEqual([customer.id]);
    // Unknown segment: typed 404.
    const err = await crm.addToSegment(customer.id, '00000000-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: 'segment_not_found' });
  });

  it('trackActivity records a custom.<type> event on the timeline', async () => {
    const customer = await crm.findOrCreate({ email: 'activity@example.com' });
    const result = await crm.trackActivity(customer.id, 'purchase', { order_id: 'ord_123', amount: 150 }, { id: 'act-1' });
    expect(result).toMatchObject({ status: 'accepted', customer_id: customer.id });
    // By identity, without the lookup.
    await crm.trackActivity({ email: 'activity@example.com' }, 'custom.survey', { score: 9 });
    const tl = await crm.raw.GET('/api/crm/customers/{id}/timeline', { params: { path: { id: customer.id } } });
    expect(tl.response.status).toBe(200);
    const types = tl.data!.data.map((e) => e.type);
    expect(types).toContain('custom.purchase');
    expect(types).toContain('custom.survey');
    const purchase = tl.data!.data.find((e) => e.type === 'custom.purchase')!;
    expect(purchase.data).toMatchObject({ order_id: 'ord_123', amount: 150 });
    // The same id again is a duplicate, not a second entry.
    expect((await crm.trackActivity(customer.id, 'purchase', {}, { id: 'act-1' })).status).toBe('duplicate');
  });
});

describe('track() batching and CLV', () => {
  // 2,500 real orders: the start of the CDNOW sample, moved 28 years forward.
  const events: TrackEvent[] = readFileSync(resolve(here, '../../../src/test/fixtures/cdnow/CDNOW_sample.txt'), 'utf8')
    .trim().split('\n').slice(0, 2500)
    .map((l) => l.trim().split(/\s+/))
    .map(([, id, ymd, , dollars], i) => ({
      id: `cdnow-${i}`,
      type: 'order.completed',
      occurred_at: `${Number(ymd.slice(0, 4)) + 28}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}T12:00:00Z`,
      customer: { external_id: `cdnow_${id}` },
      data: { order_id: `cdnow-order-${i}`, total: Number(dollars), currency: 'RON' },
    }));

  it('2,500 events go in 3 requests, all accepted; sent again they are duplicates', async () => {
    const before = seen.length;
    const res = await crm.track(events);
    expect(seen.slice(before).filter((r) => r === 'POST /api/crm/events')).toHaveLength(3);
    expect(res.rejected, JSON.stringify(res.results.find((r) => r.status === 'rejected'))).toBe(0);
    expect(res).toMatchObject({ accepted: 2500, duplicates: 0 });
    expect(res.results).toHaveLength(2500);
    expect(res.results.map((r) => r.id)).toEqual(events.map((e) => e.id));

    const again = await crm.track(events, { concurrency: 2 });
    expect(again).toMatchObject({ accepted: 0, duplicates: 2500, rejected: 0 });
    expect(again.results.map((r) => r.id)).toEqual(events.map((e) => e.id));
  }, 240_000);

  it('getLifetimeValue answers the model\'s numbers', async () => {
    const profile = await crm.findOrCreate({ external_id: 'cdnow_0001' });
    expect(profile.created).toBe(false);
    const ltv = await crm.getLifetimeValue(profile.id, { as_of: '2025-09-30' });
    expect(ltv.source).toBe('model');
    expect(ltv.fallback_reason).toBeNull();
    expect(ltv.historic_clv).toBeGreaterThan(0);
    expect(ltv.predicted_clv).toEqual(expect.any(Number));
    expect(ltv.p_alive).toBeGreaterThan(0);
    expect(ltv.p_alive).toBeLessThanOrEqual(1);
    expect(ltv.model?.as_of).toBe('2025-09-30');
  }, 120_000);

  it('getLifetimeValue falls back to the profile metrics with too little history', async () => {
    const small = await createTestTenant(db, 'SDK small tenant');
    const c2 = createCrmClient({ baseUrl, apiKey: small.apiKey });
    await c2.track([{
      id: 'o1', type: 'order.completed', occurred_at: '2025-05-01T10:00:00Z',
      customer: { external_id: 'lonely' }, data: { order_id: 'o1', total: 120, currency: 'RON' },
    }]);
    const customer = await c2.findOrCreate({ external_id: 'lonely' });
    const ltv = await c2.getLifetimeValue(customer.id);
    expect(ltv).toMatchObject({
      source: 'profile', fallback_reason: 'not_enough_history', historic_clv: 120, total_orders: 1, total_spend: 120,
      lifetime_value: customer.metrics.lifetime_value,
      predicted_clv: null, model: null,
    });
  });
});

describe('createTracker', () => {
  it('buffers, flushes at flushAt, on flush() and on close()', async () => {
    const before = seen.length;
    const tracker = crm.createTracker({ flushAt: 3, flushIntervalMs: 60_000 });
    const ev = (i: number): TrackEvent => ({
      id: `tr-${i}`, type: 'custom.page_view', occurred_at: new Date().toISOString(), customer: { external_id: `tr_${i % 2}` }, data: { i },
    });
    tracker.track(ev(1));
    tracker.track(ev(2));
    expect(tracker.pending).toBe(2);
    tracker.track(ev(3)); // reaches flushAt: sent in the background
    // flush() waits for the background send, which took all three.
    await tracker.flush();
    expect(tracker.pending).toBe(0);
    expect(seen.slice(before).filter((r) => r === 'POST /api/crm/events')).toHaveLength(1);
    tracker.track(ev(4));
    const last = await tracker.close();
    expect(last).toMatchObject({ accepted: 1, rejected: 0 });
    expect(tracker.pending).toBe(0);
    expect(() => tracker.track(ev(5))).toThrow(/closed/);
    expect(seen.slice(before).filter((r) => r === 'POST /api/crm/events')).toHaveLength(2);
  });

  it('flushes on the interval', async () => {
    const tracker = crm.createTracker({ flushAt: 500, flushIntervalMs: 50 });
    tracker.track({ id: 'tick-1', type: 'custom.tick', occurred_at: new Date().toISOString(), customer: { external_id: 'ticker' } });
    await expect.poll(() => tracker.pending, { timeout: 5000 }).toBe(0);
    await tracker.close();
    const c = await crm.findOrCreate({ external_id: 'ticker' });
    expect(c.created).toBe(false);
  });
});

describe('retries', () => {
  let proxy: http.Server;
  let proxyUrl: string;
  /** Per path: how many 503s are still to answer. */
  let failuresLeft = 0;
  let hits = 0;

  beforeAll(async () => {
    // Answers 503 (with Retry-After: 0) while failuresLeft > 0, then forwards to the real server.
    proxy = http.createServer(async (req, res) => {
      hits++;
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ error: { code: 'unavailable', message: 'try again' } }));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      const upstream = await fetch(baseUrl + req.url, {
        method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => proxy?.close(r));
  });

  it('succeeds after two 503s (the POST body is re-sent on each attempt)', async () => {
    const retried: number[] = [];
    const c = createCrmClient({ baseUrl: proxyUrl, apiKey: tenant.apiKey, retryBaseDelayMs: 5, onRetry: (i) => retried.push(i.status ?? 0) });
    failuresLeft = 2;
    hits = 0;
    const res = await c.findOrCreate({ external_id: 'retry_me', first_name: 'Retry' });
    expect(res.external_id).toBe('retry_me');
    expect(res.first_name).toBe('Retry');
    expect(hits).toBe(3);
    expect(retried).toEqual([503, 503]);
  });

  it('gives up after `retries` and surfaces the 503 as CrmApiError', async () => {
    const c = createCrmClient({ baseUrl: proxyUrl, apiKey: tenant.apiKey, retries: 1, retryBaseDelayMs: 5 });
    failuresLeft = 5;
    hits = 0;
    const err = await c.findOrCreate({ external_id: 'retry_me' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'unavailable' });
    expect(hits).toBe(2);
    failuresLeft = 0;
  });

  it('does not retry a 400', async () => {
    const c = createCrmClient({ baseUrl: proxyUrl, apiKey: tenant.apiKey, retryBaseDelayMs: 5 });
    failuresLeft = 0;
    hits = 0;
    const err = await c.findOrCreate({ email: 'not-an-email' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect(hits).toBe(1);
  });

  it('retries network errors, then gives up', async () => {
    let attempts = 0;
    const c = createCrmClient({
      baseUrl: 'http://127.0.0.1:9', apiKey: 'k', retries: 2, retryBaseDelayMs: 1,
      fetch: async (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    await expect(c.getCustomer('00000000-0000-4000-8000-000000000000')).rejects.toThrow();
    expect(attempts).toBe(3);
  });
});
