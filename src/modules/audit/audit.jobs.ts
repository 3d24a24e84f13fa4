import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { sealAuditLog } from './audit.service.js';

export function defineAuditJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  // Chains the entries committed since the last run (writers cannot chain themselves: they commit
  // in another order than they insert).
  queue.defineTicker('audit.seal', config.auditSealIntervalSeconds, () => sealAuditLog(db));
}
