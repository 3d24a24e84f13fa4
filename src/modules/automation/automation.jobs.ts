import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { deliverMessage } from '../messaging/messaging.service.js';
import { runDueSteps, type SendMessage } from './automation.engine.js';
import { SCAN_TRIGGERS, scanTimeTriggers } from './automation.triggers.js';

/** Seconds between engine runs: an enrollment made at ingestion takes its first step within this. */
const TICK_SECONDS = 5;

export function messageSender(deps: { db: Database; config: Config }): SendMessage {
  return (req) => deliverMessage({ db: deps.db, config: deps.config }, req);
}

export function defineAutomationJobs(queue: JobQueue, deps: { db: Database; config: Config }): void {
  const send = messageSender(deps);
  // Due enrollments → their next steps (claimed with SKIP LOCKED, so several workers share the work).
  queue.defineTicker('workflows.run', TICK_SECONDS, () => runDueSteps({ db: deps.db, config: deps.config, send }));
  // Idle carts count in minutes: scanned every 5 minutes.
  queue.define({
    name: 'workflows.scan_carts',
    cron: '*/5 * * * *',
    handler: async () => {
      await scanTimeTriggers(deps.db, { types: ['cart_abandoned'] });
    },
  });
  // Birthdays, anniversaries, inactivity, days around a show: hourly, because "today" is each
  // tenant's local date. Repeats are harmless (one enrollment per occurrence, by an anti-join).
  queue.define({
    name: 'workflows.scan_dates',
    cron: '7 * * * *',
    handler: async () => {
      await scanTimeTriggers(deps.db, { types: SCAN_TRIGGERS.filter((t) => t !== 'cart_abandoned') });
    },
  });
}
