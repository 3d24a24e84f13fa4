import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { markAbandonedCarts, refreshLifetimeValues } from './ingest.service.js';

export function defineIngestJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  queue.define({
    name: 'carts.mark_abandoned',
    cron: '*/15 * * * *',
    handler: async () => {
      await markAbandonedCarts(db, { config });
    },
  });
  queue.define({
    name: 'customers.refresh_ltv',
    // daily: lifetime_value is spend inside a window that slides
    cron: '37 3 * * *',
    handler: async () => {
      await refreshLifetimeValues(db, { config });
    },
  });
}
