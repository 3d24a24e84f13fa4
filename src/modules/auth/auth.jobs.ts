import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { deleteExpiredSessions } from './auth.repository.js';

export function defineAuthJobs(queue: JobQueue, { db }: { db: Database; config: Config }): void {
  queue.define({
    name: 'auth.purge_sessions',
    cron: '17 * * * *',
    handler: async () => {
      await deleteExpiredSessions(db);
    },
  });
}
