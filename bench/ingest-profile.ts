/**
 * Ingestion profiler (a developer tool, not a benchmark; see docs/benchmarks.md, "Profiling ingestion"):
 * where does a batch's time go?
 *
 *   npx tsx bench/ingest-profile.ts [--batches 30] [--warmup 10] [--batch 1000] [--repeat 1] [--explain <function>]
 *
 * Creates a scratch database `crm_profile_<ts>` on BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test), migrates it, creates a tenant, ingests --warmup batches of
 * another seed, runs ANALYZE (as bench/ingest.bench.ts does), then ingests --batches batches of the demo
 * generator (seed 42) one after another, in-process through `ingestEvents`, with every statement timed
 * by a wrapping Executor. Prints per statement (named by the repository function that ran it) the
 * calls, time and KiB sent per batch, then the SQL total, the batch wall time and the rest (Node:
 * validation, planning, serialization), and the customer row versions written. With --explain, the
 * plan of that function's statement in the first measured batch. The database is dropped at the end.
 *
 * Sequential batches on one connection: a statement's time is its own work, not lock waits. Other
 * work on the same cores still slows everything down: compare versions with interleaved, repeated runs.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PgDialect } from 'drizzle-orm/pg-core';
import { loadConfig } from '../src/config.js';
import { sql, type Database, type Executor, type SQL } from '../src/db/database.js';
import { ingestEvents } from '../src/modules/ingest/ingest.service.js';
import { analyzeDatabase, chunk, createScratchDatabase, demoEvents, integerOption, setUpTenant } from './lib.js';

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '10' },
    batch: { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '1' },
    explain: { type: 'string' },
  },
});
const count = (name: 'batches' | 'warmup' | 'batch' | 'repeat', min: number): number => integerOption({ name, value: args[name], min });
const BATCHES = count('batches', 1);
const WARMUP = count('warmup', 0);
const BATCH = count('batch', 1);
const REPEAT = count('repeat', 1);
/** Print EXPLAIN (ANALYZE, BUFFERS, WAL) of this caller's statement in the first measured batch. */
const EXPLAIN = args.explain;

/** Request bodies as the HTTP route would parse them: `count` events of the demo generator in batches. */
function batchesOf(count: number, seed: number): string[] {
  return chunk(demoEvents({ count, seed }), BATCH).map((b) => JSON.stringify(b));
}

/** Time per statement, keyed by the function that called the executor. */
class Timings {
  readonly byLabel = new Map<string, { calls: number; ms: number; bytes: number }>();
  add(label: string, ms: number, bytes = 0) {
    const t = this.byLabel.get(label) ?? { calls: 0, ms: 0, bytes: 0 };
    t.calls++;
    t.ms += ms;
    t.bytes += bytes;
    this.byLabel.set(label, t);
  }
  get totalMs() {
    let s = 0;
    for (const t of this.byLabel.values()) s += t.ms;
    return s;
  }
}

const dialect = new PgDialect();

/** Helpers that run a statement for their caller: the caller names the statement. */
const HELPERS = new Set(['customerIdsOf']);

/** The first stack frame outside this file and database.ts: the repository function running the statement. */
function callerName(): string {
  const stack = new Error().stack?.split('\n').slice(2) ?? [];
  for (const line of stack) {
    if (line.includes('ingest-profile') || line.includes('db/database')) continue;
    const m = /at (?:async )?(?:Module\.|Object\.)?([\w$<>]+) /.exec(line);
    if (m && HELPERS.has(m[1])) continue;
    return m ? m[1] : '?';
  }
  return '?';
}

type Timing = { current: Timings | null; explained: boolean };

/**
 * EXPLAIN ANALYZE runs the statement, so it runs inside a savepoint that is rolled back; the
 * statement then runs again for real (and is timed as usual).
 */
async function explain(tx: Executor, q: SQL): Promise<void> {
  await tx.run(sql`SAVEPOINT profile_explain`);
  const plan = await tx.rows<{ 'QUERY PLAN': string }>(sql`EXPLAIN (ANALYZE, BUFFERS, WAL) ${q}`);
  await tx.run(sql`ROLLBACK TO SAVEPOINT profile_explain`);
  process.stdout.write(`\n${plan.map((r) => r['QUERY PLAN']).join('\n')}\n`);
}

function timed(inner: Executor, timings: Timing): Executor {
  const time = async <T>(run: () => Promise<T>, q: SQL): Promise<T> => {
    const label = callerName();
    if (EXPLAIN === label && timings.current && !timings.explained) {
      timings.explained = true;
      await explain(inner, q);
    }
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      const ms = performance.now() - t0;
      // statement text and parameters as sent (about: arrays travel as literals, JSON as text)
      if (timings.current) {
        const { sql: text, params } = dialect.sqlToQuery(q);
        timings.current.add(label, ms, text.length + JSON.stringify(params).length);
      }
    }
  };
  return {
    rows: <T>(q: SQL) => time(() => inner.rows<T>(q), q),
    one: <T>(q: SQL) => time(() => inner.one<T>(q), q),
    run: (q: SQL) => time(() => inner.run(q), q),
    // BEGIN (and taking a pooled connection) and COMMIT, timed as two more statements
    transaction: async <T>(fn: (tx: Executor) => Promise<T>) => {
      let t = performance.now();
      const result = await inner.transaction(async (tx) => {
        timings.current?.add('(BEGIN)', performance.now() - t);
        const r = await fn(timed(tx, timings));
        t = performance.now();
        return r;
      });
      timings.current?.add('(COMMIT)', performance.now() - t);
      return result;
    },
  };
}

async function profileOnce(run: number): Promise<void> {
  const scratch = await createScratchDatabase({ prefix: 'crm_profile' });
  const { url } = scratch;
  let db: Database | null = null;
  try {
    const setUp = await setUpTenant({ url, poolSize: 2, tenantName: 'Profile' });
    db = setUp.db;
    const { tenant } = setUp;
    const config = loadConfig({ LOG_LEVEL: 'silent', DATABASE_URL: url });
    // an API key's requests: the actor recorded on every timeline entry and ledger row
    const ctx = { tenantId: tenant.id, config, actor: `key:${randomUUID()}` };
    const timings: Timing = { current: null, explained: false };
    const exec = timed(db, timings);

    for (const body of batchesOf(WARMUP * BATCH, 42 + 1_000_003)) await ingestEvents(exec, ctx, JSON.parse(body));
    await analyzeDatabase(url);

    const bodies = batchesOf(BATCHES * BATCH, 42);
    const all = new Timings();
    timings.current = all;
    let wallMs = 0;
    let accepted = 0;
    for (const body of bodies) {
      const events = JSON.parse(body) as unknown[];
      const t0 = performance.now();
      const r = await ingestEvents(exec, ctx, events);
      wallMs += performance.now() - t0;
      accepted += r.accepted;
    }
    timings.current = null;

    const n = bodies.length;
    const rows = [...all.byLabel.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const pad = (s: string, w: number) => s.padEnd(w);
    const num = (x: number, w: number, d = 2) => x.toFixed(d).padStart(w);
    process.stdout.write(`\nrun ${run + 1}: ${n} batches of ${BATCH} (${accepted} accepted), after ${WARMUP} warm-up batches and ANALYZE\n`);
    process.stdout.write(`${pad('statement (caller)', 34)}${'calls/batch'.padStart(12)}${'ms/batch'.padStart(10)}${'ms/call'.padStart(9)}${'KiB/batch'.padStart(11)}\n`);
    for (const [label, t] of rows) {
      process.stdout.write(`${pad(label, 34)}${num(t.calls / n, 12, 1)}${num(t.ms / n, 10)}${num(t.ms / t.calls, 9)}${num(t.bytes / n / 1024, 11, 1)}\n`);
    }
    const sqlMs = all.totalMs / n;
    const batchMs = wallMs / n;
    process.stdout.write(`${pad('SQL total', 34)}${''.padStart(12)}${num(sqlMs, 10)}\n`);
    process.stdout.write(`${pad('batch wall time', 34)}${''.padStart(12)}${num(batchMs, 10)}\n`);
    process.stdout.write(`${pad('rest (Node, driver)', 34)}${''.padStart(12)}${num(batchMs - sqlMs, 10)}\n`);
    process.stdout.write(`${pad('events/s (one connection)', 34)}${''.padStart(12)}${num((BATCH * 1000) / batchMs, 10, 0)}\n`);
    // Row versions written to customers over the whole run (warm-up included): a HOT update adds
    // no index entries; any other new version adds one to each of the table's indexes.
    await new Promise((r) => setTimeout(r, 1500)); // backends report statistics when idle
    const st = await db.one<{ ins: number; upd: number; hot: number }>(sql`
      SELECT n_tup_ins AS ins, n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relname = 'customers'`);
    if (st) process.stdout.write(`customers (about: statistics lag): ${st.ins} inserted, ${st.upd} updated (${st.hot} HOT) over all ${WARMUP + n} batches\n`);
  } finally {
    await db?.close();
    await scratch.drop();
  }
}

for (let i = 0; i < REPEAT; i++) await profileOnce(i);
