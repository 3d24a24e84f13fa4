import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError, type Client } from '../customers/customers.test-helpers.js';
import { EXPORT_PAGE_SIZE, exportMembers } from './segments.reports.service.js';
import { insertCustomer } from './segments.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function setup(): Promise<{ t: TestTenant; api: Client }> {
  const t = await createTestTenant(ctx.db);
  return { t, api: client(ctx, t.headers) };
}

async function staticSegment(api: Client, name: string): Promise<string> {
  const res = await api.post('/segments', { name, type: 'static' });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

/** The tenant-local date `back` days before today, as YYYY-MM-DD. */
async function localDay(tenantId: string, back: number): Promise<string> {
  const row = await ctx.db.one<{ d: string }>(sql`
    SELECT ((now() AT TIME ZONE t.timezone)::date - ${back}::int)::text AS d FROM tenants t WHERE t.id = ${tenantId}::uuid`);
  return row!.d;
}

/** A history row at 10:00 UTC of the tenant-local date `back` days ago (the same local date in Europe/Bucharest). */
async function historyAt(tenantId: string, segmentId: string, customerId: string, change: 'entered' | 'exited', back: number, minute = 0) {
  const day = await localDay(tenantId, back);
  await ctx.db.run(sql`
    INSERT INTO segment_membership_history (tenant_id, segment_id, customer_id, change, at)
    VALUES (${tenantId}::uuid, ${segmentId}::uuid, ${customerId}::uuid, ${change}, ${`${day}T10:${String(minute).padStart(2, '0')}:00Z`}::timestamptz)`);
}

async function addMembersSql(tenantId: string, segmentId: string, ids: string[]) {
  for (const id of ids) {
    await ctx.db.run(sql`
      INSERT INTO segment_members (tenant_id, segment_id, customer_id) VALUES (${tenantId}::uuid, ${segmentId}::uuid, ${id}::uuid)`);
  }
}

describe('GET /segments/{id}/analytics', () => {
  it('rebuilds size per day, entries and exits from history; revenue, LTV and share of current members', async () => {
    const { t, api } = await setup();
    const a = await insertCustomer(ctx.db, t.tenantId, { total_spend: 100, lifetime_value: 120, predicted_clv: 30 });
    const b = await insertCustomer(ctx.db, t.tenantId, { total_spend: 999 });
    const c = await insertCustomer(ctx.db, t.tenantId, { total_spend: 999 });
    const d = await insertCustomer(ctx.db, t.tenantId, { total_spend: 50.5, lifetime_value: 60 });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 5 });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 5, deleted: true }); // not in the customer base
    const seg = await staticSegment(api, 'History fixture');

    await historyAt(t.tenantId, seg, a, 'entered', 10);
    await historyAt(t.tenantId, seg, b, 'entered', 10);
    await historyAt(t.tenantId, seg, c, 'entered', 5);
    await historyAt(t.tenantId, seg, b, 'exited', 3);
    await historyAt(t.tenantId, seg, d, 'entered', 3);
    await historyAt(t.tenantId, seg, a, 'exited', 1, 0);
    await historyAt(t.tenantId, seg, a, 'entered', 1, 30);
    await historyAt(t.tenantId, seg, c, 'exited', 0);
    await addMembersSql(t.tenantId, seg, [a, d]);

    const res = await api.get(`/segments/${seg}/analytics?days=7`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const days = await Promise.all([6, 5, 4, 3, 2, 1, 0].map((n) => localDay(t.tenantId, n)));
    expect(body.series).toEqual([
      { date: days[0], size: 2, entered: 0, exited: 0 },
      { date: days[1], size: 3, entered: 1, exited: 0 },
      { date: days[2], size: 3, entered: 0, exited: 0 },
      { date: days[3], size: 3, entered: 1, exited: 1 },
      { date: days[4], size: 3, entered: 0, exited: 0 },
      { date: days[5], size: 3, entered: 1, exited: 1 },
      { date: days[6], size: 2, entered: 0, exited: 1 },
    ]);
    expect(body).toMatchObject({
      segment_id: seg, name: 'History fixture', days: 7, from: days[0], to: days[6],
      members: 2, customers: 5, share_of_customers: 0.4,
      total_spend: 150.5, average_spend: 75.25,
      average_lifetime_value: 90, average_predicted_clv: 30, predicted_clv_members: 1, average_clv: 105,
      entered: 3, exited: 3,
    });

    // default window: 90 days, the earlier history before it
    const wide = (await api.get(`/segments/${seg}/analytics`)).json();
    expect(wide.series).toHaveLength(90);
    expect(wide.series[0]).toEqual({ date: await localDay(t.tenantId, 89), size: 0, entered: 0, exited: 0 });
    expect(wide.series.at(-1).size).toBe(2);
    expect(wide).toMatchObject({ entered: 5, exited: 3 });
    // one day: today only, size carried from the whole history
    expect((await api.get(`/segments/${seg}/analytics?days=1`)).json().series).toEqual([{ date: days[6], size: 2, entered: 0, exited: 1 }]);
    expectError(await api.get(`/segments/${seg}/analytics?days=0`), 400);
    expectError(await api.get(`/segments/${seg}/analytics?days=731`), 400);
  });

  it('an empty segment answers zeros and nulls; viewers may read; another tenant\'s segment is 404', async () => {
    const { t, api } = await setup();
    const seg = await staticSegment(api, 'Empty');
    const viewer = client(ctx, await t.keyFor('viewer'));
    const res = await viewer.get(`/segments/${seg}/analytics?days=3`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      members: 0, customers: 0, share_of_customers: null, total_spend: 0, average_spend: null,
      average_lifetime_value: null, average_predicted_clv: null, average_clv: null, entered: 0, exited: 0,
    });
    expect(res.json().series.map((p: { size: number }) => p.size)).toEqual([0, 0, 0]);

    const other = await setup();
    expectError(await other.api.get(`/segments/${seg}/analytics`), 404, 'segment_not_found');
    expectError(await other.api.get(`/segments/not-a-uuid/analytics`), 404, 'segment_not_found');
  });
});

/** Parses RFC 4180 CSV (quoted fields with "" escapes, CRLF records) for the assertions. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(cell); cell = ''; }
    else if (ch === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; }
    else cell += ch;
  }
  if (cell !== '' || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}

describe('GET /segments/{id}/export', () => {
  it('streams CSV with BOM, header, RFC 4180 quoting, formula neutralization, default and chosen columns', async () => {
    const { t, api } = await setup();
    const tricky = await insertCustomer(ctx.db, t.tenantId, {
      first_name: 'Smith, John', city: 'Line1\nLine2', country: 'RO', total_orders: 2, total_spend: 1234.5,
      lifetime_value: 1300, loyalty_tier: 'gold', tags: ['vip', 'rock'], created_at: '2026-01-02T03:04:05Z',
    });
    await ctx.db.run(sql`
      UPDATE customers SET last_name = ${'He said "hi"'}, email = ${'=HYPERLINK("http://evil.test","click")'},
        phone = '+40722000111', external_id = '@ext-1'
      WHERE tenant_id = ${t.tenantId}::uuid AND id = ${tricky}::uuid`);
    const plain = await insertCustomer(ctx.db, t.tenantId, { first_name: 'Ana', email: 'ana@example.com', created_at: '2026-02-01T00:00:00Z' });
    await insertCustomer(ctx.db, t.tenantId, { first_name: 'Not a member' });
    const seg = await staticSegment(api, 'Ünïcode fans/2026');
    expect((await api.post(`/segments/${seg}/members`, { customer_ids: [tricky, plain] })).statusCode).toBe(200);

    const res = await api.get(`/segments/${seg}/export`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      `attachment; filename="segment-Unicode-fans-2026.csv"; filename*=UTF-8''${encodeURIComponent('segment-Ünïcode fans/2026.csv')}`,
    );
    expect(res.body.startsWith('\uFEFF')).toBe(true);
    const rows = parseCsv(res.body.slice(1));
    expect(rows[0]).toEqual([
      'id', 'external_id', 'email', 'phone', 'first_name', 'last_name', 'city', 'country', 'total_orders', 'total_spend',
      'lifetime_value', 'loyalty_tier', 'tags', 'created_at',
    ]);
    expect(rows).toHaveLength(3);
    const byId = new Map(rows.slice(1).map((r) => [r[0], r]));
    expect(byId.get(tricky)).toEqual([
      tricky, "'@ext-1", `'=HYPERLINK("http://evil.test","click")`, "'+40722000111", 'Smith, John', 'He said "hi"', 'Line1\nLine2',
      'RO', '2', '1234.50', '1300.00', 'gold', 'vip;rock', '2026-01-02T03:04:05Z',
    ]);
    expect(byId.get(plain)).toEqual([plain, '', 'ana@example.com', '', 'Ana', '', '', '', '0', '0.00', '0.00', '', '', '2026-02-01T00:00:00Z']);
    // the raw text: quoted where needed, the formula kept as text
    expect(res.body).toContain(`"'=HYPERLINK(""http://evil.test"",""click"")"`);
    expect(res.body).toContain('"Smith, John","He said ""hi""","Line1\nLine2"');

    const chosen = await api.get(`/segments/${seg}/export?columns=email,first_name,is_vip,id,email`);
    expect(chosen.statusCode, chosen.body).toBe(200);
    const chosenRows = parseCsv(chosen.body.slice(1));
    expect(chosenRows[0]).toEqual(['email', 'first_name', 'is_vip', 'id']);
    expect(chosenRows.slice(1).find((r) => r[3] === plain)).toEqual(['ana@example.com', 'Ana', 'false', plain]);

    const unknown = await api.get(`/segments/${seg}/export?columns=id,password_hash,email`);
    expectError(unknown, 400, 'validation_failed');
    expect(unknown.json().error.details).toMatchObject({ field: 'columns', unknown: ['password_hash'] });
  });

  it('viewers may not export; employees may; another tenant\'s segment is 404', async () => {
    const { t, api } = await setup();
    const seg = await staticSegment(api, 'Roles');
    expectError(await client(ctx, await t.keyFor('viewer')).get(`/segments/${seg}/export`), 403);
    const employee = await client(ctx, await t.keyFor('employee')).get(`/segments/${seg}/export`);
    expect(employee.statusCode, employee.body).toBe(200);
    expect(employee.body).toBe('\uFEFFid,external_id,email,phone,first_name,last_name,city,country,total_orders,total_spend,lifetime_value,loyalty_tier,tags,created_at\r\n');
    const other = await setup();
    expectError(await other.api.get(`/segments/${seg}/export`), 404, 'segment_not_found');
  });

  it('streams every member once across keyset pages (12,000 members, page size 5,000)', async () => {
    const { t, api } = await setup();
    const seg = await staticSegment(api, 'Big');
    const ids = (await ctx.db.rows<{ id: string }>(sql`
      INSERT INTO customers (tenant_id, first_name, email)
      SELECT ${t.tenantId}::uuid, 'C' || g, 'c' || g || '@example.com' FROM generate_series(1, 12000) g
      RETURNING id`)).map((r) => r.id);
    await ctx.db.run(sql`
      INSERT INTO segment_members (tenant_id, segment_id, customer_id)
      SELECT ${t.tenantId}::uuid, ${seg}::uuid, c.id FROM customers c WHERE c.tenant_id = ${t.tenantId}::uuid`);
    expect(ids.length).toBeGreaterThan(2 * EXPORT_PAGE_SIZE);

    const res = await api.get(`/segments/${seg}/export?columns=id,first_name`);
    expect(res.statusCode).toBe(200);
    const rows = parseCsv(res.body.slice(1)).slice(1);
    expect(rows).toHaveLength(12000);
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(ids));
    const sortedIds = rows.map((r) => r[0]);
    expect(sortedIds).toEqual([...sortedIds].sort()); // keyset order: customer id

    // a page size that divides the member count exactly (the last page is empty)
    const small = await exportMembers({ db: ctx.db, tenantId: t.tenantId }, seg, { columns: 'id' }, { pageSize: 3000 });
    const chunks: string[] = [];
    for await (const chunk of small.stream) chunks.push(String(chunk));
    expect(chunks).toHaveLength(1 + 4); // header, then 4 pages
    expect(parseCsv(chunks.join('').slice(1)).slice(1).map((r) => r[0])).toEqual(sortedIds);
  });
});
