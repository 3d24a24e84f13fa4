import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.js';
import { sql } from '../../db/database.js';
import { JobQueue } from '../../jobs/queue.js';
import { createTestApp, createTestTenant, testConfig, type TestContext, type TestTenant } from '../../test/helpers.js';
import { addSuppressions } from '../privacy/suppressions.repository.js';
import { defineImportJobs } from './imports.jobs.js';
import { encodeCp1250, importFile, makeZip, postImport, waitForImport } from './imports.test-helpers.js';

let ctx: TestContext;
let dataDir: string;
beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-imports-'));
  ctx = await createTestApp({ DATA_DIR: dataDir });
});
afterAll(async () => {
  await ctx.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function customers(t: TestTenant) {
  return ctx.db.rows<Record<string, any>>(sql`
    SELECT external_id, email, phone, first_name, last_name, city, country, source, date_of_birth, consent, customer_type, status
    FROM customers WHERE tenant_id = ${t.tenantId}::uuid ORDER BY coalesce(email, phone, external_id)`);
}
async function count(table: 'customers' | 'imports' | 'orders', t: TestTenant): Promise<number> {
  const row = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM ${sql.identifier(table)} WHERE tenant_id = ${t.tenantId}::uuid`);
  return row!.n;
}
const listUploads = () => (fs.existsSync(path.join(dataDir, 'imports')) ? fs.readdirSync(path.join(dataDir, 'imports')) : []);
/** The uploads left in DATA_DIR/imports (a finished import removes its file right after its last update). */
async function uploadsLeft(): Promise<string[]> {
  for (let i = 0; i < 100 && listUploads().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return listUploads();
}

describe('customer import', () => {
  it('maps real-world headers (English and Romanian synonyms), upserts and reports counts', async () => {
    const t = await createTestTenant(ctx.db);
    const csv = [
      'Email Address,First Name,Last Name,Telefon,Oraș,Country,Newsletter,Notes',
      'ion@exemplu.ro,Ion,Popescu,0722 123 456,Cluj-Napoca,ro,da,VIP',
      'maria@exemplu.ro,Maria,Ionescu,,Iași,RO,nu,',
      'ION@exemplu.ro,Ioan,,,,,,second row of the same person',
    ].join('\r\n');
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'clients.csv', data: csv });
    expect(done).toMatchObject({
      status: 'completed', total_rows: 3, created: 2, updated: 1, rejected: 0, errors_url: null, format: 'csv', encoding: 'utf-8', delimiter: ',',
    });
    expect(done.mapping).toMatchObject({ 'Email Address': 'email', 'First Name': 'first_name', Telefon: 'phone', 'Oraș': 'city', Newsletter: 'marketing_email', Notes: null });
    expect(done.ignored_columns).toEqual(['Notes']);
    const rows = await customers(t);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ email: 'ion@exemplu.ro', first_name: 'Ioan', last_name: 'Popescu', phone: '+40722123456', city: 'Cluj-Napoca', country: 'RO', source: 'import' });
    expect(rows[0].consent.marketing_email).toBe(true);
    expect(rows[1]).toMatchObject({ email: 'maria@exemplu.ro', city: 'Iași' });
    expect(rows[1].consent.marketing_email).toBe(false);
    expect(await uploadsLeft()).toEqual([]);

    // the same people again, matched by e-mail: updated, not duplicated
    const again = await importFile(ctx.app, t.headers, 'type=customers', { name: 'c.csv', data: 'E-mail;Prenume;Nume\nmaria@exemplu.ro;Mariana;Ionescu-Pop\n' });
    expect(again).toMatchObject({ status: 'completed', created: 0, updated: 1, delimiter: ';' });
    expect(await count('customers', t)).toBe(2);
    expect((await customers(t))[1]).toMatchObject({ first_name: 'Mariana', last_name: 'Ionescu-Pop' });
  });

  it('reads Windows-1250 exports with a semicolon and a UTF-8 file with BOM', async () => {
    const t = await createTestTenant(ctx.db);
    const text = 'Prenume;Nume;Adresa email;Oraş;Data naşterii\r\nŞtefan;Ţurcanu;stefan@exemplu.ro;Bârlad;05.03.1990\r\nAna;Mureşan;ana@exemplu.ro;Târgu Mureş;1985-12-01\r\n';
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'export.csv', data: encodeCp1250(text) });
    expect(done).toMatchObject({ status: 'completed', encoding: 'windows-1250', delimiter: ';', created: 2, rejected: 0 });
    const rows = await customers(t);
    expect(rows.map((r) => [r.first_name, r.last_name, r.city, r.date_of_birth])).toEqual([
      ['Ana', 'Mureşan', 'Târgu Mureş', '1985-12-01'],
      ['Ştefan', 'Ţurcanu', 'Bârlad', '1990-03-05'],
    ]);

    const t2 = await createTestTenant(ctx.db);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('email\tprenume\nelena@exemplu.ro\tElena\n')]);
    const d2 = await importFile(ctx.app, t2.headers, 'type=customers', { name: 'x.tsv', data: bom });
    expect(d2).toMatchObject({ status: 'completed', encoding: 'utf-8', delimiter: '\t', created: 1 });
    expect((await customers(t2))[0]).toMatchObject({ email: 'elena@exemplu.ro', first_name: 'Elena' });
  });

  it('applies an explicit mapping over the synonyms', async () => {
    const t = await createTestTenant(ctx.db);
    const csv = 'Cod,Contact,Nume\nA-1,a1@exemplu.ro,Pop\n';
    const res = await postImport(ctx.app, t.headers, 'type=customers', { name: 'm.csv', data: csv });
    // "Cod" and "Contact" say nothing: no identity column
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('import_header_unmappable');
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'm.csv', data: csv }, {
      mapping: JSON.stringify({ Cod: 'external_id', Contact: 'email', Nume: 'first_name' }),
    });
    expect(done).toMatchObject({ status: 'completed', created: 1, mapping: { Cod: 'external_id', Contact: 'email', Nume: 'first_name' } });
    expect((await customers(t))[0]).toMatchObject({ external_id: 'A-1', email: 'a1@exemplu.ro', first_name: 'Pop' });

    const bad = await postImport(ctx.app, t.headers, 'type=customers', { name: 'm.csv', data: csv }, { mapping: JSON.stringify({ Cod: 'shoe_size' }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.allowed).toContain('email');
    const notJson = await postImport(ctx.app, t.headers, 'type=customers', { name: 'm.csv', data: csv }, { mapping: '{nope' });
    expect(notJson.statusCode).toBe(400);
    expect(await count('imports', t)).toBe(1);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('dry run validates and counts without writing', async () => {
    const t = await createTestTenant(ctx.db);
    await importFile(ctx.app, t.headers, 'type=customers', { name: 'a.csv', data: 'email\nold@exemplu.ro\n' });
    const csv = 'email,first name,phone\nold@exemplu.ro,Old,\nnew@exemplu.ro,New,\nnot-an-email,X,\nx@exemplu.ro,Y,123\n';
    const done = await importFile(ctx.app, t.headers, 'type=customers&dry_run=true', { name: 'b.csv', data: csv });
    expect(done).toMatchObject({ status: 'completed', dry_run: true, total_rows: 4, created: 1, updated: 1, rejected: 2 });
    expect(done.errors_url).toBe(`/api/crm/imports/${done.id}/errors`);
    expect(await count('customers', t)).toBe(1);
    expect((await customers(t))[0].first_name).toBeNull();
    // dry_run as a form field too
    const d2 = await importFile(ctx.app, t.headers, 'type=customers', { name: 'b.csv', data: csv }, { dry_run: 'true' });
    expect(d2.dry_run).toBe(true);
    expect(await count('customers', t)).toBe(1);
  });

  it('rejects bad rows one by one, with the reason in a downloadable CSV', async () => {
    const t = await createTestTenant(ctx.db);
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const csv = [
      'email,first_name,last_name,date_of_birth',
      'ok1@exemplu.ro,Ana,Pop,1990-01-01',
      'not-an-email,Bad,Email,',
      'ok2@exemplu.ro,Too,Many,,cells,here',
      'short@exemplu.ro',
      `big@exemplu.ro,"${huge}",Big,`,
      'date@exemplu.ro,Bad,Date,31.02.1990',
      ',No,Identity,',
      'ok3@exemplu.ro,Ion,"Pop ""Junior""",',
    ].join('\n');
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'bad.csv', data: csv });
    expect(done).toMatchObject({ status: 'completed', total_rows: 8, created: 2, rejected: 6 });
    expect((await customers(t)).map((r) => r.email)).toEqual(['ok1@exemplu.ro', 'ok3@exemplu.ro']);
    const errors = await ctx.app.inject({ method: 'GET', url: done.errors_url, headers: t.headers });
    expect(errors.statusCode).toBe(200);
    expect(errors.headers['content-type']).toContain('text/csv');
    const lines = errors.body.replace(/^\uFEFF/, '').trim().split('\r\n');
    expect(lines[0]).toBe('row_number,reason,email,first_name,last_name,date_of_birth');
    expect(lines).toHaveLength(7);
    expect(lines[1]).toMatch(/^3,.*not-an-email.*e-mail/i);
    expect(lines[2]).toMatch(/^4,.*ragged row/);
    expect(lines[3]).toMatch(/^5,.*ragged row/);
    expect(lines[4]).toMatch(/^6,first_name is 10485760 characters long/);
    expect(lines[4].length).toBeLessThan(5000);
    expect(lines[5]).toMatch(/^7,.*date_of_birth/);
    expect(lines[6]).toMatch(/^8,"no external_id, email or phone/);
  });

  it('an invalid byte sequence in a UTF-8 file rejects that row only', async () => {
    const t = await createTestTenant(ctx.db);
    const data = Buffer.concat([Buffer.from('email,first_name\na@exemplu.ro,Ana\n'), Buffer.from('b@exemplu.ro,B'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\nc@exemplu.ro,Ce\n')]);
    // detection would call these bytes Windows-1250; told it is UTF-8, the broken row is rejected and the others read
    const done = await importFile(ctx.app, t.headers, 'type=customers&encoding=utf-8', { name: 'u.csv', data });
    expect(done).toMatchObject({ status: 'completed', created: 2, rejected: 1 });
  });

  it('refuses files that are not CSV or XLSX, and leaves nothing behind', async () => {
    const t = await createTestTenant(ctx.db);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), Buffer.alloc(200, 7)]);
    for (const file of [
      { name: 'photo.csv', data: png },
      { name: 'empty.csv', data: '' },
      { name: 'old.xls', data: Buffer.concat([Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]), Buffer.alloc(100)]) },
      { name: 'archive.xlsx', data: makeZip([{ name: 'readme.txt', data: Buffer.from('hello') }]) },
      { name: 'strange.csv', data: Buffer.from([0x65, 0x6d, 0x61, 0x69, 0x6c, 0x0a, 0x81, 0x90, 0x98, 0x0a]) },
    ]) {
      const res = await postImport(ctx.app, t.headers, 'type=customers', file);
      expect(res.statusCode, file.name).toBe(400);
      expect(res.json().error.code).toBe('import_file_invalid');
    }
    const none = await postImport(ctx.app, t.headers, 'type=customers', null, { dry_run: 'false' });
    expect(none.statusCode).toBe(400);
    const json = await ctx.app.inject({ method: 'POST', url: '/api/crm/imports?type=customers', headers: t.headers, payload: { file: 'x' } });
    expect(json.statusCode).toBe(415);
    const noType = await postImport(ctx.app, t.headers, 'type=invoices', { name: 'a.csv', data: 'email\na@b.ro\n' });
    expect(noType.statusCode).toBe(400);
    expect(await count('imports', t)).toBe(0);
    expect(await count('customers', t)).toBe(0);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('a file-level failure found while reading (a quote never closed) leaves the database unchanged', async () => {
    const t = await createTestTenant(ctx.db);
    await importFile(ctx.app, t.headers, 'type=customers', { name: 'a.csv', data: 'email,first_name\nkeep@exemplu.ro,Keep\n' });
    const before = await customers(t);
    const rows = ['email,first_name,last_name'];
    for (let i = 0; i < 6000; i++) rows.push(`p${i}@exemplu.ro,P${i},X`);
    rows.push('late@exemplu.ro,"never closed,X');
    rows.push('after@exemplu.ro,After,X');
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'broken.csv', data: rows.join('\n') });
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('import_file_invalid');
    expect(done.error.message).toMatch(/never closed/);
    expect(done).toMatchObject({ created: 0, updated: 0, processed_rows: 0 });
    expect(await customers(t)).toEqual(before);
    expect(await uploadsLeft()).toEqual([]);
  });

  it('does not grant marketing consent to a suppressed address', async () => {
    const t = await createTestTenant(ctx.db);
    await addSuppressions(ctx.db, t.tenantId, [
      { channel: 'email', value: 'gone@exemplu.ro', reason: 'unsubscribed' },
      { channel: 'sms', value: '+40722000111', reason: 'complaint' },
    ]);
    const csv = 'email,phone,marketing_email,marketing_sms,first_name\ngone@exemplu.ro,0722000111,yes,yes,Gone\nhere@exemplu.ro,0722000222,yes,yes,Here\n';
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 's.csv', data: csv });
    expect(done).toMatchObject({ status: 'completed', created: 2, rejected: 0 });
    const [gone, here] = await customers(t);
    expect(gone.email).toBe('gone@exemplu.ro');
    expect(gone.consent.marketing_email).not.toBe(true);
    expect(gone.consent.marketing_sms).not.toBe(true);
    expect(gone.first_name).toBe('Gone');
    expect(here.consent).toMatchObject({ marketing_email: true, marketing_sms: true });
  });

  it('reads XLSX: dates, numbers, formulas kept as text; refuses zip bombs', async () => {
    const t = await createTestTenant(ctx.db);
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Clienți');
    ws.addRow(['ID Client', 'E-mail', 'Prenume', 'Nume', 'Data nașterii', 'Oraș']);
    ws.addRow([1001, 'x1@exemplu.ro', 'Ana', { formula: 'HYPERLINK("http://evil","Pop")', result: 'Pop' }, new Date(Date.UTC(1990, 4, 17)), 'Cluj']);
    ws.addRow([1002, 'x2@exemplu.ro', '=1+2', 'Ionescu', null, null]);
    const buf = Buffer.from(await wb.xlsx.writeBuffer());
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'c.xlsx', data: buf, type: 'application/octet-stream' });
    expect(done).toMatchObject({ status: 'completed', format: 'xlsx', created: 2, rejected: 0 });
    const rows = await customers(t);
    expect(rows[0]).toMatchObject({ external_id: '1001', first_name: 'Ana', last_name: '=HYPERLINK("http://evil","Pop")', date_of_birth: '1990-05-17', city: 'Cluj' });
    expect(rows[1]).toMatchObject({ external_id: '1002', first_name: '=1+2' });

    const sheet = Buffer.from('<worksheet>' + '<row/>'.repeat(5_000_000) + '</worksheet>');
    const bomb = makeZip([
      { name: '[Content_Types].xml', data: Buffer.from('<Types/>') },
      { name: 'xl/workbook.xml', data: Buffer.from('<workbook/>') },
      { name: 'xl/worksheets/sheet1.xml', data: sheet },
    ]);
    const res = await postImport(ctx.app, t.headers, 'type=customers', { name: 'bomb.xlsx', data: bomb });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/zip bomb/);
    // an entry that lies about its size is stopped at the declared size
    const liar = makeZip([
      { name: '[Content_Types].xml', data: Buffer.from('<Types/>') },
      { name: 'xl/workbook.xml', data: Buffer.from('<workbook/>') },
      { name: 'xl/worksheets/sheet1.xml', data: Buffer.alloc(600_000, 0x20), declaredSize: 1000 },
    ]);
    const res2 = await postImport(ctx.app, t.headers, 'type=customers', { name: 'liar.xlsx', data: liar });
    expect(res2.statusCode).toBe(400);
    expect(res2.json().error.message).toMatch(/beyond its declared size/);
    expect(await count('customers', t)).toBe(2);
  });

  it('keeps tenants apart and checks roles', async () => {
    const a = await createTestTenant(ctx.db);
    const b = await createTestTenant(ctx.db);
    const done = await importFile(ctx.app, a.headers, 'type=customers', { name: 'a.csv', data: 'email\nbad\n' });
    for (const url of [`/api/crm/imports/${done.id}`, `/api/crm/imports/${done.id}/errors`]) {
      const res = await ctx.app.inject({ method: 'GET', url, headers: b.headers });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('import_not_found');
    }
    const viewer = await a.keyFor('viewer');
    const denied = await postImport(ctx.app, viewer, 'type=customers', { name: 'a.csv', data: 'email\nv@exemplu.ro\n' });
    expect(denied.statusCode).toBe(403);
    const seen = await ctx.app.inject({ method: 'GET', url: `/api/crm/imports/${done.id}`, headers: viewer });
    expect(seen.statusCode).toBe(200);
    const employee = await a.keyFor('employee');
    const ok = await importFile(ctx.app, employee, 'type=customers', { name: 'a.csv', data: 'email\ne@exemplu.ro\n' });
    expect(ok.created).toBe(1);
    expect(await count('customers', b)).toBe(0);
  });

  it('writes one audit entry per import with its counts', async () => {
    const t = await createTestTenant(ctx.db);
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'a.csv', data: 'email\na@exemplu.ro\nb@exemplu.ro\nbad\n' });
    const entries = await ctx.db.rows<{ action: string; entity_id: string; after: any }>(sql`
      SELECT action, entity_id, after FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND entity_type = 'import'`);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: 'import.complete', entity_id: done.id, after: { created: 2, updated: 0, rejected: 1, total_rows: 3 } });
  });
});

describe('limits and documentation', () => {
  it('refuses a file over IMPORT_MAX_FILE_BYTES with 413 and keeps nothing', async () => {
    const app = await buildApp({ config: testConfig({ DATA_DIR: dataDir, IMPORT_MAX_FILE_BYTES: '2048' }), db: ctx.db, logger: false });
    await app.ready();
    try {
      const t = await createTestTenant(ctx.db);
      const res = await postImport(app, t.headers, 'type=customers', { name: 'big.csv', data: 'email\n' + 'someone@exemplu.ro\n'.repeat(200) });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('payload_too_large');
      expect(await count('imports', t)).toBe(0);
      expect(await uploadsLeft()).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('documents the routes in the OpenAPI document', async () => {
    const doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/api/crm/imports', '/api/crm/imports/{id}', '/api/crm/imports/{id}/errors', '/api/crm/exports/customers', '/api/crm/exports/orders',
    ]));
    expect(doc.paths['/api/crm/imports'].post.responses['202']).toBeDefined();
  });
});

describe('order import', () => {
  it('updates metrics exactly as ingested orders do, and is idempotent by order id', async () => {
    const viaImport = await createTestTenant(ctx.db);
    const viaEvents = await createTestTenant(ctx.db);
    const csv = [
      'Order ID,Order Date,Email Address,First Name,Total Paid,Currency,Status',
      'ord-1,2025-01-10 18:30,ion@exemplu.ro,Ion,"150,00",RON,paid',
      'ord-2,15.02.2025 10:00,ion@exemplu.ro,Ion,99.5,RON,completed',
      'ord-3,2025-03-01T09:00:00Z,ana@exemplu.ro,Ana,"1.234,56",RON,completed',
      'ord-4,2025-03-02,ana@exemplu.ro,Ana,10,RON,refunded',
      'ord-5,not a date,ana@exemplu.ro,Ana,10,RON,completed',
    ].join('\n');
    const done = await importFile(ctx.app, viaImport.headers, 'type=orders', { name: 'orders.csv', data: csv });
    expect(done).toMatchObject({ status: 'completed', total_rows: 5, created: 3, rejected: 2 });

    const events = [
      ['ord-1', '2025-01-10T18:30:00.000Z', 'ion@exemplu.ro', 'Ion', 150],
      ['ord-2', '2025-02-15T10:00:00.000Z', 'ion@exemplu.ro', 'Ion', 99.5],
      ['ord-3', '2025-03-01T09:00:00.000Z', 'ana@exemplu.ro', 'Ana', 1234.56],
    ].map(([id, at, email, first, total]) => ({
      id: `e-${id}`, type: 'order.completed', occurred_at: at, customer: { email, first_name: first }, data: { order_id: id, total, currency: 'RON' },
    }));
    const ingested = await ctx.app.inject({ method: 'POST', url: '/api/crm/events', headers: viaEvents.headers, payload: { events } });
    expect(ingested.json().accepted).toBe(3);

    const metrics = (t: TestTenant) => ctx.db.rows(sql`
      SELECT email, total_orders, total_spend, average_order_value, first_purchase, last_purchase, lifetime_value, loyalty_points
      FROM customers WHERE tenant_id = ${t.tenantId}::uuid ORDER BY email`);
    const imported = await metrics(viaImport);
    expect(imported).toEqual(await metrics(viaEvents));
    expect(imported[1]).toMatchObject({ email: 'ion@exemplu.ro', total_orders: 2, total_spend: 249.5 });

    const again = await importFile(ctx.app, viaImport.headers, 'type=orders', { name: 'orders.csv', data: csv });
    expect(again).toMatchObject({ status: 'completed', created: 0, unchanged: 3, rejected: 2 });
    expect(await metrics(viaImport)).toEqual(imported);
    expect(await count('orders', viaImport)).toBe(3);
  });

  it('refuses an orders file without order id or date columns', async () => {
    const t = await createTestTenant(ctx.db);
    const res = await postImport(ctx.app, t.headers, 'type=orders', { name: 'o.csv', data: 'email,total\na@b.ro,10\n' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.details.missing).toEqual(['order_id', 'order_date']);
  });
});

describe('workflows', () => {
  it('an import enrolls nobody in signup or purchase journeys (platform events still do)', async () => {
    const t = await createTestTenant(ctx.db);
    const post = (url: string, payload: object) => ctx.app.inject({ method: 'POST', url: `/api/crm${url}`, headers: t.headers, payload });
    const steps = [{ id: 'tag', type: 'add_tag', config: { tag: 'journey' } }];
    const signup = await post('/workflows', { name: 'Welcome', trigger_type: 'signup', steps, active: true });
    const purchase = await post('/workflows', { name: 'Thanks', trigger_type: 'purchase', steps, active: true });
    expect(signup.statusCode, signup.body).toBe(201);
    await importFile(ctx.app, t.headers, 'type=customers', { name: 'c.csv', data: 'email\nnew@exemplu.ro\n' });
    await importFile(ctx.app, t.headers, 'type=orders', { name: 'o.csv', data: 'order id,order date,email,total\no-1,2024-05-01,new@exemplu.ro,10\n' });
    const enrollments = async (id: string) =>
      (await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${id}/enrollments`, headers: t.headers })).json().data;
    expect(await enrollments(signup.json().id)).toEqual([]);
    expect(await enrollments(purchase.json().id)).toEqual([]);
    await post('/events', { events: [{ id: 'reg-1', type: 'user.registered', occurred_at: new Date().toISOString(), customer: { email: 'platform@exemplu.ro' }, data: {} }] });
    expect(await enrollments(signup.json().id)).toHaveLength(1);
  });
});

describe('import job', () => {
  it('runs as a pg-boss job when the app has a queue', { timeout: 120_000 }, async () => {
    const queue = new JobQueue(ctx.db);
    defineImportJobs(queue, { db: ctx.db, config: ctx.config });
    await queue.start({ work: true });
    const app = await buildApp({ config: ctx.config, db: ctx.db, jobs: queue, logger: false });
    await app.ready();
    try {
      const t = await createTestTenant(ctx.db);
      const done = await importFile(app, t.headers, 'type=customers', { name: 'job.csv', data: 'email,first_name\njob@exemplu.ro,Job\n' });
      expect(done).toMatchObject({ status: 'completed', created: 1 });
      expect((await customers(t))[0]).toMatchObject({ email: 'job@exemplu.ro', first_name: 'Job', source: 'import' });
    } finally {
      await app.close();
      await queue.stop(5000);
    }
  });

  it('a finished import is not run again', async () => {
    const { runImport } = await import('./imports.service.js');
    const t = await createTestTenant(ctx.db);
    const done = await importFile(ctx.app, t.headers, 'type=customers', { name: 'a.csv', data: 'email\nonce@exemplu.ro\n' });
    await runImport({ db: ctx.db, config: ctx.config }, t.tenantId, done.id);
    const after = await waitForImport(ctx.app, t.headers, done.id);
    expect(after).toMatchObject({ status: 'completed', created: 1 });
    expect(await count('customers', t)).toBe(1);
  });
});
