/**
 * Customer search and filtered-list latency at a million customers (DESIGN §6: search p99 <= 20 ms, filtered
 * list p99 <= 50 ms): generated customers on PostgreSQL (bench/analytics-data.ts, a database of its own), the
 * real `crm serve` in a child process, `GET /api/crm/customers` over HTTP.
 *
 *   npm run bench:customers -- [--customers 1000000] [--requests 300] [--warmup 30] [--hand-requests 60] [--only name,…] [--no-record] [--keep] [--database crm_bench_…]
 *
 * Before measuring, the generated customers get a spread of statuses (85 % active, 10 % inactive, 5 % prospect)
 * and loyalty tiers by spend (Bronze / Silver >= 200 / Gold >= 500), which the generator leaves uniform, and a
 * segment (`total_spend >= 300`) is created through the segments service, so those filters select something.
 *
 * Per query: `--warmup` unmeasured requests, then `--requests` sequential requests, each with its own parameter
 * (a different name, e-mail, phone number, page depth…), and after each of the first `--hand-requests` the same
 * listing written by hand in SQL (`SELECT … ORDER BY … LIMIT 51` on a pg connection: what the page must at least cost) with the same
 * parameter; the two pages must hold the same customers in the same order. p50 / p99 of both, and the ratio of
 * the p50s. Nothing runs concurrently with the measured request.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sql } from '../src/db/database.js';
import { encodeCursor } from '../src/lib/cursor.js';
import { createApiKey } from '../src/modules/auth/auth.service.js';
import { createSegment } from '../src/modules/segments/segments.service.js';
import { createBenchDatabase, openBenchDatabase, type BenchDatabase } from './analytics-data.js';
import {
  appendResultRow, fmt, freePort, integerOption, log, machine, machineLabel, median, percentile, resultDate, runMain, startServer, stopServer,
} from './lib.js';

const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '1000000' },
    requests: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' },
    // the hand-written SQL is timed on the first N measured requests (some take seconds)
    'hand-requests': { type: 'string', default: '60' },
    only: { type: 'string' },
    'no-record': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // re-measure on a database kept with --keep (its data, tiers and segment are reused)
    database: { type: 'string' },
  },
});
const CUSTOMERS = integerOption({ name: 'customers', value: args.customers });
const REQUESTS = integerOption({ name: 'requests', value: args.requests });
const WARMUP = integerOption({ name: 'warmup', value: args.warmup, min: 0 });
const HAND_REQUESTS = integerOption({ name: 'hand-requests', value: args['hand-requests'] });
const SEGMENT_NAME = 'Bench spenders';

const LAST = ['Popescu', 'Ionescu', 'Popa', 'Stan', 'Dumitru', 'Stoica', 'Gheorghe', 'Matei', 'Rusu', 'Munteanu'];
const FIRST = ['Ana', 'Mihai', 'Elena', 'Andrei', 'Maria', 'Ion', 'Ioana', 'Alex', 'Cristina', 'Radu'];

/** Deterministic pseudo-random numbers, so two runs ask the same questions. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Env {
  tenantId: string;
  segmentId: string;
  customers: number;
  /** Cursors of `-created_at` pages at random depths (the last row before the page). */
  deepCursors: { cursor: string; key: string; id: string }[];
}

/** One measured listing: the API's query string and the same page by hand (text + params, $1 is the tenant). */
interface Query {
  name: string;
  kind: 'search' | 'list';
  what: string;
  make(i: number): { qs: string; sql: string; params: unknown[] };
}

const COLS = `c.id, c.tenant_id, c.external_id, c.email, c.phone, c.first_name, c.last_name, c.company_name, c.customer_type,
  c.status, c.date_of_birth, c.gender, c.addresses, c.city, c.state, c.country, c.postal_code, c.source, c.tags,
  c.preferences, c.consent, c.custom_fields, c.loyalty_tier, c.loyalty_points, c.is_vip, c.total_orders, c.total_spend,
  c.events_attended, c.average_order_value, c.lifetime_value, c.first_purchase, c.last_purchase,
  c.last_contact_at, c.last_activity_at, c.merged_into, c.deleted_at, c.created_at, c.updated_at`;
const LIVE = `c.tenant_id = $1 AND c.deleted_at IS NULL AND c.merged_into IS NULL`;
const page = (where: string, order: string) => `SELECT ${COLS} FROM customers c WHERE ${LIVE} AND ${where} ORDER BY ${order} LIMIT 51`;
const NEWEST = 'c.created_at DESC, c.id DESC';
const day = (d: Date) => d.toISOString().slice(0, 10);

function queries(env: Env): Query[] {
  const r = rng(7);
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const customerNo = () => 1 + Math.floor(r() * env.customers);
  const now = Date.now();
  const daysAgo = (n: number) => new Date(now - n * 86_400_000);
  return [
    {
      name: 'search-name', kind: 'search', what: 'search=<a last name fragment>, e.g. "popes" (10 % of customers match)',
      make() {
        const last = pick(LAST).toLowerCase();
        const frag = last.slice(0, 4 + Math.floor(r() * (last.length - 3)));
        return { qs: `search=${encodeURIComponent(frag)}`, sql: page(`c.search_text LIKE $2`, NEWEST), params: [`%${frag}%`] };
      },
    },
    {
      name: 'search-full-name', kind: 'search', what: 'search=<first and last name>, e.g. "elena popa" (1 %)',
      make() {
        const [f, l] = [pick(FIRST).toLowerCase(), pick(LAST).toLowerCase()];
        return { qs: `search=${encodeURIComponent(`${f} ${l}`)}`, sql: page(`c.search_text LIKE $2 AND c.search_text LIKE $3`, NEWEST), params: [`%${f}%`, `%${l}%`] };
      },
    },
    {
      name: 'search-email-prefix', kind: 'search', what: 'search=<e-mail prefix>, e.g. "user48213" (the address and its 10 longer neighbours)',
      make() {
        const frag = `user${customerNo()}`;
        return { qs: `search=${frag}`, sql: page(`c.search_text LIKE $2`, NEWEST), params: [`%${frag}%`] };
      },
    },
    {
      name: 'search-email', kind: 'search', what: 'search=<whole e-mail address> (exact look-up)',
      make() {
        const email = `user${customerNo()}@example.com`;
        return { qs: `search=${encodeURIComponent(email)}`, sql: page(`c.email = $2`, NEWEST), params: [email] };
      },
    },
    {
      name: 'search-phone', kind: 'search', what: 'search=<national phone number>, e.g. "0720048213" (stored as +40720048213)',
      make() {
        const digits = String(customerNo()).padStart(7, '0');
        return {
          qs: `search=072${digits}`,
          sql: page(`(c.search_text LIKE $2 OR c.phone = $3)`, NEWEST),
          params: [`%072${digits}%`, `+4072${digits}`],
        };
      },
    },
    {
      name: 'list-default', kind: 'list', what: 'no filter, first page (newest first)',
      make: () => ({ qs: '', sql: page('true', NEWEST), params: [] }),
    },
    {
      name: 'list-deep', kind: 'list', what: 'no filter, a page at a random depth through its cursor',
      make(i) {
        const d = env.deepCursors[i % env.deepCursors.length];
        return {
          qs: `cursor=${d.cursor}`,
          sql: page(`(c.created_at, c.id) < ($2::timestamptz, $3::uuid)`, NEWEST),
          params: [d.key, d.id],
        };
      },
    },
    {
      name: 'list-status-tier', kind: 'list', what: 'status=<inactive|prospect> & loyalty_tier=<Silver|Gold>',
      make() {
        const [s, t] = [pick(['inactive', 'prospect']), pick(['Silver', 'Gold'])];
        return { qs: `status=${s}&loyalty_tier=${t}`, sql: page(`c.status = $2 AND c.loyalty_tier = $3`, NEWEST), params: [s, t] };
      },
    },
    {
      name: 'list-country-ltv', kind: 'list', what: 'country=<RO|MD> & min_ltv=<100…1000>',
      make() {
        const [c, v] = [pick(['RO', 'MD']), pick([100, 250, 500, 1000])];
        return { qs: `country=${c}&min_ltv=${v}`, sql: page(`c.country = $2 AND c.lifetime_value >= $3::numeric`, NEWEST), params: [c, v] };
      },
    },
    {
      name: 'list-tag', kind: 'list', what: 'tags=<newsletter|early-adopter>',
      make() {
        const t = pick(['newsletter', 'early-adopter']);
        return { qs: `tags=${t}`, sql: page(`c.tags @> ARRAY[$2]::text[]`, NEWEST), params: [t] };
      },
    },
    {
      name: 'list-segment', kind: 'list', what: `segment_id=<"${SEGMENT_NAME}": total_spend >= 300>`,
      make: () => ({
        qs: `segment_id=${env.segmentId}`,
        sql: page(`EXISTS (SELECT 1 FROM segment_members sm WHERE sm.tenant_id = c.tenant_id AND sm.segment_id = $2::uuid AND sm.customer_id = c.id)`, NEWEST),
        params: [env.segmentId],
      }),
    },
    {
      name: 'list-created-range', kind: 'list', what: 'created_after & created_before: a random 30-day window',
      make() {
        const from = daysAgo(30 + Math.floor(r() * 1000));
        const to = new Date(from.getTime() + 30 * 86_400_000);
        return {
          qs: `created_after=${day(from)}&created_before=${day(to)}`,
          sql: page(`c.created_at >= $2::timestamptz AND c.created_at < $3::timestamptz`, NEWEST),
          params: [`${day(from)}T00:00:00Z`, `${day(to)}T00:00:00Z`],
        };
      },
    },
    {
      name: 'list-purchase-range', kind: 'list', what: 'last_purchase_after & last_purchase_before: a random 30-day window',
      make() {
        const from = daysAgo(30 + Math.floor(r() * 1000));
        const to = new Date(from.getTime() + 30 * 86_400_000);
        return {
          qs: `last_purchase_after=${day(from)}&last_purchase_before=${day(to)}`,
          sql: page(`c.last_purchase >= $2::timestamptz AND c.last_purchase < $3::timestamptz`, NEWEST),
          params: [`${day(from)}T00:00:00Z`, `${day(to)}T00:00:00Z`],
        };
      },
    },
    {
      name: 'sort-spend', kind: 'list', what: 'sort=-total_spend, first page',
      make: () => ({ qs: 'sort=-total_spend', sql: page('true', 'c.total_spend DESC, c.id DESC'), params: [] }),
    },
    {
      name: 'sort-spend-filtered', kind: 'list', what: 'sort=-total_spend & country=MD & status=<inactive|prospect>',
      make() {
        const s = pick(['inactive', 'prospect']);
        return { qs: `sort=-total_spend&country=MD&status=${s}`, sql: page(`c.country = 'MD' AND c.status = $2`, 'c.total_spend DESC, c.id DESC'), params: [s] };
      },
    },
    {
      name: 'sort-last-purchase', kind: 'list', what: 'sort=-last_purchase, first page',
      make: () => ({ qs: 'sort=-last_purchase', sql: page('c.last_purchase IS NOT NULL', 'c.last_purchase DESC NULLS LAST, c.id DESC'), params: [] }),
    },
    {
      name: 'sort-last-purchase-filtered', kind: 'list', what: 'sort=-last_purchase & loyalty_tier=Gold & tags=newsletter',
      make: () => ({
        qs: 'sort=-last_purchase&loyalty_tier=Gold&tags=newsletter',
        sql: page(`c.loyalty_tier = 'Gold' AND c.tags @> ARRAY['newsletter']::text[] AND c.last_purchase IS NOT NULL`, 'c.last_purchase DESC NULLS LAST, c.id DESC'),
        params: [],
      }),
    },
  ];
}

/** Statuses and tiers the generator leaves uniform, and a segment to filter by; idempotent on a kept database. */
async function prepare(b: BenchDatabase): Promise<string> {
  const c = new pg.Client({ connectionString: b.url });
  await c.connect();
  try {
    const { rows: [{ n }] } = await c.query(`SELECT count(*)::int AS n FROM (SELECT 1 FROM customers WHERE loyalty_tier IS NOT NULL LIMIT 1) x`);
    if (n === 0) {
      // a non-HOT update of every row: cheaper to rebuild the secondary indexes afterwards, as the generator does
      const t0 = performance.now();
      const indexes = (await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers' AND indexname <> 'customers_pkey'`)).rows as { indexname: string; indexdef: string }[];
      for (const ix of indexes) await c.query(`DROP INDEX ${ix.indexname}`);
      await c.query(`SET maintenance_work_mem = '512MB'`);
      await c.query(`SELECT setseed(0.17)`);
      await c.query(`
        UPDATE customers SET
          status = CASE WHEN random() < 0.85 THEN 'active' WHEN random() < 0.67 THEN 'inactive' ELSE 'prospect' END,
          loyalty_tier = CASE WHEN total_spend >= 500 THEN 'Gold' WHEN total_spend >= 200 THEN 'Silver' ELSE 'Bronze' END
        WHERE tenant_id = $1`, [b.tenantId]);
      for (const ix of indexes) await c.query(ix.indexdef);
      await c.query(`VACUUM ANALYZE customers`);
      log(`statuses and tiers spread in ${fmt(performance.now() - t0)} ms`);
    }
  } finally {
    await c.end();
  }
  const existing = await b.db.one<{ id: string }>(sql`
    SELECT id FROM segments WHERE tenant_id = ${b.tenantId}::uuid AND name = ${SEGMENT_NAME} AND deleted_at IS NULL`);
  if (existing) return existing.id;
  const t0 = performance.now();
  const seg = await createSegment({ db: b.db, tenantId: b.tenantId, actor: 'cli' }, {
    name: SEGMENT_NAME, rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 300 }] }, auto_update: true,
  } as never);
  await b.db.run(sql`VACUUM ANALYZE segment_members`);
  log(`segment "${SEGMENT_NAME}": ${fmt(seg.customer_count)} members in ${fmt(performance.now() - t0)} ms`);
  return seg.id;
}

/** `-created_at` cursors at random depths: the row before each page, as the API encodes it. */
async function deepCursors(b: BenchDatabase, count: number): Promise<Env['deepCursors']> {
  const r = rng(11);
  const out: Env['deepCursors'] = [];
  for (let i = 0; i < count; i++) {
    const offset = Math.floor(r() * (b.counts.customers - 100));
    const row = await b.db.one<{ id: string; key: string }>(sql`
      SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS key FROM customers c
      WHERE c.tenant_id = ${b.tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL
      ORDER BY c.created_at DESC, c.id DESC OFFSET ${offset} LIMIT 1`);
    out.push({ cursor: encodeCursor(['-created_at', row!.key, row!.id]), key: row!.key, id: row!.id });
  }
  return out;
}

interface Result { q: Query; api: number[]; hand: number[]; rows: number }

const HEADER =
  '| date | machine | PostgreSQL | customers | query | kind | rows (median) | API p50 / p99 ms | hand SQL p50 / p99 ms | ratio (p50) | target p99 | load before / after |\n' +
  '|---|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|\n';

async function main() {
  const loadBefore = os.loadavg()[0];
  const b = args.database ? await openBenchDatabase(args.database) : await createBenchDatabase('customers', CUSTOMERS, { keep: args.keep });
  try {
    if (!args.database) log(`data generated in ${fmt(b.generateMs)} ms`);
    const segmentId = await prepare(b);
    const apiKey = (await createApiKey(b.db, { tenantId: b.tenantId, name: `bench ${Date.now()}`, role: 'admin', createdBy: 'bench' })).apiKey;
    const env: Env = { tenantId: b.tenantId, segmentId, customers: b.counts.customers, deepCursors: await deepCursors(b, 50) };
    const only = args.only ? new Set(args.only.split(',')) : undefined;
    const list = queries(env).filter((q) => !only || only.has(q.name));

    const port = await freePort();
    const server = await startServer(b.url, port);
    const hand = new pg.Client({ connectionString: b.url });
    await hand.connect();
    const results: Result[] = [];
    try {
      const get = async (qs: string) => {
        const t0 = performance.now();
        const res = await fetch(`http://127.0.0.1:${port}/api/crm/customers${qs ? `?${qs}` : ''}`, { headers: { authorization: `Bearer ${apiKey}` } });
        const body = (await res.json()) as { data?: { id: string }[] };
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`GET /customers?${qs}: ${res.status} ${JSON.stringify(body)}`);
        return { ms, ids: body.data!.map((c) => c.id) };
      };
      const bySql = async (text: string, params: unknown[]) => {
        const t0 = performance.now();
        const r = await hand.query(text, [b.tenantId, ...params]);
        return { ms: performance.now() - t0, ids: (r.rows as { id: string }[]).slice(0, 50).map((row) => row.id) };
      };
      for (const q of list) {
        for (let i = 0; i < WARMUP; i++) {
          const m = q.make(i);
          await get(m.qs);
          if (i < 5) await bySql(m.sql, m.params);
        }
        const res: Result = { q, api: [], hand: [], rows: 0 };
        const rowCounts: number[] = [];
        for (let i = 0; i < REQUESTS; i++) {
          const m = q.make(WARMUP + i);
          const a = await get(m.qs);
          res.api.push(a.ms);
          if (i < HAND_REQUESTS) {
            const h = await bySql(m.sql, m.params);
            if (a.ids.join() !== h.ids.join()) throw new Error(`${q.name} (${m.qs}): the API's page differs from the hand-written SQL's (${a.ids.length} / ${h.ids.length} rows)`);
            res.hand.push(h.ms);
          }
          rowCounts.push(a.ids.length);
        }
        res.rows = median(rowCounts);
        results.push(res);
        log(`${q.name.padEnd(28)} API p50 ${percentile(res.api, 50).toFixed(1)} / p99 ${percentile(res.api, 99).toFixed(1)} ms; `
          + `SQL p50 ${percentile(res.hand, 50).toFixed(1)} / p99 ${percentile(res.hand, 99).toFixed(1)} ms; load ${os.loadavg()[0].toFixed(2)}`);
      }
    } finally {
      await hand.end();
      await stopServer(server);
    }

    const loadAfter = os.loadavg()[0];
    const m = machine();
    const target = (q: Query) => (q.kind === 'search' ? 20 : 50);
    const lines = results.map((r) => {
      const [ap50, ap99, hp50, hp99] = [percentile(r.api, 50), percentile(r.api, 99), percentile(r.hand, 50), percentile(r.hand, 99)];
      const miss = ap99 > target(r.q) ? '  MISSES' : '';
      return `  ${r.q.name.padEnd(28)} rows ${String(r.rows).padStart(2)}  API ${ap50.toFixed(1).padStart(6)} / ${ap99.toFixed(1).padStart(6)} ms   SQL ${hp50.toFixed(1).padStart(6)} / ${hp99.toFixed(1).padStart(6)} ms   ${(ap50 / hp50).toFixed(2)}×  (p99 <= ${target(r.q)} ms)${miss}`;
    });
    process.stdout.write([
      '',
      `Customer listing on PostgreSQL ${b.pgVersion} (${m.cores} cores), ${fmt(b.counts.customers)} customers; ${REQUESTS} API requests per query after ${WARMUP} warm-up, hand-written SQL on the first ${Math.min(HAND_REQUESTS, REQUESTS)}; p50 / p99:`,
      ...lines,
      `  load average before / after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
      '',
    ].join('\n'));
    if (!args['no-record']) {
      for (const r of results) {
        appendResultRow({ name: 'customers', title: 'Customer search and list results', header: HEADER, row: [
          resultDate(), machineLabel(m), b.pgVersion, fmt(b.counts.customers), `\`${r.q.name}\``, r.q.kind, String(r.rows),
          `${percentile(r.api, 50).toFixed(1)} / ${percentile(r.api, 99).toFixed(1)}`,
          `${percentile(r.hand, 50).toFixed(1)} / ${percentile(r.hand, 99).toFixed(1)}`,
          `${(percentile(r.api, 50) / percentile(r.hand, 50)).toFixed(2)}×`, String(target(r.q)),
          `${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)}`,
        ] });
      }
    }
  } finally {
    await b.drop();
  }
}

runMain(main);
