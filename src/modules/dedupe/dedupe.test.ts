import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, readAll, type Client } from '../customers/customers.test-helpers.js';
import { MAX_BLOCK } from './dedupe.repository.js';
import { processQueue } from './dedupe.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function tenantApi() {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

/** Starts a full scan and waits for its row to say it finished. */
async function scan(api: Client) {
  const res = await api.post('/duplicates/scan');
  expect(res.statusCode, res.body).toBe(202);
  const { id, status } = res.json();
  expect(status).toBe('queued');
  for (let i = 0; i < 500; i++) {
    const got = (await api.get(`/duplicates/scans/${id}`)).json();
    if (got.status === 'completed' || got.status === 'failed') return got;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('scan did not finish');
}

const pairKey = (d: { customers: { id: string }[] }) => d.customers.map((c) => c.id).sort().join('|');
const key = (a: string, b: string) => [a, b].sort().join('|');

describe('duplicate detection settings', () => {
  it('answers seed 001\'s defaults and stores a replacement per tenant', async () => {
    const { api } = await tenantApi();
    const other = await tenantApi();
    const got = await api.get('/duplicates/settings');
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual({
      fields: ['email', 'phone'], fuzzy_match: true, fuzzy_fields: ['city', 'date_of_birth', 'phone_suffix'],
      name_similarity: 0.6, min_score: 0.5, auto_merge_exact_email: false,
    });
    const put = await api.put('/duplicates/settings', { fields: ['email'], fuzzy_match: false, min_score: 0.8 });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ fields: ['email'], fuzzy_match: false, min_score: 0.8, name_similarity: 0.6 });
    expect((await api.get('/duplicates/settings')).json()).toEqual(put.json());
    // another tenant keeps the defaults
    expect((await other.api.get('/duplicates/settings')).json().fields).toEqual(['email', 'phone']);
  });

  it('rejects bad settings and non-admin writers, changing nothing', async () => {
    const { t, api } = await tenantApi();
    for (const body of [
      { fields: ['name'] }, { name_similarity: 2 }, { min_score: -1 }, { colour: 'red' }, { fuzzy_match: 'yes' },
      { fields: [], fuzzy_match: false }, { fuzzy_fields: [] },
    ]) {
      expectError(await api.put('/duplicates/settings', body), 400, 'validation_failed');
    }
    const employee = client(ctx, await t.keyFor('employee'));
    expectError(await employee.put('/duplicates/settings', { fuzzy_match: false }), 403);
    expect((await api.get('/duplicates/settings')).json().fuzzy_match).toBe(true);
  });
});

describe('full scan', () => {
  it('finds normalized e-mails, phones and similar names within city / birth date / phone suffix blocks', async () => {
    const { api } = await tenantApi();
    const a = await api.create({ email: 'ion.popescu+concerte@gmail.com', first_name: 'Ion', last_name: 'Popescu' });
    const b = await api.create({ email: 'IonPopescu@googlemail.com', first_name: 'Ion', last_name: 'Popescu' });
    const c = await api.create({ phone: '+40722123456', first_name: 'Vlad', last_name: 'Marin' });
    const d = await api.create({ phone: '0722 123 456', first_name: 'Vlad', last_name: 'Marinescu' });
    const e = await api.create({ first_name: 'Alexandra', last_name: 'Ionescu', city: 'Cluj-Napoca' });
    const f = await api.create({ first_name: 'Alexandra', last_name: 'Ionesku', city: 'cluj napoca' });
    const g = await api.create({ first_name: 'Andrei', last_name: 'Georgescu', date_of_birth: '1990-04-01', city: 'Iași' });
    const h = await api.create({ first_name: 'Andrei', last_name: 'Georgescu', date_of_birth: '1990-04-01', city: 'Timișoara' });
    const i = await api.create({ first_name: 'Maria', last_name: 'Stan', phone: '+40745111222' });
    const j = await api.create({ first_name: 'Maria', last_name: 'Stan', phone: '+40255111222' });
    // not duplicates: same city, different people; same birth date, different names
    await api.create({ first_name: 'Elena', last_name: 'Dumitru', city: 'Cluj-Napoca' });
    await api.create({ first_name: 'Mihai', last_name: 'Radu', date_of_birth: '1990-04-01' });

    const result = await scan(api);
    expect(result).toMatchObject({ status: 'completed', pairs: 5 });
    const { items } = await readAll(api, '/duplicates', 2);
    const byPair = new Map(items.map((x) => [pairKey(x), x]));
    expect([...byPair.keys()].sort()).toEqual([key(a.id, b.id), key(c.id, d.id), key(e.id, f.id), key(g.id, h.id), key(i.id, j.id)].sort());
    expect(byPair.get(key(a.id, b.id))!.reasons).toEqual(expect.arrayContaining(['same_email_normalized']));
    expect(byPair.get(key(c.id, d.id))!.reasons).toEqual(['same_phone']);
    expect(byPair.get(key(e.id, f.id))!.reasons).toEqual(['similar_name', 'same_city']);
    expect(byPair.get(key(g.id, h.id))!.reasons).toEqual(['similar_name', 'same_birth_date']);
    expect(byPair.get(key(i.id, j.id))!.reasons).toEqual(['similar_name', 'same_phone_suffix']);
    // best first, each pair with both customers
    const scores = items.map((x) => x.score);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
    expect(items[0].customers).toHaveLength(2);
    // min_score filters
    const high = (await api.get('/duplicates?min_score=0.9')).json().data;
    expect(high.length).toBeGreaterThan(0);
    expect(high.every((x: { score: number }) => x.score >= 0.9)).toBe(true);
    expect(high.length).toBeLessThan(items.length);
    // by customer
    const ofE = (await api.get(`/duplicates?customer_id=${e.id}`)).json().data;
    expect(ofE.map(pairKey)).toEqual([key(e.id, f.id)]);
  });

  it('follows the settings: e-mail only finds no phone or name pairs', async () => {
    const { api } = await tenantApi();
    await api.create({ phone: '+40722999888', first_name: 'Dan' });
    await api.create({ phone: '+40722999888', first_name: 'Dana' });
    const a = await api.create({ email: 'same@exemplu.ro' });
    const b = await api.create({ email: 'SAME@exemplu.ro' });
    expect((await api.put('/duplicates/settings', { fields: ['email'], fuzzy_match: false })).statusCode).toBe(200);
    await scan(api);
    const data = (await api.get('/duplicates')).json().data;
    expect(data.map(pairKey)).toEqual([key(a.id, b.id)]);
    expect(data[0].reasons).toEqual(['same_email']);
  });

  it('dismissed pairs stay dismissed on the next scan; pairs that no longer hold are dropped', async () => {
    const { t, api } = await tenantApi();
    const a = await api.create({ email: 'x1@exemplu.ro', phone: '+40733000111' });
    const b = await api.create({ email: 'x2@exemplu.ro', phone: '+40733000111' });
    const c = await api.create({ email: 'y@exemplu.ro' });
    const d = await api.create({ email: 'y@exemplu.ro' });
    await scan(api);
    const open = (await api.get('/duplicates')).json().data;
    expect(open).toHaveLength(2);
    const ab = open.find((x: any) => pairKey(x) === key(a.id, b.id));
    const dismissed = await api.post(`/duplicates/${ab.id}/dismiss`);
    expect(dismissed.statusCode, dismissed.body).toBe(200);
    expect(dismissed.json()).toMatchObject({ id: ab.id, status: 'dismissed', resolved_by: expect.stringMatching(/^key:/) });
    // idempotent
    expect((await api.post(`/duplicates/${ab.id}/dismiss`)).json().status).toBe('dismissed');
    // c and d stop looking alike
    expect((await api.patch(`/customers/${d.id}`, { email: 'z@exemplu.ro' })).statusCode).toBe(200);
    await scan(api);
    expect((await api.get('/duplicates')).json().data).toEqual([]);
    const list = (await api.get('/duplicates?status=dismissed')).json().data;
    expect(list.map(pairKey)).toEqual([key(a.id, b.id)]);
    expect(c.id).toBeTruthy();
    const audit = await ctx.db.one<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND action = 'duplicate.dismiss' AND entity_id = ${ab.id}`);
    expect(audit!.n).toBe(1);
  });

  it('keeps tenants apart: another tenant\'s pairs, scans and ids are unknown', async () => {
    const one = await tenantApi();
    const two = await tenantApi();
    await one.api.create({ email: 'twin@exemplu.ro' });
    await one.api.create({ email: 'twin@exemplu.ro' });
    await two.api.create({ email: 'twin@exemplu.ro' });
    const s = await scan(one.api);
    const pair = (await one.api.get('/duplicates')).json().data[0];
    expect(pair).toBeTruthy();
    expect((await two.api.get('/duplicates')).json().data).toEqual([]);
    expectError(await two.api.get(`/duplicates/${pair.id}`), 404, 'duplicate_not_found');
    expectError(await two.api.post(`/duplicates/${pair.id}/dismiss`), 404, 'duplicate_not_found');
    expectError(await two.api.get(`/duplicates/scans/${s.id}`), 404, 'dedupe_scan_not_found');
    expect((await one.api.get(`/duplicates/${pair.id}`)).json().status).toBe('open');
  });

  it('skips blocks too large to mean anything (a shared switchboard number)', async () => {
    const { t, api } = await tenantApi();
    await ctx.db.run(sql`
      INSERT INTO customers (tenant_id, phone, email, loyalty_tier)
      SELECT ${t.tenantId}::uuid, '+40213000000', 'staff' || i || '@exemplu.ro', 'bronze' FROM generate_series(1, ${MAX_BLOCK + 1}::int) AS i`);
    const a = await api.create({ phone: '+40744000999', email: 'p1@exemplu.ro' });
    const b = await api.create({ phone: '+40744000999', email: 'p2@exemplu.ro' });
    expect((await scan(api)).pairs).toBe(1);
    expect((await api.get('/duplicates')).json().data.map(pairKey)).toEqual([key(a.id, b.id)]);
  });

  it('rejects bad list parameters', async () => {
    const { api } = await tenantApi();
    expectError(await api.get('/duplicates?status=maybe'), 400, 'validation_failed');
    expectError(await api.get('/duplicates?min_score=2'), 400, 'validation_failed');
    expectError(await api.get('/duplicates?cursor=nonsense'), 400, 'invalid_cursor');
    expectError(await api.get('/duplicates/not-a-uuid'), 404, 'duplicate_not_found');
  });
});

/**
 * Works the queue until none of the tenant's customers is left in it. On PostgreSQL other test files'
 * services run the same queue job on the shared database: one of them may hold this tenant's rows in
 * a transaction not yet committed (the queue row goes and the pairs appear in that one commit).
 */
async function drain(tenantId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    await processQueue(ctx.db);
    const left = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM dedupe_queue WHERE tenant_id = ${tenantId}::uuid`);
    if (left!.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${left!.n} customers still queued for duplicate checks`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('incremental detection', () => {
  it('checks customers created through the API and through ingestion, via the queue job', async () => {
    const { t, api } = await tenantApi();
    const a = await api.create({ email: 'mara.ene@gmail.com', first_name: 'Mara', last_name: 'Ene' });
    const ingest = await api.post('/events', {
      events: [{
        id: 'evt_dup_1', type: 'user.registered', occurred_at: '2025-01-10T18:30:00Z',
        customer: { external_id: 'u_77', email: 'maraene@googlemail.com', first_name: 'Mara', last_name: 'Ene', phone: '+40744555000' },
        data: {},
      }],
    });
    expect(ingest.statusCode, ingest.body).toBe(200);
    const b = ingest.json().results[0].customer_id;
    const queued = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM dedupe_queue WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(queued!.n).toBe(2);
    await drain(t.tenantId);
    const data = (await api.get('/duplicates')).json().data;
    expect(data.map(pairKey)).toEqual([key(a.id, b)]);
    expect(data[0].reasons).toContain('same_email_normalized');
    // the queue is drained and the ingested customer was enriched on the way
    const left = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM dedupe_queue WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(left!.n).toBe(0);
    const enrichment = (await api.get(`/customers/${b}/enrichment`)).json().enrichment;
    expect(enrichment).toMatchObject({ phone_country: 'RO', phone_line_type: 'mobile', free_mail: true });
    // a changed phone queues the customer again
    const c = await api.create({ email: 'other@exemplu.ro', first_name: 'Radu' });
    await drain(t.tenantId);
    expect((await api.get(`/duplicates?customer_id=${c.id}`)).json().data).toEqual([]);
    expect((await api.patch(`/customers/${c.id}`, { phone: '0744 555 000' })).statusCode).toBe(200);
    await drain(t.tenantId);
    const withC = (await api.get(`/duplicates?customer_id=${c.id}`)).json().data;
    expect(withC.map(pairKey)).toEqual([key(b, c.id)]);
    expect(withC[0].reasons).toEqual(['same_phone']);
  });
});
