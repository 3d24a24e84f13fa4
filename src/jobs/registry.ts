import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { JobQueue } from './queue.js';
import { defineAnalyticsJobs } from '../modules/analytics/analytics.jobs.js';
import { defineAuditJobs } from '../modules/audit/audit.jobs.js';
import { defineAuthJobs } from '../modules/auth/auth.jobs.js';
import { defineCampaignJobs } from '../modules/campaigns/campaigns.jobs.js';
import { defineAutomationJobs } from '../modules/automation/automation.jobs.js';
import { defineBulkJobs } from '../modules/bulk/bulk.jobs.js';
import { defineDedupeJobs } from '../modules/dedupe/dedupe.jobs.js';
import { defineImportJobs } from '../modules/imports/imports.jobs.js';
import { defineIngestJobs } from '../modules/ingest/ingest.jobs.js';
import { defineOutboxJobs } from '../modules/outbox/outbox.jobs.js';
import { definePrivacyJobs } from '../modules/privacy/privacy.jobs.js';
import { defineRabbitmqJobs } from '../modules/rabbitmq/rabbitmq.jobs.js';
import type { RabbitmqPublisher } from '../modules/rabbitmq/rabbitmq.publisher.js';
import { defineSegmentJobs } from '../modules/segments/segments.jobs.js';

/** Every capability's background jobs. A capability with jobs adds its define function here. */
export function defineJobs(queue: JobQueue, deps: { db: Database; config: Config; rabbitmqPublisher?: RabbitmqPublisher | null }): void {
  defineAuthJobs(queue, deps);
  defineIngestJobs(queue, deps);
  defineOutboxJobs(queue, deps);
  // With RabbitMQ on: the outbox publisher.
  if (deps.config.rabbitmq && deps.rabbitmqPublisher) defineRabbitmqJobs(queue, { ...deps, publisher: deps.rabbitmqPublisher });
  defineSegmentJobs(queue, deps);
  defineAnalyticsJobs(queue, deps);
  defineCampaignJobs(queue, deps);
  defineAutomationJobs(queue, deps);
  defineDedupeJobs(queue, deps);
  defineBulkJobs(queue, deps);
  defineImportJobs(queue, deps);
  defineAuditJobs(queue, deps);
  definePrivacyJobs(queue, deps);
}
