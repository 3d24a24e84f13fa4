import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, testConfig, type TestContext, type TestTenant } from '../../test/helpers.js';
import { JobQueue } from '../../jobs/queue.js';
import { defineOutboxJobs } from '../outbox/outbox.jobs.js';
import { dispatchOutbox } from '../outbox/outbox.service.js';
import { isPrivateAddress, postWebhook, verifySignature } from './webhooks.delivery.js';
import { createWebhook, deliverDue, retryDelayMs } from './webhooks.service.js';

// Every delivery test in one file: the dispatcher and the sender serve all tenants of the database,
// and on PostgreSQL the test files share one database.

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_TIMEOUT_MS: '800', WEBHOOK_MAX_ATTEMPTS: '12' });
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await ctx.close();
});

// A clock that only moves forward, shared by every test's deliverDue.
let clock = Date.now();
const advance = (ms: number) => {
  clock = Math.max(clock, Date.now()) + ms;
};
const deliver = (config = ctx.config) => deliverDue(ctx.db, { config, now: () => new Date(Math.max(clock, Date.now())) });
/** Fans out and sends what is due now. */
async function pump(config = ctx.config) {
  await dispatchOutbox(ctx.db);
  return deliver(config);
}

// ---------------------------------------------------------------------------------------------
// Real HTTP receivers

interface Received {
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
}

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;
const ok: Behaviour = (_req, res) => res.writeHead(200).end('ok');

interface Receiver {
  url: string;
  port: number;
  received: Received[];
  behave: Behaviour;
  close(): Promise<void>;
  listen(port?: number): Promise<void>;
}
const receivers: Receiver[] = [];

async function receiver(behave: Behaviour = ok): Promise<Receiver> {
  let server: http.Server | null = null;
  const r: Receiver = {
    url: '',
    port: 0,
    received: [],
    behave,
    async listen(port = 0) {
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          r.received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
          r.behave(req, res);
        });
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      r.port = (server.address() as AddressInfo).port;
      r.url = `http://127.0.0.1:${r.port}/hook`;
    },
    async close() {
      if (!server) return;
      const s = server;
      server = null;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
  await r.listen();
  receivers.push(r);
  return r;
}

// ---------------------------------------------------------------------------------------------
// API helpers

const api = (headers: { authorization: string }) => {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, payload?: unknown) =>
    ctx.app.inject({ method, url: `/api/crm${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  return {
    get: (url: string) => call('GET', url),
    post: (url: string, body?: unknown) => call('POST', url, body),
    patch: (url: string, body: unknown) => call('PATCH', url, body),
    put: (url: string, body: unknown) => call('PUT', url, body),
    del: (url: string) => call('DELETE', url),
  };
};

async function subscribe(t: TestTenant, url: string, eventTypes: string[], extra: Record<string, unknown> = {}) {
  const res = await api(t.headers).post('/webhooks', { url, event_types: eventTypes, ...extra });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string; secret: string; url: string; event_types: string[] };
}

async function createCustomer(t: TestTenant, body: Record<string, unknown>) {
  const res = await api(t.headers).post('/customers', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { id: string };
}

async function deliveries(t: TestTenant, subscriptionId: string) {
  const res = await api(t.headers).get(`/webhooks/${subscriptionId}/deliveries?limit=500`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json().data as any[];
}

/** Deactivates the tenant's subscriptions so later tests' deliveries never touch them. */
async function retire(t: TestTenant) {
  await ctx.db.run(sql`UPDATE webhook_subscriptions SET active = false WHERE tenant_id = ${t.tenantId}::uuid`);
}

function expectValidSignature(r: Received, secret: string) {
  const header = String(r.headers['x-crm-signature']);
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  expect(m, header).not.toBeNull();
  const expected = crypto.createHmac('sha256', secret).update(`${m![1]}.${r.raw}`).digest('hex');
  expect(m![2]).toBe(expected);
  expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(600);
  expect(verifySignature(secret, r.raw, header)).toBe(true);
  expect(verifySignature('whsec_wrong_secret_wrong_secret', r.raw, header)).toBe(false);
}

// ---------------------------------------------------------------------------------------------

describe('webhook delivery', () => {
  it('delivers customer.created to a matching subscription with a valid signature, not to a non-matching one', async () => {
    const t = await createTestTenant(ctx.db);
    const match = await receiver();
    const other = await receiver();
    const sub = await subscribe(t, match.url, ['customer.*']);
    const nonMatching = await subscribe(t, other.url, ['customer.tier_changed']);
    expect(sub.secret).toMatch(/^whsec_/);

    const customer = await createCustomer(t, { email: 'ana@example.ro', first_name: 'Ana' });
    const r = await pump();
    expect(r.succeeded).toBeGreaterThanOrEqual(1);

    expect(match.received).toHaveLength(1);
    expect(other.received).toHaveLength(0);
    const got = match.received[0];
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['x-crm-event']).toBe('customer.created');
    expectValidSignature(got, sub.secret);
    expect(got.body).toMatchObject({
      type: 'customer.created',
      tenant_id: t.tenantId,
      data: { customer: { id: customer.id, email: 'ana@example.ro', first_name: 'Ana' } },
    });
    expect(got.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(got.body.occurred_at).toISOString()).toBe(got.body.occurred_at);

    const list = await deliveries(t, sub.id);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ status: 'succeeded', attempts: 1, last_status_code: 200, event_type: 'customer.created', customer_id: customer.id, last_error: null });
    expect(got.headers['x-crm-delivery']).toBe(list[0].id);
    expect(await deliveries(t, nonMatching.id)).toHaveLength(0);

    // A profile update: customer.updated with the changed fields only.
    const res = await api(t.headers).patch(`/customers/${customer.id}`, { first_name: 'Ana Maria', city: 'Cluj' });
    expect(res.statusCode, res.body).toBe(200);
    await pump();
    expect(match.received).toHaveLength(2);
    expect(match.received[1].body).toMatchObject({
      type: 'customer.updated',
      data: { customer_id: customer.id, changes: { first_name: { from: 'Ana', to: 'Ana Maria' }, city: { from: null, to: 'Cluj' } } },
    });
    expect(Object.keys(match.received[1].body.data.changes).sort()).toEqual(['city', 'first_name']);
    await retire(t);
  });

  it('publishes customer.tier_changed with old and new tier on a loyalty adjustment', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.tier_changed']);
    const customer = await createCustomer(t, { email: 'tier@example.ro' });
    const before = (await api(t.headers).get(`/customers/${customer.id}/loyalty`)).json().tier;
    const adj = await api(t.headers).post(`/customers/${customer.id}/loyalty/adjust`, { points: 1500, note: 'welcome gift' });
    expect(adj.statusCode, adj.body).toBe(200);
    expect(adj.json().tier).toBe('silver');
    await pump();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0].headers['x-crm-event']).toBe('customer.tier_changed');
    expect(rx.received[0].body.data).toMatchObject({ customer_id: customer.id, old_tier: before, new_tier: 'silver', cause: 'adjusted' });
    expectValidSignature(rx.received[0], sub.secret);
    await retire(t);
  });

  it('an ingested order that moves a customer into a segment and a tier reaches a receiver that was down, signed', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const port = rx.port;
    const sub = await subscribe(t, rx.url, ['customer.segment_changed', 'customer.tier_changed']);
    const seg = await api(t.headers).post('/segments', {
      name: 'Big spenders', rules: { conditions: [{ field: 'total_spend', operator: '>=', value: 1000 }] },
    });
    expect(seg.statusCode, seg.body).toBe(201);
    await rx.close(); // the subscriber goes down before the order arrives

    const order = {
      id: 'evt_big_order', type: 'order.completed', occurred_at: new Date(Date.now() - 3600_000).toISOString(),
      customer: { email: 'elena@example.ro', first_name: 'Elena' },
      data: { order_id: 'ord_big', total: 1200, currency: 'RON', items: [{ event_id: 'ev_1', quantity: 2, unit_price: 600 }] },
    };
    const res = await api(t.headers).post('/events', { events: [order] });
    expect(res.statusCode, res.body).toBe(200);
    const customerId = res.json().results[0].customer_id;
    await pump();
    advance(2 * 60 * 60_000);
    await deliver();
    const failed = await deliveries(t, sub.id);
    expect(failed.some((d) => d.attempts > 0 && d.status === 'failed')).toBe(true);
    expect(rx.received).toHaveLength(0);

    await rx.listen(port); // back an hour or two later: nothing was lost
    advance(2 * 60 * 60_000);
    await deliver();
    expect((await deliveries(t, sub.id)).every((d) => d.status === 'succeeded')).toBe(true);
    const byType = new Map(rx.received.map((r) => [r.headers['x-crm-event'], r]));
    expect([...byType.keys()].sort()).toEqual(['customer.segment_changed', 'customer.tier_changed']);
    const segmentChange = byType.get('customer.segment_changed')!;
    expect(segmentChange.body.data).toMatchObject({
      customer_id: customerId, entered: [{ id: seg.json().id, name: 'Big spenders' }], exited: [], old_segments: [], new_segments: [seg.json().id],
    });
    const tierChange = byType.get('customer.tier_changed')!;
    expect(tierChange.body.data).toMatchObject({ customer_id: customerId, old_tier: 'bronze', new_tier: 'silver', cause: 'orders' });
    for (const r of rx.received) expectValidSignature(r, sub.secret);

    // Redelivering the same order changes nothing and publishes nothing new.
    expect((await api(t.headers).post('/events', { events: [order] })).statusCode).toBe(200);
    await pump();
    expect(rx.received).toHaveLength(2);
    await retire(t);
  });

  it('retries a receiver that answers 500, then succeeds; attempts are recorded', async () => {
    const t = await createTestTenant(ctx.db);
    let calls = 0;
    const rx = await receiver((_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(500).end('boom');
      else res.writeHead(204).end();
    });
    const sub = await subscribe(t, rx.url, ['*']);
    await createCustomer(t, { email: 'retry@example.ro' });
    const first = await pump();
    expect(first.failed).toBeGreaterThanOrEqual(1);
    let [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 500 });
    expect(d.last_error).toContain('HTTP 500: boom');
    const wait = new Date(d.next_attempt_at).getTime() - new Date(d.last_attempt_at).getTime();
    expect(wait).toBeGreaterThanOrEqual(24_000);
    expect(wait).toBeLessThanOrEqual(36_000);

    // Not due yet: nothing is sent.
    await deliver();
    expect(rx.received).toHaveLength(1);

    advance(40_000);
    await deliver();
    [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2, last_status_code: 204, last_error: null });
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1].body.id).toBe(rx.received[0].body.id);
    await retire(t);
  });

  it('times out a receiver that hangs and retries it', async () => {
    const t = await createTestTenant(ctx.db);
    let hang = true;
    const rx = await receiver((_req, res) => {
      if (!hang) res.writeHead(200).end();
      // else: never answer
    });
    const sub = await subscribe(t, rx.url, ['customer.created']);
    await createCustomer(t, { email: 'hang@example.ro' });
    const started = Date.now();
    await pump();
    expect(Date.now() - started).toBeLessThan(5_000);
    let [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_status_code: null });
    expect(d.last_error).toMatch(/timeout after 800 ms/);
    hang = false;
    advance(60_000);
    await deliver();
    [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2 });
    await retire(t);
  });

  it('does not follow a redirect: a 3xx is a failure', async () => {
    const t = await createTestTenant(ctx.db);
    const target = await receiver();
    const rx = await receiver((_req, res) => res.writeHead(302, { location: target.url }).end());
    const sub = await subscribe(t, rx.url, ['customer.created']);
    await createCustomer(t, { email: 'redirect@example.ro' });
    await pump();
    const [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_status_code: 302 });
    expect(d.last_error).toContain('not followed');
    expect(target.received).toHaveLength(0);
    await retire(t);
  });

  it('marks a delivery dead after WEBHOOK_MAX_ATTEMPTS and the next one goes ahead', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver((_req, res) => res.writeHead(503).end());
    const sub = await subscribe(t, rx.url, ['customer.*']);
    const c = await createCustomer(t, { email: 'dead@example.ro' });
    await api(t.headers).patch(`/customers/${c.id}`, { first_name: 'Later' });
    const config = { ...ctx.config, webhookMaxAttempts: 3 };
    await dispatchOutbox(ctx.db);
    for (let i = 0; i < 3; i++) {
      await deliver(config);
      advance(2 * 60 * 60_000);
    }
    const list = await deliveries(t, sub.id);
    const created = list.find((d) => d.event_type === 'customer.created');
    expect(created).toMatchObject({ status: 'dead', attempts: 3, next_attempt_at: null });
    // The update waited behind the created event while it was open, and was tried after it died.
    const updated = list.find((d) => d.event_type === 'customer.updated');
    expect(updated.attempts).toBeGreaterThanOrEqual(1);
    expect(rx.received.map((r) => r.body.type).slice(0, 4)).toEqual(['customer.created', 'customer.created', 'customer.created', 'customer.updated']);
    await retire(t);
  });

  it('delivers everything, in order per customer, to a receiver that was down for several attempts', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const port = rx.port;
    const sub = await subscribe(t, rx.url, ['customer.*']);
    await rx.close();

    const a = await createCustomer(t, { email: 'a@example.ro', first_name: 'A0' });
    const b = await createCustomer(t, { email: 'b@example.ro', first_name: 'B0' });
    for (let i = 1; i <= 3; i++) {
      expect((await api(t.headers).patch(`/customers/${a.id}`, { first_name: `A${i}` })).statusCode).toBe(200);
      expect((await api(t.headers).patch(`/customers/${b.id}`, { first_name: `B${i}` })).statusCode).toBe(200);
    }
    await pump();
    for (let i = 0; i < 4; i++) {
      advance(2 * 60 * 60_000);
      await deliver();
    }
    let list = await deliveries(t, sub.id);
    expect(list).toHaveLength(8);
    // Only the first event of each customer was tried; the others wait behind it.
    const tried = list.filter((d) => d.attempts > 0);
    expect(tried.map((d) => d.event_type)).toEqual(['customer.created', 'customer.created']);
    for (const d of tried) {
      expect(d).toMatchObject({ status: 'failed', attempts: 5 });
      expect(d.last_error).toMatch(/ECONNREFUSED/);
    }

    await rx.listen(port); // back
    advance(2 * 60 * 60_000);
    await deliver();
    list = await deliveries(t, sub.id);
    expect(list.every((d) => d.status === 'succeeded')).toBe(true);
    expect(rx.received).toHaveLength(8);
    const names = (customerId: string) =>
      rx.received
        .filter((r) => (r.body.data.customer?.id ?? r.body.data.customer_id) === customerId)
        .map((r) => r.body.data.customer?.first_name ?? r.body.data.changes.first_name.to);
    expect(names(a.id)).toEqual(['A0', 'A1', 'A2', 'A3']);
    expect(names(b.id)).toEqual(['B0', 'B1', 'B2', 'B3']);
    // At least once, and here exactly once.
    expect(new Set(rx.received.map((r) => r.body.id)).size).toBe(8);
    await retire(t);
  });

  it('replays a delivery with the same event id and records it', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.created']);
    await createCustomer(t, { email: 'replay@example.ro' });
    await pump();
    const [d] = await deliveries(t, sub.id);
    const res = await api(t.headers).post(`/webhooks/${sub.id}/deliveries/${d.id}/replay`);
    expect(res.statusCode, res.body).toBe(202);
    const replay = res.json();
    expect(replay).toMatchObject({ status: 'pending', attempts: 0, replay_of: d.id, event_id: d.event_id });
    await deliver();
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1].body).toEqual(rx.received[0].body);
    expect(rx.received[1].headers['x-crm-delivery']).toBe(replay.id);
    const one = await api(t.headers).get(`/webhooks/${sub.id}/deliveries/${replay.id}`);
    expect(one.json()).toMatchObject({ status: 'succeeded', attempts: 1 });
    // Unknown delivery
    const missing = await api(t.headers).post(`/webhooks/${sub.id}/deliveries/${crypto.randomUUID()}/replay`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('webhook_delivery_not_found');
    await retire(t);
  });

  it('sends a webhook.test event on demand', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.deleted']);
    const res = await api(t.headers).post(`/webhooks/${sub.id}/test`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'succeeded', attempts: 1, last_status_code: 200, event_type: 'webhook.test' });
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0].headers['x-crm-event']).toBe('webhook.test');
    expect(rx.received[0].body).toMatchObject({ type: 'webhook.test', tenant_id: t.tenantId, data: { subscription_id: sub.id } });
    expectValidSignature(rx.received[0], sub.secret);
    await retire(t);
  });

  it('signs with the new secret after a rotation', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.deleted']);
    const res = await api(t.headers).post(`/webhooks/${sub.id}/rotate-secret`);
    expect(res.statusCode, res.body).toBe(200);
    const rotated = res.json();
    expect(rotated.secret).not.toBe(sub.secret);
    expect(rotated.secret_hint).toBe(`…${rotated.secret.slice(-4)}`);
    const c = await createCustomer(t, { email: 'gone@example.ro' });
    expect((await api(t.headers).del(`/customers/${c.id}`)).statusCode).toBe(204);
    await pump();
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0].body).toMatchObject({ type: 'customer.deleted', data: { customer_id: c.id } });
    expectValidSignature(rx.received[0], rotated.secret);
    expect(verifySignature(sub.secret, rx.received[0].raw, String(rx.received[0].headers['x-crm-signature']))).toBe(false);
    await retire(t);
  });

  it('pauses deliveries of an inactive subscription and resumes them when it is active again', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.*']);
    await createCustomer(t, { email: 'pause@example.ro' });
    await dispatchOutbox(ctx.db);
    expect((await api(t.headers).patch(`/webhooks/${sub.id}`, { active: false })).json().active).toBe(false);
    await deliver();
    expect(rx.received).toHaveLength(0);
    // Events raised while inactive are not queued for it.
    await createCustomer(t, { email: 'pause2@example.ro' });
    await dispatchOutbox(ctx.db);
    expect(await deliveries(t, sub.id)).toHaveLength(1);
    expect((await api(t.headers).patch(`/webhooks/${sub.id}`, { active: true })).json().active).toBe(true);
    await deliver();
    expect(rx.received).toHaveLength(1);
    await retire(t);
  });
});

describe('SSRF guard', () => {
  const strict = testConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_TIMEOUT_MS: '800' });

  it('classifies private, loopback, link-local and metadata addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0',
      '100.100.100.200', '::1', '::', 'fe80::1', 'fd00:ec2::254', 'fc00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '[::1]', 'not-an-ip']) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(ip), ip).toBe(false);
    }
  });

  it('refuses to deliver to a private address with the flag off (by IP and by a name that resolves to one)', async () => {
    const rx = await receiver();
    for (const url of [rx.url, `http://localhost:${rx.port}/hook`, `http://[::ffff:127.0.0.1]:${rx.port}/hook`]) {
      const r = await postWebhook({ url, body: '{}', headers: { 'Content-Type': 'application/json' }, timeoutMs: 800, allowPrivate: false });
      expect(r.ok, url).toBe(false);
      expect(r.error, url).toMatch(/^refused: /);
    }
    expect(rx.received).toHaveLength(0);
    // The same receiver is reachable with the flag on.
    const allowed = await postWebhook({ url: rx.url, body: '{}', headers: {}, timeoutMs: 800, allowPrivate: true });
    expect(allowed).toMatchObject({ ok: true, statusCode: 200 });
  });

  it('records the refusal on the delivery when the worker runs with the flag off', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.created']);
    await createCustomer(t, { email: 'ssrf@example.ro' });
    await dispatchOutbox(ctx.db);
    await deliver(strict);
    const [d] = await deliveries(t, sub.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 1, last_status_code: null });
    expect(d.last_error).toMatch(/refused: .*private or reserved address/);
    expect(rx.received).toHaveLength(0);
    await retire(t);
  });

  it('refuses private URLs at subscription time with the flag off', async () => {
    const t = await createTestTenant(ctx.db);
    const wctx = { db: ctx.db, config: strict, tenantId: t.tenantId };
    for (const url of ['http://127.0.0.1:8080/x', 'http://169.254.169.254/latest/meta-data', 'http://[fe80::1]/x', 'http://localhost:9/x', 'http://10.0.0.5/x']) {
      await expect(createWebhook(wctx, { url, event_types: ['*'] }), url).rejects.toMatchObject({ code: 'validation_failed' });
    }
    const ok = await createWebhook(wctx, { url: 'https://93.184.215.14/hooks', event_types: ['*'], active: false });
    expect(ok.url).toBe('https://93.184.215.14/hooks');
  });
});

describe('webhook API', () => {
  it('validates url, event type patterns and unknown fields (400)', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t.headers);
    const bad = [
      { url: 'ftp://example.com/x', event_types: ['*'] },
      { url: 'not a url', event_types: ['*'] },
      { url: 'http://user:pw@example.com/x', event_types: ['*'] },
      { url: 'https://example.com/x', event_types: [] },
      { url: 'https://example.com/x', event_types: ['Customer.Created'] },
      { url: 'https://example.com/x', event_types: ['customer.nope'] },
      { url: 'https://example.com/x', event_types: ['orders.*'] },
      { url: 'https://example.com/x', event_types: ['customer.**'] },
      { url: 'https://example.com/x', event_types: ['*'], colour: 'red' },
      { url: 'https://example.com/x', event_types: ['*'], secret: 'short' },
      { event_types: ['*'] },
    ];
    for (const body of bad) {
      const res = await a.post('/webhooks', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('validation_failed');
    }
    const created = await a.post('/webhooks', { url: 'https://example.com/x', event_types: ['customer.created', 'customer.*', '*'], description: ' CRM sync ' });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    expect((await a.patch(`/webhooks/${id}`, { event_types: ['nope.*'] })).statusCode).toBe(400);
    expect((await a.patch(`/webhooks/${id}`, { secret: 'x'.repeat(30) })).statusCode).toBe(400);
    expect((await a.patch(`/webhooks/${id}`, {})).statusCode).toBe(400);
    expect((await a.get('/webhooks/not-a-uuid')).statusCode).toBe(400);
    expect((await a.get(`/webhooks/${id}/deliveries?cursor=garbage`)).json().error.code).toBe('invalid_cursor');
  });

  it('creates, reads (secret only at creation), lists, updates and deletes', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t.headers);
    const mine = 'my-own-secret-of-enough-length-123';
    const res = await a.post('/webhooks', { url: 'https://example.com/hook', event_types: ['customer.*'], secret: mine, description: 'sync' });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json();
    expect(created).toMatchObject({ url: 'https://example.com/hook', event_types: ['customer.*'], active: true, description: 'sync', secret: mine, secret_hint: '…-123' });

    const got = (await a.get(`/webhooks/${created.id}`)).json();
    expect(got.secret).toBeUndefined();
    expect(got.secret_hint).toBe('…-123');

    await a.post('/webhooks', { url: 'https://example.com/2', event_types: ['*'] });
    await a.post('/webhooks', { url: 'https://example.com/3', event_types: ['*'] });
    const page1 = (await a.get('/webhooks?limit=2')).json();
    expect(page1.data).toHaveLength(2);
    expect(page1.data[0].id).toBe(created.id);
    expect(page1.data.every((w: any) => w.secret === undefined)).toBe(true);
    const page2 = (await a.get(`/webhooks?limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`)).json();
    expect(page2.data).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();

    const patched = await a.patch(`/webhooks/${created.id}`, { url: 'https://example.org/new', active: false, description: null });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ url: 'https://example.org/new', active: false, description: null, event_types: ['customer.*'] });

    expect((await a.del(`/webhooks/${created.id}`)).statusCode).toBe(204);
    expect((await a.get(`/webhooks/${created.id}`)).statusCode).toBe(404);
    expect((await a.del(`/webhooks/${created.id}`)).json().error.code).toBe('webhook_not_found');
  });

  it('pages deliveries newest first and filters by status', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.created']);
    for (let i = 0; i < 3; i++) await createCustomer(t, { email: `page${i}@example.ro` });
    await pump();
    const a = api(t.headers);
    const p1 = (await a.get(`/webhooks/${sub.id}/deliveries?limit=2`)).json();
    expect(p1.data).toHaveLength(2);
    const p2 = (await a.get(`/webhooks/${sub.id}/deliveries?limit=2&cursor=${encodeURIComponent(p1.next_cursor)}`)).json();
    expect(p2.data).toHaveLength(1);
    expect(p2.next_cursor).toBeNull();
    const ids = [...p1.data, ...p2.data].map((d: any) => d.id);
    expect(new Set(ids).size).toBe(3);
    const emails = [...p1.data, ...p2.data].map((d: any) => d.payload.data.customer.email);
    expect(emails).toEqual(['page2@example.ro', 'page1@example.ro', 'page0@example.ro']);
    expect((await a.get(`/webhooks/${sub.id}/deliveries?status=succeeded`)).json().data).toHaveLength(3);
    expect((await a.get(`/webhooks/${sub.id}/deliveries?status=dead`)).json().data).toHaveLength(0);
    expect((await a.get(`/webhooks/${sub.id}/deliveries?status=bogus`)).statusCode).toBe(400);
    await retire(t);
  });

  it('is for admins only', async () => {
    const t = await createTestTenant(ctx.db);
    const employee = api(await t.keyFor('employee'));
    const viewer = api(await t.keyFor('viewer'));
    const sub = await subscribe(t, 'https://example.com/x', ['*']);
    const body = { url: 'https://example.com/y', event_types: ['*'] };
    expect((await employee.post('/webhooks', body)).statusCode).toBe(403);
    expect((await employee.patch(`/webhooks/${sub.id}`, { active: false })).statusCode).toBe(403);
    expect((await employee.post(`/webhooks/${sub.id}/rotate-secret`)).statusCode).toBe(403);
    expect((await employee.del(`/webhooks/${sub.id}`)).statusCode).toBe(403);
    expect((await viewer.get('/webhooks')).statusCode).toBe(403);
    expect((await viewer.get(`/webhooks/${sub.id}/deliveries`)).statusCode).toBe(403);
    expect((await employee.get(`/webhooks/${sub.id}`)).statusCode).toBe(403);
    const anonymous = await ctx.app.inject({ method: 'GET', url: '/api/crm/webhooks' });
    expect(anonymous.statusCode).toBe(401);
  });

  it("keeps tenants apart: B cannot see or change A's webhooks and deliveries, and A's events never reach B", async () => {
    const a = await createTestTenant(ctx.db, 'A');
    const b = await createTestTenant(ctx.db, 'B');
    const rxA = await receiver();
    const rxB = await receiver();
    const subA = await subscribe(a, rxA.url, ['*']);
    const subB = await subscribe(b, rxB.url, ['*']);
    await createCustomer(a, { email: 'only-a@example.ro' });
    await pump();
    expect(rxA.received).toHaveLength(1);
    expect(rxB.received).toHaveLength(0);
    expect(await deliveries(b, subB.id)).toHaveLength(0);
    const [dA] = await deliveries(a, subA.id);

    const asB = api(b.headers);
    expect((await asB.get('/webhooks')).json().data.map((w: any) => w.id)).toEqual([subB.id]);
    for (const res of [
      await asB.get(`/webhooks/${subA.id}`),
      await asB.patch(`/webhooks/${subA.id}`, { url: 'https://evil.example.com/' }),
      await asB.post(`/webhooks/${subA.id}/rotate-secret`),
      await asB.post(`/webhooks/${subA.id}/test`),
      await asB.get(`/webhooks/${subA.id}/deliveries`),
      await asB.get(`/webhooks/${subA.id}/deliveries/${dA.id}`),
      await asB.post(`/webhooks/${subA.id}/deliveries/${dA.id}/replay`),
      await asB.post(`/webhooks/${subB.id}/deliveries/${dA.id}/replay`),
      await asB.del(`/webhooks/${subA.id}`),
    ]) {
      expect(res.statusCode, res.body).toBe(404);
    }
    expect((await api(a.headers).get(`/webhooks/${subA.id}`)).json().url).toBe(rxA.url);
    expect(rxA.received).toHaveLength(1);
    await retire(a);
    await retire(b);
  });
});

describe('worker', () => {
  it('the outbox.dispatch and webhooks.deliver jobs deliver an event without being driven by hand', async () => {
    const t = await createTestTenant(ctx.db);
    const rx = await receiver();
    const sub = await subscribe(t, rx.url, ['customer.created']);
    const config = { ...ctx.config, outboxPollIntervalSeconds: 1 };
    const queue = new JobQueue(ctx.db);
    defineOutboxJobs(queue, { db: ctx.db, config });
    await queue.start({ work: true });
    try {
      // The per-minute cron starts the chains on its own; a test does not wait for the minute.
      await queue.send('outbox.dispatch', {});
      await queue.send('webhooks.deliver', {});
      await createCustomer(t, { email: 'worker@example.ro' });
      const deadline = Date.now() + 30_000;
      while (rx.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(rx.received).toHaveLength(1);
      expect(rx.received[0].body.type).toBe('customer.created');
      expectValidSignature(rx.received[0], sub.secret);
      // Later events are picked up by the runs each run queues for itself.
      await createCustomer(t, { email: 'worker2@example.ro' });
      const deadline2 = Date.now() + 30_000;
      while (rx.received.length < 2 && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 200));
      expect(rx.received.map((r) => r.body.data.customer.email)).toEqual(['worker@example.ro', 'worker2@example.ro']);
    } finally {
      await queue.stop(5_000);
      await retire(t);
    }
  });
});

describe('retry policy', () => {
  it('backs off exponentially from 30 s, capped at 1 h, with ±20 % jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 12].map((n) => retryDelayMs(n, mid) / 1000)).toEqual([30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    expect(retryDelayMs(1, () => 0)).toBe(24_000);
    expect(retryDelayMs(1, () => 1)).toBe(36_000);
  });
});
