import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { purgeOld } from '../outbox/outbox.repository.js';
import { DELIVERY_RETENTION_DAYS, OUTBOX_RETENTION_DAYS } from '../outbox/outbox.service.js';
import type { RabbitmqPublisher } from './rabbitmq.publisher.js';

const DAY_MS = 24 * 60 * 60_000;

/**
 * With RabbitMQ configured: `rabbitmq.publish` every OUTBOX_POLL_INTERVAL_SECONDS (chained like the
 * outbox dispatcher: each run queues the next as a singleton of its slot, a per-minute cron restarts
 * a broken chain), and `outbox.purge` redefined so that it also keeps events not published yet.
 * Call after defineOutboxJobs.
 */
export function defineRabbitmqJobs(queue: JobQueue, deps: { db: Database; config: Config; publisher: RabbitmqPublisher }): void {
  const { db, config, publisher } = deps;
  if (!config.rabbitmq) return;
  const name = 'rabbitmq.publish';
  const interval = config.outboxPollIntervalSeconds;
  queue.define({
    name,
    cron: '* * * * *',
    handler: async () => {
      try {
        await publisher.publishPending(db);
      } finally {
        await queue.send(name, {}, { startAfter: interval, singletonKey: 'tick', singletonSeconds: interval, retryLimit: 0 }).catch(() => null);
      }
    },
  });
  // Same schedule and retention as the outbox module's purge, plus the RabbitMQ marker.
  queue.define({
    name: 'outbox.purge',
    cron: '23 4 * * *',
    handler: async () => {
      const now = Date.now();
      await purgeOld(db, {
        eventsBefore: new Date(now - OUTBOX_RETENTION_DAYS * DAY_MS),
        deliveriesBefore: new Date(now - DELIVERY_RETENTION_DAYS * DAY_MS),
        rabbitmq: true,
      });
    },
  });
}
