import type { Channel } from 'amqplib';
import type { RabbitmqConfig } from '../../config.js';

/** Header that carries why a message was dead-lettered. */
export const REJECT_REASON_HEADER = 'x-crm-reject-reason';

/**
 * Declares what the consumer needs, idempotently (every start and every reconnect): the platform's
 * topic exchange, the durable queue bound to it, and the dead-letter exchange (fanout) with its queue.
 * The queue names the dead-letter exchange too, so a message nacked without requeue (or one the
 * consumer could not republish with its reason) still lands there rather than being dropped.
 * RabbitMQ refuses to redeclare a queue with other arguments: an existing queue without this
 * dead-letter argument must be deleted (or the argument set by a policy) before the first start.
 */
export async function assertConsumerTopology(ch: Channel, cfg: RabbitmqConfig): Promise<void> {
  await ch.assertExchange(cfg.eventsExchange, 'topic', { durable: true });
  await ch.assertExchange(cfg.deadLetterExchange, 'fanout', { durable: true });
  await ch.assertQueue(cfg.deadLetterQueue, { durable: true });
  await ch.bindQueue(cfg.deadLetterQueue, cfg.deadLetterExchange, '');
  await ch.assertQueue(cfg.eventsQueue, { durable: true, deadLetterExchange: cfg.deadLetterExchange });
  await ch.bindQueue(cfg.eventsQueue, cfg.eventsExchange, cfg.eventsBinding);
}

/** The topic exchange the outbox is published to (routing key = event type). */
export async function assertPublishTopology(ch: Channel, cfg: RabbitmqConfig): Promise<void> {
  await ch.assertExchange(cfg.publishExchange, 'topic', { durable: true });
}

/** Doubling backoff from 500 ms up to max, spread by ±20 % so many consumers do not reconnect in step. */
export function reconnectDelay(attempt: number, maxMs: number): number {
  const base = Math.min(maxMs, 500 * 2 ** Math.min(attempt, 20));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * The broker URL with a heartbeat (30 s) unless it names one: without heartbeats a connection that
 * dies silently (no FIN/RST, e.g. a network partition) is never noticed, and nothing reconnects.
 */
export function withHeartbeat(url: string): string {
  if (/[?&]heartbeat=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}heartbeat=30`;
}

/** Resolves with p, or with undefined after ms (a close on a dead socket may never answer). */
export function bounded<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]);
}
