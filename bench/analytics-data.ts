/**
 * Shared by bench/segments.bench.ts and bench/analytics.bench.ts: a database of its own with N generated
 * customers, their orders, order items, check-ins and e-mail timeline entries, generated set-based in SQL.
 *
 * Distributions (per customer, BG/NBD-like so the CLV fit has something real to find):
 *  - created_at: last 3 years, skewed to recent (a growing business);
 *  - 65 % are buyers; a buyer purchases at a gamma(2)-distributed rate (mean one order per 120 days) while
 *    "alive", and stays alive for an exponential time (mean 400 days) after sign-up;
 *  - each buyer has a mean order value (log-normal around ~35), each order varies around it (log-normal);
 *  - 2 % of orders are cancelled; every completed order has one item for one of 500 shows (8 genres,
 *    20 venues); 70 % of tickets for past shows are checked in;
 *  - 30 % of customers have 1–3 `email.opened` / `email.clicked` timeline entries in the last 120 days;
 *  - city from 30 cities with a skew (Bucharest-like first), gender, birthday, tags, genre preferences,
 *    consent, acquisition source.
 * The profile metrics (total_orders, total_spend, events_attended, …) are computed from those rows as
 * ingestion would. Foreign-key triggers are skipped for the load (session_replication_role = replica):
 * the generator writes consistent rows by construction.
 */
import { migrate } from '../src/db/migrate.js';
import pg from 'pg';
import { openDatabase, sql, type Database } from '../src/db/database.js';
import { BASE_URL, createScratchDatabase, fmt, log, setUpTenant, withDatabase } from './lib.js';

export interface BenchDatabase {
  name: string;
  url: string;
  tenantId: string;
  apiKey: string;
  db: Database;
  pgVersion: string;
  counts: { customers: number; buyers: number; orders: number; attendance: number; activities: number };
  generateMs: number;
  drop(): Promise<void>;
}

/**
 * An existing database made by createBenchDatabase (kept with --keep): its only tenant, no API key (the
 * secret is not stored), brought to the current schema, nothing dropped at the end.
 */
export async function openBenchDatabase(name: string): Promise<BenchDatabase> {
  const url = withDatabase(BASE_URL, name);
  const db = await openDatabase({ url, poolSize: 4 });
  await migrate(db);
  const pgVersion = ((await db.one<{ v: string }>(sql`SELECT current_setting('server_version') AS v`))!.v).split(' ')[0];
  const tenant = await db.one<{ id: string }>(sql`SELECT id FROM tenants ORDER BY created_at LIMIT 1`);
  const counts = (await db.one<BenchDatabase['counts']>(sql`
    SELECT (SELECT count(*) FROM customers)::int AS customers, (SELECT count(*) FROM customers WHERE total_orders > 0)::int AS buyers,
           (SELECT count(*) FROM orders)::int AS orders, (SELECT count(*) FROM attendance)::int AS attendance,
           (SELECT count(*) FROM activities)::int AS activities`))!;
  return { name, url, tenantId: tenant!.id, apiKey: '', db, pgVersion, counts, generateMs: 0, drop: () => db.close() };
}

/** Creates `crm_bench_<prefix>_<ts>` on BENCH_DATABASE_URL, migrates it, creates a tenant and fills it. */
export async function createBenchDatabase(prefix: string, customers: number, opts: { keep?: boolean; poolSize?: number } = {}): Promise<BenchDatabase> {
  const { name, url, pgVersion, drop } = await createScratchDatabase({ prefix: `crm_bench_${prefix}`, keep: opts.keep });
  try {
    const { db, tenant, apiKey } = await setUpTenant({ url, poolSize: opts.poolSize ?? 4 });
    const t0 = performance.now();
    const counts = await generate(url, tenant.id, customers);
    const generateMs = performance.now() - t0;
    return { name, url, tenantId: tenant.id, apiKey, db, pgVersion, counts, generateMs, drop: async () => { await db.close(); await drop(); } };
  } catch (err) {
    await drop();
    throw err;
  }
}

async function generate(url: string, tenantId: string, n: number): Promise<BenchDatabase['counts']> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const q = async (label: string, text: string, params: unknown[] = []) => {
    const t0 = performance.now();
    const r = await c.query(text, params);
    log(`  ${label}: ${fmt(performance.now() - t0)} ms${r.rowCount ? ` (${fmt(r.rowCount)} rows)` : ''}`);
    return r;
  };
  try {
    await c.query(`SET session_replication_role = replica`);
    await c.query(`SET work_mem = '256MB'`);
    await c.query(`SET maintenance_work_mem = '512MB'`);
    await c.query(`SELECT setseed(0.42)`);
    log(`generating ${fmt(n)} customers`);
    await q('shows', `
      INSERT INTO catalog_events (tenant_id, id, name, genres, venue, city, starts_at, status)
      SELECT $1::uuid, 'ev_' || i, 'Show ' || i,
             ARRAY[(ARRAY['rock','jazz','pop','classical','electronic','hiphop','folk','metal'])[1 + (i % 8)]],
             'Venue ' || (1 + i % 20), (ARRAY['Bucharest','Cluj-Napoca','Iasi','Timisoara','Brasov'])[1 + i % 5],
             now() - interval '1095 days' + (i * interval '1 day' * 1275 / 500), 'scheduled'
      FROM generate_series(1, 500) i`, [tenantId]);
    // One row per customer: everything the orders and the profile derive from.
    await q('plan', `
      CREATE TEMP TABLE gen AS
      SELECT i, gen_random_uuid() AS id, created_at,
             CASE WHEN random() < 0.65 THEN 1 ELSE 0 END AS buyer,
             -- gamma(2) rate, mean 1/120 per day; alive for exp(400 days) after sign-up
             (-ln(1 - random()) - ln(1 - random())) / 240.0 AS rate,
             least(now(), created_at + (-ln(1 - random()) * 400) * interval '1 day') AS alive_until,
             exp(3.4 + 0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS mean_value
      FROM (SELECT i, now() - (1095 * (1 - sqrt(random()))) * interval '1 day' AS created_at FROM generate_series(1, $1::int) i) s`, [n]);
    await q('analyze plan', `ANALYZE gen`);
    await q('orders', `
      INSERT INTO orders (tenant_id, id, customer_id, status, total, currency, placed_at, completed_at, source)
      SELECT $1::uuid, 'o' || g.i || '-' || k, g.id,
             CASE WHEN random() < 0.02 THEN 'cancelled' ELSE 'completed' END,
             round((g.mean_value * exp(0.3 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::numeric, 2),
             'RON', t.at, t.at, 'web'
      FROM gen g
      CROSS JOIN LATERAL generate_series(1, 1 + floor(-ln(1 - random()) * g.rate * greatest(0, extract(epoch FROM g.alive_until - g.created_at) / 86400))::int) k
      CROSS JOIN LATERAL (SELECT CASE WHEN k = 1 THEN g.created_at + random() * interval '2 days'
                                      ELSE g.created_at + random() * (g.alive_until - g.created_at) END AS at) t
      WHERE g.buyer = 1 AND t.at < now()`, [tenantId]);
    await q('analyze orders', `ANALYZE orders`);
    await q('cancelled orders', `UPDATE orders SET completed_at = NULL, cancelled_at = placed_at WHERE tenant_id = $1::uuid AND status = 'cancelled'`, [tenantId]);
    await q('order items', `
      INSERT INTO order_items (tenant_id, order_id, line_no, event_id, ticket_type, quantity, unit_price)
      SELECT o.tenant_id, o.id, 1, 'ev_' || (1 + floor(random() * 500))::int, 'standard', q.n, round(o.total / q.n, 2)
      FROM orders o CROSS JOIN LATERAL (SELECT 1 + floor(random() * 3)::int AS n) q
      WHERE o.tenant_id = $1::uuid`, [tenantId]);
    await q('analyze items', `ANALYZE order_items, catalog_events`);
    await q('check-ins', `
      INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, order_id, checked_in_at)
      SELECT o.tenant_id, o.customer_id, oi.event_id, o.id, o.id, e.starts_at + interval '30 minutes'
      FROM order_items oi
      JOIN orders o ON o.tenant_id = oi.tenant_id AND o.id = oi.order_id AND o.status = 'completed'
      JOIN catalog_events e ON e.tenant_id = oi.tenant_id AND e.id = oi.event_id
      WHERE oi.tenant_id = $1::uuid AND e.starts_at < now() AND e.starts_at > o.completed_at AND random() < 0.7`, [tenantId]);
    await q('analyze attendance', `ANALYZE attendance`);
    // Building the customers' secondary indexes (trigram GIN, btree_gin, …) after the load is several
    // times faster than maintaining them row by row.
    const indexes = (await c.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers' AND indexname <> 'customers_pkey'`)).rows as { indexname: string; indexdef: string }[];
    for (const ix of indexes) await c.query(`DROP INDEX ${ix.indexname}`);
    await q('customers', `
      INSERT INTO customers (tenant_id, id, external_id, email, phone, first_name, last_name, gender, date_of_birth,
                             city, country, source, tags, preferences, consent, status,
                             total_orders, total_spend, events_attended, average_order_value, lifetime_value,
                             first_purchase, last_purchase, last_activity_at, created_at, updated_at)
      SELECT $1::uuid, g.id, 'bench-' || g.i, 'user' || g.i || '@example.com', '+4072' || lpad(g.i::text, 7, '0'),
             (ARRAY['Ana','Mihai','Elena','Andrei','Maria','Ion','Ioana','Alex','Cristina','Radu'])[1 + g.i % 10],
             (ARRAY['Popescu','Ionescu','Popa','Stan','Dumitru','Stoica','Gheorghe','Matei','Rusu','Munteanu'])[1 + (g.i / 10) % 10],
             (ARRAY['female','male','female','male','other'])[1 + g.i % 5],
             date '1950-01-01' + (random() * 20000)::int,
             (ARRAY['Bucharest','Cluj-Napoca','Iasi','Timisoara','Brasov','Constanta','Craiova','Galati','Ploiesti','Oradea',
                    'Braila','Arad','Pitesti','Sibiu','Bacau','Targu Mures','Baia Mare','Buzau','Botosani','Satu Mare',
                    'Ramnicu Valcea','Drobeta','Suceava','Piatra Neamt','Targu Jiu','Tulcea','Focsani','Bistrita','Resita','Alba Iulia'])
               [1 + floor(30 * random() ^ 2)::int],
             CASE WHEN random() < 0.95 THEN 'RO' ELSE 'MD' END,
             (ARRAY['web','facebook','google','referral','box_office'])[1 + floor(5 * random() ^ 1.5)::int],
             CASE WHEN random() < 0.2 THEN ARRAY['newsletter'] WHEN random() < 0.05 THEN ARRAY['early-adopter','newsletter'] ELSE '{}' END,
             jsonb_build_object('genres', jsonb_build_array((ARRAY['rock','jazz','pop','classical','electronic','hiphop','folk','metal'])[1 + g.i % 8])),
             jsonb_build_object('marketing_email', random() < 0.7, 'marketing_sms', random() < 0.3),
             'active',
             coalesce(a.orders, 0), coalesce(a.spend, 0), coalesce(at.n, 0),
             coalesce(round(a.spend / nullif(a.orders, 0), 2), 0), coalesce(a.spend, 0),
             a.first_at, a.last_at, greatest(a.last_at, g.created_at), g.created_at, g.created_at
      FROM gen g
      LEFT JOIN (SELECT customer_id, count(*) AS orders, sum(total) AS spend, min(completed_at) AS first_at, max(completed_at) AS last_at
                 FROM orders WHERE tenant_id = $1::uuid AND status = 'completed' GROUP BY customer_id) a ON a.customer_id = g.id
      LEFT JOIN (SELECT customer_id, count(*) AS n FROM attendance WHERE tenant_id = $1::uuid GROUP BY customer_id) at ON at.customer_id = g.id`, [tenantId]);
    const t1 = performance.now();
    for (const ix of indexes) await c.query(ix.indexdef);
    log(`  customer indexes: ${fmt(performance.now() - t1)} ms (${indexes.length})`);
    await q('e-mail timeline', `
      INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, actor)
      SELECT $1::uuid, g.id, CASE WHEN random() < 0.25 THEN 'email.clicked' ELSE 'email.opened' END,
             now() - random() * interval '120 days', 'E-mail', '{}', 'system'
      FROM gen g CROSS JOIN LATERAL generate_series(1, 1 + floor(random() * 3)::int) k
      WHERE g.i % 10 < 3`, [tenantId]);
    await c.query(`SET session_replication_role = DEFAULT`);
    await q('vacuum analyze', `VACUUM ANALYZE`);
    const counts = (await c.query(`
      SELECT (SELECT count(*) FROM customers)::int AS customers, (SELECT count(*) FROM customers WHERE total_orders > 0)::int AS buyers,
             (SELECT count(*) FROM orders)::int AS orders, (SELECT count(*) FROM attendance)::int AS attendance,
             (SELECT count(*) FROM activities)::int AS activities`)).rows[0];
    log(`generated: ${fmt(counts.customers)} customers (${fmt(counts.buyers)} buyers), ${fmt(counts.orders)} orders, ${fmt(counts.attendance)} check-ins, ${fmt(counts.activities)} timeline entries`);
    return counts;
  } finally {
    await c.end();
  }
}
