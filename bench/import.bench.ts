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
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createImport, newUploadPath } from '../src/modules/imports/imports.service.js';
import {
  appendResultRow, copyRate, createScratchDatabase, DEFAULT_BASE_URL, fmt, log, machine, machineLabel, resultDate, runMain, setUpTenant,
} from './lib.js';
import { COPY_COLUMNS, csvLines } from './import-data.js';

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
const BASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_BASE_URL;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

// ---------------------------------------------------------------------------------------------

/** COPY of the CSV file into `table` (made by `create`), --copy-runs times; the median run's rate. */
function copyFile(client: pg.Client, file: string, table: string, create: string[]) {
  return copyRate({
    client, table, create, copy: `COPY ${table} (${COPY_COLUMNS}) FROM STDIN WITH (FORMAT csv, HEADER true)`,
    source: () => fs.createReadStream(file), rows: ROWS, runs: COPY_RUNS,
  });
}

const RESULTS_HEADER =
  '| date | machine | Node | PostgreSQL | rows | file | import rows/s | COPY plain rows/s | ratio | COPY indexed rows/s | ratio (indexed) | peak RSS | RSS at 10% / 90% | load before |\n' +
  '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';

// ---------------------------------------------------------------------------------------------

async function main() {
  const loadBefore = os.loadavg()[0];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-bench-import-'));
  const file = path.join(tmp, 'customers.csv');
  const scratch = await createScratchDatabase({ prefix: 'crm_bench_import', baseUrl: BASE_URL });
  const { url: benchUrl, pgVersion } = scratch;
  log(`database ${scratch.name} created (PostgreSQL ${pgVersion})`);
  try {
    let t = performance.now();
    await pipeline(Readable.from(csvLines(ROWS)), fs.createWriteStream(file));
    const bytes = fs.statSync(file).size;
    log(`generated ${fmt(ROWS)} rows (${mib(bytes)}) in ${fmt(performance.now() - t)} ms: ${file}`);

    const config = loadConfig({ DATABASE_URL: benchUrl, DATA_DIR: tmp, LOG_LEVEL: 'warn', IMPORT_MAX_FILE_BYTES: String(64 * 2 ** 30) });
    const { db, tenant } = await setUpTenant({ url: benchUrl, poolSize: 4 });

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
    const plain = await copyFile(client, file, 'bench_copy_customers', [
      'CREATE TABLE bench_copy_customers (external_id text, email text, phone text, first_name text, last_name text, city text, country text, date_of_birth date, newsletter text)',
    ]);
    log(`COPY into a plain table: median ${fmt(plain.medianMs)} ms = ${fmt(plain.rowsPerSecond)} rows/s`);
    const indexed = await copyFile(client, file, 'bench_copy_indexed', [
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
      `  import (service, bulk path):      ${fmt(importRate)} rows/s  (${(importMs / 1000).toFixed(1)} s)`,
      `  COPY, plain table:                ${fmt(plain.rowsPerSecond)} rows/s  -> ratio ${(ratio * 100).toFixed(1)}% (target >= 50%)`,
      `  COPY, table indexed as customers: ${fmt(indexed.rowsPerSecond)} rows/s  -> ratio ${(ratioIndexed * 100).toFixed(1)}%`,
      `  RSS: before ${mib(rssBefore)}, at 10% ${at(10)}, at 90% ${at(90)}, peak ${mib(peak)}`,
      '',
    ].join('\n'));
    if (!args['no-record']) {
      appendResultRow({ name: 'import', title: 'CSV import results', header: RESULTS_HEADER, row: [
        resultDate(),
        machineLabel(m),
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
      ] });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await scratch.drop();
  }
}

runMain(main);
