import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { roundMoney } from '../../lib/money.js';
import {
  DAYS_PER_TIME_UNIT,
  fitClvModel,
  predictAll,
  predictCustomerClv,
  type ClvModel,
  type CustomerClv,
  type CustomerStatistics,
  type TimeUnit,
} from './clv.model.js';
import * as repo from './analytics.repository.js';
import { allCampaignStats } from '../campaigns/campaigns.service.js';
import { RFM_SEGMENTS } from './rfm.mapping.js';
import { recordAudit, type AuditCtx } from '../audit/audit.service.js';

export interface AnalyticsCtx {
  db: Executor;
  config: Config;
  tenantId: string;
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

// ---------------------------------------------------------------------------------------------
// RFM
// ---------------------------------------------------------------------------------------------

/** Seed 003's response: every segment (zeros included) with count, percentage, revenue; score distributions. */
export async function rfmAnalysis(ctx: AnalyticsCtx) {
  const { segments, scores } = await repo.rfmSummary(ctx.db, ctx.tenantId);
  const total = segments.reduce((n, s) => n + s.customers, 0);
  const bySegment = new Map(segments.map((s) => [s.segment, s]));
  const dist = () => Object.fromEntries(['1', '2', '3', '4', '5'].map((k) => [k, 0])) as Record<string, number>;
  const distribution = { recency: dist(), frequency: dist(), monetary: dist() };
  const dim = { r: distribution.recency, f: distribution.frequency, m: distribution.monetary } as const;
  for (const s of scores) dim[s.dimension][String(s.score)] = s.customers;
  return {
    segments: RFM_SEGMENTS.map((name) => {
      const s = bySegment.get(name);
      const count = s?.customers ?? 0;
      const totalRevenue = roundMoney(s?.total_revenue ?? 0);
      return {
        name,
        count,
        percentage: total > 0 ? round((100 * count) / total, 2) : 0,
        avgRevenue: count > 0 ? roundMoney(totalRevenue / count) : 0,
        totalRevenue,
      };
    }),
    distribution,
    customers: total,
  };
}

// ---------------------------------------------------------------------------------------------
// CLV
// ---------------------------------------------------------------------------------------------

const toStatistics = (r: repo.StatisticsRow, unitDays: number) => ({
  x: r.x,
  t_x: r.tx_days / unitDays,
  T: r.t_days / unitDays,
  m: r.x > 0 ? r.repeat_sum / r.x : 0,
});

function refusal(reason: string, message: string, details: Record<string, unknown>): AppError {
  return new AppError(reason === 'not_enough_history' ? 'not_enough_history' : 'clv_model_unavailable', message, { reason, ...details });
}

/** Fits BG/NBD + Gamma-Gamma on the tenant's purchases up to asOf; a refusal becomes a 422. */
export async function fitTenantModel(db: Executor, tenantId: string, asOf: string, timeUnit: TimeUnit): Promise<ClvModel> {
  const unitDays = DAYS_PER_TIME_UNIT[timeUnit];
  const rows = await repo.groupedStatistics(db, tenantId, asOf);
  const fit = fitClvModel({ customers: rows.map((r) => ({ ...toStatistics(r, unitDays), weight: r.weight })), asOf, timeUnit });
  if (!fit.ok) throw refusal(fit.reason, fit.message, { as_of: asOf, time_unit: timeUnit });
  return fit.model;
}

export function modelFromStored(s: repo.StoredModelRow): ClvModel {
  const fixed = { iterations: 0, converged: true, status: 'converged' as const };
  return {
    bgnbd: { ...s.params.bgnbd, log_likelihood: s.log_likelihood, ...fixed },
    gamma_gamma: { ...s.params.gamma_gamma, ...fixed },
    customers: s.customers,
    repeat_customers: s.params.repeat_customers,
    as_of: s.as_of,
    time_unit: s.time_unit,
  };
}

/**
 * The model for (asOf, timeUnit): the stored fit of the last scores refresh when it is for the same day
 * and unit (no refit per request), otherwise a fresh fit.
 */
async function modelFor(ctx: AnalyticsCtx, asOf: string, timeUnit: TimeUnit): Promise<ClvModel> {
  const stored = await repo.storedModel(ctx.db, ctx.tenantId, timeUnit);
  if (stored && stored.as_of === asOf) return modelFromStored(stored);
  return fitTenantModel(ctx.db, ctx.tenantId, asOf, timeUnit);
}

export interface ClvQuery {
  as_of?: string;
  time_unit?: TimeUnit;
  horizon?: number;
}

async function resolveQuery(ctx: AnalyticsCtx, q: ClvQuery) {
  const info = await repo.tenantInfo(ctx.db, ctx.tenantId);
  const asOf = q.as_of ?? info.today;
  if (asOf > info.today) {
    throw new AppError('validation_failed', `as_of ${asOf} is in the future (today is ${info.today} in the tenant's time zone)`, { as_of: asOf });
  }
  const timeUnit = q.time_unit ?? 'week';
  const horizon = q.horizon ?? ctx.config.ltvCalculationPeriodDays / DAYS_PER_TIME_UNIT[timeUnit];
  return { info, asOf, timeUnit, horizon };
}

const modelJson = (m: ClvModel) => ({
  bgnbd: { r: m.bgnbd.r, alpha: m.bgnbd.alpha, a: m.bgnbd.a, b: m.bgnbd.b, log_likelihood: m.bgnbd.log_likelihood },
  gamma_gamma: { p: m.gamma_gamma.p, q: m.gamma_gamma.q, v: m.gamma_gamma.v, log_likelihood: m.gamma_gamma.log_likelihood },
  customers: m.customers,
  repeat_customers: m.repeat_customers,
  as_of: m.as_of,
  time_unit: m.time_unit,
});

const clvJson = (c: CustomerClv) => ({
  p_alive: c.p_alive,
  expected_purchases: c.expected_purchases,
  expected_average_order_value: roundMoney(c.expected_average_order_value),
  predicted_clv: roundMoney(c.predicted_clv),
  historic_clv: roundMoney(c.historic_clv),
  horizon: c.horizon,
  time_unit: c.time_unit,
  as_of: c.as_of,
});

/** GET /customers/{id}/clv. A customer without purchases up to as_of gets nulls for the model's figures. */
export async function customerClv(ctx: AnalyticsCtx, customerId: string, q: ClvQuery) {
  if (!(await repo.customerExists(ctx.db, ctx.tenantId, customerId))) {
    throw new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
  }
  const { asOf, timeUnit, horizon } = await resolveQuery(ctx, q);
  const model = await modelFor(ctx, asOf, timeUnit);
  const [row] = await repo.customerStatistics(ctx.db, ctx.tenantId, asOf, customerId);
  if (!row) {
    return {
      p_alive: null, expected_purchases: null, expected_average_order_value: null, predicted_clv: null,
      historic_clv: 0, horizon, time_unit: timeUnit, as_of: asOf,
    };
  }
  const unitDays = DAYS_PER_TIME_UNIT[timeUnit];
  const result = predictCustomerClv(model, { ...toStatistics(row, unitDays), historic_value: row.historic }, {
    horizon, annualDiscountRate: ctx.config.clvDiscountRate,
  });
  if (!result.ok) throw new AppError('clv_model_unavailable', result.message, { reason: result.reason });
  return clvJson(result.clv);
}

const DISTRIBUTION_BOUNDS = [0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** GET /analytics/ltv: the fitted model, the predicted-CLV distribution, by RFM segment, by source with ROI, top customers. */
export async function ltvAnalysis(ctx: AnalyticsCtx, q: ClvQuery & { top?: number }) {
  const { asOf, timeUnit, horizon } = await resolveQuery(ctx, q);
  const model = await modelFor(ctx, asOf, timeUnit);
  const unitDays = DAYS_PER_TIME_UNIT[timeUnit];
  const rows = await repo.customerStatistics(ctx.db, ctx.tenantId, asOf);
  const stats: CustomerStatistics[] = rows.map((r) => ({ customerId: r.customer_id, ...toStatistics(r, unitDays), historic_value: r.historic }));
  const predictions = predictAll(model, stats, { horizon, annualDiscountRate: ctx.config.clvDiscountRate });

  const scored: { row: repo.CustomerStatisticsRow; clv: CustomerClv }[] = [];
  for (const row of rows) {
    const p = predictions.get(row.customer_id);
    if (p?.ok) scored.push({ row, clv: p.clv });
  }

  // Distribution of predicted CLV over fixed money buckets, plus summary figures.
  const values = scored.map((s) => s.clv.predicted_clv).sort((a, b) => a - b);
  const buckets = DISTRIBUTION_BOUNDS.map((min, i) => ({ min, max: DISTRIBUTION_BOUNDS[i + 1] ?? null, count: 0 }));
  for (const v of values) {
    let i = buckets.length - 1;
    while (i > 0 && v < buckets[i].min) i--;
    buckets[i].count++;
  }
  const sum = values.reduce((a, b) => a + b, 0);

  const group = (keyOf: (r: repo.CustomerStatisticsRow) => string | null) => {
    const g = new Map<string | null, { customers: number; historic: number; predicted: number }>();
    for (const s of scored) {
      const k = keyOf(s.row);
      const e = g.get(k) ?? { customers: 0, historic: 0, predicted: 0 };
      e.customers++;
      e.historic += s.clv.historic_clv;
      e.predicted += s.clv.predicted_clv;
      g.set(k, e);
    }
    return [...g.entries()].sort((a, b) => b[1].predicted - a[1].predicted);
  };

  const costs = new Map((await repo.acquisitionCosts(ctx.db, ctx.tenantId)).map((c) => [c.source, c.cost]));
  const bySource = group((r) => r.source).map(([source, e]) => {
    const cost = source === null ? undefined : costs.get(source);
    const value = e.historic + e.predicted;
    return {
      source,
      customers: e.customers,
      historic_clv: roundMoney(e.historic),
      predicted_clv: roundMoney(e.predicted),
      average_predicted_clv: roundMoney(e.predicted / e.customers),
      acquisition_cost: cost ?? null,
      cost_per_customer: cost === undefined ? null : roundMoney(cost / e.customers),
      roi: cost === undefined || cost <= 0 ? null : round((value - cost) / cost, 4),
    };
  });
  const bySegment = group((r) => r.rfm_segment).map(([segment, e]) => ({
    segment,
    customers: e.customers,
    historic_clv: roundMoney(e.historic),
    predicted_clv: roundMoney(e.predicted),
    average_predicted_clv: roundMoney(e.predicted / e.customers),
  }));

  const top = [...scored].sort((a, b) => b.clv.predicted_clv - a.clv.predicted_clv || (a.row.customer_id < b.row.customer_id ? -1 : 1)).slice(0, q.top ?? 10);
  const names = new Map((await repo.customerNames(ctx.db, ctx.tenantId, top.map((t) => t.row.customer_id))).map((n) => [n.id, n]));
  return {
    model: modelJson(model),
    distribution: {
      customers: values.length,
      total_predicted_clv: roundMoney(sum),
      mean: values.length ? roundMoney(sum / values.length) : 0,
      median: roundMoney(quantile(values, 0.5)),
      p90: roundMoney(quantile(values, 0.9)),
      buckets,
    },
    by_segment: bySegment,
    by_source: bySource,
    top_customers: top.map((t) => {
      const n = names.get(t.row.customer_id);
      const name = [n?.first_name, n?.last_name].filter(Boolean).join(' ');
      return {
        customer_id: t.row.customer_id,
        name: name || null,
        email: n?.email ?? null,
        external_id: n?.external_id ?? null,
        ...clvJson(t.clv),
      };
    }),
  };
}

export async function getAcquisitionCosts(ctx: AnalyticsCtx) {
  return { data: await repo.acquisitionCosts(ctx.db, ctx.tenantId) };
}

export async function putAcquisitionCosts(ctx: AnalyticsCtx, costs: { source: string; cost: number }[], who?: AuditCtx) {
  const seen = new Set<string>();
  for (const c of costs) {
    if (seen.has(c.source)) throw new AppError('validation_failed', `source "${c.source}" is listed twice`, { source: c.source });
    seen.add(c.source);
  }
  await ctx.db.transaction(async (tx) => {
    const before = await repo.acquisitionCosts(tx, ctx.tenantId);
    await repo.replaceAcquisitionCosts(tx, ctx.tenantId, costs);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: who?.actor ?? 'system', requestId: who?.requestId ?? null,
      action: 'acquisition_costs.replace', entityType: 'acquisition_costs', entityId: null, before: { costs: before }, after: { costs },
    });
  });
  return getAcquisitionCosts(ctx);
}

// ---------------------------------------------------------------------------------------------
// Overview, cohorts, purchase patterns
// ---------------------------------------------------------------------------------------------

const LIFECYCLE_STAGES = ['new', 'active', 'loyal', 'champion', 'at_risk', 'lost'] as const;
const ratio = (n: number, d: number) => (d > 0 ? round(n / d, 4) : null);
/** The overview's campaign figures cover this many most recent campaigns. */
const OVERVIEW_CAMPAIGNS = 50;

/** GET /analytics/overview: dashboard figures (issue 4 item 13). Rates are fractions (0.25 = 25 %). */
export async function analyticsOverview(ctx: AnalyticsCtx) {
  const [o, stages, segments, ltv, campaigns] = await Promise.all([
    repo.overview(ctx.db, ctx.tenantId, ctx.config.churnThresholdDays),
    repo.lifecycleCounts(ctx.db, ctx.tenantId),
    repo.segmentGrowth(ctx.db, ctx.tenantId),
    repo.lifetimeValueDistribution(ctx.db, ctx.tenantId, DISTRIBUTION_BOUNDS),
    allCampaignStats(ctx, { limit: OVERVIEW_CAMPAIGNS }),
  ]);
  const c = campaigns.totals;
  const lifecycle: Record<string, number> = Object.fromEntries([...LIFECYCLE_STAGES, 'none'].map((s) => [s, 0]));
  for (const s of stages) lifecycle[s.stage ?? 'none'] = (lifecycle[s.stage ?? 'none'] ?? 0) + s.customers;
  return {
    generated_at: new Date(),
    customers: { total: o.customers, buyers: o.buyers },
    active: { last_30_days: o.active_30, last_60_days: o.active_60, last_90_days: o.active_90 },
    acquisition: {
      new_customers_30_days: o.new_30,
      new_buyers_30_days: o.new_buyers_30,
      rate_30_days: ratio(o.new_30, o.existing_30_days_ago),
    },
    churn: {
      threshold_days: ctx.config.churnThresholdDays,
      churned_buyers: o.churned,
      rate: ratio(o.churned, o.buyers),
    },
    average_ltv: roundMoney(o.average_ltv),
    average_predicted_clv: o.average_predicted_clv === null ? null : roundMoney(o.average_predicted_clv),
    average_engagement: o.average_engagement,
    lifecycle,
    segments: segments.map((s) => {
      const net = s.entered_30 - s.exited_30;
      return {
        id: s.id, name: s.name, customers: s.customers, entered_30_days: s.entered_30, exited_30_days: s.exited_30,
        growth_rate_30_days: ratio(net, s.customers - net),
      };
    }),
    ltv_distribution: {
      customers: ltv.customers,
      mean: roundMoney(ltv.mean),
      median: roundMoney(ltv.median),
      buckets: DISTRIBUTION_BOUNDS.map((min, i) => ({ min, max: DISTRIBUTION_BOUNDS[i + 1] ?? null, count: ltv.counts[i] })),
    },
    campaigns: {
      campaigns: c.campaigns, sent: c.sent, delivered: c.delivered, unique_opens: c.unique_opens, unique_clicks: c.unique_clicks,
      conversions: c.conversions, revenue: c.revenue,
      open_rate: ratio(c.unique_opens, c.delivered), click_rate: ratio(c.unique_clicks, c.delivered),
      conversion_rate: ratio(c.conversions, c.delivered),
    },
  };
}

function periodsBetween(from: string, to: string, period: 'month' | 'week'): number {
  if (period === 'week') return Math.round((Date.parse(to) - Date.parse(from)) / (7 * 86_400_000));
  return (Number(to.slice(0, 4)) - Number(from.slice(0, 4))) * 12 + Number(to.slice(5, 7)) - Number(from.slice(5, 7));
}

function periodStart(today: string, period: 'month' | 'week', back: number): string {
  const d = new Date(`${today}T00:00:00Z`);
  if (period === 'month') {
    d.setUTCDate(1);
    d.setUTCMonth(d.getUTCMonth() - back);
  } else {
    d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7) - 7 * back);
  }
  return d.toISOString().slice(0, 10);
}

/**
 * GET /analytics/cohorts: acquisition cohorts (period of the first completed purchase) × periods since.
 * values[k] for period k after the cohort's: retention = share of the cohort buying in it, customers = how
 * many of them bought, revenue = what they spent.
 */
export async function cohorts(ctx: AnalyticsCtx, q: { period?: 'month' | 'week'; metric?: 'retention' | 'revenue' | 'customers'; cohorts?: number }) {
  const period = q.period ?? 'month';
  const metric = q.metric ?? 'retention';
  const count = q.cohorts ?? 12;
  const info = await repo.tenantInfo(ctx.db, ctx.tenantId);
  const since = periodStart(info.today, period, count - 1);
  const cells = await repo.cohortCells(ctx.db, ctx.tenantId, period, since);
  const byCohort = new Map<string, { size: number; cells: Map<number, { customers: number; revenue: number }> }>();
  for (const c of cells) {
    let e = byCohort.get(c.cohort);
    if (!e) byCohort.set(c.cohort, (e = { size: 0, cells: new Map() }));
    const k = periodsBetween(c.cohort, c.period, period);
    if (k === 0) e.size = c.customers;
    e.cells.set(k, { customers: c.customers, revenue: c.revenue });
  }
  return {
    period,
    metric,
    cohorts: [...byCohort.entries()].map(([cohort, e]) => {
      const span = periodsBetween(cohort, periodStart(info.today, period, 0), period);
      const values: number[] = [];
      for (let k = 0; k <= span; k++) {
        const cell = e.cells.get(k);
        if (metric === 'customers') values.push(cell?.customers ?? 0);
        else if (metric === 'revenue') values.push(roundMoney(cell?.revenue ?? 0));
        else values.push(e.size > 0 ? round((cell?.customers ?? 0) / e.size, 4) : 0);
      }
      return { cohort, customers: e.size, values };
    }),
  };
}

const LEAD_BUCKETS = [
  { label: 'after start', min: -Infinity, max: -1 },
  { label: 'same day', min: 0, max: 0 },
  { label: '1-7', min: 1, max: 7 },
  { label: '8-14', min: 8, max: 14 },
  { label: '15-30', min: 15, max: 30 },
  { label: '31-60', min: 31, max: 60 },
  { label: '61-90', min: 61, max: 90 },
  { label: '91+', min: 91, max: Infinity },
];
const GAP_BUCKETS = [
  { label: '1-7', min: 1, max: 7 },
  { label: '8-30', min: 8, max: 30 },
  { label: '31-90', min: 31, max: 90 },
  { label: '91-180', min: 91, max: 180 },
  { label: '181-365', min: 181, max: 365 },
  { label: '366+', min: 366, max: Infinity },
];
const TICKET_BUCKETS = [
  { label: '1', min: 1, max: 1 },
  { label: '2', min: 2, max: 2 },
  { label: '3', min: 3, max: 3 },
  { label: '4', min: 4, max: 4 },
  { label: '5-9', min: 5, max: 9 },
  { label: '10+', min: 10, max: Infinity },
];

/** Histogram over labelled buckets plus count, mean and median of a (value → count) list. */
function histogram(rows: { value: number; n: number }[], buckets: { label: string; min: number; max: number }[]) {
  const out = buckets.map((b) => ({ bucket: b.label, count: 0 }));
  let total = 0;
  let sum = 0;
  for (const r of rows) {
    const i = buckets.findIndex((b) => r.value >= b.min && r.value <= b.max);
    if (i >= 0) out[i].count += r.n;
    total += r.n;
    sum += r.value * r.n;
  }
  const sorted = [...rows].sort((a, b) => a.value - b.value);
  let median: number | null = null;
  if (total > 0) {
    const lo = Math.floor((total - 1) / 2);
    const hi = Math.ceil((total - 1) / 2);
    let seen = 0;
    let vlo = 0;
    let vhi = 0;
    for (const r of sorted) {
      if (seen <= lo && lo < seen + r.n) vlo = r.value;
      if (seen <= hi && hi < seen + r.n) vhi = r.value;
      seen += r.n;
    }
    median = (vlo + vhi) / 2;
  }
  return { count: total, mean: total > 0 ? round(sum / total, 2) : null, median, buckets: out };
}

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** GET /analytics/purchase-patterns (issue 4 item 12). Times are tenant-local. */
export async function purchasePatterns(ctx: AnalyticsCtx) {
  const [wh, lead, genres, tickets, gaps] = await Promise.all([
    repo.weekdayHour(ctx.db, ctx.tenantId),
    repo.leadTimes(ctx.db, ctx.tenantId),
    repo.genreAffinity(ctx.db, ctx.tenantId),
    repo.ticketsPerOrder(ctx.db, ctx.tenantId),
    repo.interPurchaseGaps(ctx.db, ctx.tenantId),
  ]);
  const matrix = WEEKDAYS.map(() => new Array<number>(24).fill(0));
  for (const r of wh) matrix[r.dow - 1][r.hour] = r.orders;
  const totalTickets = genres.reduce((n, g) => n + g.tickets, 0);
  return {
    weekday_hour: { weekdays: WEEKDAYS, orders: matrix },
    days_before_event: histogram(lead.map((r) => ({ value: r.days, n: r.pairs })), LEAD_BUCKETS),
    genre_affinity: genres.map((g) => ({
      genre: g.genre, tickets: g.tickets, customers: g.customers, revenue: roundMoney(g.revenue),
      share_of_tickets: ratio(g.tickets, totalTickets),
    })),
    tickets_per_order: histogram(tickets.map((r) => ({ value: r.tickets, n: r.orders })), TICKET_BUCKETS),
    inter_purchase_days: histogram(gaps.map((r) => ({ value: r.days, n: r.gaps })), GAP_BUCKETS),
  };
}
