import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import { csvRow, UTF8_BOM } from '../../lib/csv.js';
import { normalizeEmail, normalizePhone } from '../../lib/contact.js';
import { AppError } from '../../lib/errors.js';
import type { JobQueue } from '../../jobs/queue.js';
import { recordAudit } from '../audit/audit.service.js';
import { findTenant } from '../auth/auth.repository.js';
import { ingestAndSegment } from '../ingest/ingest.pipeline.js';
import { hashKey } from '../ingest/ingest.identity.js';
import { MAX_BATCH } from '../ingest/ingest.schemas.js';
import { newContactMemo, type ContactMemo } from '../ingest/ingest.validation.js';
import { findSuppressed } from '../privacy/suppressions.repository.js';
import { customerEvent, orderEvent, rawOf, resolveMapping, type Converted, type ImportType } from './imports.mapping.js';
import { inspectFile, readRows, type Encoding, type FileInfo, type FileRow } from './imports.reader.js';
import { applyNewCustomers, REGISTRATION_FIELDS } from './imports.bulk.js';
import * as repo from './imports.repository.js';

/**
 * CSV/XLSX imports of customers and orders (issue 6, items 1 and 14).
 *
 * The upload is streamed to DATA_DIR/imports/<id>; the request only inspects it (format, encoding,
 * delimiter, header mapping: a bad file is a 4xx at once) and queues the job `imports.run`. The job
 * reads the file twice: a scan that counts rows and finds every file-level problem (a quote never
 * closed, an oversize record, a damaged workbook) before anything is written, then the apply pass
 * in batches of BATCH_ROWS rows. Rows become ingestion events and go through `ingestAndSegment`, the
 * one ingestion entry point: identity resolution, metrics, loyalty, timeline, outbox and segment
 * membership are exactly those of events sent by the platform (see README, Imports). Customer rows of
 * people not known yet take the bulk path (imports.bulk.ts), which writes exactly what ingesting their
 * events would, with set-based statements per chunk.
 */

export const IMPORT_JOB = 'imports.run';
/** Rows per batch: one import_errors insert and one progress update each; ingestion runs in chunks of its MAX_BATCH. */
export const BATCH_ROWS = 5_000;

export interface ImportCtx {
  db: Database;
  config: Config;
  tenantId: string;
  actor: string;
  requestId?: string | null;
  log?: Pick<FastifyBaseLogger, 'error' | 'warn'>;
  /** the job queue; without one (tests, CLI) the import runs in this process */
  jobs?: JobQueue;
}

export interface ImportStatusView {
  id: string;
  type: ImportType;
  status: repo.ImportStatus;
  dry_run: boolean;
  file_name: string | null;
  format: 'csv' | 'xlsx';
  encoding: string | null;
  delimiter: string | null;
  mapping: Record<string, string | null>;
  ignored_columns: string[];
  total_rows: number;
  processed_rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  errors_url: string | null;
  error: { code: string; message: string } | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export function importDir(config: Config): string {
  return path.join(config.dataDir, 'imports');
}

/** Where an upload is written before its import row exists (the id is chosen first). */
export async function newUploadPath(config: Config): Promise<{ id: string; filePath: string }> {
  const dir = importDir(config);
  await fs.promises.mkdir(dir, { recursive: true });
  const id = randomUUID();
  return { id, filePath: path.join(dir, id) };
}

export function toView(row: repo.ImportRow): ImportStatusView {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    dry_run: row.dry_run,
    file_name: row.file_name,
    format: row.file_format,
    encoding: row.encoding,
    delimiter: row.delimiter,
    mapping: row.mapping.mapping ?? {},
    ignored_columns: row.mapping.ignored ?? [],
    total_rows: row.total_rows,
    processed_rows: row.processed_rows,
    created: row.created,
    updated: row.updated,
    unchanged: row.unchanged,
    rejected: row.rejected,
    errors_url: row.rejected > 0 ? `/api/crm/imports/${row.id}/errors` : null,
    error: row.error_code ? { code: row.error_code, message: row.error_message ?? '' } : null,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
  };
}

export interface CreateImportInput {
  id: string;
  type: ImportType;
  /** the file, already written (it is moved into DATA_DIR/imports when it is elsewhere) */
  filePath: string;
  fileName?: string | null;
  dryRun?: boolean;
  mapping?: Record<string, string | null>;
  encoding?: Encoding;
  delimiter?: string;
  /** run the job here and wait for it (CLI); default: queue it */
  wait?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** false: every row through the per-event ingestion path, as before the bulk path (tests, profiling); default true */
  bulk?: boolean;
}

/**
 * Inspects the file and queues its import; answers the import as queued. A file rejected here
 * (binary, not CSV/XLSX, zip bomb, unknown encoding, no identity column) is deleted, nothing is written.
 */
export async function createImport(ctx: ImportCtx, input: CreateImportInput): Promise<ImportStatusView> {
  let info: FileInfo;
  let resolved;
  let bytes: number;
  try {
    bytes = (await fs.promises.stat(input.filePath)).size;
    if (bytes > ctx.config.importMaxFileBytes) {
      throw new AppError('payload_too_large', `the file is larger than IMPORT_MAX_FILE_BYTES (${ctx.config.importMaxFileBytes} bytes)`);
    }
    info = await inspectFile(input.filePath, { encoding: input.encoding, delimiter: input.delimiter });
    resolved = resolveMapping(input.type, info.headers, input.mapping ?? {});
  } catch (err) {
    await fs.promises.rm(input.filePath, { force: true });
    throw err;
  }
  const row = await repo.insertImport(ctx.db, {
    id: input.id,
    tenant_id: ctx.tenantId,
    type: input.type,
    dry_run: input.dryRun ?? false,
    file_name: input.fileName ?? null,
    file_path: input.filePath,
    file_format: info.format,
    file_bytes: bytes,
    encoding: info.encoding,
    delimiter: info.delimiter,
    mapping: { headers: info.headers, ...resolved },
    actor: ctx.actor,
  });
  const deps = { db: ctx.db, config: ctx.config, log: ctx.log };
  if (input.wait) {
    await runImport(deps, ctx.tenantId, row.id, { onProgress: input.onProgress, bulk: input.bulk });
    return getImport(ctx, row.id);
  }
  if (ctx.jobs) {
    await ctx.jobs.send(IMPORT_JOB, { tenant_id: ctx.tenantId, import_id: row.id }, { retryLimit: 3, retryDelay: 30, expireInSeconds: 6 * 3600 });
  } else {
    // no job queue in this process (tests, an API without worker wiring): run it here, detached
    void runImport(deps, ctx.tenantId, row.id).catch((err) => ctx.log?.error({ err, importId: row.id }, 'import failed'));
  }
  return toView(row);
}

export async function getImport(ctx: Pick<ImportCtx, 'db' | 'tenantId'>, id: string): Promise<ImportStatusView> {
  const row = await repo.findImport(ctx.db, ctx.tenantId, id);
  if (!row) throw new AppError('import_not_found', `import ${id} was not found`, { id });
  return toView(row);
}

/** The rejected rows as CSV: row_number, reason, then the row's own columns; streamed page by page. */
export async function importErrorsCsv(ctx: Pick<ImportCtx, 'db' | 'tenantId'>, id: string): Promise<{ fileName: string; stream: Readable }> {
  const row = await repo.findImport(ctx.db, ctx.tenantId, id);
  if (!row) throw new AppError('import_not_found', `import ${id} was not found`, { id });
  const headers = row.mapping.headers ?? [];
  const { db, tenantId } = ctx;
  async function* lines(): AsyncGenerator<string> {
    yield UTF8_BOM + csvRow(['row_number', 'reason', ...headers]);
    let after = 0;
    for (;;) {
      const page = await repo.listErrors(db, tenantId, id, after, 5000);
      if (page.length === 0) return;
      yield page.map((e) => {
        const raw = e.raw ?? {};
        const extra = Object.keys(raw).filter((k) => !headers.includes(k));
        return csvRow([e.row_number, e.reason, ...headers.map((h) => raw[h] ?? ''), ...extra.map((k) => raw[k])]);
      }).join('');
      after = page[page.length - 1].row_number;
    }
  }
  return { fileName: `import-${id}-errors.csv`, stream: Readable.from(lines(), { objectMode: false, encoding: 'utf8' }) };
}

// ---------------------------------------------------------------------------------------------
// The job

export interface RunDeps {
  db: Database;
  config: Config;
  log?: Pick<FastifyBaseLogger, 'error' | 'warn'>;
}

/**
 * Runs (or resumes) an import: scan, then batches. A file-level problem fails the import before the
 * first write. When the process dies mid-import, pg-boss runs the job again: it resumes after the last
 * recorded batch, and rows of the interrupted batch that were applied come back from ingestion as
 * duplicates (same event ids), so nothing is applied twice.
 */
export async function runImport(
  deps: RunDeps,
  tenantId: string,
  id: string,
  opts: { onProgress?: (done: number, total: number) => void; bulk?: boolean } = {},
): Promise<void> {
  const { db } = deps;
  const imp = await repo.startImport(db, tenantId, id);
  if (!imp) return;
  const fail = async (code: string, message: string) => {
    await db.transaction(async (tx) => {
      const done = await repo.finishImport(tx, tenantId, id, { status: 'failed', errorCode: code, errorMessage: message });
      await recordAudit(tx, {
        tenantId, actor: imp.actor, action: 'import.fail', entityType: 'import', entityId: id,
        after: { type: imp.type, dry_run: imp.dry_run, file_name: imp.file_name, error: { code, message }, processed_rows: done?.processed_rows ?? 0 },
      });
    });
    if (imp.file_path) await fs.promises.rm(imp.file_path, { force: true });
  };
  if (!imp.file_path || !fs.existsSync(imp.file_path)) {
    await fail('import_file_missing', 'the uploaded file is gone (the data directory was cleaned?); upload it again');
    return;
  }
  const info: FileInfo = { format: imp.file_format, encoding: imp.encoding as Encoding | null, delimiter: imp.delimiter, headers: imp.mapping.headers };
  try {
    // 1. Scan: every file-level problem surfaces here, before any write.
    let total = 0;
    for await (const _row of readRows(imp.file_path, info)) total++;
    await repo.setTotalRows(db, tenantId, id, total);
    opts.onProgress?.(imp.processed_rows, total);

    // 2. Apply, batch by batch, resuming after processed_rows; the batches look rows up by key.
    if (!imp.dry_run) await repo.analyzeLookupTables(db);
    const tenant = await findTenant(db, tenantId);
    if (!tenant) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`);
    const state: BatchState = { seen: new Set() };
    let index = 0;
    let batch: FileRow[] = [];
    let written = 0;
    let analyzeAt = BATCH_ROWS;
    const flush = async (rows: FileRow[], processedRows: number) => {
      const outcome = await applyBatch(deps, imp, tenant.currency, rows, state, opts.bulk !== false);
      await repo.recordBatch(db, tenantId, id, { processedRows, ...outcome });
      written += outcome.created;
      if (!imp.dry_run && written >= analyzeAt) {
        // the table grew by as much as it had at the last ANALYZE: a few times per import (5k, 10k, 20k … rows)
        await repo.analyzeLookupTables(db);
        analyzeAt = written * 2;
      }
      opts.onProgress?.(processedRows, total);
    };
    // The next batch is read and parsed while the previous one is written (one batch in flight: batches
    // are applied and recorded in file order, memory stays at two batches).
    let inFlight: Promise<void> | null = null;
    const next = async (rows: FileRow[], processedRows: number) => {
      if (inFlight) await inFlight;
      inFlight = flush(rows, processedRows);
      // awaited before the next batch or at the end; no unhandled rejection while the file is read meanwhile
      inFlight.catch(() => undefined);
    };
    for await (const row of readRows(imp.file_path, info)) {
      index++;
      if (index <= imp.processed_rows) continue;
      batch.push(row);
      if (batch.length >= BATCH_ROWS) {
        await next(batch, index);
        batch = [];
      }
    }
    if (batch.length > 0) await next(batch, index);
    if (inFlight) await inFlight;
  } catch (err) {
    if (err instanceof AppError) {
      await fail(err.code, err.message);
      return;
    }
    // Not the file's fault (the database went away…): the batches before are applied and recorded;
    // the import ends as failed rather than hanging in `running`. A crashed process (no catch) is
    // different: pg-boss runs the job again and it resumes after the last recorded batch.
    deps.log?.error({ err, importId: id }, 'import interrupted');
    const done = await repo.findImport(db, tenantId, id).catch(() => undefined);
    // the cause stays in the log: a driver message may carry SQL or data
    await fail('import_interrupted', `the import stopped after row ${done?.processed_rows ?? 0} on a database error; the rows before are applied, upload the file again for the rest`)
      .catch((e: unknown) => deps.log?.error({ err: e, importId: id }, 'could not mark the import failed'));
    return;
  }
  await db.transaction(async (tx) => {
    const done = await repo.finishImport(tx, tenantId, id, { status: 'completed' });
    await recordAudit(tx, {
      tenantId, actor: imp.actor, action: imp.dry_run ? 'import.dry_run' : 'import.complete', entityType: 'import', entityId: id,
      after: done && {
        type: done.type, dry_run: done.dry_run, file_name: done.file_name, total_rows: done.total_rows,
        created: done.created, updated: done.updated, unchanged: done.unchanged, rejected: done.rejected,
      },
    });
  });
  await fs.promises.rm(imp.file_path, { force: true });
}

interface BatchState {
  /** dry run only: hashed identifiers (and order ids) of earlier rows; numbers, to keep a big file's set small */
  seen: Set<number>;
}

interface BatchOutcome {
  created: number;
  updated: number;
  unchanged: number;
  errors: repo.RowError[];
}

type Ok = { row: FileRow; c: Extract<Converted, { ok: true }> };

/**
 * A row of a person not known yet, as ingestion events: user.registered with `source: import` (it
 * creates the profile in one write and reads nothing back) plus, only when the row sets them, a
 * customer.updated for customer_type and status (which registration does not carry).
 */
function registrationEvents(update: Record<string, unknown>): Record<string, unknown>[] {
  const changes = ((update.data as { changes?: Record<string, unknown> }).changes ?? {});
  const data: Record<string, unknown> = { source: 'import' };
  for (const f of REGISTRATION_FIELDS) if (changes[f] !== undefined) data[f] = changes[f];
  if (changes.consent) data.consent = changes.consent;
  const events: Record<string, unknown>[] = [{ ...update, type: 'user.registered', data }];
  const rest: Record<string, unknown> = {};
  if (changes.customer_type !== undefined) rest.customer_type = changes.customer_type;
  if (changes.status !== undefined) rest.status = changes.status;
  if (Object.keys(rest).length) events.push({ ...update, id: `${String(update.id)}:type`, type: 'customer.updated', data: { changes: rest } });
  return events;
}

/**
 * Normalized identity keys of a row (as identity resolution compares them), hashed. `memo` keeps the
 * normalized phones (libphonenumber, some 30 µs a number) for the bulk path's validation of the row.
 */
function identityKeys(config: Config, c: Extract<Converted, { ok: true }>, memo?: ContactMemo) {
  const ext = (c.event.customer as { external_id: string | null }).external_id;
  const email = c.email ? normalizeEmail(c.email) : null;
  const phone = c.phone ? normalizePhone(c.phone, config.defaultPhoneRegion) : null;
  // normalizePhone trims, and so does the validation before it looks the memo up
  if (memo && c.phone && c.phone.trim()) memo.phones.set(c.phone.trim(), phone);
  const hashes = [ext && hashKey(`x|${ext}`), email && hashKey(`e|${email}`), phone && hashKey(`p|${phone}`)].filter((h): h is number => typeof h === 'number');
  return { ext, email, phone, hashes };
}

/** Concurrent ingestion chunks of a batch: the API and PostgreSQL overlap (2 fill a 2-core machine). */
export const LANES = 2;

/**
 * Splits rows into lanes: rows linked by a shared key (union-find) form a group that goes to one lane
 * whole, in file order; groups go to the lane with the fewest events so far.
 */
export function splitLanes(links: number[][], weights: number[], lanes: number): number[][] {
  const parent = links.map((_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const firstOf = new Map<number, number>();
  links.forEach((keys, i) => {
    for (const k of keys) {
      const j = firstOf.get(k);
      if (j === undefined) firstOf.set(k, i);
      else {
        const a = find(i);
        const b = find(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  });
  const out: number[][] = Array.from({ length: lanes }, () => []);
  const load = new Array<number>(lanes).fill(0);
  const laneOf = new Map<number, number>();
  links.forEach((_, i) => {
    const root = find(i);
    let lane = laneOf.get(root);
    if (lane === undefined) {
      lane = load.indexOf(Math.min(...load));
      laneOf.set(root, lane);
    }
    out[lane].push(i);
    load[lane] += weights[i];
  });
  return out.filter((l) => l.length > 0);
}

async function applyBatch(deps: RunDeps, imp: repo.ImportRow, currency: string, rows: FileRow[], state: BatchState, bulk: boolean): Promise<BatchOutcome> {
  const { db, config } = deps;
  const tenantId = imp.tenant_id;
  const headers = imp.mapping.headers;
  const columns = imp.mapping.columns;
  const ctx = { importId: imp.id, at: (imp.started_at ?? new Date()).toISOString(), headerCount: imp.file_format === 'csv' ? headers.length : null };
  const out: BatchOutcome = { created: 0, updated: 0, unchanged: 0, errors: [] };
  const reject = (row: FileRow, reason: string) => out.errors.push({ rowNumber: row.rowNumber, reason, raw: rawOf(headers, row.cells) });

  const ok: Ok[] = [];
  for (const row of rows) {
    const c = imp.type === 'customers' ? customerEvent(ctx, columns, row) : orderEvent({ ...ctx, currency }, columns, row);
    if (c.ok) ok.push({ row, c });
    else reject(row, c.reason);
  }
  if (imp.type === 'customers') await withholdSuppressedConsent(db, config, tenantId, ok.map((o) => o.c));

  if (imp.dry_run) {
    await countDryRun(db, config, tenantId, imp.type, ok, state, out, reject);
    return out;
  }

  // The events of each row: customers known (in the database or earlier in this batch) are updated
  // (their row overwrites), new ones registered; orders are one event each.
  const eventsOf: Record<string, unknown>[][] = ok.map((o) => [o.c.event]);
  const viaIngestion = ok.map(() => true);
  // what links rows to one person (or one order): rows sharing any of these stay in one lane, in file order
  let links: number[][];
  if (imp.type === 'customers') {
    const memo = newContactMemo();
    const keys = ok.map((o) => identityKeys(config, o.c, memo));
    // Bulk: a row naming a person that no other row of the batch names goes to the bulk path
    // (imports.bulk.ts) without a look-up here: it looks its rows up under its locks and writes the new
    // people set-based. A person with several rows in the batch stays on the ingestion path, whose one
    // transaction folds the rows' changes into one customer.updated, as do the rows it hands back.
    const rowsWith = new Map<number, number>();
    for (const k of keys) for (const h of k.hashes) rowsWith.set(h, (rowsWith.get(h) ?? 0) + 1);
    const direct = bulk ? ok.map((_, i) => i).filter((i) => keys[i].hashes.every((h) => rowsWith.get(h) === 1)) : [];
    const isDirect = new Set(direct);
    const lookup = ok.map((_, i) => i).filter((i) => !isDirect.has(i));
    const found = await repo.matchIdentities(db, tenantId, {
      externalIds: lookup.map((i) => keys[i].ext).filter((x): x is string => !!x),
      emails: lookup.map((i) => keys[i].email).filter((x): x is string => !!x),
      phones: lookup.map((i) => keys[i].phone).filter((x): x is string => !!x),
    });
    const inBatch = new Set<number>();
    for (const i of lookup) {
      const k = keys[i];
      const known = (k.ext && found.externalIds.has(k.ext)) || (k.email && found.emails.has(k.email)) || (k.phone && found.phones.has(k.phone))
        || k.hashes.some((h) => inBatch.has(h));
      if (!known) eventsOf[i] = registrationEvents(ok[i].c.event);
      for (const h of k.hashes) inBatch.add(h);
    }
    links = keys.map((k) => k.hashes);
    if (direct.length > 0) {
      for (const i of direct) eventsOf[i] = registrationEvents(ok[i].c.event);
      const r = await applyNewCustomers(deps, { tenantId, actor: imp.actor }, direct.map((i) => ({ row: i, events: eventsOf[i] })), memo);
      out.created += r.applied.length;
      for (const i of r.applied) viaIngestion[i] = false;
      // rows of people a live customer has an identifier of (the bulk path looked): updates, as above
      for (const i of r.known) eventsOf[i] = [ok[i].c.event];
    }
  } else {
    // partitioning only: the raw values are close enough (a person written two ways just waits on its locks)
    links = ok.map(({ c }) => [
      hashKey(`o|${c.orderId}`),
      ...[(c.event.customer as { external_id: string | null }).external_id, c.email?.toLowerCase(), c.phone?.replace(/\D/g, '')]
        .filter((v): v is string => !!v).map((v) => hashKey(v)),
    ]);
  }

  const since = await repo.clockNow(db);
  const existing = imp.type === 'orders' ? await repo.existingOrders(db, tenantId, ok.map((o) => o.c.orderId!)) : new Set<string>();
  const accepted: { customerId: string; orderId?: string }[] = [];
  // Lanes run concurrently (ingestion is safe under concurrency: advisory locks, retried deadlocks);
  // each applies its rows in file order, in chunks of at most MAX_BATCH events, a row's events in one chunk.
  const runLane = async (lane: number[]) => {
    let i = 0;
    while (i < lane.length) {
      const rowsOfChunk: number[] = [];
      const events: Record<string, unknown>[] = [];
      while (i < lane.length && events.length + eventsOf[lane[i]].length <= MAX_BATCH) {
        rowsOfChunk.push(lane[i]);
        events.push(...eventsOf[lane[i]]);
        i++;
      }
      const result = await ingestAndSegment(db, { tenantId, config, actor: imp.actor, log: deps.log, enrollWorkflows: false }, events);
      let k = 0;
      for (const r of rowsOfChunk) {
        const results = result.results.slice(k, k + eventsOf[r].length);
        k += eventsOf[r].length;
        const bad = results.find((x) => x.status === 'rejected');
        if (bad) reject(ok[r].row, bad.reason ?? bad.code ?? 'rejected');
        else if (results.every((x) => x.status === 'duplicate')) out.unchanged++;
        else if (results[0].customer_id) accepted.push({ customerId: results[0].customer_id, orderId: ok[r].c.orderId });
      }
    }
  };
  // allSettled: when one lane fails, the other still finishes its chunk before the batch is given up
  const rest = ok.map((_, i) => i).filter((i) => viaIngestion[i]);
  const lanes = splitLanes(rest.map((i) => links[i]), rest.map((i) => eventsOf[i].length), LANES).map((lane) => lane.map((j) => rest[j]));
  const settled = await Promise.allSettled(lanes.map(runLane));
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  out.errors.sort((a, b) => a.rowNumber - b.rowNumber);

  if (imp.type === 'customers') {
    // created by this batch (created_at after its start), counted once; every other row is an update
    const created = await repo.createdSince(db, tenantId, [...new Set(accepted.map((a) => a.customerId))], since);
    const counted = new Set<string>();
    for (const a of accepted) {
      if (created.has(a.customerId) && !counted.has(a.customerId)) out.created++;
      else out.updated++;
      counted.add(a.customerId);
    }
  } else {
    const seenOrders = new Set<string>();
    for (const a of accepted) {
      if (existing.has(a.orderId!) || seenOrders.has(a.orderId!)) out.updated++;
      else out.created++;
      seenOrders.add(a.orderId!);
    }
  }
  return out;
}

/**
 * An import never grants marketing consent to a suppressed address (unsubscribed, bounced, erased):
 * such a grant is dropped from the row (a withdrawal stays).
 */
async function withholdSuppressedConsent(db: Database, config: Config, tenantId: string, converted: Extract<Converted, { ok: true }>[]): Promise<void> {
  const granting = converted.filter((c) => {
    const consent = (c.event.data as { changes?: { consent?: Record<string, boolean> } }).changes?.consent;
    return consent && (consent.marketing_email === true || consent.marketing_sms === true);
  });
  if (granting.length === 0) return;
  const emailOf = (c: Extract<Converted, { ok: true }>) => normalizeEmail(c.email);
  const phoneOf = (c: Extract<Converted, { ok: true }>) => (c.phone ? normalizePhone(c.phone, config.defaultPhoneRegion) : null);
  const emails = await findSuppressed(db, tenantId, 'email', granting.map(emailOf).filter((e): e is string => e !== null));
  const phones = await findSuppressed(db, tenantId, 'sms', granting.map(phoneOf).filter((p): p is string => p !== null));
  for (const c of granting) {
    const changes = (c.event.data as { changes: Record<string, unknown> }).changes;
    const consent = changes.consent as Record<string, boolean>;
    const email = emailOf(c);
    const phone = phoneOf(c);
    if (consent.marketing_email === true && email && emails.has(email)) delete consent.marketing_email;
    if (consent.marketing_sms === true && phone && phones.has(phone)) delete consent.marketing_sms;
    if (Object.keys(consent).length === 0) delete changes.consent;
    if (Object.keys(changes).length === 0) {
      c.event.type = 'user.registered';
      c.event.data = {};
    }
  }
}

/**
 * Dry run: a row is `updated` when its external id, e-mail or phone matches a live customer (or an
 * earlier row of the file), else `created`; nothing is written. Values the ingestion would refuse
 * (an invalid e-mail or phone) are rejected here with the same rule.
 */
async function countDryRun(
  db: Database,
  config: Config,
  tenantId: string,
  type: ImportType,
  ok: Ok[],
  state: BatchState,
  out: BatchOutcome,
  reject: (row: FileRow, reason: string) => void,
): Promise<void> {
  const keys = ok.map(({ row, c }) => ({ row, c, ...identityKeys(config, c) }));
  const found = await repo.matchIdentities(db, tenantId, {
    externalIds: keys.map((k) => k.ext).filter((x): x is string => !!x),
    emails: keys.map((k) => k.email).filter((x): x is string => !!x),
    phones: keys.map((k) => k.phone).filter((x): x is string => !!x),
  });
  const orders = type === 'orders' ? await repo.existingOrders(db, tenantId, keys.map((k) => k.c.orderId!)) : new Set<string>();
  for (const k of keys) {
    if (k.c.email && !k.email) {
      reject(k.row, `"${k.c.email}" is not a valid e-mail address`);
      continue;
    }
    if (k.c.phone && !k.phone) {
      reject(k.row, `"${k.c.phone}" is not a valid phone number`);
      continue;
    }
    if (type === 'orders') {
      const h = hashKey(`o|${k.c.orderId}`);
      if (orders.has(k.c.orderId!) || state.seen.has(h)) out.updated++;
      else out.created++;
      state.seen.add(h);
      continue;
    }
    const known = (k.ext && found.externalIds.has(k.ext)) || (k.email && found.emails.has(k.email)) || (k.phone && found.phones.has(k.phone))
      || k.hashes.some((h) => state.seen.has(h));
    if (known) out.updated++;
    else out.created++;
    for (const h of k.hashes) state.seen.add(h);
  }
}
