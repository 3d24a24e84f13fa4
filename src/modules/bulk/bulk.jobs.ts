import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { isUuid } from '../../lib/cursor.js';
import { runBulk } from './bulk.service.js';

export function defineBulkJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  queue.define<{ tenantId: string; operationId: string }>({
    name: 'bulk.run',
    parse: (data) => {
      const d = data as { tenantId?: unknown; operationId?: unknown };
      if (!isUuid(d.tenantId) || !isUuid(d.operationId)) throw new Error('bulk.run needs tenantId and operationId');
      return { tenantId: d.tenantId, operationId: d.operationId };
    },
    handler: async ({ tenantId, operationId }) => runBulk(db, config, tenantId, operationId),
  });
}
