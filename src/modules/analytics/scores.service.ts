import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { relaxCommit, setLocalWorkMem, type Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { insertActivities } from '../timeline/timeline.repository.js';
import * as repo from './analytics.repository.js';
import { modelFromStored } from './analytics.service.js';
import { applyVipRule } from './vip.service.js';
import { DAYS_PER_TIME_UNIT, fitClvModel, predictAll, type ClvModel, type CustomerStatistics } from './clv.model.js';
import { reevaluateCustomers } from '../segments/segments.service.js';

/** The unit the stored model and the profile scores use. */
const SCORE_TIME_UNIT = 'week' as const;
/** Timeline / outbox rows are written in slices of this many. */
const CHUNK = 5_000;

export interface RefreshResult {
  tenant_id: string;
  as_of: string;
  /** The model's status: fitted, or why there is none (p_alive / predicted_clv then stay NULL). */
  model: { status: 'fitted'; customers: number } | { status: 'unavailable'; reason: string; message: string };
  rfm_updated: number;
  clv_updated: number;
  scores_updated: number;
  lifecycle_changes: number;
  /** customers whose is_vip flag the tenant's VIP rule changed (vip.service.ts) */
  vip_changes: number;
  /** where the time went */
  timings_ms: RefreshTimings;
}

/** A full refresh writes its changes in sweeps of this many neighbouring pages (at most one row per page per transaction). */
const SWEEP_PAGES = 5_000;
/** CLV predictions are staged in statements of this many rows. */
const STAGE_ROWS = 50_000;
/** The refresh's sorts and hashes (statistics of every buyer, a few customers' aggregates) stay in memory. */
const WORK_MEM_MB = 64;
/** The whole-tenant computation hashes every customer's inputs once (~80 MB at a million customers): kept in memory. */
const COMPUTE_WORK_MEM_MB = 160;

type ClvArrays = { ids: string[]; pAlive: number[]; predicted: number[] };

/** The sufficient statistics of every buyer (or of `customerIds`) as of asOf, in the model's unit. */
async function statistics(db: Executor, tenantId: string, asOf: string, customerIds?: readonly string[]): Promise<repo.BuyerStatisticsRow[]> {
  return db.transaction(async (tx) => {
    await setLocalWorkMem(tx, WORK_MEM_MB);
    return repo.buyerStatistics(tx, tenantId, asOf, customerIds);
  });
}

function toCustomerStatistics(rows: repo.BuyerStatisticsRow[]): CustomerStatistics[] {
  const unitDays = DAYS_PER_TIME_UNIT[SCORE_TIME_UNIT];
  return rows.map((r) => ({
    customerId: r.customer_id,
    x: r.x,
    t_x: r.tx_days / unitDays,
    T: r.t_days / unitDays,
    m: r.x > 0 ? r.repeat_sum / r.x : 0,
    historic_value: r.historic,
  }));
}

/**
 * BG/NBD + Gamma-Gamma fitted on the statistics already read for scoring (weighted rows of identical
 * (x, t_x, T, repeat spend), as groupedStatistics would produce them): one pass over the orders serves both.
 */
function fitFrom(rows: repo.BuyerStatisticsRow[], asOf: string): { model: ClvModel } | { reason: string; message: string } {
  const unitDays = DAYS_PER_TIME_UNIT[SCORE_TIME_UNIT];
  const grouped = new Map<string, { x: number; t_x: number; T: number; m: number; weight: number }>();
  for (const r of rows) {
    const key = `${r.x}|${r.tx_days}|${r.t_days}|${r.repeat_sum}`;
    const g = grouped.get(key);
    if (g) g.weight++;
    else grouped.set(key, { x: r.x, t_x: r.tx_days / unitDays, T: r.t_days / unitDays, m: r.x > 0 ? r.repeat_sum / r.x : 0, weight: 1 });
  }
  const fit = fitClvModel({ customers: [...grouped.values()], asOf, timeUnit: SCORE_TIME_UNIT });
  return fit.ok ? { model: fit.model } : { reason: fit.reason, message: fit.message };
}

function predictions(config: Config, model: ClvModel | null, stats: CustomerStatistics[]): ClvArrays {
  const out: ClvArrays = { ids: [], pAlive: [], predicted: [] };
  if (!model) return out;
  const all = predictAll(model, stats, {
    horizon: config.ltvCalculationPeriodDays / DAYS_PER_TIME_UNIT[SCORE_TIME_UNIT],
    annualDiscountRate: config.clvDiscountRate,
  });
  for (const [id, p] of all) {
    if (!p.ok) continue; // a customer whose CLV cannot be evaluated keeps NULL
    out.ids.push(id);
    out.pAlive.push(p.clv.p_alive);
    out.predicted.push(p.clv.predicted_clv);
  }
  return out;
}

interface WriteResult {
  rfm: number;
  clv: number;
  written: number;
  lifecycle: number;
  changedIds: string[];
}

/**
 * What a score write did, and its consequences in the same transaction: a lifecycle.changed timeline entry and
 * a customer.lifecycle_changed outbox event per stage change.
 */
async function recordWritten(tx: Executor, tenantId: string, changed: repo.ScoreWriteRow[]): Promise<WriteResult> {
  const result: WriteResult = { rfm: 0, clv: 0, written: changed.length, lifecycle: 0, changedIds: changed.map((c) => c.id) };
  for (const c of changed) {
    if (c.rfm_changed) result.rfm++;
    if (c.clv_changed) result.clv++;
  }
  // The first classification of a customer (NULL → stage) is not a change; leaving the lifecycle
  // (stage → NULL, e.g. every order refunded) is.
  const changes = changed.filter((c) => c.old_stage !== null && c.old_stage !== c.new_stage);
  result.lifecycle = changes.length;
  const now = new Date();
  for (let i = 0; i < changes.length; i += CHUNK) {
    const slice = changes.slice(i, i + CHUNK);
    await insertActivities(tx, tenantId, slice.map((c) => ({
      customerId: c.id,
      type: 'lifecycle.changed',
      occurredAt: now,
      summary: `Lifecycle stage ${c.old_stage} → ${c.new_stage ?? 'none'}`,
      data: { old_stage: c.old_stage, new_stage: c.new_stage },
      actor: 'system',
    })));
    await enqueueEvents(tx, tenantId, slice.map((c) => ({
      type: 'customer.lifecycle_changed' as const,
      customerId: c.id,
      payload: { customer_id: c.id, old_stage: c.old_stage, new_stage: c.new_stage },
      occurredAt: now,
    })));
  }
  return result;
}

/** Writes a few customers' scores in the caller's transaction: rows locked in id order, ONE UPDATE. */
async function writeCustomers(
  tx: Executor,
  config: Config,
  tenantId: string,
  ids: readonly string[],
  cuts: readonly repo.MonetaryCut[],
  clv: ClvArrays,
): Promise<WriteResult> {
  await setLocalWorkMem(tx, WORK_MEM_MB);
  await repo.lockScope(tx, tenantId, { ids });
  const changed = await repo.writeScores(tx, tenantId, { scope: { ids }, cuts, clv: repo.clvFromArrays(clv), churnThresholdDays: config.churnThresholdDays });
  return recordWritten(tx, tenantId, changed);
}

/** Milliseconds spent in each part of a full refresh (in the result and the audit entry: where the time goes). */
export interface RefreshTimings {
  statistics: number;
  fit: number;
  predict: number;
  compute: number;
  write: number;
  vip: number;
}

/**
 * Recomputes every score of a tenant's customers, set-based:
 *  1. reads every buyer's sufficient statistics once (one pass over the orders); fits BG/NBD + Gamma-Gamma on
 *     them (as of today, tenant-local, week unit) and stores the fit (clv_models), or deletes the stored fit
 *     when the model refuses; predicts P(alive) and CLV per buyer (predictAll) and stages the predictions
 *     (score_refresh_clv);
 *  2. computes and stores the monetary quintile cuts (customer_score_state);
 *  3. computes every customer's scores in ONE statement (customers, orders, check-ins, e-mail entries and
 *     interactions each read once, joined by hash) and stages only the customers whose values change
 *     (score_refresh_changes, with each row's version);
 *  4. writes the staged values sweep by sweep (runs of `sweepPages`, 5 000, neighbouring pages), one short
 *     transaction per line number of a sweep: at most one row per page per transaction, so the page keeps room
 *     for the new version (HOT, no index entries, thanks to the table's fillfactor), and a page's rows are
 *     written by a few consecutive transactions (logged in full once, still in the buffer cache). Rows are
 *     locked in id order, ONE UPDATE per transaction, a row written since step 3 is skipped (an ingestion's own
 *     refresh wins); lifecycle timeline entries and customer.lifecycle_changed events in the same transaction;
 *  5. is_vip from the tenant's VIP rule (one UPDATE locking just the rows whose flag changes, in id order;
 *     vip.changed timeline entries).
 * A refresh with nothing to change writes nothing. The profile's lifetime_value is left as ingestion computes
 * it (historic spend); predicted_clv sits next to it (README, "Analytics").
 */
export async function refreshScores(
  db: Executor,
  config: Config,
  tenantId: string,
  opts: { sweepPages?: number; actor?: string; requestId?: string | null } = {},
): Promise<RefreshResult> {
  const info = await repo.tenantInfo(db, tenantId);
  if (!info) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`, { id: tenantId });
  const asOf = info.today;
  const timings: RefreshTimings = { statistics: 0, fit: 0, predict: 0, compute: 0, write: 0, vip: 0 };
  let mark = performance.now();
  const lap = (part: keyof RefreshTimings) => {
    const now = performance.now();
    timings[part] += Math.round(now - mark);
    mark = now;
  };

  const rows = await statistics(db, tenantId, asOf);
  lap('statistics');
  const fitted = fitFrom(rows, asOf);
  const model = 'model' in fitted ? fitted.model : null;
  const modelStatus: RefreshResult['model'] = 'model' in fitted
    ? { status: 'fitted', customers: fitted.model.customers }
    : { status: 'unavailable', reason: fitted.reason, message: fitted.message };
  lap('fit');
  const clv = predictions(config, model, toCustomerStatistics(rows));
  lap('predict');

  const runId = randomUUID();
  const totals = { rfm: 0, clv: 0, written: 0, lifecycle: 0 };
  try {
    for (let i = 0; i < clv.ids.length; i += STAGE_ROWS) {
      await repo.stageClvPredictions(db, runId, {
        ids: clv.ids.slice(i, i + STAGE_ROWS), pAlive: clv.pAlive.slice(i, i + STAGE_ROWS), predicted: clv.predicted.slice(i, i + STAGE_ROWS),
      });
    }
    await db.transaction(async (tx) => {
      if (model) await repo.saveModel(tx, tenantId, storedFit(model, asOf));
      else await repo.deleteModel(tx, tenantId, SCORE_TIME_UNIT);
      await setLocalWorkMem(tx, COMPUTE_WORK_MEM_MB);
      const cuts = await repo.computeMonetaryCuts(tx, tenantId);
      await repo.saveMonetaryCuts(tx, tenantId, cuts);
      await repo.stageScoreChanges(tx, tenantId, runId, { cuts, churnThresholdDays: config.churnThresholdDays, sweepPages: opts.sweepPages ?? SWEEP_PAGES });
    });
    lap('compute');

    for (let after: repo.ScoreChangeKey | null = null; ;) {
      const step = await db.transaction(async (tx) => {
        // scores are recomputed by every run: a slice need not wait for its commit to reach the disk
        await relaxCommit(tx);
        const { written, last } = await repo.applyScoreChanges(tx, tenantId, runId, after);
        return { last, ...(await recordWritten(tx, tenantId, written)) };
      });
      totals.rfm += step.rfm;
      totals.clv += step.clv;
      totals.written += step.written;
      totals.lifecycle += step.lifecycle;
      if (step.last === null) break;
      after = step.last;
    }
    lap('write');
  } finally {
    await repo.dropScoreRun(db, runId);
  }

  // writeVipFlags locks just the rows it changes, in id order
  const vip = await db.transaction((tx) => applyVipRule(tx, tenantId));
  lap('vip');
  const result: RefreshResult = {
    tenant_id: tenantId,
    as_of: asOf,
    model: modelStatus,
    rfm_updated: totals.rfm,
    clv_updated: totals.clv,
    scores_updated: totals.written,
    lifecycle_changes: totals.lifecycle,
    vip_changes: vip.became_vip + vip.lost_vip,
    timings_ms: timings,
  };
  // The refresh commits slice by slice; its audit entry records the whole run once it is done.
  await recordAudit(db, {
    tenantId, actor: opts.actor ?? 'job:analytics.refresh_scores', requestId: opts.requestId ?? null,
    action: 'scores.refresh', entityType: 'tenant', entityId: tenantId, before: null, after: { ...result },
  });
  return result;
}

function storedFit(model: ClvModel, asOf: string): Omit<repo.StoredModelRow, 'fitted_at'> {
  return {
    time_unit: SCORE_TIME_UNIT,
    as_of: asOf,
    params: {
      bgnbd: { r: model.bgnbd.r, alpha: model.bgnbd.alpha, a: model.bgnbd.a, b: model.bgnbd.b },
      gamma_gamma: {
        p: model.gamma_gamma.p, q: model.gamma_gamma.q, v: model.gamma_gamma.v,
        log_likelihood: model.gamma_gamma.log_likelihood, customers: model.gamma_gamma.customers,
      },
      repeat_customers: model.repeat_customers,
    },
    log_likelihood: model.bgnbd.log_likelihood,
    customers: model.customers,
  };
}

export interface CustomersRefreshResult {
  customers: number;
  scores_updated: number;
  lifecycle_changes: number;
  segments_entered: number;
  segments_exited: number;
}

/**
 * Refreshes the scores of just these customers (after an ingestion changed their data), in the caller's
 * transaction: the model parameters and monetary quintiles stay as the last full refresh left them (a tenant
 * never fully refreshed gets its quintiles computed now; without a stored model P(alive) and CLV are NULL,
 * as in a full refresh without one). RFM recency and frequency, churn, lifecycle and engagement follow the
 * new data. Customers whose scores changed are then re-evaluated against the auto-update segments (rules
 * may name the scores). The VIP flag waits for the next full refresh (it ranks the whole tenant).
 */
export async function refreshCustomerScores(tx: Executor, config: Config, tenantId: string, customerIds: readonly string[]): Promise<CustomersRefreshResult> {
  const ids = [...new Set(customerIds.map((id) => id.toLowerCase()))].sort();
  const none = { customers: 0, scores_updated: 0, lifecycle_changes: 0, segments_entered: 0, segments_exited: 0 };
  if (ids.length === 0) return none;
  const info = await repo.tenantInfo(tx, tenantId);
  if (!info) return none;
  const stored = await repo.storedModel(tx, tenantId, SCORE_TIME_UNIT);
  const model = stored ? modelFromStored(stored) : null;
  const rows = model ? await statistics(tx, tenantId, info.today, ids) : [];
  const clv = predictions(config, model, toCustomerStatistics(rows));
  let cuts = await repo.storedMonetaryCuts(tx, tenantId);
  if (!cuts) {
    cuts = await repo.computeMonetaryCuts(tx, tenantId);
    await repo.saveMonetaryCuts(tx, tenantId, cuts);
  }
  const r = await writeCustomers(tx, config, tenantId, ids, cuts, clv);
  const seg = r.changedIds.length ? await reevaluateCustomers(tx, tenantId, r.changedIds) : { entered: 0, exited: 0 };
  return { customers: ids.length, scores_updated: r.written, lifecycle_changes: r.lifecycle, segments_entered: seg.entered, segments_exited: seg.exited };
}

/**
 * The ticker after ingestion: takes queued customers (up to `limit` per transaction, oldest first) and
 * refreshes their scores, tenant by tenant, until the queue is empty. Queueing dedupes a customer that several
 * batches touched, and the few seconds between ticks act as the debounce. Answers how many were refreshed.
 */
export async function refreshQueuedScores(db: Executor, config: Config, opts: { limit?: number; tenantId?: string } = {}): Promise<number> {
  let done = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const claimed = await repo.claimQueuedScores(tx, opts.limit ?? 2_000, opts.tenantId);
      const byTenant = new Map<string, string[]>();
      for (const c of claimed) {
        const list = byTenant.get(c.tenant_id);
        if (list) list.push(c.customer_id);
        else byTenant.set(c.tenant_id, [c.customer_id]);
      }
      for (const tenantId of [...byTenant.keys()].sort()) await refreshCustomerScores(tx, config, tenantId, byTenant.get(tenantId)!);
      return claimed.length;
    });
    done += n;
    if (n === 0) return done;
  }
}

/** The scheduled refresh: every tenant in turn (one tenant's failure does not stop the others). */
export async function refreshAllScores(db: Executor, config: Config, log?: (err: unknown, tenantId: string) => void): Promise<number> {
  let done = 0;
  for (const tenantId of await repo.tenantIds(db)) {
    try {
      await refreshScores(db, config, tenantId);
      done++;
    } catch (err) {
      log?.(err, tenantId);
    }
  }
  return done;
}
