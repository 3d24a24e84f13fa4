import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { isUuid } from '../../lib/cursor.js';
import { processQueue, runScan } from './dedupe.service.js';

export function defineDedupeJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  queue.define<{ tenantId: string; scanId: string }>({
    name: 'dedupe.scan',
    parse: (data) => {
      const d = data as { tenantId?: unknown; scanId?: unknown };
      if (!isUuid(d.tenantId) || !isUuid(d.scanId)) throw new Error('dedupe.scan needs tenantId and scanId');
      return { tenantId: d.tenantId, scanId: d.scanId };
    },
    handler: async ({ tenantId, scanId }) => runScan(db, config, tenantId, scanId),
  });
  // Customers queued by ingestion and creation: enrichment and duplicate check within seconds.
  queue.defineTicker('dedupe.incremental', 10, () => processQueue(db));
}
