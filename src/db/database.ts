import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { btree_gin } from '@electric-sql/pglite/contrib/btree_gin';
import pg from 'pg';
import { sql, SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';

export { sql, SQL };

/**
 * Binds a JavaScript array as ONE parameter (for `unnest(${arr(xs)}::text[])` or `= ANY(...)`).
 * A bare array inside sql`` is expanded by Drizzle into a list "($1, $2, …)" instead.
 */
export function arr(values: readonly unknown[]): SQL {
  return sql`${sql.param(values)}`;
}

/**
 * Drizzle builds the SQL (tagged templates with bound parameters, never concatenated values);
 * the two drivers run it. We run queries on the raw drivers so both backends return the same
 * JavaScript types (see TYPE_PARSERS) and so bulk statements carry no ORM overhead.
 */
const dialect = new PgDialect();

export interface Executor {
  rows<T = Record<string, unknown>>(query: SQL): Promise<T[]>;
  one<T = Record<string, unknown>>(query: SQL): Promise<T | undefined>;
  /** Runs a statement and answers the number of affected rows. */
  run(query: SQL): Promise<number>;
  /** Runs fn in a transaction; inside a transaction, fn joins the current one. */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
}

/**
 * Gives the caller's transaction `mb` MB of work_mem: set-based statements over a whole tenant keep their hashes
 * and sorts in memory instead of spilling to disk.
 */
export async function setLocalWorkMem(tx: Executor, mb: number): Promise<void> {
  await tx.run(sql.raw(`SET LOCAL work_mem = '${Math.floor(mb)}MB'`));
}

/**
 * The caller's transaction commits without waiting for its WAL to reach the disk. Only for work whose loss in a
 * crash loses nothing else (its effects go together) and which is simply done again (the flush is most of the
 * cost of a small transaction).
 */
export async function relaxCommit(tx: Executor): Promise<void> {
  await tx.run(sql`SET LOCAL synchronous_commit = off`);
}

export interface Database extends Executor {
  readonly kind: 'pglite' | 'postgres';
  ping(): Promise<void>;
  /** Multi-statement SQL without parameters (migrations). */
  execScript(text: string): Promise<void>;
  /** The `db` adapter pg-boss takes (`executeSql`). */
  bossAdapter(): { executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }> };
  close(): Promise<void>;
}

// Same JavaScript values from both drivers: numeric and int8 as numbers (money is numeric(14,2),
// counts fit in 2^53), date as 'YYYY-MM-DD' text, timestamptz as Date.
const OID = { INT8: 20, NUMERIC: 1700, DATE: 1082 } as const;
const TYPE_PARSERS: Record<number, (value: string) => unknown> = {
  [OID.INT8]: (v) => Number(v),
  [OID.NUMERIC]: (v) => Number(v),
  [OID.DATE]: (v) => v,
};

type RawQuery = (text: string, params: unknown[]) => Promise<{ rows: any[]; affected: number }>;

function toQuery(query: SQL): { sql: string; params: unknown[] } {
  return dialect.sqlToQuery(query);
}

class QueryRunner implements Executor {
  constructor(
    protected readonly raw: RawQuery,
    private readonly begin: <T>(fn: (tx: Executor) => Promise<T>) => Promise<T>,
  ) {}

  async rows<T>(query: SQL): Promise<T[]> {
    const q = toQuery(query);
    return (await this.raw(q.sql, q.params)).rows as T[];
  }

  async one<T>(query: SQL): Promise<T | undefined> {
    return (await this.rows<T>(query))[0];
  }

  async run(query: SQL): Promise<number> {
    const q = toQuery(query);
    return (await this.raw(q.sql, q.params)).affected;
  }

  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.begin(fn);
  }

  async ping(): Promise<void> {
    await this.raw('SELECT 1', []);
  }
}

/** Deadlocks and serialization failures are retried: the transaction is rerun from the start. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 4;

async function withRetry<T>(attempt: () => Promise<T>): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (n >= MAX_ATTEMPTS || !code || !RETRYABLE.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 5 * n + Math.random() * 20));
    }
  }
}

class PostgresDatabase extends QueryRunner implements Database {
  readonly kind = 'postgres' as const;

  constructor(private readonly pool: pg.Pool) {
    super(
      async (text, params) => {
        const r = await pool.query(text, params);
        return { rows: r.rows, affected: r.rowCount ?? 0 };
      },
      (fn) =>
        withRetry(async () => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            const tx: QueryRunner = new QueryRunner(
              async (text, params) => {
                const r = await client.query(text, params);
                return { rows: r.rows, affected: r.rowCount ?? 0 };
              },
              (inner) => inner(tx),
            );
            const result = await fn(tx);
            await client.query('COMMIT');
            return result;
          } catch (err) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw err;
          } finally {
            client.release();
          }
        }),
    );
  }

  async execScript(text: string): Promise<void> {
    await this.pool.query(text);
  }

  bossAdapter() {
    return {
      executeSql: async (text: string, values?: unknown[]) => {
        const r = await this.pool.query(text, values as any[]);
        return { rows: r.rows };
      },
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

class PgliteDatabase extends QueryRunner implements Database {
  readonly kind = 'pglite' as const;

  constructor(private readonly pglite: PGlite) {
    super(
      async (text, params) => {
        const r = await pglite.query(text, params);
        return { rows: r.rows, affected: r.affectedRows ?? 0 };
      },
      (fn) =>
        pglite.transaction(async (ptx) => {
          const tx: QueryRunner = new QueryRunner(
            async (text, params) => {
              const r = await ptx.query(text, params);
              return { rows: r.rows, affected: r.affectedRows ?? 0 };
            },
            (inner) => inner(tx),
          );
          return fn(tx);
        }),
    );
  }

  async execScript(text: string): Promise<void> {
    await this.pglite.exec(text);
  }

  bossAdapter() {
    // pg-boss sends multi-statement SQL without parameters (its schema set-up); PGlite runs
    // those only through exec.
    return {
      executeSql: async (text: string, values?: unknown[]) => {
        if (!values || values.length === 0) {
          const results = await this.pglite.exec(text);
          return { rows: results.at(-1)?.rows ?? [] };
        }
        const r = await this.pglite.query(text, values);
        return { rows: r.rows };
      },
    };
  }

  async close(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}

export interface OpenDatabaseOptions {
  /** postgres://… for PostgreSQL; otherwise PGlite. */
  url?: string | null;
  /** Directory for the embedded database; null or undefined = in memory. */
  dataDir?: string | null;
  poolSize?: number;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  if (opts.url) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          TYPE_PARSERS[oid] ?? pg.types.getTypeParser(oid, format as any)) as any,
      },
    });
    // A broken idle connection must not crash the process; the pool replaces it.
    pool.on('error', () => undefined);
    await pool.query('SELECT 1');
    return new PostgresDatabase(pool);
  }
  if (opts.dataDir) fs.mkdirSync(opts.dataDir, { recursive: true });
  const pglite = await PGlite.create({
    dataDir: opts.dataDir ?? undefined,
    extensions: { pg_trgm, btree_gin },
    parsers: Object.fromEntries(Object.entries(TYPE_PARSERS).map(([oid, fn]) => [oid, (v: string) => fn(v)])),
  });
  return new PgliteDatabase(pglite);
}

/** PostgreSQL error helpers for repositories (turn driver errors into domain errors). */
export function pgErrorCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}
export function pgConstraint(err: unknown): string | undefined {
  return (err as { constraint?: string })?.constraint;
}
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
export const PG_CHECK_VIOLATION = '23514';
/** lock_not_available: LOCK … NOWAIT found the table in use */
export const PG_LOCK_NOT_AVAILABLE = '55P03';
