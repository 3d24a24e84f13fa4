import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { FastifyBaseLogger } from 'fastify';
import type { Config, RabbitmqConfig } from '../../config.js';
import type { Database } from '../../db/database.js';
import { AppError, statusFor } from '../../lib/errors.js';
import { ingestAndSegment } from '../ingest/ingest.pipeline.js';
import { tenantExists } from './rabbitmq.repository.js';
import { assertConsumerTopology, bounded, reconnectDelay, REJECT_REASON_HEADER, withHeartbeat } from './rabbitmq.topology.js';

type Log = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_REASON = 1000;

/** Why a message cannot be applied, ever: it goes to the dead-letter queue with this reason. */
class PoisonMessage extends Error {}

export interface ParsedMessage {
  tenantId: string;
  events: unknown[];
}

/**
 * A message is one event of the ingestion contract or a batch `{ "events": [...] }`. Its tenant is
 * the `tenant_id` header, or a top-level `tenant_id` field (of the batch, or of the single event:
 * taken out before validation); with RABBITMQ_TENANT_ID set the queue belongs to that tenant and
 * a message naming another one is refused.
 */
export function parseMessage(msg: Pick<ConsumeMessage, 'content' | 'properties'>, cfg: Pick<RabbitmqConfig, 'tenantId'>): ParsedMessage {
  let body: unknown;
  try {
    body = JSON.parse(msg.content.toString('utf8'));
  } catch (err) {
    throw new PoisonMessage(`invalid_json: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PoisonMessage('invalid_message: expected a JSON object (one event, or { "events": [...] })');
  }
  const { tenant_id: fieldTenant, ...rest } = body as Record<string, unknown>;
  let events: unknown[];
  if ('events' in rest) {
    if (!Array.isArray(rest.events)) throw new PoisonMessage('invalid_message: "events" must be an array');
    events = rest.events;
  } else {
    events = [rest];
  }
  const headerTenant = msg.properties.headers?.tenant_id as unknown;
  const named = headerTenant ?? fieldTenant;
  if (named !== undefined && named !== null && (typeof named !== 'string' || !UUID_RE.test(named))) {
    throw new PoisonMessage('invalid_tenant: tenant_id must be a tenant id (uuid)');
  }
  if (typeof headerTenant === 'string' && typeof fieldTenant === 'string' && headerTenant.toLowerCase() !== fieldTenant.toLowerCase()) {
    throw new PoisonMessage('tenant_mismatch: the tenant_id header and field differ');
  }
  const messageTenant = typeof named === 'string' ? named.toLowerCase() : null;
  if (cfg.tenantId) {
    if (messageTenant && messageTenant !== cfg.tenantId) {
      throw new PoisonMessage(`tenant_mismatch: this queue carries tenant ${cfg.tenantId}, the message names ${messageTenant}`);
    }
    return { tenantId: cfg.tenantId, events };
  }
  if (!messageTenant) throw new PoisonMessage('missing_tenant: set the tenant_id header (or field), or RABBITMQ_TENANT_ID');
  return { tenantId: messageTenant, events };
}

function truncate(s: string): string {
  return s.length > MAX_REASON ? `${s.slice(0, MAX_REASON - 1)}…` : s;
}

export interface ConsumerStats {
  /** Messages whose batch committed (then acked; if the channel died first, the broker redelivers them as duplicates). */
  applied: number;
  deadLettered: number;
  requeued: number;
  /** Messages the broker marked as redelivered (a previous delivery was not acked). */
  redelivered: number;
  connects: number;
}

/**
 * Consumes platform events from RabbitMQ into the ingestion pipeline (`ingestAndSegment`: the same
 * idempotency, identity resolution and segment re-evaluation as POST /events).
 *
 * - Acks only after the batch committed. Messages are applied one at a time in delivery order
 *   (prefetch only pipelines their transfer), so a customer's events keep the order they were sent in.
 * - Poison messages (not JSON, not an event or batch, no/unknown tenant, every event rejected by
 *   validation) are republished to the dead-letter exchange with the reason in `x-crm-reject-reason`
 *   (confirmed), then acked: not lost, not blocking the queue. If that republish fails the message
 *   is nacked without requeue, which the queue's own dead-letter argument routes to the same place.
 * - A batch where only some events are rejected is applied and acked; the rejections are logged
 *   (the same per-event outcome POST /events answers), since requeueing would never make them valid.
 * - Any other error (database down, serialization failure…) is transient: after `retryDelayMs` the
 *   message is nacked with requeue. Redelivery is harmless: event ids make ingestion idempotent.
 * - A lost connection is re-established with backoff and consuming resumes; unacked messages come
 *   back from the broker and are reported as duplicates if they had been applied.
 */
export class RabbitmqConsumer {
  private readonly cfg: RabbitmqConfig;
  private model: ChannelModel | null = null;
  private channel: ConfirmChannel | null = null;
  private consumerTag: string | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private wakeRetry: (() => void) | null = null;
  readonly stats: ConsumerStats = { applied: 0, deadLettered: 0, requeued: 0, redelivered: 0, connects: 0 };

  constructor(private readonly deps: { db: Database; config: Config; log: Log }) {
    if (!deps.config.rabbitmq) throw new Error('RabbitMQ is not configured (RABBITMQ_URL)');
    this.cfg = deps.config.rabbitmq;
  }

  /** Consuming on an open channel right now. */
  get connected(): boolean {
    return this.channel !== null;
  }

  /** Connects and starts consuming; if the broker is unreachable, keeps retrying in the background. */
  async start(): Promise<void> {
    this.stopping = false;
    try {
      await this.connect();
    } catch (err) {
      this.deps.log.error({ err }, 'rabbitmq: cannot connect; retrying in the background');
      this.scheduleReconnect();
    }
  }

  /** True while a channel is open and consuming. */
  get consuming(): boolean {
    return this.consumerTag !== null;
  }

  /** The open connection (tests use it to cut the link). */
  get connection(): ChannelModel | null {
    return this.model;
  }

  private async connect(): Promise<void> {
    const model = await amqp.connect(withHeartbeat(this.cfg.url), { timeout: 10_000, clientProperties: { connection_name: 'encore-crm consumer' } });
    try {
      model.on('error', (err: Error) => this.deps.log.warn({ err }, 'rabbitmq consumer connection error'));
      model.on('close', () => this.onClosed(model));
      const ch = await model.createConfirmChannel();
      ch.on('error', (err: Error) => this.deps.log.warn({ err }, 'rabbitmq consumer channel error'));
      // A channel closed by the broker (e.g. a precondition failure) without the connection going
      // away: drop the connection so the reconnect path opens everything anew.
      ch.on('close', () => {
        if (this.model === model && !this.stopping) model.close().catch(() => undefined);
      });
      await assertConsumerTopology(ch, this.cfg);
      await ch.prefetch(this.cfg.prefetch);
      if (this.stopping) {
        await model.close().catch(() => undefined);
        return;
      }
      this.model = model;
      this.channel = ch;
      const { consumerTag } = await ch.consume(this.cfg.eventsQueue, (msg) => {
        if (msg) this.enqueue(ch, msg);
        // null: the broker cancelled the consumer (queue deleted, node failover): start over.
        else if (!this.stopping) model.close().catch(() => undefined);
      }, { noAck: false });
      this.consumerTag = consumerTag;
      this.attempt = 0;
      this.stats.connects++;
      this.deps.log.info({ queue: this.cfg.eventsQueue, exchange: this.cfg.eventsExchange }, 'rabbitmq consumer started');
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }
  }

  private onClosed(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = null;
    this.channel = null;
    this.consumerTag = null;
    if (this.stopping) return;
    this.deps.log.warn('rabbitmq consumer connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = reconnectDelay(this.attempt++, this.cfg.reconnectMaxDelayMs);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping) return;
      this.connect().catch((err: unknown) => {
        this.deps.log.warn({ err, attempt: this.attempt }, 'rabbitmq reconnect failed');
        this.scheduleReconnect();
      });
    }, delay);
  }

  private enqueue(ch: ConfirmChannel, msg: ConsumeMessage): void {
    this.chain = this.chain.then(() => this.handle(ch, msg)).catch((err: unknown) => {
      this.deps.log.error({ err }, 'rabbitmq: unexpected error handling a message');
    });
  }

  private async handle(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    if (this.stopping || this.channel !== ch) {
      // Not started yet: give it back now (a dead channel's messages are redelivered by the broker anyway).
      if (this.channel === ch) this.settle(() => ch.nack(msg, false, true));
      return;
    }
    const { db, config, log } = this.deps;
    if (msg.fields.redelivered) this.stats.redelivered++;
    let parsed: ParsedMessage;
    try {
      parsed = parseMessage(msg, this.cfg);
      if (!(await tenantExists(db, parsed.tenantId))) throw new PoisonMessage(`unknown_tenant: no tenant ${parsed.tenantId}`);
    } catch (err) {
      if (err instanceof PoisonMessage) return this.deadLetter(ch, msg, err.message);
      return this.retryLater(ch, msg, err);
    }
    try {
      const result = await ingestAndSegment(db, { tenantId: parsed.tenantId, config, actor: 'system', log }, parsed.events);
      const rejections = result.results.filter((r) => r.status === 'rejected');
      if (rejections.length > 0 && rejections.length === result.results.length) {
        const reason = `all_events_rejected: ${rejections.map((r) => `${r.id ?? '?'}: ${r.code} ${r.reason ?? ''}`.trim()).join('; ')}`;
        return this.deadLetter(ch, msg, reason);
      }
      if (rejections.length > 0) {
        log.warn({ tenantId: parsed.tenantId, messageId: msg.properties.messageId, rejections }, 'rabbitmq: some events of a batch were rejected; the rest applied');
      }
      this.stats.applied++;
      this.settle(() => ch.ack(msg));
    } catch (err) {
      if (err instanceof AppError && statusFor(err.code) < 500) return this.deadLetter(ch, msg, `${err.code}: ${err.message}`);
      return this.retryLater(ch, msg, err);
    }
  }

  /** ack/nack on a channel that may have died meanwhile: then the broker redelivers the message. */
  private settle(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.log.warn({ err }, 'rabbitmq: could not settle a message (channel closed); it will be redelivered');
    }
  }

  private async deadLetter(ch: ConfirmChannel, msg: ConsumeMessage, reason: string): Promise<void> {
    const why = truncate(reason);
    this.deps.log.warn({ reason: why, messageId: msg.properties.messageId, routingKey: msg.fields.routingKey }, 'rabbitmq: message dead-lettered');
    try {
      await new Promise<void>((resolve, reject) => {
        ch.publish(this.cfg.deadLetterExchange, msg.fields.routingKey, msg.content, {
          ...msg.properties,
          persistent: true,
          headers: {
            ...(msg.properties.headers ?? {}),
            [REJECT_REASON_HEADER]: why,
            'x-crm-original-exchange': msg.fields.exchange,
            'x-crm-original-routing-key': msg.fields.routingKey,
            'x-crm-original-queue': this.cfg.eventsQueue,
          },
        }, (err) => (err ? reject(err) : resolve()));
      });
      this.settle(() => ch.ack(msg));
    } catch (err) {
      this.deps.log.warn({ err }, 'rabbitmq: republish to the dead-letter exchange failed; nacking to the queue dead-letter route');
      this.settle(() => ch.nack(msg, false, false));
    }
    this.stats.deadLettered++;
  }

  private async retryLater(ch: ConfirmChannel, msg: ConsumeMessage, err: unknown): Promise<void> {
    this.deps.log.error({ err, messageId: msg.properties.messageId, retry_in_ms: this.cfg.retryDelayMs }, 'rabbitmq: transient failure; message will be requeued');
    // Waiting here also holds back the next messages: no hot loop against a database that is down.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.cfg.retryDelayMs);
      this.wakeRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeRetry = null;
    this.stats.requeued++;
    this.settle(() => ch.nack(msg, false, true));
  }

  /**
   * Graceful stop: stop consuming (cancel), finish the message being applied, give back the ones
   * delivered but not started, close the channel and connection.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ch = this.channel;
    if (ch && this.consumerTag) await bounded(ch.cancel(this.consumerTag).catch(() => undefined), 5000);
    this.wakeRetry?.();
    await this.chain;
    const model = this.model;
    this.model = null;
    this.channel = null;
    this.consumerTag = null;
    if (model) await bounded(model.close().catch(() => undefined), 5000);
  }
}
