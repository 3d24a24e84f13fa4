import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { FastifyBaseLogger } from 'fastify';
import type { RabbitmqConfig } from '../../config.js';
import type { Database } from '../../db/database.js';
import { markPublished, nextUnpublished, tryLockPublisher, type UnpublishedEvent } from './rabbitmq.repository.js';
import { assertPublishTopology, bounded, withHeartbeat } from './rabbitmq.topology.js';

type Log = Pick<FastifyBaseLogger, 'warn' | 'error'>;

/** The body every subscriber gets, the same as a webhook's. */
export function publishedBody(e: UnpublishedEvent): { id: string; type: string; occurred_at: string; tenant_id: string; data: Record<string, unknown> } {
  return { id: e.id, type: e.type, occurred_at: e.occurred_at.toISOString(), tenant_id: e.tenant_id, data: e.payload };
}

export interface PublishOptions {
  /** Events per transaction (default 200). */
  batchSize?: number;
  /** Stop after this many batches (default 20) so one run stays short; the next tick continues. */
  maxBatches?: number;
}

export interface PublisherStats {
  /** Events confirmed by the broker and marked published. */
  published: number;
  /** Publishing runs that stopped at a failure (the next run retries). */
  failures: number;
}

export interface PublishOutcome {
  published: number;
  /** The first failure, when a batch stopped early (the next run starts again from that event). */
  error: Error | null;
}

/**
 * Publishes the outbox to the RabbitMQ publish exchange: routing key = event type, persistent,
 * messageId = the event id, JSON `{ id, type, occurred_at, tenant_id, data }`. At least once and in
 * seq order: each message is confirmed by the broker before the next one is sent, a batch stops at
 * its first failure, and only the confirmed events are marked (`outbox.rabbitmq_published_at`) when
 * the batch's transaction commits; a crash between the confirm and the commit publishes those again
 * (consumers deduplicate by messageId). One publisher at a time (advisory lock), so several workers
 * keep the order. The connection is opened on first use, kept, and reopened after it breaks.
 */
export class RabbitmqPublisher {
  private model: ChannelModel | null = null;
  private channel: ConfirmChannel | null = null;
  private opening: Promise<ConfirmChannel> | null = null;
  private closed = false;
  /** Counted since start, exposed at /metrics. */
  readonly stats: PublisherStats = { published: 0, failures: 0 };

  constructor(private readonly cfg: RabbitmqConfig, private readonly log?: Log) {}

  /** A channel to the broker is open (it opens on first use). */
  get connected(): boolean {
    return this.channel !== null;
  }

  private async open(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    this.opening ??= (async () => {
      const model = await amqp.connect(withHeartbeat(this.cfg.url), { timeout: 10_000, clientProperties: { connection_name: 'encore-crm publisher' } });
      try {
        const forget = () => {
          if (this.model === model) {
            this.model = null;
            this.channel = null;
          }
        };
        model.on('error', (err: Error) => this.log?.warn({ err }, 'rabbitmq publisher connection error'));
        model.on('close', forget);
        const ch = await model.createConfirmChannel();
        ch.on('error', (err: Error) => this.log?.warn({ err }, 'rabbitmq publisher channel error'));
        ch.on('close', () => {
          forget();
          model.close().catch(() => undefined);
        });
        await assertPublishTopology(ch, this.cfg);
        this.model = model;
        this.channel = ch;
        return ch;
      } catch (err) {
        await model.close().catch(() => undefined);
        throw err;
      }
    })().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private publishOne(ch: ConfirmChannel, e: UnpublishedEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        ch.publish(this.cfg.publishExchange, e.type, Buffer.from(JSON.stringify(publishedBody(e))), {
          persistent: true,
          messageId: e.id,
          type: e.type,
          contentType: 'application/json',
          timestamp: Math.floor(e.occurred_at.getTime() / 1000),
          appId: 'encore-crm',
          headers: { tenant_id: e.tenant_id },
        }, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** One batch under the publisher lock; null when another publisher holds it. */
  private async publishBatch(db: Database, limit: number): Promise<{ published: number; seen: number; error: Error | null } | null> {
    return db.transaction(async (tx) => {
      if (!(await tryLockPublisher(tx))) return null;
      const events = await nextUnpublished(tx, limit);
      if (events.length === 0) return { published: 0, seen: 0, error: null };
      const done: UnpublishedEvent[] = [];
      let error: Error | null = null;
      try {
        const ch = await this.open();
        // Publish the whole batch, then collect the broker's confirms: one channel keeps the order,
        // and waiting for each confirm before the next publish made a backlog of thousands of rows
        // take minutes. Only the prefix confirmed without a failure is marked; anything after a
        // failure is published again by the next run (at least once; consumers dedupe by messageId).
        const confirms = await Promise.all(events.map((e) => this.publishOne(ch, e).then(() => null, (err: Error) => err)));
        for (let k = 0; k < events.length; k++) {
          if (confirms[k]) {
            error = confirms[k];
            break;
          }
          done.push(events[k]);
        }
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
      }
      await markPublished(tx, done);
      return { published: done.length, seen: events.length, error };
    });
  }

  /** Publishes what is pending, batch by batch, in seq order. */
  async publishPending(db: Database, opts: PublishOptions = {}): Promise<PublishOutcome> {
    if (this.closed) return { published: 0, error: null };
    const batchSize = opts.batchSize ?? 200;
    let published = 0;
    for (let i = 0; i < (opts.maxBatches ?? 20); i++) {
      const r = await this.publishBatch(db, batchSize);
      if (!r) break;
      published += r.published;
      this.stats.published += r.published;
      if (r.error) {
        this.stats.failures++;
        this.log?.warn({ err: r.error, published }, 'rabbitmq: publishing the outbox stopped at a failure; the next run retries');
        return { published, error: r.error };
      }
      if (r.seen < batchSize) break;
    }
    return { published, error: null };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const model = this.model;
    this.model = null;
    this.channel = null;
    if (model) await bounded(model.close().catch(() => undefined), 5000);
  }
}
