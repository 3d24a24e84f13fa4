import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { insertActivities } from '../timeline/timeline.repository.js';
import * as repo from './analytics.repository.js';
import { fitTenantModel } from './analytics.service.js';
import { applyVipRule } from './vip.service.js';
import { DAYS_PER_TIME_UNIT, predictAll, type ClvModel, type CustomerStatistics } from './clv.model.js';

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
}

/**
 * Recomputes every score of a tenant's customers, set-based:
 *  1. fits BG/NBD + Gamma-Gamma on completed orders up to today (tenant-local), stores the fit (clv_models);
 *  2. in one transaction, with the customer rows locked in id order: ONE UPDATE writing RFM, p_alive and
 *     predicted_clv (from arrays; NULL without a model or without purchases), churn_risk, lifecycle_stage
 *     and engagement_score of every customer whose values change, then a lifecycle.changed timeline entry
 *     plus a customer.lifecycle_changed outbox event for every customer whose stage changed;
 *  3. in the same transaction, is_vip from the tenant's VIP rule (one UPDATE; vip.changed timeline entries).
 * The profile's lifetime_value is left as ingestion computes it (historic spend); predicted_clv sits
 * next to it (README, "Analytics").
 */
export async function refreshScores(db: Executor, config: Config, tenantId: string): Promise<RefreshResult> {
  const info = await repo.tenantInfo(db, tenantId);
  if (!info) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`, { id: tenantId });
  const asOf = info.today;

  let model: ClvModel | null = null;
  let modelStatus: RefreshResult['model'];
  try {
    model = await fitTenantModel(db, tenantId, asOf, SCORE_TIME_UNIT);
    modelStatus = { status: 'fitted', customers: model.customers };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    modelStatus = { status: 'unavailable', reason: (err.details as { reason?: string } | undefined)?.reason ?? err.code, message: err.message };
  }

  const scores = { ids: [] as string[], pAlive: [] as number[], predicted: [] as number[] };
  if (model) {
    const unitDays = DAYS_PER_TIME_UNIT[SCORE_TIME_UNIT];
    const rows = await repo.customerStatistics(db, tenantId, asOf);
    const stats: CustomerStatistics[] = rows.map((r) => ({
      customerId: r.customer_id,
      x: r.x,
      t_x: r.tx_days / unitDays,
      T: r.t_days / unitDays,
      m: r.x > 0 ? r.repeat_sum / r.x : 0,
      historic_value: r.historic,
    }));
    const predictions = predictAll(model, stats, {
      horizon: config.ltvCalculationPeriodDays / unitDays,
      annualDiscountRate: config.clvDiscountRate,
    });
    for (const [id, p] of predictions) {
      if (!p.ok) continue; // a customer whose CLV cannot be evaluated keeps NULL
      scores.ids.push(id);
      scores.pAlive.push(p.clv.p_alive);
      scores.predicted.push(p.clv.predicted_clv);
    }
  }

  return db.transaction(async (tx) => {
    if (model) {
      await repo.saveModel(tx, tenantId, {
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
      });
    } else {
      await repo.deleteModel(tx, tenantId, SCORE_TIME_UNIT);
    }
    await repo.lockCustomers(tx, tenantId);
    const changed = await repo.writeScores(tx, tenantId, { clv: scores, churnThresholdDays: config.churnThresholdDays });
    let rfmUpdated = 0;
    let clvUpdated = 0;
    for (const c of changed) {
      if (c.rfm_changed) rfmUpdated++;
      if (c.clv_changed) clvUpdated++;
    }
    // The first classification of a customer (NULL → stage) is not a change; leaving the lifecycle
    // (stage → NULL, e.g. every order refunded) is.
    const changes = changed.filter((c) => c.old_stage !== null && c.old_stage !== c.new_stage);
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
    const vip = await applyVipRule(tx, tenantId);
    return {
      tenant_id: tenantId,
      as_of: asOf,
      model: modelStatus,
      rfm_updated: rfmUpdated,
      clv_updated: clvUpdated,
      scores_updated: changed.length,
      lifecycle_changes: changes.length,
      vip_changes: vip.became_vip + vip.lost_vip,
    };
  });
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
