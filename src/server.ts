import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { buildApp, type CrmApp } from './app.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { openDatabaseFor } from './db/lock.js';
import { migrate } from './db/migrate.js';
import { JobQueue } from './jobs/queue.js';
import { defineJobs } from './jobs/registry.js';
import { bootstrap } from './modules/auth/auth.service.js';
import { RabbitmqConsumer } from './modules/rabbitmq/rabbitmq.consumer.js';
import { registerRabbitmqMetrics } from './modules/rabbitmq/rabbitmq.metrics.js';
import { RabbitmqPublisher } from './modules/rabbitmq/rabbitmq.publisher.js';

/**
 * Start and stop of the service: `crm serve` (API + worker) and `crm worker` (jobs only).
 * Start: lock (embedded database) → open → migrate → bootstrap → job queue (→ RabbitMQ consumer,
 * where the worker runs and RABBITMQ_URL is set) → HTTP.
 * Stop (graceful): /readyz 503 → RabbitMQ consumer stopped (no new messages, the one being applied
 * finishes) → listener closed, in-flight requests finish → running jobs finish → RabbitMQ publisher
 * closed → database closed → lock released.
 */

export type ServiceMode = 'serve' | 'worker';

export function createLogger(config: Config): FastifyBaseLogger {
  return pino({ level: config.logLevel, name: 'crm' }) as unknown as FastifyBaseLogger;
}

export interface Service {
  readonly mode: ServiceMode;
  readonly db: Database;
  readonly queue: JobQueue;
  /** null in worker mode. */
  readonly app: CrmApp | null;
  /** The port the API listens on (serve mode). */
  readonly port: number | null;
  /** The first start created a tenant and a key that nobody has seen yet: print it once. */
  readonly bootstrap: { tenantId: string; createdTenant: boolean; printedKey: string | null; createdUser: boolean } | null;
  /** Graceful stop; safe to call more than once (answers the same promise). */
  stop(): Promise<void>;
}

export interface StartOptions {
  mode: ServiceMode;
  logger?: FastifyBaseLogger;
  /** Called after bootstrap, before the listener opens (prints a first-start key). */
  onBootstrap?: (result: NonNullable<Service['bootstrap']>) => void;
}

export async function startService(config: Config, opts: StartOptions): Promise<Service> {
  const log = opts.logger ?? createLogger(config);
  const command = `crm ${opts.mode}`;
  const opened = await openDatabaseFor(config, command);
  const { db } = opened;
  let queue: JobQueue | null = null;
  let app: CrmApp | null = null;
  let consumer: RabbitmqConsumer | null = null;
  const publisher = config.rabbitmq ? new RabbitmqPublisher(config.rabbitmq, log) : null;
  try {
    const applied = await migrate(db);
    log.info({ database: db.kind, location: config.databaseUrl ? redactUrl(config.databaseUrl) : config.dataDir, applied }, applied.length ? 'migrations applied' : 'database schema up to date');

    let boot: Service['bootstrap'] = null;
    if (opts.mode === 'serve') {
      boot = await bootstrap(db, { ...config.bootstrap, currency: config.defaultCurrency });
      if (boot.createdTenant) log.info({ tenant_id: boot.tenantId }, 'first start: created tenant and admin API key');
      if (boot.createdUser) log.info({ email: config.bootstrap.adminEmail }, 'created bootstrap admin user');
      opts.onBootstrap?.(boot);
    }

    queue = new JobQueue(db, log);
    defineJobs(queue, { db, config, rabbitmqPublisher: publisher });
    const work = opts.mode === 'worker' || config.runWorker;
    await queue.start({ work });
    log.info({ work }, work ? 'job worker started' : 'job queue started (sending only; RUN_WORKER=false)');
    if (work && config.rabbitmq) {
      consumer = new RabbitmqConsumer({ db, config, log });
      await consumer.start();
    }

    let port: number | null = null;
    if (opts.mode === 'serve') {
      app = await buildApp({ config, db, jobs: queue, loggerInstance: log });
      if (consumer || publisher) registerRabbitmqMetrics(app.metricsRegistry, { consumer, publisher });
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      port = typeof address === 'object' && address ? address.port : config.port;
      opened.lock?.update({ port });
    }

    const started = { app, queue, consumer };
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        const begun = Date.now();
        log.info('graceful shutdown: readiness off, draining requests and jobs');
        started.app?.markNotReady();
        // The consumer first: it writes to the database and takes no HTTP traffic to drain.
        if (started.consumer) await started.consumer.stop();
        if (started.app && config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs);
        // HTTP first: an in-flight request may still enqueue a job.
        if (started.app) await started.app.close();
        const left = config.shutdownTimeoutMs > 0 ? Math.max(1000, config.shutdownTimeoutMs - (Date.now() - begun)) : 60_000;
        await started.queue.stop(left);
        await publisher?.close();
        await opened.close();
        log.info({ ms: Date.now() - begun }, 'stopped');
      })();
      return stopping;
    };
    return { mode: opts.mode, db, queue, app, port, bootstrap: boot, stop };
  } catch (err) {
    await consumer?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await queue?.stop(1000).catch(() => undefined);
    await publisher?.close().catch(() => undefined);
    await opened.close().catch(() => undefined);
    throw err;
  }
}

/**
 * SIGTERM/SIGINT start a graceful stop bounded by SHUTDOWN_TIMEOUT_MS (+ SHUTDOWN_DELAY_MS); a
 * second signal exits at once. Repeats within a moment are the same Ctrl-C relayed by npm/tsx
 * to the whole process tree, not a second request.
 */
export function handleShutdownSignals(service: Service, config: Config, log: FastifyBaseLogger): void {
  let firstAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (firstAt && now - firstAt < 500) return;
    if (firstAt) {
      log.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(130);
    }
    firstAt = now;
    log.info({ signal }, 'signal received');
    const bound = config.shutdownTimeoutMs > 0 ? config.shutdownTimeoutMs + config.shutdownDelayMs : 0;
    const timer = bound
      ? setTimeout(() => {
          log.error({ timeout_ms: bound }, 'graceful shutdown took too long: exiting');
          process.exit(1);
        }, bound)
      : null;
    timer?.unref();
    service.stop().then(
      () => {
        if (timer) clearTimeout(timer);
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** postgres://user:secret@host/db → postgres://user:***@host/db for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}
