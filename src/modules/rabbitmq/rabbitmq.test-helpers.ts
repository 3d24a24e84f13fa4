import crypto from 'node:crypto';
import amqp from 'amqplib';

// A real broker: CI has one at 127.0.0.1:5672. On a machine without one the cases are skipped, loudly.
export const BROKER_URL = 'amqp://guest:guest@127.0.0.1:5672';

export async function brokerReachable(): Promise<boolean> {
  try {
    const c = await amqp.connect(BROKER_URL, { timeout: 3000 });
    await c.close();
    return true;
  } catch (err) {
    console.warn(`\n*** RabbitMQ tests SKIPPED: no broker reachable at ${BROKER_URL} (${(err as Error).message}). ` +
      'Start one there (e.g. docker run -p 5672:5672 rabbitmq:3) to run them; CI always does. ***\n');
    return false;
  }
}

/** Exchange and queue names of their own per test file and run, so parallel runs never meet. */
export function uniqueNames() {
  const prefix = `crm-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  return {
    prefix,
    names: {
      RABBITMQ_URL: BROKER_URL,
      RABBITMQ_EVENTS_EXCHANGE: `${prefix}.platform`,
      RABBITMQ_EVENTS_QUEUE: `${prefix}.events`,
      RABBITMQ_PUBLISH_EXCHANGE: `${prefix}.out`,
      RABBITMQ_DEAD_LETTER_EXCHANGE: `${prefix}.dlx`,
      RABBITMQ_DEAD_LETTER_QUEUE: `${prefix}.dead`,
      RABBITMQ_RETRY_DELAY_MS: '200',
    },
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
