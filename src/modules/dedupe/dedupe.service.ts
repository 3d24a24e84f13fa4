import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { enrichLocally } from '../enrichment/enrichment.service.js';
import * as repo from './dedupe.repository.js';
import type { DedupeSettings } from './dedupe.repository.js';
import { mergeCustomers } from './merge.service.js';

export interface DedupeCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  actor: string;
  requestId?: string | null;
}

/** Seed 001's `duplicate_detection` (fields email + phone, fuzzy_match on) and our defaults for the rest. */
export const DEFAULT_SETTINGS: DedupeSettings = {
  fields: ['email', 'phone'],
  fuzzy_match: true,
  fuzzy_fields: ['city', 'date_of_birth', 'phone_suffix'],
  name_similarity: 0.6,
  min_score: 0.5,
  auto_merge_exact_email: false,
};

/** Stored settings over the defaults; a key stored by an older version that is no longer valid is ignored. */
function withDefaults(stored: unknown): DedupeSettings {
  const s = (stored && typeof stored === 'object' ? stored : {}) as Partial<DedupeSettings>;
  const pick = <K extends keyof DedupeSettings>(k: K, ok: (v: unknown) => boolean): DedupeSettings[K] =>
    (ok(s[k]) ? s[k] : DEFAULT_SETTINGS[k]) as DedupeSettings[K];
  return {
    fields: pick('fields', Array.isArray),
    fuzzy_match: pick('fuzzy_match', (v) => typeof v === 'boolean'),
    fuzzy_fields: pick('fuzzy_fields', Array.isArray),
    name_similarity: pick('name_similarity', (v) => typeof v === 'number'),
    min_score: pick('min_score', (v) => typeof v === 'number'),
    auto_merge_exact_email: pick('auto_merge_exact_email', (v) => typeof v === 'boolean'),
  };
}

export async function loadSettings(db: Executor, tenantId: string): Promise<DedupeSettings> {
  return withDefaults(await repo.readSettings(db, tenantId));
}

export async function getSettings(ctx: DedupeCtx): Promise<DedupeSettings> {
  return loadSettings(ctx.db, ctx.tenantId);
}

/** PUT: the whole settings object; keys not given take their defaults. */
export async function putSettings(ctx: DedupeCtx, input: Partial<DedupeSettings>): Promise<DedupeSettings> {
  const next: DedupeSettings = {
    ...DEFAULT_SETTINGS,
    ...input,
    fields: [...new Set(input.fields ?? DEFAULT_SETTINGS.fields)],
    fuzzy_fields: [...new Set(input.fuzzy_fields ?? DEFAULT_SETTINGS.fuzzy_fields)],
  };
  if (next.fields.length === 0 && !next.fuzzy_match) {
    throw new AppError('validation_failed', 'with no fields and fuzzy_match off nothing would ever be detected', { field: 'fields' });
  }
  if (next.fuzzy_match && next.fuzzy_fields.length === 0) {
    throw new AppError('validation_failed', 'fuzzy_match needs at least one of fuzzy_fields to corroborate a similar name', { field: 'fuzzy_fields' });
  }
  return ctx.db.transaction(async (tx) => {
    const before = await loadSettings(tx, ctx.tenantId);
    await repo.writeSettings(tx, ctx.tenantId, next);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'duplicate_settings.update', entityType: 'tenant_settings',
      entityId: 'duplicate_detection', before, after: next, requestId: ctx.requestId ?? null,
    });
    return next;
  });
}

// ---------------------------------------------------------------------------------------------
// Candidates

export interface CandidateView {
  id: string;
  score: number;
  reasons: string[];
  status: repo.CandidateRow['status'];
  customers: repo.CustomerSummary[];
  detected_at: Date;
  updated_at: Date;
  resolved_by: string | null;
  resolved_at: Date | null;
}

async function withCustomers(db: Executor, tenantId: string, rows: repo.CandidateRow[]): Promise<CandidateView[]> {
  const summaries = await repo.summariesOf(db, tenantId, rows.flatMap((r) => [r.customer_a, r.customer_b]));
  return rows.map((r) => ({
    id: r.id,
    score: Number(r.score),
    reasons: r.reasons,
    status: r.status,
    customers: [summaries.get(r.customer_a)!, summaries.get(r.customer_b)!],
    detected_at: r.detected_at,
    updated_at: r.updated_at,
    resolved_by: r.resolved_by,
    resolved_at: r.resolved_at,
  }));
}

export async function listDuplicates(
  ctx: DedupeCtx,
  q: { status?: 'open' | 'dismissed' | 'merged'; min_score?: number; customer_id?: string; limit?: number; cursor?: string },
): Promise<Page<CandidateView>> {
  const limit = q.limit ?? 50;
  let after: { score: number; id: string } | undefined;
  if (q.cursor) {
    const [score, id] = readCursor(q.cursor, [(v) => typeof v === 'number' && v >= 0 && v <= 1, isUuid]);
    after = { score: score as number, id: id as string };
  }
  const rows = await repo.listCandidates(ctx.db, {
    tenantId: ctx.tenantId, status: q.status ?? 'open', minScore: q.min_score ?? 0, customerId: q.customer_id, limit: limit + 1, after,
  });
  const page = pageOf(rows, limit, (r) => r, (r) => [Number(r.score), r.id]);
  return { data: await withCustomers(ctx.db, ctx.tenantId, page.data), next_cursor: page.next_cursor };
}

async function requireCandidate(db: Executor, tenantId: string, id: string, forUpdate = false): Promise<repo.CandidateRow> {
  const row = isUuid(id) ? await repo.findCandidate(db, tenantId, id, { forUpdate }) : undefined;
  if (!row) throw new AppError('duplicate_not_found', `duplicate candidate ${id} was not found`, { id });
  return row;
}

export async function getDuplicate(ctx: DedupeCtx, id: string): Promise<CandidateView> {
  return (await withCustomers(ctx.db, ctx.tenantId, [await requireCandidate(ctx.db, ctx.tenantId, id)]))[0];
}

/** Marks a pair as "not the same person": later scans keep it dismissed. Idempotent. */
export async function dismissDuplicate(ctx: DedupeCtx, id: string): Promise<CandidateView> {
  return ctx.db.transaction(async (tx) => {
    const row = await requireCandidate(tx, ctx.tenantId, id, true);
    if (row.status === 'merged') throw new AppError('conflict', `duplicate candidate ${id} was merged already`, { id, status: row.status });
    if (row.status === 'dismissed') return (await withCustomers(tx, ctx.tenantId, [row]))[0];
    const updated = await repo.setCandidateStatus(tx, ctx.tenantId, row.id, 'dismissed', ctx.actor);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'duplicate.dismiss', entityType: 'duplicate_candidate', entityId: row.id,
      before: { status: row.status }, after: { status: updated.status }, requestId: ctx.requestId ?? null,
    });
    return (await withCustomers(tx, ctx.tenantId, [updated]))[0];
  });
}

// ---------------------------------------------------------------------------------------------
// Full scan (job) and incremental checks

export interface JobDeps {
  db: Executor;
  config: Config;
  jobs?: JobQueue;
  log?: Pick<FastifyBaseLogger, 'error'>;
}

/**
 * Sends a job to the queue; a process without a queue (tests, embedded tools) runs it right
 * here in the background instead. Either way the caller answers 202 and the job's row tells the rest.
 */
export async function dispatchJob(deps: JobDeps, name: string, data: object, run: () => Promise<unknown>): Promise<void> {
  if (deps.jobs) {
    await deps.jobs.send(name, data, { retryLimit: 2 });
    return;
  }
  setImmediate(() => {
    run().catch((err) => deps.log?.error({ err, job: name }, 'background job failed'));
  });
}

export async function startScan(ctx: DedupeCtx, deps: JobDeps): Promise<repo.ScanRow> {
  const scan = await ctx.db.transaction(async (tx) => {
    const row = await repo.insertScan(tx, ctx.tenantId, ctx.actor);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'duplicate_scan.create', entityType: 'duplicate_scan', entityId: row.id,
      after: { status: row.status }, requestId: ctx.requestId ?? null,
    });
    return row;
  });
  await dispatchJob(deps, 'dedupe.scan', { tenantId: ctx.tenantId, scanId: scan.id }, () => runScan(deps.db, deps.config, ctx.tenantId, scan.id));
  return scan;
}

export async function getScan(ctx: DedupeCtx, id: string): Promise<repo.ScanRow> {
  const row = isUuid(id) ? await repo.findScan(ctx.db, ctx.tenantId, id) : undefined;
  if (!row) throw new AppError('dedupe_scan_not_found', `duplicate scan ${id} was not found`, { id });
  return row;
}

/** Auto-merge groups per scan run: a tenant with many exact duplicates is merged over several runs. */
const AUTO_MERGE_GROUPS = 1000;

/** The dedupe.scan job: full detection in one transaction, then the optional auto-merge of exact e-mails. */
export async function runScan(db: Executor, config: Config, tenantId: string, scanId: string): Promise<void> {
  if (!(await repo.startScan(db, tenantId, scanId))) return;
  try {
    const settings = await loadSettings(db, tenantId);
    let autoMerged = 0;
    if (settings.auto_merge_exact_email) {
      for (const ids of await repo.exactEmailGroups(db, tenantId, AUTO_MERGE_GROUPS)) {
        try {
          await mergeCustomers({ db, config, tenantId, actor: 'job:dedupe.scan' }, ids[0], { merge_ids: ids.slice(1) });
          autoMerged += ids.length - 1;
        } catch (err) {
          // a group changed meanwhile (merged or deleted by someone else): the next scan sees it again
          if (!(err instanceof AppError)) throw err;
        }
      }
    }
    const { pairs } = await db.transaction((tx) => repo.scanAll(tx, tenantId, settings));
    await repo.finishScan(db, tenantId, scanId, { status: 'completed', pairs, autoMerged });
  } catch (err) {
    await repo.finishScan(db, tenantId, scanId, { status: 'failed', error: (err as Error).message });
    throw err;
  }
}

/**
 * The dedupe.incremental job: drains the queue of changed customers, a batch of one tenant per
 * transaction: local enrichment, then detection against the blocking-key indexes. Answers the
 * number of customers looked at.
 */
export async function processQueue(db: Executor, opts: { batch?: number; maxBatches?: number } = {}): Promise<number> {
  const batch = opts.batch ?? 1000;
  let done = 0;
  for (let i = 0; i < (opts.maxBatches ?? 50); i++) {
    const n = await db.transaction(async (tx) => {
      const taken = await repo.takeQueued(tx, batch);
      if (!taken || taken.customerIds.length === 0) return 0;
      await enrichLocally(tx, taken.tenantId, taken.customerIds);
      await repo.scanCustomers(tx, taken.tenantId, taken.customerIds, await loadSettings(tx, taken.tenantId));
      return taken.customerIds.length;
    });
    if (n === 0) break;
    done += n;
  }
  return done;
}
