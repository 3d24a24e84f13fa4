import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { refreshAllSegments } from './segments.service.js';

/**
 * A cron expression (UTC) for "every N minutes". Intervals that do not divide an hour (or a day)
 * restart at each hour (or day): cron cannot say "every 45 minutes" exactly.
 */
export function cronForInterval(minutes: number): string {
  if (minutes < 60) return `*/${minutes} * * * *`;
  if (minutes < 1440) {
    const hours = Math.max(1, Math.round(minutes / 60));
    return hours === 1 ? '0 * * * *' : `0 */${hours} * * *`;
  }
  const days = Math.max(1, Math.round(minutes / 1440));
  return days === 1 ? '0 0 * * *' : `0 0 */${days} * *`;
}

export function defineSegmentJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  queue.define({
    name: 'segments.refresh',
    // time-based rules drift ("within 90d", birthdays): recompute auto-update segments, apply the difference
    cron: cronForInterval(config.segmentRefreshIntervalMinutes),
    handler: async () => {
      await refreshAllSegments(db);
    },
  });
}
