import client from 'prom-client';
import type { RabbitmqConsumer } from './rabbitmq.consumer.js';
import type { RabbitmqPublisher } from './rabbitmq.publisher.js';

/**
 * RabbitMQ figures on the app's /metrics registry, read from the consumer's and publisher's own
 * counters at scrape time (they live in the process that runs the worker; `crm serve` runs both).
 */
export function registerRabbitmqMetrics(
  registry: client.Registry,
  parts: { consumer: RabbitmqConsumer | null; publisher: RabbitmqPublisher | null },
): void {
  const { consumer, publisher } = parts;
  if (consumer) {
    new client.Counter({
      name: 'crm_rabbitmq_consumed_messages_total',
      help: 'Platform event messages taken from the RabbitMQ queue, by outcome',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        // The consumer's counters only grow, so mirroring them keeps counter semantics.
        this.reset();
        this.inc({ outcome: 'applied' }, consumer.stats.applied);
        this.inc({ outcome: 'dead_lettered' }, consumer.stats.deadLettered);
        this.inc({ outcome: 'requeued' }, consumer.stats.requeued);
        this.inc({ outcome: 'redelivered' }, consumer.stats.redelivered);
      },
    });
    new client.Counter({
      name: 'crm_rabbitmq_consumer_connects_total',
      help: 'Connections the consumer has opened (more than one means it reconnected)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(consumer.stats.connects);
      },
    });
    new client.Gauge({
      name: 'crm_rabbitmq_consumer_connected',
      help: '1 while the consumer has an open channel to the broker',
      registers: [registry],
      collect() {
        this.set(consumer.connected ? 1 : 0);
      },
    });
  }
  if (publisher) {
    new client.Counter({
      name: 'crm_rabbitmq_published_events_total',
      help: 'Outbox events confirmed by the broker on the publish exchange',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(publisher.stats.published);
      },
    });
    new client.Counter({
      name: 'crm_rabbitmq_publish_failures_total',
      help: 'Publishing runs that stopped at a broker failure (the next run retries)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(publisher.stats.failures);
      },
    });
    new client.Gauge({
      name: 'crm_rabbitmq_publisher_connected',
      help: '1 while the publisher has an open channel to the broker',
      registers: [registry],
      collect() {
        this.set(publisher.connected ? 1 : 0);
      },
    });
  }
}
