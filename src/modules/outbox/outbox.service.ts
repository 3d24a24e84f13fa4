import type { Executor } from '../../db/database.js';
import { fanOutBatch, purgeOld } from './outbox.repository.js';

export interface DispatchOptions {
  /** Events per transaction (default 500). */
  batchSize?: number;
  /** Stop after this many batches (default 20) so one run stays short; the next tick continues. */
  maxBatches?: number;
}

/**
 * Fans new outbox events out into webhook deliveries (one per active matching subscription), in seq
 * order, batch by batch. Safe to run from several workers at once: one dispatcher works at a time,
 * the others return at once. Answers how many events and deliveries it handled.
 */
export async function dispatchOutbox(db: Executor, opts: DispatchOptions = {}): Promise<{ events: number; deliveries: number }> {
  const batchSize = opts.batchSize ?? 500;
  const total = { events: 0, deliveries: 0 };
  for (let i = 0; i < (opts.maxBatches ?? 20); i++) {
    const r = await fanOutBatch(db, batchSize);
    if (!r) break;
    total.events += r.events;
    total.deliveries += r.deliveries;
    if (r.events < batchSize) break;
  }
  return total;
}

const DAY_MS = 24 * 60 * 60_000;
/** Dispatched outbox events are kept this long (for diagnostics), then deleted. */
export const OUTBOX_RETENTION_DAYS = 7;
/** Succeeded and dead deliveries are kept this long (GET /webhooks/{id}/deliveries, replay), then deleted. */
export const DELIVERY_RETENTION_DAYS = 30;

/** Deletes dispatched events and finished deliveries past their retention. */
export async function purgeOutbox(
  db: Executor,
  opts: { now?: Date; rabbitmq?: boolean } = {},
): Promise<{ events: number; deliveries: number }> {
  const now = (opts.now ?? new Date()).getTime();
  return purgeOld(db, {
    eventsBefore: new Date(now - OUTBOX_RETENTION_DAYS * DAY_MS),
    deliveriesBefore: new Date(now - DELIVERY_RETENTION_DAYS * DAY_MS),
    rabbitmq: opts.rabbitmq,
  });
}
