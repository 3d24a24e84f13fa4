/**
 * CSV import benchmark (DESIGN §6: a 1M-customer CSV import at >= 50% of a raw COPY of the same file,
 * memory flat).
 *
 *   npm run bench:import -- [--rows 1000000] [--copy-runs 3] [--no-record]
 *
 * BENCH_DATABASE_URL (default: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test) names a server;
 * the benchmark creates `crm_bench_import_<ts>` there and drops it at the end.
 *
 * 1. Streams a generated customer CSV (external id, e-mail, Romanian mobile, names, city, country,
 *    birth date, newsletter flag; every row a different person) to a temp file.
 * 2. Import: the imports service in this process (`createImport` with wait, as `crm import customers`
 *    runs it): inspect, scan, then batches through the ingestion pipeline. process.memoryUsage().rss is
 *    sampled every 100 ms; reported: peak, and the RSS at 10 % and 90 % of the rows (flat = streaming).
 * 3. Baselines, same file, same database: `COPY … FROM STDIN (FORMAT csv, HEADER)` streamed from the
 *    file into (a) a plain table with the file's columns, no keys or indexes (the DESIGN baseline),
 *    and (b) a table shaped and indexed like `customers` (its 12 indexes, 3 of them GIN), which shows
 *    what the indexes alone cost. Median of --copy-runs runs each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';
import { migrate } from '../src/db/migrate.js';
import { createTenant } from '../src/modules/auth/auth.service.js';
import { createImport, newUploadPath } from '../src/modules/imports/imports.service.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'docs', 'benchmarks.md');
const START_MARK = '<!-- bench:import:results -->';
const END_MARK = '<!-- /bench:import:results -->';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'copy-runs': { type: 'string', default: '3' },
    'no-record': { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const COPY_RUNS = Number(args['copy-runs']);
if (!Number.isInteger(ROWS) || ROWS < 1 || !Number.isInteger(COPY_RUNS) || COPY_RUNS < 1) throw new Error('--rows and --copy-runs must be positive integers');
const BASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

// ---------------------------------------------------------------------------------------------

const FIRST = ['Ion', 'Maria', 'Andrei', 'Elena', 'Mihai', 'Ioana', 'Alexandru', 'Ana', 'Ştefan', 'Cristina', 'George', 'Irina', 'Radu', 'Oana'];
const LAST = ['Popescu', 'Ionescu', 'Popa', 'Dumitru', 'Stan', 'Stoica', 'Gheorghe', 'Rusu', 'Munteanu', 'Mureşan', 'Ţurcanu', 'Constantin'];
const CITIES = ['Bucureşti', 'Cluj-Napoca', 'Iaşi', 'Timişoara', 'Constanţa', 'Braşov', 'Sibiu', 'Oradea'];
const HEADER = 'Customer ID,Email Address,Telefon,Prenume,Nume,Oraş,Country,Date of Birth,Newsletter\n';
const COPY_COLUMNS = 'external_id, email, phone, first_name, last_name, city, country, date_of_birth, newsletter';

function* csvLines(rows: number): Generator<string> {
  yield HEADER;
  let lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    // 072x xxx xxx: distinct Romanian mobile numbers (valid for libphonenumber), written as people type them
    const n = String(20_000_000 + i);
    const phone = `07${n.slice(0, 2)} ${n.slice(2, 5)} ${n.slice(5)}`;
    const dob = `${1950 + (i % 55)}-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    lines.push(`u_${i},person${i}@exemplu.ro,${i % 5 === 0 ? '' : phone},${FIRST[i % FIRST.length]},${LAST[(i * 3) % LAST.length]},${CITIES[i % CITIES.length]},RO,${dob},${i % 3 === 0 ? 'yes' : 'no'}\n`);
    if (lines.length === 10_000) {
      yield lines.join('');
      lines = [];
    }
  }
  if (lines.length) yield lines.join('');
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function copyRate(client: pg.Client, file: string, table: string, create: string[]): Promise<{ rowsPerSecond: number; medianMs: number }> {
  const times: number[] = [];
  for (let run = 0; run < COPY_RUNS; run++) {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    for (const stmt of create) await client.query(stmt);
    const t0 = performance.now();
    await pipeline(fs.createReadStream(file), client.query(copyFrom(`COPY ${table} (${COPY_COLUMNS}) FROM STDIN WITH (FORMAT csv, HEADER true)`)));
    times.push(performance.now() - t0);
    const { rows: [{ n }] } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
    if (n !== ROWS) throw new Error(`COPY into ${table} stored ${n} rows, expected ${ROWS}`);
  }
  await client.query(`DROP TABLE IF EXISTS ${table}`);
  const ms = median(times);
  return { rowsPerSecond: ROWS / (ms / 1000), medianMs: ms };
}

function machine() {
  const cpus = os.cpus();
  return { cpu: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown', cores: cpus.length, ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10 };
}

function recordResult(row: string[]): void {
  const header =
    '| date | machine | Node | PostgreSQL | rows | file | import rows/s | COPY plain rows/s | ratio | COPY indexed rows/s | ratio (indexed) | peak RSS | RSS at 10% / 90% | load before |\n' +
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  let text = fs.readFileSync(RESULTS_FILE, 'utf8');
  if (!text.includes(START_MARK)) text = `${text.trimEnd()}\n\n## CSV import results\n\n${START_MARK}\n${header}${END_MARK}\n`;
  text = text.replace(END_MARK, `| ${row.join(' | ')} |\n${END_MARK}`);
  fs.writeFileSync(RESULTS_FILE, text);
  log(`result appended to ${path.relative(ROOT, RESULTS_FILE)}`);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg()[0];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bench-import-'));
  const file = path.join(tmp, 'customers.csv');
  const dbName = `crm_bench_import_${Date.now()}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  const pgVersion = ((await admin.query('SHOW server_version')).rows[0].server_version as string).split(' ')[0];
  await admin.query(`CREATE DATABASE ${dbName}`);
  const benchUrl = withDatabase(BASE_URL, dbName);
  log(`database ${dbName} created (PostgreSQL ${pgVersion})`);
  try {
    let t = performance.now();
    await pipeline(Readable.from(csvLines(ROWS)), fs.createWriteStream(file));
    const bytes = fs.statSync(file).size;
    log(`generated ${fmt(ROWS)} rows (${mib(bytes)}) in ${fmt(performance.now() - t)} ms: ${file}`);

    const config = loadConfig({ DATABASE_URL: benchUrl, DATA_DIR: tmp, LOG_LEVEL: 'warn', IMPORT_MAX_FILE_BYTES: String(64 * 2 ** 30) });
    const db = await openDatabase({ url: benchUrl, poolSize: 4 });
    await migrate(db);
    const { tenant } = await createTenant(db, { name: 'Bench', currency: 'RON' });

    // --- import through the service, RSS sampled -------------------------------------------------
    const { id, filePath } = await newUploadPath(config);
    await fs.promises.copyFile(file, filePath);
    let peak = process.memoryUsage().rss;
    const rssAt = new Map<number, number>();
    let progress = 0;
    const sampler = setInterval(() => {
      const rss = process.memoryUsage().rss;
      if (rss > peak) peak = rss;
    }, 100);
    const rssBefore = process.memoryUsage().rss;
    t = performance.now();
    const outcome = await createImport({ db, config, tenantId: tenant.id, actor: 'bench' }, {
      id, type: 'customers', filePath, fileName: 'customers.csv', wait: true,
      onProgress: (done, total) => {
        const pct = Math.floor((done / Math.max(1, total)) * 10) * 10;
        if (pct > progress) {
          progress = pct;
          rssAt.set(pct, process.memoryUsage().rss);
          log(`  ${pct}%: ${fmt(done)} rows, ${fmt(done / ((performance.now() - t) / 1000))} rows/s so far, RSS ${mib(process.memoryUsage().rss)}`);
        }
      },
    });
    const importMs = performance.now() - t;
    clearInterval(sampler);
    const importRate = ROWS / (importMs / 1000);
    log(`import: ${outcome.status}, created ${fmt(outcome.created)}, updated ${fmt(outcome.updated)}, rejected ${fmt(outcome.rejected)} in ${fmt(importMs)} ms = ${fmt(importRate)} rows/s`);
    if (outcome.status !== 'completed' || outcome.created !== ROWS) throw new Error(`import did not create every row: ${JSON.stringify(outcome)}`);
    await db.close();

    // --- COPY baselines ------------------------------------------------------------------------
    const client = new pg.Client({ connectionString: benchUrl });
    await client.connect();
    const plain = await copyRate(client, file, 'bench_copy_customers', [
      'CREATE TABLE bench_copy_customers (external_id text, email text, phone text, first_name text, last_name text, city text, country text, date_of_birth date, newsletter text)',
    ]);
    log(`COPY into a plain table: median ${fmt(plain.medianMs)} ms = ${fmt(plain.rowsPerSecond)} rows/s`);
    const indexed = await copyRate(client, file, 'bench_copy_indexed', [
      'CREATE TABLE bench_copy_indexed (LIKE customers INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING INDEXES)',
      `ALTER TABLE bench_copy_indexed ALTER COLUMN tenant_id SET DEFAULT '${tenant.id}', ADD COLUMN newsletter text`,
    ]);
    log(`COPY into a table indexed like customers: median ${fmt(indexed.medianMs)} ms = ${fmt(indexed.rowsPerSecond)} rows/s`);
    await client.end();

    const ratio = importRate / plain.rowsPerSecond;
    const ratioIndexed = importRate / indexed.rowsPerSecond;
    const m = machine();
    const at = (p: number) => (rssAt.has(p) ? mib(rssAt.get(p)!) : '?');
    process.stdout.write([
      '',
      `CSV import of ${fmt(ROWS)} customers (${mib(bytes)}) into PostgreSQL ${pgVersion}, ${m.cores} cores, load ${loadBefore.toFixed(2)} before:`,
      `  import (service, ingestion path): ${fmt(importRate)} rows/s  (${(importMs / 1000).toFixed(1)} s)`,
      `  COPY, plain table:                ${fmt(plain.rowsPerSecond)} rows/s  -> ratio ${(ratio * 100).toFixed(1)}% (target >= 50%)`,
      `  COPY, table indexed as customers: ${fmt(indexed.rowsPerSecond)} rows/s  -> ratio ${(ratioIndexed * 100).toFixed(1)}%`,
      `  RSS: before ${mib(rssBefore)}, at 10% ${at(10)}, at 90% ${at(90)}, peak ${mib(peak)}`,
      '',
    ].join('\n'));
    if (!args['no-record']) {
      recordResult([
        new Date().toISOString().slice(0, 16).replace('T', ' '),
        `${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB`,
        process.version,
        pgVersion,
        fmt(ROWS),
        mib(bytes),
        fmt(importRate),
        fmt(plain.rowsPerSecond),
        `${(ratio * 100).toFixed(1)}%`,
        fmt(indexed.rowsPerSecond),
        `${(ratioIndexed * 100).toFixed(1)}%`,
        mib(peak),
        `${at(10)} / ${at(90)}`,
        loadBefore.toFixed(2),
      ]);
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    fs.rmSync(tmp, { recursive: true, force: true });
    log(`database ${dbName} dropped`);
  }
}

main().catch((err) => {
  process.stderr.write(`[bench] failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
