import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import pg from 'pg';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { sql } from '../../db/database.js';
import { startService } from '../../server.js';
import { createTestTenant, testConfig } from '../../test/helpers.js';
import { BROKER_URL, brokerReachable, uniqueNames, waitFor } from './rabbitmq.test-helpers.js';

/** `crm serve` in-process with RABBITMQ_URL set: the consumer, the publisher job and their metrics are wired in. */

const reachable = await brokerReachable();
const { names } = uniqueNames();
const pgUrl = inject('testDatabaseUrl') || null;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-rabbitmq-test-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

async function createDatabase(base: string): Promise<string> {
  const name = `crm_rmq_test_${Date.now()}_${crypto.randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabase(base: string, url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
  await admin.end();
}

describe.runIf(reachable)('crm serve with RabbitMQ', () => {
  it('consumes, publishes the outbox through the job, counts both at /metrics, and stops the consumer on shutdown', { timeout: 150_000 }, async () => {
    // On PostgreSQL the worker gets a database of its own: the suite's shared one holds thousands of other
    // tenants' outbox events, and this test is about the wiring, not about working through that backlog.
    const ownUrl = pgUrl ? await createDatabase(pgUrl) : null;
    onTestFinished(async () => {
      if (ownUrl) await dropDatabase(pgUrl!, ownUrl);
    });
    const config = testConfig({
      ...names, DATA_DIR: dataDir, OUTBOX_POLL_INTERVAL_SECONDS: '1', HOST: '127.0.0.1', PORT: '0', ...(ownUrl ? { DATABASE_URL: ownUrl } : {}),
    });
    const service = await startService(config, { mode: 'serve', logger: pino({ level: 'silent' }) as unknown as FastifyBaseLogger });
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createConfirmChannel();
    try {
      const t = await createTestTenant(service.db);
      await ch.assertExchange(names.RABBITMQ_PUBLISH_EXCHANGE, 'topic', { durable: true });
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, names.RABBITMQ_PUBLISH_EXCHANGE, 'customer.created');

      const ev = {
        id: `evt_${crypto.randomUUID()}`, type: 'user.registered', occurred_at: new Date(Date.now() - 60_000).toISOString(),
        customer: { external_id: 'u_1', email: 'worker@exemplu.ro' }, data: {},
      };
      ch.publish(names.RABBITMQ_EVENTS_EXCHANGE, 'user.registered', Buffer.from(JSON.stringify(ev)), { persistent: true, headers: { tenant_id: t.tenantId } });
      await ch.waitForConfirms();
      const customer = await waitFor('the consumer applied the event', () => service.db.one<{ id: string }>(sql`
        SELECT id FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND email = 'worker@exemplu.ro'`));

      // The publish job's first cron run comes with the next whole minute; start the chain now.
      await service.queue.send('rabbitmq.publish', {});
      const msg = await waitFor('customer.created on the publish exchange', async () => {
        // drain what is there: the queue also receives the other test files' tenants' events
        for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true })) {
          if (m.properties.headers?.tenant_id === t.tenantId) return m;
        }
        return null;
        // on a database shared with the rest of the suite, the job first works through its outbox backlog
      }, 90_000);
      expect(JSON.parse(msg.content.toString())).toMatchObject({ type: 'customer.created', tenant_id: t.tenantId, data: { customer: { id: customer.id } } });

      const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
      const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
      expect(value('crm_rabbitmq_consumed_messages_total{outcome="applied"}')).toBeGreaterThanOrEqual(1);
      expect(value('crm_rabbitmq_consumed_messages_total{outcome="dead_lettered"}')).toBe(0);
      expect(value('crm_rabbitmq_consumer_connected')).toBe(1);
      expect(value('crm_rabbitmq_published_events_total')).toBeGreaterThanOrEqual(1);
      expect(value('crm_rabbitmq_publisher_connected')).toBe(1);
    } finally {
      await service.stop();
      // Stopped: the events queue has no consumer any more.
      const q = await ch.checkQueue(names.RABBITMQ_EVENTS_QUEUE);
      expect(q.consumerCount).toBe(0);
      for (const q2 of [names.RABBITMQ_EVENTS_QUEUE, names.RABBITMQ_DEAD_LETTER_QUEUE]) await ch.deleteQueue(q2).catch(() => undefined);
      for (const x of [names.RABBITMQ_EVENTS_EXCHANGE, names.RABBITMQ_PUBLISH_EXCHANGE, names.RABBITMQ_DEAD_LETTER_EXCHANGE]) {
        await ch.deleteExchange(x).catch(() => undefined);
      }
      await conn.close();
    }
  });
});
