import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { runRetention } from './privacy.service.js';

export function definePrivacyJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  if (config.retentionInactiveYears <= 0) return;
  queue.define({
    name: 'privacy.retention',
    cron: '41 3 * * *',
    handler: async () => {
      await runRetention(db, { inactiveYears: config.retentionInactiveYears });
    },
  });
}
