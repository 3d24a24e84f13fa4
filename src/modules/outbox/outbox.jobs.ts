import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { deliverDue } from '../webhooks/webhooks.service.js';
import { dispatchOutbox, purgeOutbox } from './outbox.service.js';

export function defineOutboxJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  // Outbox → one webhook_deliveries row per matching subscription.
  queue.defineTicker('outbox.dispatch', config.outboxPollIntervalSeconds, () => dispatchOutbox(db));
  // Due deliveries → HTTP POSTs, with retries and per-customer order.
  queue.defineTicker('webhooks.deliver', config.outboxPollIntervalSeconds, () => deliverDue(db, { config }));
  queue.define({
    name: 'outbox.purge',
    cron: '23 4 * * *',
    handler: async () => {
      // with RabbitMQ on, events are also kept until they are published there
      await purgeOutbox(db, { rabbitmq: config.rabbitmq !== null });
    },
  });
}
