/**
 * Duplicate detection benchmark (issue 6, item 4): a full scan over N generated customers (default
 * 1,000,000) on PostgreSQL, with a known share of planted duplicates; reports the scan time and the
 * precision and recall on the planted pairs, and the cost of the incremental check of 1000 customers.
 *
 *   npm run bench:dedupe -- [--customers 1000000] [--planted 0.05] [--no-record] [--keep]
 *
 * BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) names a server and a database
 * to connect to; the benchmark creates `crm_bench_dedupe_<ts>` there and drops it at the end.
 *
 * Data (generated in SQL, seeded): Romanian-looking names (200 first names × 3,000 last names built
 * from 150 stems and 20 endings), 60 cities, e-mails unique per customer on a mix of free-mail and
 * company domains, unique mobile numbers (70 %), birth dates (60 %), city (90 %). Then `--planted`
 * × N duplicates of randomly chosen customers, five kinds in equal shares:
 *   email   the same mailbox written differently (Gmail dots, +tag, case), same name
 *   phone   the same phone, a new e-mail address, the same name
 *   city    a one-letter typo in the first or last name, the same city, nothing else shared
 *   dob     a one-letter typo in the last name, the same birth date, another city, nothing else shared
 *   suffix  the same name and the last seven digits of the phone under another prefix
 * Recall = planted pairs found / planted pairs. Precision = planted pairs found / pairs found (pairs
 * among generated customers that happen to share a name and a city count as false: the generator
 * did not mean them, though a person reading them could not tell either).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { sql } from '../src/db/database.js';
import { insertScan, queueCustomers } from '../src/modules/dedupe/dedupe.repository.js';
import { processQueue, runScan, DEFAULT_SETTINGS } from '../src/modules/dedupe/dedupe.service.js';
import { appendResultRow, createScratchDatabase, fmt, integerOption, log, machine, resultDate, runMain, setUpTenant } from './lib.js';

const { values: args } = parseArgs({
  options: {
    customers: { type: 'string', default: '1000000' },
    planted: { type: 'string', default: '0.05' },
    seed: { type: 'string', default: '0.42' },
    'no-record': { type: 'boolean', default: false },
    /** leave the database for EXPLAIN sessions (drop it by hand) */
    keep: { type: 'boolean', default: false },
  },
});
const N = integerOption({ name: 'customers', value: args.customers, min: 1000 });
const PLANTED_SHARE = Number(args.planted);
if (!(PLANTED_SHARE > 0 && PLANTED_SHARE < 0.5)) throw new Error('--planted must be between 0 and 0.5');

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const FIRST = [
  'Ion', 'Maria', 'Andrei', 'Elena', 'Alexandru', 'Ana', 'Mihai', 'Ioana', 'Stefan', 'Cristina', 'Gabriel', 'Andreea', 'Vlad',
  'Mihaela', 'Florin', 'Alina', 'Adrian', 'Diana', 'Bogdan', 'Raluca', 'Cristian', 'Roxana', 'Daniel', 'Simona', 'Marius',
  'Gabriela', 'Razvan', 'Oana', 'Catalin', 'Laura', 'Sorin', 'Monica', 'Radu', 'Irina', 'Lucian', 'Adriana', 'Dan', 'Carmen',
  'Victor', 'Bianca', 'George', 'Camelia', 'Cosmin', 'Daniela', 'Ionut', 'Larisa', 'Paul', 'Madalina', 'Tudor', 'Alexandra',
  'Nicolae', 'Corina', 'Ovidiu', 'Claudia', 'Emil', 'Lavinia', 'Sebastian', 'Teodora', 'Horia', 'Anca', 'Liviu', 'Denisa',
  'Petru', 'Valentina', 'Iulian', 'Sabina', 'Viorel', 'Delia', 'Claudiu', 'Loredana', 'Eugen', 'Nicoleta', 'Silviu', 'Paula',
  'Costin', 'Ramona', 'Octavian', 'Florina', 'Aurel', 'Georgiana', 'Dragos', 'Luminita', 'Matei', 'Viorica', 'Robert',
  'Mirela', 'Cezar', 'Cornelia', 'Emanuel', 'Silvia', 'Traian', 'Veronica', 'Remus', 'Ileana', 'Valentin', 'Doina', 'Virgil',
  'Angela', 'Titus', 'Rodica', 'Bogdana', 'Costel', 'Elisabeta', 'Fane', 'Geta', 'Grigore', 'Ilie', 'Jana', 'Leonard',
  'Liliana', 'Marcel', 'Marin', 'Natalia', 'Nelu', 'Olga', 'Patricia', 'Petrica', 'Rares', 'Sanda', 'Sergiu', 'Sorina',
  'Tiberiu', 'Toma', 'Vasile', 'Virginia', 'Zoe', 'Aurelia', 'Beatrice', 'Calin', 'Carina', 'Dorin', 'Dumitru', 'Eduard',
  'Felicia', 'Filip', 'Ginel', 'Iacob', 'Ignat', 'Isabela', 'Iuliana', 'Lidia', 'Lorena', 'Medeea', 'Mircea', 'Nadia',
  'Narcis', 'Nora', 'Patrick', 'Pavel', 'Relu', 'Rebeca', 'Sandu', 'Sara', 'Sever', 'Stela', 'Teofil', 'Tania', 'Titi',
  'Ursula', 'Valeriu', 'Vera', 'Vicentiu', 'Viviana', 'Zaharia', 'Amalia', 'Anton', 'Aura', 'Bebe', 'Betina', 'Carol',
  'Cleopatra', 'Damian', 'Dora', 'Emilian', 'Eliza', 'Fabian', 'Flavia', 'Gelu', 'Gina', 'Haralambie', 'Ina', 'Iosif', 'Ira',
  'Laurentiu', 'Letitia', 'Lucretia', 'Manuel', 'Marta', 'Mugur', 'Noemi', 'Norbert', 'Otilia', 'Pompiliu', 'Romeo',
  'Rozalia', 'Sabin', 'Smaranda', 'Stelian', 'Tamara', 'Tudora', 'Uta', 'Vlasta', 'Zamfir', 'Zenovia', 'Adela', 'Alin', 'Ariana',
].slice(0, 200);
const STEMS = [
  'Pop', 'Ion', 'Dumitr', 'Stan', 'Georg', 'Constantin', 'Marin', 'Tudor', 'Rad', 'Stoic', 'Munteanu', 'Dinu', 'Ene', 'Barbu',
  'Lungu', 'Vasil', 'Nistor', 'Mocan', 'Toma', 'Gheorgh', 'Neag', 'Cristea', 'Moldov', 'Sandu', 'Preda', 'Olar', 'Petr',
  'Manol', 'Voic', 'Dobr', 'Mihail', 'Ardel', 'Costach', 'Pavel', 'Iord', 'Florea', 'Zamfir', 'Surd', 'Tanas', 'Lazar', 'Bogd',
  'Nedel', 'Pascal', 'Roman', 'Stanc', 'Ursu', 'Vlad', 'Anghel', 'Bucur', 'Cazan', 'Chiril', 'Coman', 'Cozm', 'Dragom',
  'Enach', 'Filip', 'Grigor', 'Hagi', 'Ilie', 'Iftim', 'Jitar', 'Leon', 'Lupu', 'Macov', 'Matei', 'Mirc', 'Nechit', 'Oprea',
  'Paras', 'Pirvu', 'Raducan', 'Rusu', 'Sava', 'Serb', 'Simion', 'Sirb', 'Tataru', 'Teodor', 'Trandaf', 'Tudos', 'Turc',
  'Vint', 'Zaharia', 'Albu', 'Avram', 'Baciu', 'Balan', 'Bejan', 'Buzat', 'Calin', 'Carp', 'Catan', 'Cioban', 'Cojoc',
  'Crac', 'Dan', 'Diaconu', 'Dobre', 'Done', 'Draghic', 'Fieraru', 'Gavril', 'Ghita', 'Gradin', 'Husar', 'Iancu', 'Ispas',
  'Jianu', 'Lascar', 'Mares', 'Mazil', 'Mitr', 'Moraru', 'Nae', 'Negru', 'Nica', 'Oance', 'Pana', 'Patrasc', 'Pintil',
  'Pluta', 'Popov', 'Prisac', 'Rotar', 'Sabau', 'Scarlat', 'Sima', 'Soare', 'Spiridon', 'Stefan', 'Suciu', 'Talpa', 'Tapu',
  'Tocan', 'Topal', 'Trif', 'Tugui', 'Varg', 'Vasc', 'Vlas', 'Zaman', 'Zanfir', 'Zota', 'Bratu', 'Cernat', 'Dascal', 'Epure',
  'Farcas', 'Gherm',
].slice(0, 150);
const ENDINGS = ['escu', 'eanu', 'a', 'ache', 'oiu', 'ici', 'ovici', 'ar', 'an', 'ea', 'u', 'iuc', 'aru', 'inescu', 'el', 'ut', 'us', 'oaie', 'ila', 'ovan'];
const CITIES = [
  'București', 'Cluj-Napoca', 'Timișoara', 'Iași', 'Constanța', 'Craiova', 'Brașov', 'Galați', 'Ploiești', 'Oradea',
  'Brăila', 'Arad', 'Pitești', 'Sibiu', 'Bacău', 'Târgu Mureș', 'Baia Mare', 'Buzău', 'Botoșani', 'Satu Mare',
  'Râmnicu Vâlcea', 'Drobeta-Turnu Severin', 'Suceava', 'Piatra Neamț', 'Târgu Jiu', 'Târgoviște', 'Focșani', 'Bistrița',
  'Reșița', 'Tulcea', 'Călărași', 'Giurgiu', 'Alba Iulia', 'Deva', 'Hunedoara', 'Zalău', 'Sfântu Gheorghe', 'Bârlad',
  'Vaslui', 'Roman', 'Turda', 'Mediaș', 'Slobozia', 'Alexandria', 'Voluntari', 'Lugoj', 'Medgidia', 'Onești',
  'Miercurea Ciuc', 'Sighetu Marmației', 'Petroșani', 'Mangalia', 'Tecuci', 'Râmnicu Sărat', 'Odorheiu Secuiesc',
  'Pașcani', 'Dej', 'Reghin', 'Năvodari', 'Câmpina',
].slice(0, 60);
const DOMAINS = ['gmail.com', 'gmail.com', 'gmail.com', 'yahoo.com', 'yahoo.ro', 'outlook.com', 'hotmail.com', 'icloud.com', 'exemplu.ro', 'firma.ro'];

const lit = (xs: string[]) => `ARRAY[${xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(',')}]::text[]`;

async function generate(client: pg.Client, tenantId: string) {
  await client.query(`SELECT setseed(${Number(args.seed)})`);
  // One INSERT … SELECT over generate_series: the server builds the rows, nothing crosses the wire.
  await client.query(`
    INSERT INTO customers (tenant_id, first_name, last_name, email, phone, city, date_of_birth, loyalty_tier, created_at)
    SELECT $1::uuid, g.fn, g.ln,
           CASE WHEN random() < 0.85 THEN lower(g.fn) || '.' || lower(g.ln) || g.i || '@' || (${lit(DOMAINS)})[1 + floor(random() * ${DOMAINS.length})::int] END,
           CASE WHEN random() < 0.70 THEN '+407' || (2 + floor(random() * 6)::int)::text || lpad(((g.i::bigint * 7919) % 10000000)::text, 7, '0') END,
           CASE WHEN random() < 0.90 THEN (${lit(CITIES)})[1 + floor(random() * ${CITIES.length})::int] END,
           CASE WHEN random() < 0.60 THEN date '1950-01-01' + floor(random() * 20000)::int END,
           'bronze', now() - make_interval(days => floor(random() * 1000)::int)
    FROM (
      SELECT i,
             (${lit(FIRST)})[1 + floor(random() * ${FIRST.length})::int] AS fn,
             (${lit(STEMS)})[1 + floor(random() * ${STEMS.length})::int] || (${lit(ENDINGS)})[1 + floor(random() * ${ENDINGS.length})::int] AS ln
      FROM generate_series(1, $2::int) AS i
    ) g`, [tenantId, N]);
}

/** A one-letter substitution at a random position after the first two letters. */
const TYPO = (e: string) => `overlay(${e} placing chr(97 + floor(random() * 26)::int) from 3 + floor(random() * greatest(length(${e}) - 3, 1))::int for 1)`;

async function plant(client: pg.Client, tenantId: string): Promise<Record<string, number>> {
  const perKind = Math.floor((N * PLANTED_SHARE) / 5);
  await client.query('CREATE TABLE bench_planted (orig uuid NOT NULL, dup uuid NOT NULL DEFAULT gen_random_uuid(), kind text NOT NULL, r float8 NOT NULL DEFAULT random())');
  const pick = (kind: string, where: string) => client.query(`
    INSERT INTO bench_planted (orig, kind)
    SELECT id, '${kind}' FROM customers
    WHERE tenant_id = $1::uuid AND ${where} AND id NOT IN (SELECT orig FROM bench_planted)
    ORDER BY md5(id::text || '${kind}') LIMIT ${perKind}`, [tenantId]);
  await pick('email', 'email IS NOT NULL');
  await pick('phone', 'phone IS NOT NULL');
  await pick('city', 'city IS NOT NULL');
  await pick('dob', 'date_of_birth IS NOT NULL');
  await pick('suffix', 'phone IS NOT NULL');
  const insert = (kind: string, cols: string) => client.query(`
    INSERT INTO customers (tenant_id, id, first_name, last_name, email, phone, city, date_of_birth, loyalty_tier)
    SELECT $1::uuid, p.dup, ${cols}, 'bronze'
    FROM bench_planted p JOIN customers o ON o.tenant_id = $1::uuid AND o.id = p.orig
    WHERE p.kind = '${kind}'`, [tenantId]);
  // same mailbox written differently: Gmail dots / +tag / upper case
  await insert('email', `o.first_name, o.last_name,
    CASE WHEN split_part(o.email, '@', 2) = 'gmail.com' AND random() < 0.5
         THEN replace(split_part(o.email, '@', 1), '.', '') || '@googlemail.com'
         ELSE upper(left(o.email, 1)) || split_part(substr(o.email, 2), '@', 1) || '+tickets@' || split_part(o.email, '@', 2) END,
    NULL, CASE WHEN random() < 0.5 THEN o.city END, NULL`);
  await insert('phone', `o.first_name, o.last_name, 'new.' || p.dup || '@yahoo.ro', o.phone, NULL, NULL`);
  // one typo: in the first name for half of them, in the last name for the others
  await insert('city', `CASE WHEN p.r < 0.5 THEN ${TYPO('o.first_name')} ELSE o.first_name END,
    CASE WHEN p.r < 0.5 THEN o.last_name ELSE ${TYPO('o.last_name')} END, NULL, NULL, o.city, NULL`);
  await insert('dob', `o.first_name, ${TYPO('o.last_name')}, NULL, NULL,
    (${lit(CITIES)})[1 + floor(random() * ${CITIES.length})::int], o.date_of_birth`);
  await insert('suffix', `o.first_name, o.last_name, NULL,
    '+407' || (CASE WHEN substr(o.phone, 5, 1) = '2' THEN '4' ELSE '2' END) || right(o.phone, 7), NULL, NULL`);
  const rows = (await client.query('SELECT kind, count(*)::int AS n FROM bench_planted GROUP BY kind')).rows as { kind: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
}

/** The machine column of this table: the CPU model's first two words only. */
function machineColumn(): string {
  const m = machine();
  return `${m.cpu.split(' ').slice(0, 2).join(' ')}, ${m.cores} cores, ${m.ramGiB} GiB`;
}

const HEADER =
  '| date | machine | PostgreSQL | customers | planted | scan s | pairs found | recall | precision | precision ≥ 0.8 | recall by kind (email/phone/city/dob/suffix) | incremental 1000 customers ms | load before |\n' +
  '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n';

async function main() {
  const loadBefore = os.loadavg()[0];
  const scratch = await createScratchDatabase({ prefix: 'crm_bench_dedupe', keep: args.keep });
  const { url, pgVersion } = scratch;
  log(`database ${scratch.name} created (PostgreSQL ${pgVersion})`);
  try {
    const { db, tenant } = await setUpTenant({ url, poolSize: 2 });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let t = performance.now();
    await generate(client, tenant.id);
    const planted = await plant(client, tenant.id);
    const plantedTotal = Object.values(planted).reduce((a, b) => a + b, 0);
    await client.query('ANALYZE customers');
    log(`generated ${fmt(N)} customers + ${fmt(plantedTotal)} planted duplicates in ${fmt(performance.now() - t)} ms`);

    const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
    const scan = await insertScan(db, tenant.id, 'bench');
    t = performance.now();
    await runScan(db, config, tenant.id, scan.id);
    const scanMs = performance.now() - t;
    const result = (await client.query('SELECT status, pairs, error FROM dedupe_scans WHERE id = $1', [scan.id])).rows[0];
    if (result.status !== 'completed') throw new Error(`scan ${result.status}: ${result.error}`);
    log(`full scan: ${fmt(result.pairs)} pairs in ${(scanMs / 1000).toFixed(1)} s`);

    const q = await client.query(`
      WITH found AS (SELECT customer_a AS a, customer_b AS b, score FROM duplicate_candidates WHERE tenant_id = $1::uuid AND status = 'open'),
      truth AS (SELECT least(orig, dup) AS a, greatest(orig, dup) AS b, kind FROM bench_planted)
      SELECT (SELECT count(*) FROM found)::int AS found,
             (SELECT count(*) FROM found f JOIN truth t USING (a, b))::int AS hits,
             (SELECT count(*) FROM found WHERE score >= 0.8)::int AS found_hi,
             (SELECT count(*) FROM found f JOIN truth t USING (a, b) WHERE f.score >= 0.8)::int AS hits_hi,
             (SELECT json_object_agg(kind, n) FROM (
                SELECT t.kind, count(f.a)::int AS n FROM truth t LEFT JOIN found f USING (a, b) GROUP BY t.kind) k) AS by_kind`,
    [tenant.id]);
    const r = q.rows[0] as { found: number; hits: number; found_hi: number; hits_hi: number; by_kind: Record<string, number> };
    const recall = r.hits / plantedTotal;
    const precision = r.found ? r.hits / r.found : 0;
    const precisionHi = r.found_hi ? r.hits_hi / r.found_hi : 0;
    const kinds = ['email', 'phone', 'city', 'dob', 'suffix'].map((k) => pct((r.by_kind[k] ?? 0) / planted[k])).join(' / ');
    log(`recall ${pct(recall)} (${kinds}), precision ${pct(precision)}, precision at score >= 0.8 ${pct(precisionHi)}`);

    // Incremental: 1000 customers queued (as ingestion queues them), enrichment + detection.
    const ids = (await client.query(`SELECT dup AS id FROM bench_planted ORDER BY md5(dup::text) LIMIT 1000`)).rows.map((x) => x.id as string);
    await queueCustomers(db, tenant.id, ids);
    t = performance.now();
    const looked = await processQueue(db);
    const incMs = performance.now() - t;
    log(`incremental: ${looked} customers in ${fmt(incMs)} ms`);
    const settings = JSON.stringify(DEFAULT_SETTINGS);
    log(`settings: ${settings}`);

    await client.end();
    await db.run(sql`SELECT 1`);
    await db.close();
    if (!args['no-record']) {
      appendResultRow({ name: 'dedupe', title: 'Duplicate detection results', header: HEADER, row: [
        resultDate(), machineColumn(), pgVersion, fmt(N), fmt(plantedTotal),
        (scanMs / 1000).toFixed(1), fmt(r.found), pct(recall), pct(precision), pct(precisionHi), kinds, fmt(incMs), loadBefore.toFixed(2),
      ] });
    }
  } finally {
    await scratch.drop().catch((err: Error) => log(`could not drop database ${scratch.name}: ${err.message}`));
  }
}

runMain(main);
