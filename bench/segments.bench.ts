/**
 * Segmentation benchmark (issue 4): generated customers on PostgreSQL (bench/analytics-data.ts, a database of
 * its own), seed 001's nested example segment.
 *
 *   npm run bench:segments -- [--customers 1000000] [--runs 5] [--samples 200] [--no-record] [--keep] [--database crm_bench_…]
 *
 * (a) Full refresh of the segment (the engine: compiled predicate, one statement applying the difference,
 *     recount; nothing to change) against the same predicate hand-written in SQL, counting the matching
 *     customers (what any materialization must at least do) — interleaved runs, medians. Also the engine's
 *     statement with the hand-written predicate (compiler overhead).
 * (b) First calculation (every member enters): membership + history + timeline + outbox. Then the bookkeeping
 *     alone for 15.5 % of the customers entering (155,000 at a million): the set-based recordMembershipChanges
 *     and, on the same changes, the previous path (timeline rows and events built in Node), both rolled back.
 * (c) Ingest-to-membership latency: `crm serve` (worker on) on the database; per sample one order.completed
 *     through POST /api/crm/events for a customer outside the segment whose order brings it in; the clock
 *     stops when the customer's membership row is visible to another connection. Sequential samples.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sql, type Executor } from '../src/db/database.js';
import { enqueueEvents } from '../src/modules/outbox/outbox.repository.js';
import { createApiKey } from '../src/modules/auth/auth.service.js';
import { createSegment, getSegment } from '../src/modules/segments/segments.service.js';
import * as segRepo from '../src/modules/segments/segments.repository.js';
import { compileRules, parseRules } from '../src/modules/segments/segments.rules.js';
import { insertActivities } from '../src/modules/timeline/timeline.repository.js';
import { createBenchDatabase, openBenchDatabase, type BenchDatabase } from './analytics-data.js';
import {
  appendResultRow, fmt, freePort, log, machine, machineLabel, median, percentile, resultDate, runMain, startServer, stopServer, timed,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '5' },
    samples: { type: 'string', default: '200' },
    'no-record': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // re-measure on a database kept with --keep: its "Seed 001" segment, no first calculation
    database: { type: 'string' },
  },
});
const CUSTOMERS = Number(args.customers);
const ms = (n: number) => (Number.isNaN(n) ? '–' : fmt(n));
const RUNS = Number(args.runs);
const SAMPLES = Number(args.samples);

/** Seed 001, "Segmentation Rules". */
const SEED_001_RULES = {
  operator: 'and',
  conditions: [
    { field: 'total_spend', operator: '>=', value: 100 },
    { operator: 'or', conditions: [{ field: 'last_purchase', operator: 'within', value: '90d' }, { field: 'events_attended', operator: '>=', value: 3 }] },
  ],
};
/** The same predicate, by hand. */
const HAND = (tenantId: string) => sql`
  c.tenant_id = ${tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL
  AND c.total_spend >= 100 AND (c.last_purchase >= now() - interval '90 days' OR c.events_attended >= 3)`;

class Rollback extends Error {}

async function rolledBack(db: Executor, fn: (tx: Executor) => Promise<void>): Promise<number> {
  let ms = 0;
  try {
    await db.transaction(async (tx) => {
      const t0 = performance.now();
      await fn(tx);
      ms = performance.now() - t0;
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return ms;
}

/** The bookkeeping as it was before recordMembershipChanges (timeline rows and events built in Node). */
async function previousBookkeeping(tx: Executor, tenantId: string, changes: segRepo.MembershipChange[]): Promise<void> {
  await segRepo.insertHistory(tx, tenantId, changes);
  const at = new Date();
  for (let i = 0; i < changes.length; i += 5000) {
    await insertActivities(tx, tenantId, changes.slice(i, i + 5000).map((c) => ({
      customerId: c.customerId, type: c.change === 'entered' ? 'segment.entered' : 'segment.exited', occurredAt: at,
      summary: `${c.change === 'entered' ? 'Entered' : 'Left'} segment ${c.segmentName}`,
      data: { segment_id: c.segmentId, segment_name: c.segmentName }, actor: 'system',
    })));
  }
  const byCustomer = new Map<string, segRepo.MembershipChange[]>();
  for (const c of changes) byCustomer.set(c.customerId, [...(byCustomer.get(c.customerId) ?? []), c]);
  const now = await segRepo.membershipsOf(tx, tenantId, [...byCustomer.keys()]);
  const events = [...byCustomer].map(([customerId, list]) => {
    const after = (now.get(customerId) ?? []).map((s) => s.id).sort();
    const entered = list.filter((c) => c.change === 'entered');
    const exited = list.filter((c) => c.change === 'exited');
    const before = [...after.filter((id) => !entered.some((c) => c.segmentId === id)), ...exited.map((c) => c.segmentId)].sort();
    return {
      type: 'customer.segment_changed' as const, customerId,
      payload: { customer_id: customerId, entered: entered.map((c) => ({ id: c.segmentId, name: c.segmentName })), exited: exited.map((c) => ({ id: c.segmentId, name: c.segmentName })), old_segments: before, new_segments: after },
    };
  });
  await enqueueEvents(tx, tenantId, events);
}

async function ingestLatency(b: BenchDatabase, segmentId: string): Promise<number[]> {
  // customers outside the segment (spend < 100, no purchase for 90 days, < 3 check-ins) whom one order of 150 brings in
  const candidates = await b.db.rows<{ external_id: string }>(sql`
    SELECT c.external_id FROM customers c
    WHERE c.tenant_id = ${b.tenantId}::uuid AND c.total_spend < 100 AND c.events_attended < 3
      AND NOT EXISTS (SELECT 1 FROM segment_members m WHERE m.tenant_id = c.tenant_id AND m.segment_id = ${segmentId}::uuid AND m.customer_id = c.id)
    ORDER BY c.id LIMIT ${SAMPLES + 10}`);
  if (candidates.length < SAMPLES) throw new Error(`only ${candidates.length} candidates outside the segment`);
  const port = await freePort();
  const server = await startServer(b.url, port);
  const watcher = new pg.Client({ connectionString: b.url });
  await watcher.connect();
  const latencies: number[] = [];
  try {
    const run = Date.now().toString(36);
    const post = async (i: number, ext: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/crm/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${b.apiKey}` },
        body: JSON.stringify({ events: [{ id: `lat-${run}-${i}`, type: 'order.completed', occurred_at: new Date().toISOString(), customer: { external_id: ext }, data: { order_id: `lat-${run}-${i}`, total: 150 } }] }),
      });
      const body = (await res.json()) as { accepted?: number };
      if (res.status !== 200 || body.accepted !== 1) throw new Error(`POST /events: ${res.status} ${JSON.stringify(body)}`);
    };
    // warm-up: a few through the same path, not measured
    for (let i = 0; i < 10; i++) await post(-1 - i, candidates[SAMPLES + i].external_id);
    for (let i = 0; i < SAMPLES; i++) {
      const ext = candidates[i].external_id;
      const t0 = performance.now();
      const posted = post(i, ext);
      for (;;) {
        const { rows } = await watcher.query(
          `SELECT 1 FROM segment_members m JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
           WHERE m.tenant_id = $1 AND m.segment_id = $2 AND c.tenant_id = $1 AND c.external_id = $3`, [b.tenantId, segmentId, ext]);
        if (rows.length) break;
        if (performance.now() - t0 > 30_000) throw new Error(`customer ${ext} did not enter the segment within 30 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.push(performance.now() - t0);
      await posted;
    }
  } finally {
    await watcher.end();
    await stopServer(server);
  }
  return latencies;
}

const HEADER =
  '| date | machine | PostgreSQL | customers | members | engine refresh ms | hand-written SQL ms | ratio | engine stmts, hand predicate ms | first calculation ms | bookkeeping set-based / previous ms | ingest→membership p50 / p99 ms | load before / after |\n' +
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';

async function main() {
  const loadBefore = os.loadavg()[0];
  const b = args.database ? await openBenchDatabase(args.database) : await createBenchDatabase('segments', CUSTOMERS, { keep: args.keep });
  try {
    const db = b.db;
    const ctx = { db, tenantId: b.tenantId, actor: 'cli' };
    log(`data generated in ${fmt(b.generateMs)} ms`);
    if (args.database) b.apiKey = (await createApiKey(db, { tenantId: b.tenantId, name: `bench ${Date.now()}`, role: 'admin', createdBy: 'bench' })).apiKey;

    // (b) first calculation: every member enters (membership, history, timeline, outbox)
    const existing = args.database ? await db.one<{ id: string }>(sql`
      SELECT id FROM segments WHERE tenant_id = ${b.tenantId}::uuid AND name = 'Seed 001' AND deleted_at IS NULL`) : undefined;
    const created = existing
      ? { value: (await fetchCalculate(db, b.tenantId, existing.id), await getSegment(ctx, existing.id)), ms: NaN }
      : await timed(() => createSegment(ctx, { name: 'Seed 001', rules: SEED_001_RULES, auto_update: true } as never));
    const seg = created.value;
    log(`first calculation: ${fmt(seg.customer_count)} members in ${fmt(created.ms)} ms`);
    // The bookkeeping of a large first calculation: 15.5 % of the customers entering (155,000 at a million),
    // both ways on the same changes, rolled back.
    const members = await db.rows<{ customer_id: string }>(sql`
      SELECT id AS customer_id FROM customers WHERE tenant_id = ${b.tenantId}::uuid ORDER BY id LIMIT ${Math.round(b.counts.customers * 0.155)}`);
    const changes: segRepo.MembershipChange[] = members.map((m) => ({ segmentId: seg.id, segmentName: seg.name, customerId: m.customer_id, change: 'entered' }));
    const setBased = existing ? NaN : await rolledBack(db, (tx) => segRepo.recordMembershipChanges(tx, b.tenantId, changes, { actor: 'cli', at: new Date() }));
    const previous = existing ? NaN : await rolledBack(db, (tx) => previousBookkeeping(tx, b.tenantId, changes));
    log(`bookkeeping of ${fmt(changes.length)} entries: set-based ${fmt(setBased)} ms, previous ${fmt(previous)} ms (both rolled back)`);
    await db.run(sql`VACUUM ANALYZE segment_members`);

    // (a) full refresh vs hand-written SQL, interleaved
    const predicate = compileRules(parseRules(SEED_001_RULES));
    const engine: number[] = [];
    const hand: number[] = [];
    const handStatements: number[] = [];
    let handCount = 0;
    for (let run = 0; run < RUNS; run++) {
      engine.push((await timed(async () => {
        const r = await fetchCalculate(db, b.tenantId, seg.id);
        if (r.entered + r.exited !== 0) log(`  run ${run}: refresh changed ${r.entered}/${r.exited}`);
      })).ms);
      const h = await timed(() => db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM customers c WHERE ${HAND(b.tenantId)}`));
      hand.push(h.ms);
      handCount = h.value!.n;
      handStatements.push((await timed(() => db.transaction(async (tx) => {
        await segRepo.lockSegment(tx, b.tenantId, seg.id);
        await segRepo.applyDifference(tx, { tenantId: b.tenantId, segmentId: seg.id, predicate: sql`c.total_spend >= 100 AND (c.last_purchase >= now() - interval '90 days' OR c.events_attended >= 3)` });
        await segRepo.recountSegment(tx, b.tenantId, seg.id, true);
      }))).ms);
    }
    void predicate;
    if (handCount !== seg.customer_count) throw new Error(`hand-written SQL counts ${handCount}, the segment has ${seg.customer_count}`);
    const ratio = median(engine) / median(hand);
    log(`full refresh: engine median ${fmt(median(engine))} ms, hand-written count ${fmt(median(hand))} ms → ${ratio.toFixed(2)}×; engine statements with the hand predicate ${fmt(median(handStatements))} ms`);

    // (c) ingest → membership
    const lat = await ingestLatency(b, seg.id);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    log(`ingest → membership over ${lat.length} samples: p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms`);

    const loadAfter = os.loadavg()[0];
    const m = machine();
    const summary = [
      '',
      `Segments on PostgreSQL ${b.pgVersion} (${m.cores} cores), ${fmt(b.counts.customers)} customers, ${fmt(b.counts.orders)} orders; seed 001 nested segment:`,
      `  members:                         ${fmt(seg.customer_count)}`,
      `  full refresh (engine):           ${fmt(median(engine))} ms (median of ${RUNS}; runs ${engine.map(fmt).join(', ')})`,
      `  hand-written SQL (count):        ${fmt(median(hand))} ms; ratio ${ratio.toFixed(2)}× (target <= 1.3×)`,
      `  engine statements, hand pred.:   ${fmt(median(handStatements))} ms`,
      `  first calculation:               ${ms(created.ms)} ms (bookkeeping of ${fmt(changes.length)} entries: set-based ${ms(setBased)} ms, previous ${ms(previous)} ms)`,
      `  ingest → membership:             p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms over ${lat.length} samples (target <= 1000 ms)`,
      `  load average before / after:     ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
      '',
    ].join('\n');
    process.stdout.write(summary);
    if (!args['no-record']) {
      appendResultRow({ name: 'segments', title: 'Segmentation results', header: HEADER, row: [
        resultDate(), machineLabel(m), b.pgVersion,
        fmt(b.counts.customers), fmt(seg.customer_count), fmt(median(engine)), fmt(median(hand)), `${ratio.toFixed(2)}×`,
        fmt(median(handStatements)), ms(created.ms), `${ms(setBased)} / ${ms(previous)}`, `${p50.toFixed(0)} / ${p99.toFixed(0)}`,
        `${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
      ] });
    }
  } finally {
    await b.drop();
  }
}

/** POST /segments/{id}/calculate without HTTP: the service's full refresh of one segment. */
async function fetchCalculate(db: Executor, tenantId: string, segmentId: string) {
  const { calculateSegment } = await import('../src/modules/segments/segments.service.js');
  return calculateSegment({ db, tenantId, actor: 'cli' }, segmentId);
}

runMain(main);
