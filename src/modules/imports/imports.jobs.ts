import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { IMPORT_JOB, runImport } from './imports.service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function defineImportJobs(queue: JobQueue, { db, config, log }: { db: Database; config: Config; log?: FastifyBaseLogger }): void {
  queue.define<{ tenant_id: string; import_id: string }>({
    name: IMPORT_JOB,
    parse: (data) => {
      const d = data as { tenant_id?: unknown; import_id?: unknown };
      if (typeof d.tenant_id !== 'string' || !UUID.test(d.tenant_id) || typeof d.import_id !== 'string' || !UUID.test(d.import_id)) {
        throw new Error('imports.run needs tenant_id and import_id');
      }
      return { tenant_id: d.tenant_id, import_id: d.import_id };
    },
    // resumable: a retry continues after the last recorded batch
    handler: async (job) => runImport({ db, config, log }, job.tenant_id, job.import_id),
  });
}
