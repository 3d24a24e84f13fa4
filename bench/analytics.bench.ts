/**
 * Analytics benchmark (issue 4, item 14): generated customers on PostgreSQL (bench/analytics-data.ts, a database
 * of its own).
 *
 *   npm run bench:analytics -- [--customers 1000000] [--queued 1000] [--no-record] [--keep] [--database crm_bench_…]
 *
 * (a) BG/NBD + Gamma-Gamma fit as GET /analytics/ltv does it (sufficient statistics grouped in SQL, then the
 *     maximum-likelihood fit), with the two parts timed apart.
 * (b) Scores refresh (RFM, CLV, churn, engagement, lifecycle, VIP) of the whole tenant: the first one writes
 *     every row; the second right after it has (almost) nothing to change. Row versions written and the share
 *     of HOT updates come from pg_stat_user_tables.
 * (c) The refresh after ingestion: `--queued` customers queued as ingestion queues them, then drained.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { sql } from '../src/db/database.js';
import * as repo from '../src/modules/analytics/analytics.repository.js';
import { DAYS_PER_TIME_UNIT, fitClvModel } from '../src/modules/analytics/clv.model.js';
import { refreshQueuedScores, refreshScores } from '../src/modules/analytics/scores.service.js';
import { createBenchDatabase, openBenchDatabase } from './analytics-data.js';
import { appendResultRow, fmt, log, machine, machineLabel, resultDate, runMain, timed } from './lib.js';

const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '1000000' },
    queued: { type: 'string', default: '1000' },
    'no-record': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // reuse a database kept by `bench:segments -- --keep` (same generator) instead of generating one
    database: { type: 'string' },
  },
});
const CUSTOMERS = Number(args.customers);
const QUEUED = Number(args.queued);

const HEADER =
  '| date | machine | PostgreSQL | customers / buyers / orders | fit: SQL + ML ms | first refresh s (parts) | HOT | second refresh s (parts) | HOT | queued refresh (n) ms | load before / after |\n' +
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n';

async function main() {
  const loadBefore = os.loadavg()[0];
  const b = args.database ? await openBenchDatabase(args.database) : await createBenchDatabase('analytics', CUSTOMERS, { keep: args.keep });
  try {
    const db = b.db;
    const config = loadConfig({ ...process.env, DATABASE_URL: b.url });
    log(`data generated in ${fmt(b.generateMs)} ms`);
    const info = await repo.tenantInfo(db, b.tenantId);

    // (a) the fit
    const grouped = await timed(() => repo.groupedStatistics(db, b.tenantId, info.today));
    const unit = DAYS_PER_TIME_UNIT.week;
    const fit = await timed(async () => fitClvModel({
      customers: grouped.value.map((r) => ({ x: r.x, t_x: r.tx_days / unit, T: r.t_days / unit, m: r.x > 0 ? r.repeat_sum / r.x : 0, weight: r.weight })),
      asOf: info.today, timeUnit: 'week',
    }));
    if (!fit.value.ok) throw new Error(`the fit refused: ${fit.value.reason} ${fit.value.message}`);
    const bg = fit.value.model.bgnbd;
    log(`fit: statistics ${fmt(grouped.ms)} ms (${fmt(grouped.value.length)} weighted rows), ML ${fmt(fit.ms)} ms; r ${bg.r.toFixed(3)} α ${bg.alpha.toFixed(2)} a ${bg.a.toFixed(3)} b ${bg.b.toFixed(3)}`);

    // (b) whole-tenant refreshes
    const hot = async () => (await db.one<{ upd: number; hot: number }>(sql`
      SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname = 'customers'`))!;
    const settle = () => new Promise((r) => setTimeout(r, 1500)); // table statistics reach the view within a second
    if (args.database) {
      // a reused database was scored by its earlier run: clear the scores (untimed) so "first" writes every row again
      await db.run(sql`
        UPDATE customers SET rfm_recency = NULL, rfm_frequency = NULL, rfm_monetary = NULL, rfm_segment = NULL, churn_risk = NULL,
          p_alive = NULL, predicted_clv = NULL, lifecycle_stage = NULL, engagement_score = NULL, is_vip = false
        WHERE tenant_id = ${b.tenantId}::uuid`);
      await db.run(sql`VACUUM ANALYZE customers`);
      log('scores of the reused database cleared');
    }
    const h0 = await hot();
    const first = await timed(() => refreshScores(db, config, b.tenantId));
    await settle();
    const h1 = await hot();
    log(`first refresh: ${fmt(first.ms)} ms, ${fmt(first.value.scores_updated)} written (${fmt(h1.hot - h0.hot)} HOT of ${fmt(h1.upd - h0.upd)} row updates); model ${first.value.model.status}; parts ${JSON.stringify(first.value.timings_ms)}`);
    const second = await timed(() => refreshScores(db, config, b.tenantId));
    await settle();
    const h2 = await hot();
    log(`second refresh: ${fmt(second.ms)} ms, ${fmt(second.value.scores_updated)} written (${fmt(h2.hot - h1.hot)} HOT of ${fmt(h2.upd - h1.upd)}); parts ${JSON.stringify(second.value.timings_ms)}`);

    // (c) after ingestion: QUEUED customers queued, then drained
    const ids = (await db.rows<{ id: string }>(sql`
      SELECT id FROM customers WHERE tenant_id = ${b.tenantId}::uuid ORDER BY md5(id::text) LIMIT ${QUEUED}`)).map((r) => r.id);
    await repo.queueScoreRefresh(db, b.tenantId, ids);
    const queued = await timed(() => refreshQueuedScores(db, config));
    log(`queued refresh of ${fmt(queued.value)} customers: ${fmt(queued.ms)} ms`);

    const loadAfter = os.loadavg()[0];
    const m = machine();
    // where a refresh's time went, in seconds: statistics / fit / predict / compute / write / vip
    const parts = (t: object | undefined) => (t ? (Object.values(t) as number[]).map((ms) => (ms / 1000).toFixed(1)).join(' / ') : '–');
    const pct = (a: number, n: number) => (n ? `${Math.round((100 * a) / n)}%` : '–');
    process.stdout.write([
      '',
      `Analytics on PostgreSQL ${b.pgVersion} (${m.cores} cores): ${fmt(b.counts.customers)} customers, ${fmt(b.counts.buyers)} buyers, ${fmt(b.counts.orders)} orders`,
      `  BG/NBD + Gamma-Gamma fit:     ${fmt(grouped.ms + fit.ms)} ms (statistics in SQL ${fmt(grouped.ms)} ms, fit ${fmt(fit.ms)} ms; target <= 5000 ms)`,
      `  scores refresh, first:        ${(first.ms / 1000).toFixed(1)} s (${fmt(first.value.scores_updated)} customers written, ${pct(h1.hot - h0.hot, h1.upd - h0.upd)} HOT)`,
      `  scores refresh, second:       ${(second.ms / 1000).toFixed(1)} s (${fmt(second.value.scores_updated)} written, ${pct(h2.hot - h1.hot, h2.upd - h1.upd)} HOT)`,
      `  refresh of ${fmt(QUEUED)} queued customers: ${fmt(queued.ms)} ms`,
      `  load average before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
      '',
    ].join('\n'));
    if (!args['no-record']) {
      appendResultRow({ name: 'analytics', title: 'Analytics results', header: HEADER, row: [
        resultDate(), machineLabel(m), b.pgVersion,
        `${fmt(b.counts.customers)} / ${fmt(b.counts.buyers)} / ${fmt(b.counts.orders)}`,
        `${fmt(grouped.ms)} + ${fmt(fit.ms)}`,
        `${(first.ms / 1000).toFixed(1)} (${parts(first.value.timings_ms)})`, pct(h1.hot - h0.hot, h1.upd - h0.upd),
        `${(second.ms / 1000).toFixed(1)} (${parts(second.value.timings_ms)})`, pct(h2.hot - h1.hot, h2.upd - h1.upd),
        `${fmt(queued.ms)} (${fmt(QUEUED)})`, `${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
      ] });
    }
  } finally {
    await b.drop();
  }
}

runMain(main);
