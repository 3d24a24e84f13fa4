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
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createTenant } from '../src/modules/auth/auth.service.js';
import { DEFAULT_NOW, generateEvents, type DemoEvent } from '../src/modules/demo/demo.generator.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
const START_MARK = '<!-- bench:ingest:results -->';
const END_MARK = '<!-- /bench:ingest:results -->';

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
const EVENTS = positive('events');
const CONCURRENCY = positive('concurrency');
const BATCH = positive('batch');
const SEED = Number(args.seed);
const COPY_RUNS = positive('copy-runs');
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function positive(name: keyof typeof args): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------

function takeEvents(count: number, seed: number): DemoEvent[] {
  // ~13 events per customer; the generator is lazy, so customers past `count` events are never simulated.
  const out: DemoEvent[] = [];
  for (const e of generateEvents({ customers: Math.ceil(count / 4), seed, now: DEFAULT_NOW })) {
    out.push(e);
    if (out.length === count) break;
  }
  return out;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function startServer(databaseUrl: string, port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', CRM_BOOTSTRAP_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`crm serve exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`crm serve did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, output: () => output };
}

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

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** COPY text format: tab-separated, \N for null, backslash/tab/newline escaped. */
function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  return String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

async function copyRate(client: pg.Client, table: string, columns: string, ddl: string, payload: string, rows: number, runs: number) {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.query(`CREATE TABLE ${table} (${ddl})`);
    const t0 = performance.now();
    await pipeline(Readable.from([payload]), client.query(copyFrom(`COPY ${table} (${columns}) FROM STDIN`)));
    times.push(performance.now() - t0);
    const { rows: [{ n }] } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
    if (n !== rows) throw new Error(`COPY into ${table} stored ${n} rows, expected ${rows}`);
  }
  const median = percentile(times, 50);
  return { rowsPerSecond: rows / (median / 1000), medianMs: median, runs };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

function recordResult(row: string[]): void {
  const header =
    '| date | machine | Node | PostgreSQL | events | conc. | API events/s | COPY order rows/s | ratio | COPY event rows/s | ratio (events) | p50 / p99 batch ms | server CPU | load before |\n' +
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  let text = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : '# Benchmarks\n';
  if (!text.includes(START_MARK)) text = `${text.trimEnd()}\n\n## Event ingestion results\n\n${START_MARK}\n${header}${END_MARK}\n`;
  const line = `| ${row.join(' | ')} |\n`;
  text = text.replace(END_MARK, `${line}${END_MARK}`);
  fs.writeFileSync(RESULTS_FILE, text);
  log(`result appended to ${path.relative(ROOT, RESULTS_FILE)}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg()[0];
  const dbName = `crm_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  const pgVersion = ((await admin.query('SHOW server_version')).rows[0].server_version as string).split(' ')[0];
  await admin.query(`CREATE DATABASE ${dbName}`);
  const benchUrl = withDatabase(BASE_URL, dbName);
  log(`database ${dbName} created (PostgreSQL ${pgVersion})`);
  let server: { child: ChildProcess; output: () => string } | null = null;
  try {
    // --- data ------------------------------------------------------------------------------
    let t = performance.now();
    const events = takeEvents(EVENTS, SEED);
    const bodies = chunk(events, BATCH).map((b) => JSON.stringify({ events: b }));
    const warmup = chunk(takeEvents(10 * BATCH, SEED + 1_000_003), BATCH).map((b) => JSON.stringify({ events: b }));
    log(`generated ${fmt(events.length)} events (${bodies.length} batches, ${(bodies.reduce((s, b) => s + b.length, 0) / 2 ** 20).toFixed(1)} MiB JSON) in ${fmt(performance.now() - t)} ms`);

    // --- schema and tenant (as `crm tenant create` would) -----------------------------------
    const db = await openDatabase({ url: benchUrl, poolSize: 2 });
    await migrate(db);
    const { apiKey } = await createTenant(db, { name: 'Bench', currency: 'RON' });
    await db.close();

    // --- (a) through the API -----------------------------------------------------------------
    const port = await freePort();
    server = await startServer(benchUrl, port);
    log(`crm serve ready on port ${port}; warm-up with ${warmup.length} batches of another seed`);
    await postAll(port, apiKey, warmup, CONCURRENCY);
    // What autovacuum does within a minute of a production database filling up: without table
    // statistics, the plans PostgreSQL caches for foreign-key checks stay sequential scans of
    // what were empty tables, and the run would measure that start-up artefact instead.
    const analyze = new pg.Client({ connectionString: benchUrl });
    await analyze.connect();
    await analyze.query('ANALYZE');
    await analyze.end();
    const cpu0 = await serverCpuSeconds(port);
    t = performance.now();
    const outcome = await postAll(port, apiKey, bodies, CONCURRENCY);
    const apiMs = performance.now() - t;
    const cpu1 = await serverCpuSeconds(port);
    const eventsPerSecond = events.length / (apiMs / 1000);
    log(`API: ${fmt(events.length)} events in ${fmt(apiMs)} ms = ${fmt(eventsPerSecond)} events/s (accepted ${outcome.accepted}, duplicate ${outcome.duplicates}, rejected ${outcome.rejected})`);
    if (outcome.rejected > 0) log(`rejections: ${JSON.stringify(Object.fromEntries(outcome.rejections))}`);
    server.child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => server!.child.on('close', r));
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
    const orders = await copyRate(
      check, 'bench_copy_orders', 'tenant_id, id, customer_external_id, total, currency, completed_at',
      'tenant_id uuid, id text, customer_external_id text, total numeric(14,2), currency text, completed_at timestamptz',
      orderRows, completed.length, COPY_RUNS,
    );
    log(`COPY of ${fmt(completed.length)} completed-order rows: median ${orders.medianMs.toFixed(1)} ms of ${COPY_RUNS} = ${fmt(orders.rowsPerSecond)} rows/s`);
    const eventRows = events
      .map((e) => [tenantId, e.id, e.type, e.occurred_at, e.customer.external_id, e.customer.email, JSON.stringify(e.data)].map(copyField).join('\t'))
      .join('\n') + '\n';
    const raw = await copyRate(
      check, 'bench_copy_events', 'tenant_id, id, type, occurred_at, customer_external_id, email, data',
      'tenant_id uuid, id text, type text, occurred_at timestamptz, customer_external_id text, email text, data jsonb',
      eventRows, events.length, COPY_RUNS,
    );
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
      recordResult([
        new Date().toISOString().slice(0, 16).replace('T', ' '),
        `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB`,
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
      ]);
    }
  } finally {
    if (server) server.child.kill('SIGKILL');
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    log(`database ${dbName} dropped`);
  }
}

main().catch((err) => {
  process.stderr.write(`[bench] failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
