import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { deliverDue } from '../webhooks/webhooks.service.js';
import { dispatchOutbox, purgeOutbox } from './outbox.service.js';

/**
 * A job that runs every few seconds. pg-boss cron has a one-minute grain, so each run queues the
 * next one `intervalSeconds` later; the per-minute cron restarts the chain if it ever breaks (a crash
 * between the run and the send). Chains that start twice merge: the next run is sent as a
 * singleton of its `intervalSeconds` slot, so two runs sending in the same slot queue one job.
 * Plain pg-boss jobs, so this works the same on PostgreSQL and PGlite, and with several workers
 * (the handlers are safe to run concurrently).
 */
function defineTicker(queue: JobQueue, name: string, intervalSeconds: number, run: () => Promise<unknown>): void {
  queue.define({
    name,
    cron: '* * * * *',
    handler: async () => {
      try {
        await run();
      } finally {
        await queue
          .send(name, {}, { startAfter: intervalSeconds, singletonKey: 'tick', singletonSeconds: intervalSeconds, retryLimit: 0 })
          .catch(() => null);
      }
    },
  });
}

export function defineOutboxJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  // Outbox → one webhook_deliveries row per matching subscription.
  defineTicker(queue, 'outbox.dispatch', config.outboxPollIntervalSeconds, () => dispatchOutbox(db));
  // Due deliveries → HTTP POSTs, with retries and per-customer order.
  defineTicker(queue, 'webhooks.deliver', config.outboxPollIntervalSeconds, () => deliverDue(db, { config }));
  queue.define({
    name: 'outbox.purge',
    cron: '23 4 * * *',
    handler: async () => {
      await purgeOutbox(db);
    },
  });
}
