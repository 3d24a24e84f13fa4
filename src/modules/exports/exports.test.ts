import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { importFile } from '../imports/imports.test-helpers.js';

let ctx: TestContext;
let dataDir: string;
beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-exports-'));
  ctx = await createTestApp({ DATA_DIR: dataDir });
});
afterAll(async () => {
  await ctx.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const PEOPLE = [
  {
    external_id: 'u_1', email: 'ion@exemplu.ro', phone: '+40722123456', first_name: 'Ion', last_name: 'Popescu', city: 'Cluj-Napoca',
    state: 'Cluj', country: 'RO', postal_code: '400001', date_of_birth: '1988-04-02', gender: 'male', consent: { marketing_email: true, marketing_sms: false },
  },
  {
    external_id: 'u_2', email: 'ana@exemplu.ro', first_name: 'Ana-Maria', last_name: 'Ştefănescu, "Jr"', city: 'Iași', country: 'RO',
    consent: { marketing_email: false, marketing_sms: true }, customer_type: 'business', company_name: 'Teatrul Mic SRL', status: 'prospect',
  },
  { email: 'formula@exemplu.ro', first_name: '=HYPERLINK("http://evil","x")', last_name: '+cmd', city: '@risk', phone: '+40733000111' },
  { phone: '+40744000222', first_name: 'Fără', last_name: 'Email', status: 'inactive' },
] as const;

async function seed(t: TestTenant) {
  for (const p of PEOPLE) {
    const res = await ctx.app.inject({ method: 'POST', url: '/api/crm/customers', headers: t.headers, payload: p });
    expect(res.statusCode, res.body).toBe(201);
  }
}

/** The profile fields an export carries, per customer, keyed and sorted by e-mail / phone. */
async function profiles(t: TestTenant) {
  return ctx.db.rows(sql`
    SELECT external_id, email, phone, first_name, last_name, company_name, customer_type, status, date_of_birth, gender, city, state,
           country, postal_code, coalesce((consent->>'marketing_email')::boolean, false) AS marketing_email,
           coalesce((consent->>'marketing_sms')::boolean, false) AS marketing_sms
    FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND deleted_at IS NULL ORDER BY coalesce(email, phone)`);
}

async function get(url: string, headers: Record<string, string>) {
  return ctx.app.inject({ method: 'GET', url, headers });
}

describe('customer export', () => {
  it('CSV: chosen columns, formulas neutralized, streamed with a BOM', async () => {
    const t = await createTestTenant(ctx.db);
    await seed(t);
    const res = await get('/api/crm/exports/customers?columns=email,first_name,last_name,city,marketing_email,total_spend', t.headers);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/attachment; filename="customers-\d{4}-\d{2}-\d{2}\.csv"/);
    const lines = res.body.split('\r\n');
    expect(lines[0]).toBe('\uFEFFemail,first_name,last_name,city,marketing_email,total_spend');
    expect(lines).toContain(`formula@exemplu.ro,"'=HYPERLINK(""http://evil"",""x"")",'+cmd,'@risk,,0.00`);
    expect(lines).toContain('ana@exemplu.ro,Ana-Maria,"Ştefănescu, ""Jr""",Iași,false,0.00');
    expect(lines.filter((l) => l !== '')).toHaveLength(5);

    const bad = await get('/api/crm/exports/customers?columns=email,password', t.headers);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.unknown).toEqual(['password']);
  });

  it('XLSX: a workbook with numbers as numbers and formula-like text neutralized', async () => {
    const t = await createTestTenant(ctx.db);
    await seed(t);
    const res = await get('/api/crm/exports/customers?format=xlsx&columns=email,first_name,total_orders', t.headers);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('spreadsheetml');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(res.rawPayload as unknown as ArrayBuffer);
    const ws = wb.worksheets[0];
    expect(ws.getRow(1).values).toEqual([undefined, 'email', 'first_name', 'total_orders']);
    const rows = [];
    for (let i = 2; i <= ws.rowCount; i++) rows.push((ws.getRow(i).values as unknown[]).slice(1));
    expect(rows).toHaveLength(4);
    expect(rows).toContainEqual(['formula@exemplu.ro', `'=HYPERLINK("http://evil","x")`, 0]);
    expect(ws.getRow(2).getCell(3).type).toBe(ExcelJS.ValueType.Number);
  });

  it('all customers is for admins; employees export a segment or a filter; viewers nothing; audited', async () => {
    const t = await createTestTenant(ctx.db);
    await seed(t);
    const employee = await t.keyFor('employee');
    const viewer = await t.keyFor('viewer');
    const all = await get('/api/crm/exports/customers', employee);
    expect(all.statusCode).toBe(403);
    expect((await get('/api/crm/exports/customers?city=Iași', viewer)).statusCode).toBe(403);
    const filtered = await get('/api/crm/exports/customers?city=Iași&columns=email', employee);
    expect(filtered.statusCode).toBe(200);
    expect(filtered.body).toBe('\uFEFFemail\r\nana@exemplu.ro\r\n');
    const searched = await get('/api/crm/exports/customers?search=popescu&columns=email', employee);
    expect(searched.body).toBe('\uFEFFemail\r\nion@exemplu.ro\r\n');

    const seg = await ctx.app.inject({
      method: 'POST', url: '/api/crm/segments', headers: t.headers,
      payload: { name: 'Prospects', rules: { operator: 'and', conditions: [{ field: 'status', operator: '=', value: 'prospect' }] } },
    });
    expect(seg.statusCode, seg.body).toBe(201);
    await ctx.app.inject({ method: 'POST', url: `/api/crm/segments/${seg.json().id}/calculate`, headers: t.headers });
    const bySegment = await get(`/api/crm/exports/customers?segment_id=${seg.json().id}&columns=email`, employee);
    expect(bySegment.statusCode).toBe(200);
    expect(bySegment.body).toBe('\uFEFFemail\r\nana@exemplu.ro\r\n');

    const other = await createTestTenant(ctx.db);
    const foreign = await get(`/api/crm/exports/customers?segment_id=${seg.json().id}`, other.headers);
    expect(foreign.statusCode).toBe(404);
    const otherAll = await get('/api/crm/exports/customers?columns=email', other.headers);
    expect(otherAll.body).toBe('\uFEFFemail\r\n');

    const entries = await ctx.db.rows<{ action: string; after: any }>(sql`
      SELECT action, after FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND entity_type = 'export' ORDER BY seq`);
    expect(entries.map((e) => e.action)).toEqual(['export.customers', 'export.customers', 'export.customers']);
    expect(entries[0].after).toMatchObject({ format: 'csv', columns: ['email'], filters: { city: 'Iași' } });
  });
});

describe('order export', () => {
  it('orders with their buyer; all orders for admins only', async () => {
    const t = await createTestTenant(ctx.db);
    const events = [
      { id: 'e1', type: 'order.completed', occurred_at: '2025-01-10T18:30:00Z', customer: { external_id: 'u_1', email: 'ion@exemplu.ro' },
        data: { order_id: 'ord-1', total: 150, currency: 'RON', items: [{ event_id: 'ev1', quantity: 2, unit_price: 75 }] } },
      { id: 'e2', type: 'order.created', occurred_at: '2025-02-01T10:00:00Z', customer: { email: '=evil@exemplu.ro' }, data: { order_id: '-2', total: 10, currency: 'RON' } },
    ];
    const ing = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: t.headers, payload: { events } });
    expect(ing.json().accepted).toBe(2);
    const res = await get('/api/crm/exports/orders?columns=order_id,order_date,status,total,tickets,external_id,email', t.headers);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('\uFEFForder_id,order_date,status,total,tickets,external_id,email\r\n'
      + "'-2,2025-02-01T10:00:00Z,pending,10.00,,,'=evil@exemplu.ro\r\n"
      + 'ord-1,2025-01-10T18:30:00Z,completed,150.00,2,u_1,ion@exemplu.ro\r\n');
    const employee = await t.keyFor('employee');
    expect((await get('/api/crm/exports/orders', employee)).statusCode).toBe(403);
    expect((await get('/api/crm/exports/orders?status=completed&format=xlsx', employee)).statusCode).toBe(200);
  });
});

describe('round trip', () => {
  it('export → import into a new tenant → identical profiles (CSV and XLSX)', async () => {
    const source = await createTestTenant(ctx.db);
    await seed(source);
    const expected = await profiles(source);
    expect(expected).toHaveLength(4);
    for (const format of ['csv', 'xlsx'] as const) {
      const exported = await get(`/api/crm/exports/customers?format=${format}`, source.headers);
      expect(exported.statusCode).toBe(200);
      const target = await createTestTenant(ctx.db);
      const done = await importFile(ctx.app, target.headers, 'type=customers', { name: `customers.${format}`, data: exported.rawPayload });
      expect(done, format).toMatchObject({ status: 'completed', created: 4, rejected: 0 });
      expect(await profiles(target), format).toEqual(expected);
    }
  });

  it('orders: export → import into a new tenant → the same orders and metrics', async () => {
    const source = await createTestTenant(ctx.db);
    const events = [1, 2, 3].map((n) => ({
      id: `o${n}`, type: 'order.completed', occurred_at: `2025-0${n}-10T10:00:00Z`, customer: { external_id: `u_${n % 2}`, email: `p${n % 2}@exemplu.ro` },
      data: { order_id: `ord-${n}`, total: n * 10.5, currency: 'RON' },
    }));
    await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: source.headers, payload: { events } });
    const exported = await get('/api/crm/exports/orders', source.headers);
    const target = await createTestTenant(ctx.db);
    const done = await importFile(ctx.app, target.headers, 'type=orders', { name: 'orders.csv', data: exported.rawPayload });
    expect(done).toMatchObject({ status: 'completed', created: 3, rejected: 0 });
    const metrics = (t: TestTenant) => ctx.db.rows(sql`
      SELECT external_id, email, total_orders, total_spend, first_purchase, last_purchase FROM customers WHERE tenant_id = ${t.tenantId}::uuid ORDER BY email`);
    expect(await metrics(target)).toEqual(await metrics(source));
  });
});
