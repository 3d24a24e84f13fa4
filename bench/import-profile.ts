/**
 * Import profiler (a developer tool, not a benchmark; see docs/benchmarks.md, "CSV import"): where does an
 * import batch's time go, and does it grow with the table?
 *
 *   npx tsx bench/import-profile.ts [--rows 100000] [--ingestion-path]
 *
 * Creates a scratch database `crm_profile_import_<ts>` on BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test), migrates it, creates a tenant, writes the generated customer
 * CSV of bench/import.bench.ts and imports it through `createImport` (wait) with every statement timed by
 * a wrapping Executor. Prints per statement (named by the function that ran it) calls and ms per 5,000-row
 * batch, for the first and the last fifth of the batches (a statement whose cost grows with the table shows
 * up as a growing figure), then the wall time. `--ingestion-path` forces the per-event ingestion path
 * (the `bulk: false` option of createImport) for comparison. Statements of concurrent lanes overlap: their times add up to more
 * than the wall time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import type { Database, Executor, SQL } from '../src/db/database.js';
import { createImport, newUploadPath } from '../src/modules/imports/imports.service.js';
import { createScratchDatabase, fmt, integerOption, log, setUpTenant } from './lib.js';
import { csvLines } from './import-data.js';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '100000' }, 'ingestion-path': { type: 'boolean', default: false } },
});
const ROWS = integerOption({ name: 'rows', value: args.rows });

type Stat = { calls: number; ms: number };
/** Time per statement label, per batch window. */
const windows: Map<string, Stat>[] = [];
let current = new Map<string, Stat>();

function callerName(): string {
  const stack = new Error().stack?.split('\n').slice(2) ?? [];
  for (const line of stack) {
    if (line.includes('import-profile') || line.includes('db/database')) continue;
    const m = /at (?:async )?(?:Module\.|Object\.)?([\w$<>.]+) /.exec(line);
    return m ? m[1] : '?';
  }
  return '?';
}

function add(label: string, ms: number) {
  const s = current.get(label) ?? { calls: 0, ms: 0 };
  s.calls++;
  s.ms += ms;
  current.set(label, s);
}

function timedExec(inner: Executor): Executor {
  const time = async <T>(run: () => Promise<T>): Promise<T> => {
    const label = callerName();
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      add(label, performance.now() - t0);
    }
  };
  return {
    rows: <T>(q: SQL) => time(() => inner.rows<T>(q)),
    one: <T>(q: SQL) => time(() => inner.one<T>(q)),
    run: (q: SQL) => time(() => inner.run(q)),
    transaction: async <T>(fn: (tx: Executor) => Promise<T>) => {
      let t = performance.now();
      const result = await inner.transaction(async (tx) => {
        add('(BEGIN)', performance.now() - t);
        const r = await fn(timedExec(tx));
        t = performance.now();
        return r;
      });
      add('(COMMIT)', performance.now() - t);
      return result;
    },
  };
}

function timedDb(db: Database): Database {
  const e = timedExec(db);
  return Object.assign(Object.create(db) as Database, e);
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-profile-import-'));
  const scratch = await createScratchDatabase({ prefix: 'crm_profile_import' });
  try {
    const file = path.join(tmp, 'customers.csv');
    await pipeline(Readable.from(csvLines(ROWS)), fs.createWriteStream(file));
    const config = loadConfig({
      DATABASE_URL: scratch.url, DATA_DIR: tmp, LOG_LEVEL: 'warn', IMPORT_MAX_FILE_BYTES: String(64 * 2 ** 30),
    });
    const { db, tenant } = await setUpTenant({ url: scratch.url, poolSize: 4 });
    const { id, filePath } = await newUploadPath(config);
    await fs.promises.copyFile(file, filePath);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let last = t0;
    const walls: number[] = [];
    const out = await createImport({ db: timedDb(db), config, tenantId: tenant.id, actor: 'profile' }, {
      id, type: 'customers', filePath, fileName: 'customers.csv', wait: true, bulk: !args['ingestion-path'],
      onProgress: (done) => {
        if (done === 0) return;
        const now = performance.now();
        walls.push(now - last);
        last = now;
        windows.push(current);
        current = new Map();
      },
    });
    const cpu = process.cpuUsage(cpu0);
    log(`import ${out.status}: created ${fmt(out.created)}, updated ${fmt(out.updated)}, rejected ${fmt(out.rejected)} in ${fmt(performance.now() - t0)} ms; `
      + `this process (Node) used ${fmt((cpu.user + cpu.system) / 1000)} ms of CPU = ${((cpu.user + cpu.system) / ROWS).toFixed(0)} µs per row`);
    await db.close();
    // windows[0] holds the scan too (the first progress call comes after it)
    const batches = windows.slice(1);
    const fifth = Math.max(1, Math.floor(batches.length / 5));
    const sum = (ws: Map<string, Stat>[]) => {
      const m = new Map<string, Stat>();
      for (const w of ws) for (const [k, v] of w) {
        const s = m.get(k) ?? { calls: 0, ms: 0 };
        s.calls += v.calls;
        s.ms += v.ms;
        m.set(k, s);
      }
      return m;
    };
    const first = sum(batches.slice(0, fifth));
    const lastW = sum(batches.slice(-fifth));
    const labels = [...new Set([...first.keys(), ...lastW.keys()])].sort((a, b) => (lastW.get(b)?.ms ?? 0) - (lastW.get(a)?.ms ?? 0));
    const num = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);
    process.stdout.write(`\n${batches.length} batches; per batch, first ${fifth} vs last ${fifth} batches (ms summed over lanes)\n`);
    process.stdout.write(`${'statement (caller)'.padEnd(36)}${'calls'.padStart(8)}${'ms first'.padStart(10)}${'ms last'.padStart(10)}\n`);
    for (const l of labels) {
      const a = first.get(l);
      const b = lastW.get(l);
      process.stdout.write(`${l.padEnd(36)}${num((b?.calls ?? a?.calls ?? 0) / fifth, 8)}${num((a?.ms ?? 0) / fifth, 10)}${num((b?.ms ?? 0) / fifth, 10)}\n`);
    }
    const wallFirst = walls.slice(1, 1 + fifth).reduce((s, x) => s + x, 0) / fifth;
    const wallLast = walls.slice(-fifth).reduce((s, x) => s + x, 0) / fifth;
    process.stdout.write(`${'batch wall time'.padEnd(36)}${''.padStart(8)}${num(wallFirst, 10)}${num(wallLast, 10)}\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await scratch.drop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
