import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { refreshAllScores, refreshQueuedScores, refreshScores } from './scores.service.js';

export const REFRESH_SCORES_JOB = 'analytics.refresh_scores';
export const REFRESH_QUEUED_SCORES_JOB = 'analytics.refresh_queued_scores';
/** How often the customers queued by ingestion get their scores refreshed (the debounce). */
const QUEUED_SCORES_SECONDS = 5;

/** Job payload: one tenant, or every tenant when tenant_id is absent (the daily schedule). */
export function parseRefreshScores(data: unknown): { tenant_id?: string } {
  const tenantId = (data as { tenant_id?: unknown } | null)?.tenant_id;
  if (tenantId === undefined || tenantId === null) return {};
  if (typeof tenantId !== 'string' || !/^[0-9a-f-]{36}$/i.test(tenantId)) throw new Error('tenant_id must be a uuid');
  return { tenant_id: tenantId };
}

export function defineAnalyticsJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  queue.define<{ tenant_id?: string }>({
    name: REFRESH_SCORES_JOB,
    // daily: recency, P(alive) and lifecycle drift with time even without new data
    cron: '23 2 * * *',
    parse: parseRefreshScores,
    handler: async (data) => {
      if (data.tenant_id) await refreshScores(db, config, data.tenant_id);
      else await refreshAllScores(db, config);
    },
  });
  // after ingestion: just the touched customers, with the model as last fitted
  queue.defineTicker(REFRESH_QUEUED_SCORES_JOB, QUEUED_SCORES_SECONDS, () => refreshQueuedScores(db, config));
}
