import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, readAll, type Client } from './customers.test-helpers.js';

/**
 * Filters whose matches are not among the first rows in sort order: the listing first filters a bounded
 * number of rows read in sort order (3,000), then collects the matching set and sorts it. 3,200
 * customers: the 40 oldest are prospects in MD, everyone else is active in RO.
 */
let ctx: TestContext;
let api: Client;
let tenantId: string;

beforeAll(async () => {
  ctx = await createTestApp();
  const t = await createTestTenant(ctx.db);
  tenantId = t.tenantId;
  api = client(ctx, t.headers);
  await ctx.db.run(sql`
    INSERT INTO customers (tenant_id, email, first_name, status, country, total_spend, lifetime_value, created_at)
    SELECT ${tenantId}::uuid, 'sparse' || i || '@list.test', 'Sparse', CASE WHEN i <= 40 THEN 'prospect' ELSE 'active' END,
           CASE WHEN i <= 40 THEN 'MD' ELSE 'RO' END, (i * 7) % 100, (i * 7) % 100,
           timestamptz '2024-01-01T00:00:00Z' + i * interval '1 minute'
    FROM generate_series(1, 3200) i`);
});
afterAll(async () => ctx.close());

/** Rows of the fixture as (i, spend), i = minutes after 2024-01-01. */
const fixture = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => ({ i: from + k, spend: ((from + k) * 7) % 100 }));
const emailsOf = (items: { email: string }[]) => items.map((c) => c.email);

describe('sparse filters', () => {
  it('pages through matches that lie past the first 3,000 rows in sort order, newest first', async () => {
    const { items } = await readAll(api, '/customers?status=prospect', 7);
    expect(emailsOf(items)).toEqual(fixture(1, 40).reverse().map((f) => `sparse${f.i}@list.test`));
  });

  it('sorts such matches by another key with ties broken by id', async () => {
    const { items } = await readAll(api, '/customers?country=MD&min_ltv=30&sort=-total_spend', 4);
    const want = fixture(1, 40).filter((f) => f.spend >= 30);
    expect(items.map((c: { metrics: { total_spend: number } }) => c.metrics.total_spend)).toEqual(
      want.map((f) => f.spend).sort((a, b) => b - a),
    );
    expect(new Set(emailsOf(items))).toEqual(new Set(want.map((f) => `sparse${f.i}@list.test`)));
  });

  it('answers dense filters from the first rows in sort order, the same as unfiltered', async () => {
    const active = (await api.get('/customers?status=active&limit=60')).json().data;
    const all = (await api.get('/customers?limit=60')).json().data;
    expect(emailsOf(active)).toEqual(emailsOf(all));
    expect(emailsOf(active)[0]).toBe('sparse3200@list.test');
  });
});
