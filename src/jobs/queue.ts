import PgBoss from 'pg-boss';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/database.js';

export interface JobDefinition<T extends object = object> {
  /** Typed job name, e.g. "carts.mark_abandoned". */
  name: string;
  /** Cron expression (UTC) when the job runs on a schedule. */
  cron?: string;
  /** Validates the payload before the handler sees it; throw to fail the job. */
  parse?: (data: unknown) => T;
  /** Must be idempotent: pg-boss delivers at least once. */
  handler: (data: T) => Promise<void>;
  batchSize?: number;
}

/**
 * pg-boss in the service's own database (PostgreSQL or PGlite through its executeSql adapter).
 * The API process only sends jobs; a process started as a worker also runs the handlers.
 */
export class JobQueue {
  private readonly boss: PgBoss;
  private readonly definitions = new Map<string, JobDefinition<any>>();
  private working = false;

  constructor(db: Database, private readonly log?: FastifyBaseLogger) {
    this.boss = new PgBoss({ db: db.bossAdapter(), schema: 'pgboss', supervise: true, schedule: true });
    this.boss.on('error', (err) => this.log?.error({ err }, 'job queue error'));
  }

  define<T extends object>(def: JobDefinition<T>): void {
    this.definitions.set(def.name, def);
  }

  /**
   * A job that runs every few seconds. pg-boss cron has a one-minute grain, so each run queues the
   * next one `intervalSeconds` later; the per-minute cron restarts the chain if it ever breaks (a
   * crash between the run and the send). Chains that start twice merge: the next run is sent as a
   * singleton of its `intervalSeconds` slot, so two runs sending in the same slot queue one job.
   * Plain pg-boss jobs, so this works the same on PostgreSQL and PGlite and with several workers
   * (handlers must be safe to run concurrently).
   */
  defineTicker(name: string, intervalSeconds: number, run: () => Promise<unknown>): void {
    this.define({
      name,
      cron: '* * * * *',
      handler: async () => {
        try {
          await run();
        } finally {
          await this.send(name, {}, { startAfter: intervalSeconds, singletonKey: 'tick', singletonSeconds: intervalSeconds, retryLimit: 0 })
            .catch(() => null);
        }
      },
    });
  }

  async start(opts: { work: boolean }): Promise<void> {
    await this.boss.start();
    for (const def of this.definitions.values()) {
      await this.boss.createQueue(def.name);
    }
    if (!opts.work) return;
    this.working = true;
    for (const def of this.definitions.values()) {
      await this.boss.work<object>(def.name, { batchSize: def.batchSize ?? 1, pollingIntervalSeconds: 2 }, async (jobs) => {
        for (const job of jobs) {
          const data = def.parse ? def.parse(job.data) : job.data;
          await def.handler(data);
        }
      });
      if (def.cron) await this.boss.schedule(def.name, def.cron, {}, { tz: 'UTC' });
    }
  }

  async send(name: string, data: object, options: PgBoss.SendOptions = {}): Promise<string | null> {
    if (!this.definitions.has(name)) throw new Error(`unknown job ${name}`);
    return this.boss.send(name, data, options);
  }

  get isWorking(): boolean {
    return this.working;
  }

  /** Waits for running handlers to finish (graceful shutdown). */
  async stop(timeoutMs = 15000): Promise<void> {
    await this.boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
  }
}
