/**
 * Ingestion benchmark (DESIGN §6): generated events through `POST /api/crm/events` into PostgreSQL,
 * compared in the same run with a raw `COPY` of the same order rows.
 *
 *   npm run bench:ingest -- [--events 100000] [--concurrency 4] [--batch 1000] [--no-record]
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names a server and a database
 * to connect to; the benchmark creates `crm_bench_<ts>` there and drops it at the end.
 *
 * (a) API: the real `crm serve` in a child process on that database (own process, so the load
 *     generator does not share its event loop), batches of 1000 demo-generator events posted by
 *     several concurrent connections (Node's fetch/undici, bodies serialized before the clock starts).
 * (b) Baseline: `COPY … FROM STDIN` (pg-copy-streams, text format) of the completed orders of the
 *     same events (id, customer, total, currency, completion time) into a bare table: no keys, no
 *     indexes. Also reported: COPY of every event as one raw row (id, type, time, customer, data jsonb).
 */
import os from 'node:os';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type DemoEvent } from '../src/modules/demo/demo.generator.js';
import {
  analyzeDatabase, appendResultRow, chunk, copyRate, createScratchDatabase, demoEvents, fmt, freePort, log, machine, machineLabel,
  integerOption, percentile, resultDate, runMain, setUpTenant, startServer, stopServer, type CrmServer,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '4' },
    batch: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '42' },
    'copy-runs': { type: 'string', default: '5' },
    'no-record': { type: 'boolean', default: false },
  },
});
const positive = (name: 'events' | 'concurrency' | 'batch' | 'copy-runs') => integerOption({ name, value: args[name] });
const EVENTS = positive('events');
const CONCURRENCY = positive('concurrency');
const BATCH = positive('batch');
const SEED = Number(args.seed);
const COPY_RUNS = positive('copy-runs');

// ---------------------------------------------------------------------------------------------

async function serverCpuSeconds(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^process_cpu_seconds_total (\S+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

interface PostOutcome {
  accepted: number;
  duplicates: number;
  rejected: number;
  latencies: number[];
  rejections: Map<string, number>;
}

async function postAll(port: number, apiKey: string, bodies: string[], concurrency: number): Promise<PostOutcome> {
  const outcome: PostOutcome = { accepted: 0, duplicates: 0, rejected: 0, latencies: [], rejections: new Map() };
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= bodies.length) return;
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/api/crm/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
        body: bodies[i],
      });
      const text = await res.text();
      outcome.latencies.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`batch ${i}: HTTP ${res.status} ${text.slice(0, 500)}`);
      const body = JSON.parse(text) as { accepted: number; duplicates: number; rejected: number; results: Array<{ status: string; code?: string }> };
      outcome.accepted += body.accepted;
      outcome.duplicates += body.duplicates;
      outcome.rejected += body.rejected;
      for (const r of body.results) if (r.status === 'rejected') outcome.rejections.set(r.code ?? '?', (outcome.rejections.get(r.code ?? '?') ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcome;
}

/** COPY text format: tab-separated, \N for null, backslash/tab/newline escaped. */
function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

const HEADER =
  '| date | machine | Node | PostgreSQL | events | conc. | API events/s | COPY order rows/s | ratio | COPY event rows/s | ratio (events) | p50 / p99 batch ms | server CPU | load before |\n' +
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';

// ---------------------------------------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg()[0];
  const scratch = await createScratchDatabase({ prefix: 'crm_bench' });
  const { url: benchUrl, pgVersion } = scratch;
  log(`database ${scratch.name} created (PostgreSQL ${pgVersion})`);
  let server: CrmServer | null = null;
  try {
    // --- data ------------------------------------------------------------------------------
    let t = performance.now();
    const events: DemoEvent[] = demoEvents({ count: EVENTS, seed: SEED });
    const bodies = chunk(events, BATCH).map((b) => JSON.stringify({ events: b }));
    const warmup = chunk(demoEvents({ count: 10 * BATCH, seed: SEED + 1_000_003 }), BATCH).map((b) => JSON.stringify({ events: b }));
    log(`generated ${fmt(events.length)} events (${bodies.length} batches, ${(bodies.reduce((s, b) => s + b.length, 0) / 2 ** 20).toFixed(1)} MiB JSON) in ${fmt(performance.now() - t)} ms`);

    // --- schema and tenant (as `crm tenant create` would) -----------------------------------
    const { db, apiKey } = await setUpTenant({ url: benchUrl, poolSize: 2 });
    await db.close();

    // --- (a) through the API -----------------------------------------------------------------
    const port = await freePort();
    server = await startServer(benchUrl, port);
    log(`crm serve ready on port ${port}; warm-up with ${warmup.length} batches of another seed`);
    await postAll(port, apiKey, warmup, CONCURRENCY);
    // What autovacuum does within a minute of a production database filling up: without table
    // statistics, the plans PostgreSQL caches for foreign-key checks stay sequential scans of
    // what were empty tables, and the run would measure that start-up artefact instead.
    await analyzeDatabase(benchUrl);
    const cpu0 = await serverCpuSeconds(port);
    t = performance.now();
    const outcome = await postAll(port, apiKey, bodies, CONCURRENCY);
    const apiMs = performance.now() - t;
    const cpu1 = await serverCpuSeconds(port);
    const eventsPerSecond = events.length / (apiMs / 1000);
    log(`API: ${fmt(events.length)} events in ${fmt(apiMs)} ms = ${fmt(eventsPerSecond)} events/s (accepted ${outcome.accepted}, duplicate ${outcome.duplicates}, rejected ${outcome.rejected})`);
    if (outcome.rejected > 0) log(`rejections: ${JSON.stringify(Object.fromEntries(outcome.rejections))}`);
    const code = await stopServer(server);
    if (code !== 0) log(`warning: crm serve exited with ${code}`);
    server = null;

    const check = new pg.Client({ connectionString: benchUrl });
    await check.connect();
    const stored = (await check.query(`SELECT (SELECT count(*) FROM ingested_events)::int AS events, (SELECT count(*) FROM orders)::int AS orders, (SELECT count(*) FROM customers)::int AS customers`)).rows[0];
    log(`stored: ${fmt(stored.events)} ingested events, ${fmt(stored.orders)} orders, ${fmt(stored.customers)} customers`);

    // --- (b) raw COPY baselines ---------------------------------------------------------------
    const tenantId = '00000000-0000-0000-0000-000000000001';
    const completed = events.filter((e) => e.type === 'order.completed');
    const orderRows = completed
      .map((e) => [tenantId, e.data.order_id, e.customer.external_id, e.data.total, e.data.currency, e.occurred_at].map(copyField).join('\t'))
      .join('\n') + '\n';
    const orders = await copyRate({
      client: check, table: 'bench_copy_orders',
      create: ['CREATE TABLE bench_copy_orders (tenant_id uuid, id text, customer_external_id text, total numeric(14,2), currency text, completed_at timestamptz)'],
      copy: 'COPY bench_copy_orders (tenant_id, id, customer_external_id, total, currency, completed_at) FROM STDIN',
      source: () => Readable.from([orderRows]), rows: completed.length, runs: COPY_RUNS,
    });
    log(`COPY of ${fmt(completed.length)} completed-order rows: median ${orders.medianMs.toFixed(1)} ms of ${COPY_RUNS} = ${fmt(orders.rowsPerSecond)} rows/s`);
    const eventRows = events
      .map((e) => [tenantId, e.id, e.type, e.occurred_at, e.customer.external_id, e.customer.email, JSON.stringify(e.data)].map(copyField).join('\t'))
      .join('\n') + '\n';
    const raw = await copyRate({
      client: check, table: 'bench_copy_events',
      create: ['CREATE TABLE bench_copy_events (tenant_id uuid, id text, type text, occurred_at timestamptz, customer_external_id text, email text, data jsonb)'],
      copy: 'COPY bench_copy_events (tenant_id, id, type, occurred_at, customer_external_id, email, data) FROM STDIN',
      source: () => Readable.from([eventRows]), rows: events.length, runs: COPY_RUNS,
    });
    log(`COPY of ${fmt(events.length)} raw event rows: median ${raw.medianMs.toFixed(1)} ms of ${COPY_RUNS} = ${fmt(raw.rowsPerSecond)} rows/s`);
    await check.end();

    // --- report ---------------------------------------------------------------------------------
    const ratio = eventsPerSecond / orders.rowsPerSecond;
    const ratioEvents = eventsPerSecond / raw.rowsPerSecond;
    const m = machine();
    const serverCpu = (cpu1 - cpu0) / (apiMs / 1000);
    const summary = [
      '',
      `Ingestion through POST /api/crm/events (PostgreSQL ${pgVersion}, ${m.cores} cores, concurrency ${CONCURRENCY}, batches of ${BATCH}):`,
      `  events:                 ${fmt(events.length)} (accepted ${fmt(outcome.accepted)}, duplicate ${fmt(outcome.duplicates)}, rejected ${fmt(outcome.rejected)})`,
      `  API:                    ${fmt(eventsPerSecond)} events/s  (${(apiMs / 1000).toFixed(2)} s; batch p50 ${percentile(outcome.latencies, 50).toFixed(0)} ms, p99 ${percentile(outcome.latencies, 99).toFixed(0)} ms; server process CPU ${(serverCpu * 100).toFixed(0)}%)`,
      `  raw COPY, order rows:   ${fmt(orders.rowsPerSecond)} rows/s  (${fmt(completed.length)} rows, median of ${COPY_RUNS})`,
      `  ratio API / COPY:       ${(ratio * 100).toFixed(1)}%   (target >= 25%)`,
      `  raw COPY, event rows:   ${fmt(raw.rowsPerSecond)} rows/s  (${fmt(events.length)} rows, median of ${COPY_RUNS}); ratio ${(ratioEvents * 100).toFixed(1)}%`,
      `  target >= 20,000 events/s on 2 cores: ${eventsPerSecond >= 20_000 ? 'met' : 'not met'}`,
      '',
    ].join('\n');
    process.stdout.write(summary);

    if (!args['no-record']) {
      appendResultRow({ name: 'ingest', title: 'Event ingestion results', header: HEADER, row: [
        resultDate(),
        machineLabel(m),
        process.version,
        pgVersion,
        fmt(events.length),
        String(CONCURRENCY),
        fmt(eventsPerSecond),
        fmt(orders.rowsPerSecond),
        `${(ratio * 100).toFixed(1)}%`,
        fmt(raw.rowsPerSecond),
        `${(ratioEvents * 100).toFixed(1)}%`,
        `${percentile(outcome.latencies, 50).toFixed(0)} / ${percentile(outcome.latencies, 99).toFixed(0)}`,
        `${(serverCpu * 100).toFixed(0)}%`,
        loadBefore.toFixed(2),
      ] });
    }
  } finally {
    if (server) server.child.kill('SIGKILL');
    await scratch.drop();
  }
}

runMain(main);
