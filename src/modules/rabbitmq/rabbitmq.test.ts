import crypto from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Database } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { purgeOld } from '../outbox/outbox.repository.js';
import { RabbitmqConsumer } from './rabbitmq.consumer.js';
import { RabbitmqPublisher } from './rabbitmq.publisher.js';
import { REJECT_REASON_HEADER } from './rabbitmq.topology.js';
import { BROKER_URL, brokerReachable, uniqueNames, waitFor } from './rabbitmq.test-helpers.js';

const reachable = await brokerReachable();
const { names } = uniqueNames();
const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

const hourAgo = () => new Date(Date.now() - 3600_000).toISOString();
const order = (id: string, email: string, total = 150) => ({
  id, type: 'order.completed', occurred_at: hourAgo(),
  customer: { email, first_name: 'Ion' },
  data: { order_id: `ord_${id}`, total, currency: 'RON', items: [{ event_id: 'ev_9', ticket_type: 'GA', quantity: 2, unit_price: total / 2 }] },
});

describe.runIf(reachable)('RabbitMQ (real broker)', () => {
  let ctx: TestContext;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  let consumer: RabbitmqConsumer;

  beforeAll(async () => {
    ctx = await createTestApp(names);
    conn = await amqp.connect(BROKER_URL);
    ch = await conn.createConfirmChannel();
    consumer = new RabbitmqConsumer({ db: ctx.db, config: ctx.config, log });
    await consumer.start();
    expect(consumer.consuming).toBe(true);
  });

  afterAll(async () => {
    await consumer?.stop();
    if (ch) {
      for (const q of [names.RABBITMQ_EVENTS_QUEUE, names.RABBITMQ_DEAD_LETTER_QUEUE]) await ch.deleteQueue(q).catch(() => undefined);
      for (const x of [names.RABBITMQ_EVENTS_EXCHANGE, names.RABBITMQ_PUBLISH_EXCHANGE, names.RABBITMQ_DEAD_LETTER_EXCHANGE]) {
        await ch.deleteExchange(x).catch(() => undefined);
      }
    }
    await conn?.close().catch(() => undefined);
    await ctx?.close();
  });

  async function send(body: unknown, opts: { tenantId?: string; routingKey?: string; raw?: string } = {}): Promise<void> {
    const content = Buffer.from(opts.raw ?? JSON.stringify(body));
    ch.publish(names.RABBITMQ_EVENTS_EXCHANGE, opts.routingKey ?? 'order.completed', content, {
      persistent: true, contentType: 'application/json', headers: opts.tenantId ? { tenant_id: opts.tenantId } : {},
    });
    await ch.waitForConfirms();
  }

  async function customerByEmail(tenantId: string, email: string) {
    return ctx.db.one<{ id: string; total_orders: number; total_spend: number }>(sql`
      SELECT id, total_orders, total_spend FROM customers WHERE tenant_id = ${tenantId}::uuid AND email = ${email}`);
  }

  async function profile(t: TestTenant, id: string) {
    const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/customers/${id}`, headers: t.headers });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async function deadLetters(count: number): Promise<GetMessage[]> {
    const got: GetMessage[] = [];
    await waitFor(`${count} dead letters`, async () => {
      const m = await ch.get(names.RABBITMQ_DEAD_LETTER_QUEUE, { noAck: true });
      if (m) got.push(m);
      return got.length >= count;
    });
    return got;
  }

  it('applies an order.completed once even when the same event arrives again (redelivery, duplicate publish)', async () => {
    const t = await createTestTenant(ctx.db);
    const ev = order(`evt_${crypto.randomUUID()}`, 'ion@exemplu.ro');
    const before = consumer.stats.applied;
    await send({ tenant_id: t.tenantId, events: [ev] }); // batch form, tenant in the body
    await send(ev, { tenantId: t.tenantId }); // single-event form, tenant in the header: same event id
    await send(ev, { tenantId: t.tenantId });
    await waitFor('three messages applied', () => consumer.stats.applied >= before + 3);

    const c = await customerByEmail(t.tenantId, 'ion@exemplu.ro');
    expect(c).toBeDefined();
    const p = await profile(t, c!.id);
    expect(p.metrics).toMatchObject({ total_orders: 1, total_spend: 150, average_order_value: 150 });
    expect(p.first_name).toBe('Ion');
    const orders = await ctx.db.rows(sql`SELECT 1 FROM orders WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(orders).toHaveLength(1);
  });

  it('dead-letters a non-JSON message and an all-invalid one with the reason, and keeps consuming', async () => {
    const t = await createTestTenant(ctx.db);
    await send(null, { tenantId: t.tenantId, raw: '{not json' });
    await send({ id: 'evt_bad', type: 'order.completed', occurred_at: hourAgo(), customer: { email: 'not-an-email' }, data: {} }, { tenantId: t.tenantId });
    await send({ events: [] }, { tenantId: t.tenantId });
    const good = order(`evt_${crypto.randomUUID()}`, 'maria@exemplu.ro', 80);
    // a batch with one bad event: the good one is applied, the message acked
    await send({ events: [good, { id: 'evt_bad2', type: 'nope.never' }] }, { tenantId: t.tenantId });

    const dead = await deadLetters(3);
    const reasons = dead.map((m) => String(m.properties.headers?.[REJECT_REASON_HEADER]));
    expect(reasons[0]).toMatch(/^invalid_json: /);
    expect(dead[0].content.toString()).toBe('{not json');
    expect(reasons[1]).toMatch(/^all_events_rejected: evt_bad: /);
    expect(reasons[2]).toMatch(/^validation_failed: /);
    expect(dead[1].properties.headers?.tenant_id).toBe(t.tenantId);
    expect(dead[1].properties.headers?.['x-crm-original-exchange']).toBe(names.RABBITMQ_EVENTS_EXCHANGE);

    const c = await waitFor('the good event applied', () => customerByEmail(t.tenantId, 'maria@exemplu.ro'));
    expect(c.total_orders).toBe(1);
    expect(c.total_spend).toBe(80);
  });

  it('keeps one tenant’s events away from another, and refuses a message without a known tenant', async () => {
    const a = await createTestTenant(ctx.db, 'Tenant A');
    const b = await createTestTenant(ctx.db, 'Tenant B');
    await send(order(`evt_${crypto.randomUUID()}`, 'shared@exemplu.ro', 100), { tenantId: a.tenantId });
    await send(order(`evt_${crypto.randomUUID()}`, 'nobody@exemplu.ro'));
    await send(order(`evt_${crypto.randomUUID()}`, 'ghost@exemplu.ro'), { tenantId: crypto.randomUUID() });
    await send({ tenant_id: b.tenantId, events: [order(`evt_${crypto.randomUUID()}`, 'shared@exemplu.ro', 40)] }, { tenantId: a.tenantId });

    const dead = await deadLetters(3);
    const reasons = dead.map((m) => String(m.properties.headers?.[REJECT_REASON_HEADER]));
    expect(reasons[0]).toMatch(/^missing_tenant/);
    expect(reasons[1]).toMatch(/^unknown_tenant/);
    expect(reasons[2]).toMatch(/^tenant_mismatch/);

    const inA = await waitFor('tenant A customer', () => customerByEmail(a.tenantId, 'shared@exemplu.ro'));
    expect(inA.total_spend).toBe(100);
    expect(await customerByEmail(b.tenantId, 'shared@exemplu.ro')).toBeUndefined();
    const bCount = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers WHERE tenant_id = ${b.tenantId}::uuid`);
    expect(bCount?.n).toBe(0);
  });

  /** ctx.db with `transaction` wrapped (the batch transaction is the first one a message opens). */
  function wrapTransaction(wrap: (run: () => Promise<unknown>) => Promise<unknown>): Database {
    return new Proxy(ctx.db, {
      get(target, prop, receiver) {
        if (prop === 'transaction') return (fn: Parameters<Database['transaction']>[0]) => wrap(() => target.transaction(fn));
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  function cutConnection(c: RabbitmqConsumer): void {
    // Destroy the TCP socket under amqplib, as a broker restart or a network failure would.
    const socket = (c.connection!.connection as unknown as { stream: { destroy(err?: Error): void } }).stream;
    socket.destroy(new Error('test: connection cut'));
  }

  it('applies a message once when the connection dies after the commit and before the ack (real redelivery)', async () => {
    const t = await createTestTenant(ctx.db);
    let cut = false;
    let victim: RabbitmqConsumer | null = null;
    const db = wrapTransaction(async (run) => {
      const r = await run();
      if (!cut && victim) {
        cut = true;
        cutConnection(victim);
      }
      return r;
    });
    await consumer.stop();
    victim = new RabbitmqConsumer({ db, config: ctx.config, log });
    try {
      await victim.start();
      await send(order(`evt_${crypto.randomUUID()}`, 'redelivered@exemplu.ro', 90), { tenantId: t.tenantId });
      await waitFor('redelivered after reconnect and acked', () => victim!.stats.redelivered >= 1 && victim!.stats.applied >= 2, 20_000);
      expect(victim.stats.connects).toBe(2);
      const c = await customerByEmail(t.tenantId, 'redelivered@exemplu.ro');
      expect(c).toMatchObject({ total_orders: 1, total_spend: 90 });
    } finally {
      await victim.stop();
      consumer = new RabbitmqConsumer({ db: ctx.db, config: ctx.config, log });
      await consumer.start();
    }
  });

  it('requeues after a transient database error and applies the message once', async () => {
    const t = await createTestTenant(ctx.db);
    let failures = 1;
    const flaky = wrapTransaction((run) => (failures-- > 0 ? Promise.reject(new Error('connection terminated unexpectedly')) : run()));
    // A second consumer on the same queue would race the first; stop it and use a flaky one.
    await consumer.stop();
    const flakyConsumer = new RabbitmqConsumer({ db: flaky, config: ctx.config, log });
    try {
      await flakyConsumer.start();
      await send(order(`evt_${crypto.randomUUID()}`, 'retry@exemplu.ro', 60), { tenantId: t.tenantId });
      await waitFor('applied after a requeue', () => flakyConsumer.stats.applied >= 1);
      expect(flakyConsumer.stats.requeued).toBe(1);
      const c = await customerByEmail(t.tenantId, 'retry@exemplu.ro');
      expect(c).toMatchObject({ total_orders: 1, total_spend: 60 });
    } finally {
      await flakyConsumer.stop();
      consumer = new RabbitmqConsumer({ db: ctx.db, config: ctx.config, log });
      await consumer.start();
    }
  });

  it('reconnects after the broker connection goes away, then applies later messages, nothing twice', async () => {
    const t = await createTestTenant(ctx.db);
    const first = order(`evt_${crypto.randomUUID()}`, 'reconnect@exemplu.ro', 100);
    const applied0 = consumer.stats.applied;
    await send(first, { tenantId: t.tenantId });
    await waitFor('first applied', () => consumer.stats.applied >= applied0 + 1);
    const connects = consumer.stats.connects;

    cutConnection(consumer);
    await waitFor('connection noticed lost', () => !consumer.consuming);
    // Published while the consumer is away: waits in the durable queue.
    const second = order(`evt_${crypto.randomUUID()}`, 'reconnect@exemplu.ro', 50);
    await send(second, { tenantId: t.tenantId });
    await send(first, { tenantId: t.tenantId }); // the first again, as a redelivery would bring it

    await waitFor('reconnected', () => consumer.stats.connects > connects && consumer.consuming);
    const third = order(`evt_${crypto.randomUUID()}`, 'reconnect@exemplu.ro', 25);
    await send(third, { tenantId: t.tenantId });
    await waitFor('all applied after reconnect', async () => {
      const c = await customerByEmail(t.tenantId, 'reconnect@exemplu.ro');
      return c && c.total_orders === 3 && consumer.stats.applied >= applied0 + 4;
    });
    const c = await customerByEmail(t.tenantId, 'reconnect@exemplu.ro');
    expect(c).toMatchObject({ total_orders: 3, total_spend: 175 });
  });

  it('publishes outbox events to the publish exchange in order, routing key = type, and marks them', async () => {
    const t = await createTestTenant(ctx.db);
    const publisher = new RabbitmqPublisher(ctx.config.rabbitmq!, log);
    // A subscriber queue bound to the publish exchange before anything is published.
    await ch.assertExchange(names.RABBITMQ_PUBLISH_EXCHANGE, 'topic', { durable: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, names.RABBITMQ_PUBLISH_EXCHANGE, 'customer.#');
    try {
      const created = await ctx.app.inject({
        method: 'POST', url: '/api/crm/customers', headers: t.headers,
        payload: { email: 'pub@exemplu.ro', first_name: 'Pub' },
      });
      expect(created.statusCode, created.body).toBe(201);
      const id = created.json().id as string;
      const adj = await ctx.app.inject({
        method: 'POST', url: `/api/crm/customers/${id}/loyalty/adjust`, headers: t.headers, payload: { points: 1200, note: 'test' },
      });
      expect(adj.statusCode, adj.body).toBe(200);
      const patch = await ctx.app.inject({ method: 'PATCH', url: `/api/crm/customers/${id}`, headers: t.headers, payload: { first_name: 'Publius' } });
      expect(patch.statusCode, patch.body).toBe(200);

      // Other test files share this database's outbox: publish until this tenant's rows are out.
      await waitFor('this tenant\'s outbox published', async () => {
        const outcome = await publisher.publishPending(ctx.db);
        expect(outcome.error).toBeNull();
        const left = await ctx.db.one<{ n: number }>(sql`
          SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND rabbitmq_published_at IS NULL`);
        return left!.n === 0;
      });
      const mine: GetMessage[] = [];
      await waitFor('three events for this tenant', async () => {
        // drain what is there: the queue also receives the other test files' tenants' events
        for (let m = await ch.get(queue, { noAck: true }); m && mine.length < 3; m = await ch.get(queue, { noAck: true })) {
          if (m.properties.headers?.tenant_id === t.tenantId) mine.push(m);
        }
        return mine.length >= 3;
      });
      expect(mine.map((m) => m.fields.routingKey)).toEqual(['customer.created', 'customer.tier_changed', 'customer.updated']);
      const bodies = mine.map((m) => JSON.parse(m.content.toString()));
      const rows = await ctx.db.rows<{ id: string; type: string; rabbitmq_published_at: Date | null; occurred_at: Date }>(sql`
        SELECT id, type, rabbitmq_published_at, occurred_at FROM outbox WHERE tenant_id = ${t.tenantId}::uuid ORDER BY seq`);
      expect(rows.map((r) => r.type)).toEqual(['customer.created', 'customer.tier_changed', 'customer.updated']);
      expect(rows.every((r) => r.rabbitmq_published_at instanceof Date)).toBe(true);
      expect(mine.map((m) => m.properties.messageId)).toEqual(rows.map((r) => r.id));
      expect(mine.every((m) => m.properties.deliveryMode === 2 && m.properties.contentType === 'application/json')).toBe(true);
      expect(bodies[0]).toEqual({
        id: rows[0].id, type: 'customer.created', occurred_at: rows[0].occurred_at.toISOString(), tenant_id: t.tenantId,
        data: { customer: expect.objectContaining({ id, email: 'pub@exemplu.ro', first_name: 'Pub' }) },
      });
      expect(bodies[1].data).toMatchObject({ customer_id: id, old_tier: 'bronze', new_tier: 'silver', cause: 'adjusted' });
      expect(bodies[2].data).toEqual({ customer_id: id, changes: { first_name: { from: 'Pub', to: 'Publius' } } });

      // Published once: a second run sends nothing more for this tenant.
      await publisher.publishPending(ctx.db);
      await new Promise((r) => setTimeout(r, 200));
      for (;;) {
        const m = await ch.get(queue, { noAck: true });
        if (!m) break;
        expect(m.properties.headers?.tenant_id).not.toBe(t.tenantId);
      }

      // The purge keeps events RabbitMQ has not published yet.
      await ctx.db.run(sql`UPDATE outbox SET webhooks_dispatched_at = now() - interval '30 days' WHERE tenant_id = ${t.tenantId}::uuid`);
      await ctx.db.run(sql`UPDATE outbox SET rabbitmq_published_at = now() - interval '30 days' WHERE tenant_id = ${t.tenantId}::uuid AND type <> 'customer.updated'`);
      await ctx.db.run(sql`UPDATE outbox SET rabbitmq_published_at = NULL WHERE tenant_id = ${t.tenantId}::uuid AND type = 'customer.updated'`);
      const week = new Date(Date.now() - 7 * 86400_000);
      await purgeOld(ctx.db, { eventsBefore: week, deliveriesBefore: new Date(0), rabbitmq: true });
      const left = await ctx.db.rows<{ type: string }>(sql`SELECT type FROM outbox WHERE tenant_id = ${t.tenantId}::uuid`);
      expect(left.map((r) => r.type)).toEqual(['customer.updated']);
    } finally {
      await ch.deleteQueue(queue).catch(() => undefined);
      await publisher.close();
    }
  });

  it('leaves events unmarked when the broker is unreachable and publishes them in order later', async () => {
    const t = await createTestTenant(ctx.db);
    // A broker that cannot be reached: the batch stops, nothing is marked, the next run publishes in order.
    const broken = new RabbitmqPublisher({ ...ctx.config.rabbitmq!, url: 'amqp://guest:guest@127.0.0.1:1' }, log);
    const publisher = new RabbitmqPublisher(ctx.config.rabbitmq!, log);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, names.RABBITMQ_PUBLISH_EXCHANGE, '#');
    try {
      const created = await ctx.app.inject({ method: 'POST', url: '/api/crm/customers', headers: t.headers, payload: { email: 'order@exemplu.ro' } });
      const id = created.json().id as string;
      await ctx.app.inject({ method: 'PATCH', url: `/api/crm/customers/${id}`, headers: t.headers, payload: { first_name: 'A' } });
      await ctx.app.inject({ method: 'PATCH', url: `/api/crm/customers/${id}`, headers: t.headers, payload: { first_name: 'B' } });
      const failed = await broken.publishPending(ctx.db);
      expect(failed.error).not.toBeNull();
      const unmarked = await ctx.db.one<{ n: number }>(sql`
        SELECT count(*)::int AS n FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND rabbitmq_published_at IS NULL`);
      expect(unmarked?.n).toBe(3);

      await publisher.publishPending(ctx.db);
      const mine: GetMessage[] = [];
      await waitFor('three events', async () => {
        const m = await ch.get(queue, { noAck: true });
        if (m && m.properties.headers?.tenant_id === t.tenantId) mine.push(m);
        return mine.length >= 3;
      });
      const firstNames = mine.slice(1).map((m) => JSON.parse(m.content.toString()).data.changes.first_name.to);
      expect(mine[0].fields.routingKey).toBe('customer.created');
      expect(firstNames).toEqual(['A', 'B']);
    } finally {
      await ch.deleteQueue(queue).catch(() => undefined);
      await broken.close();
      await publisher.close();
    }
  });
});
