import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { RabbitmqPublisher } from './rabbitmq.publisher.js';

/**
 * With RabbitMQ configured: `rabbitmq.publish` every OUTBOX_POLL_INTERVAL_SECONDS, chained like the
 * outbox dispatcher. (The outbox purge keeps events until they are published; see defineOutboxJobs.)
 */
export function defineRabbitmqJobs(queue: JobQueue, deps: { db: Database; config: Config; publisher: RabbitmqPublisher }): void {
  const { db, config, publisher } = deps;
  if (!config.rabbitmq) return;
  queue.defineTicker('rabbitmq.publish', config.outboxPollIntervalSeconds, () => publisher.publishPending(db));
}
