/**
 * Helpers shared by the benchmark scripts in bench/: where results go, a scratch PostgreSQL database of
 * a script's own, the machine description and the result row appended to docs/benchmarks.md, `crm serve`
 * in a child process, COPY baselines, and small formatting and timing helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createTenant } from '../src/modules/auth/auth.service.js';
import { DEFAULT_NOW, generateEvents, type DemoEvent } from '../src/modules/demo/demo.generator.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The file the result rows are appended to. */
export const RESULTS_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
/** The server (and database to connect to) when BENCH_DATABASE_URL is not set. */
export const DEFAULT_BASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** The server the benchmarks create their databases on: BENCH_DATABASE_URL, else DEFAULT_BASE_URL. */
export const BASE_URL = process.env.BENCH_DATABASE_URL ?? DEFAULT_BASE_URL;

/** A progress line on stderr, prefixed with `[bench]`. */
export const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
/** A number rounded to an integer with thousands separators (`12,345`). */
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The value at percentile `p` (0–100) of `values` (nearest rank, no interpolation). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The median of `values` (the upper one of an even count). */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Runs `fn` and returns its value with the wall time it took in ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/**
 * An integer option of parseArgs, checked: throws "--<name> must be a positive integer" (min 1) or
 * "--<name> must be an integer >= <min>".
 */
export function integerOption({ name, value, min = 1 }: { name: string; value: string | undefined; min?: number }): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) throw new Error(min === 1 ? `--${name} must be a positive integer` : `--${name} must be an integer >= ${min}`);
  return v;
}

/** This machine: CPU model (whitespace collapsed), number of cores, RAM in GiB (one decimal). */
export function machine(): { cpu: string; cores: number; ramGiB: number } {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  };
}

/** The machine column of a result row: `<cpu>, <n> cores, <x> GiB`. */
export function machineLabel(m = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB`;
}

/** The date column of a result row: UTC `YYYY-MM-DD HH:MM`. */
export function resultDate(): string {
  return new Date().toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * Appends one row to the table between `<!-- bench:<name>:results -->` and `<!-- /bench:<name>:results -->`
 * in docs/benchmarks.md. When the markers are missing, adds a `## <title>` section at the end with the
 * markers and `header` (the table's header and alignment lines, each ending in a newline).
 */
export function appendResultRow({ name, title, header, row }: { name: string; title: string; header: string; row: string[] }): void {
  const start = `<!-- bench:${name}:results -->`;
  const end = `<!-- /bench:${name}:results -->`;
  let text = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : '# Benchmarks\n';
  if (!text.includes(start)) text = `${text.trimEnd()}\n\n## ${title}\n\n${start}\n${header}${end}\n`;
  const line = `| ${row.join(' | ')} |\n`;
  text = text.replace(end, () => `${line}${end}`);
  fs.writeFileSync(RESULTS_FILE, text);
  log(`result appended to ${path.relative(ROOT, RESULTS_FILE)}`);
}

/** `url` with its database (path) replaced by `name`. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface ScratchDatabase {
  /** `<prefix>_<Date.now()>` */
  name: string;
  /** BASE_URL with this database */
  url: string;
  /** The server's version, e.g. `16.4`. */
  pgVersion: string;
  /** Drops the database (`WITH (FORCE)`), or only says so when it was created with `keep`. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database `<prefix>_<Date.now()>` on `baseUrl` (default BASE_URL). Its `drop()` connects
 * again and runs `DROP DATABASE IF EXISTS … WITH (FORCE)`; with `keep`, it leaves the database and logs that.
 */
export async function createScratchDatabase({ prefix, baseUrl = BASE_URL, keep = false }: { prefix: string; baseUrl?: string; keep?: boolean }): Promise<ScratchDatabase> {
  const name = `${prefix}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    const pgVersion = ((await admin.query('SHOW server_version')).rows[0].server_version as string).split(' ')[0];
    await admin.query(`CREATE DATABASE ${name}`);
    const drop = async () => {
      if (keep) {
        log(`database ${name} kept (--keep)`);
        return;
      }
      const a = new pg.Client({ connectionString: baseUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
      log(`database ${name} dropped`);
    };
    return { name, url: withDatabase(baseUrl, name), pgVersion, drop };
  } finally {
    await admin.end();
  }
}

/**
 * Opens `url`, migrates it and creates a tenant (as `crm tenant create` would; name `Bench` unless told,
 * currency RON). The caller closes `db`.
 */
export async function setUpTenant({ url, poolSize, tenantName = 'Bench' }: { url: string; poolSize: number; tenantName?: string }) {
  const db: Database = await openDatabase({ url, poolSize });
  await migrate(db);
  const { tenant, apiKey } = await createTenant(db, { name: tenantName, currency: 'RON' });
  return { db, tenant, apiKey };
}

/** `ANALYZE` of the whole database at `url`, on a connection of its own. */
export async function analyzeDatabase(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('ANALYZE');
  } finally {
    await c.end();
  }
}

/**
 * COPY throughput: `runs` times (re)creates `table` (DROP TABLE IF EXISTS, then the `create` statements),
 * streams `source()` into `copy` (a `COPY … FROM STDIN` statement), and checks the table holds `rows` rows.
 * The table is dropped at the end. Returns the rate of the median run.
 */
export async function copyRate({ client, table, create, copy, source, rows, runs }: {
  client: pg.Client;
  table: string;
  create: string[];
  copy: string;
  source: () => NodeJS.ReadableStream;
  rows: number;
  runs: number;
}): Promise<{ rowsPerSecond: number; medianMs: number; runs: number }> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    for (const stmt of create) await client.query(stmt);
    const t0 = performance.now();
    await pipeline(source(), client.query(copyFrom(copy)));
    times.push(performance.now() - t0);
    const { rows: [{ n }] } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
    if (n !== rows) throw new Error(`COPY into ${table} stored ${n} rows, expected ${rows}`);
  }
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  const ms = median(times);
  return { rowsPerSecond: rows / (ms / 1000), medianMs: ms, runs };
}

/**
 * The first `count` events of the demo generator (seeded, as of DEFAULT_NOW). About 13 events per customer;
 * the generator is lazy, so customers past `count` events are never simulated.
 */
export function demoEvents({ count, seed }: { count: number; seed: number }): DemoEvent[] {
  const out: DemoEvent[] = [];
  for (const e of generateEvents({ customers: Math.ceil(count / 4), seed, now: DEFAULT_NOW })) {
    out.push(e);
    if (out.length === count) break;
  }
  return out;
}

/** `items` cut into consecutive slices of `size` (the last one shorter). */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A free TCP port on 127.0.0.1 (free when asked; another process could take it before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface CrmServer {
  child: ChildProcess;
  port: number;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
}

/**
 * Starts the real `crm serve` (its own process, LOG_LEVEL warn, no bootstrap API key) on `databaseUrl`,
 * listening on 127.0.0.1:`port`, and waits (up to 2 minutes) until GET /readyz answers 2xx.
 */
export async function startServer(databaseUrl: string, port: number): Promise<CrmServer> {
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
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return { child, port, output: () => output };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`crm serve did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Sends SIGTERM to a server from startServer and resolves with its exit code once it has closed. */
export async function stopServer(server: CrmServer): Promise<number | null> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const closed = new Promise<number | null>((r) => child.once('close', r));
  child.kill('SIGTERM');
  return closed;
}

/** Runs a script's `main`; on failure prints `[bench] failed: <stack>` and exits with 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err) => {
    process.stderr.write(`[bench] failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
