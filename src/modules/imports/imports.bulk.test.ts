import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { ingestEvents } from '../ingest/ingest.service.js';
import { addSuppressions } from '../privacy/suppressions.repository.js';
import { uuidv7 } from './imports.bulk.js';
import { createImport, newUploadPath, runImport } from './imports.service.js';

/**
 * The bulk path of customer imports (imports.bulk.ts) against the per-event ingestion path: the same file
 * imported both ways leaves the same data behind; a resumed import applies nothing twice.
 */

let ctx: TestContext;
let dataDir: string;
beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-imports-bulk-'));
  ctx = await createTestApp({ DATA_DIR: dataDir });
});
afterAll(async () => {
  await ctx.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** New people of every kind a migration brings, people the tenant knows, repeats, and bad rows. */
const FILE = [
  'Customer ID,Email Address,Telefon,Prenume,Nume,Firma,Tip,Status,Oraș,Judet,Country,Cod postal,Data nasterii,Sex,Newsletter,SMS consent',
  'u1,ana@exemplu.ro,0722 000 001,Ana,Pop,,,,Cluj-Napoca,Cluj,ro,400001,1990-05-01,F,da,nu',
  'u2,bogdan@exemplu.ro,,Bogdan,Ionescu,Bogdan SRL,business,,București,,RO,,,M,nu,',
  'u3,,0722 000 003,Cornel,,,,inactive,Iași,,RO,,01.02.1980,,,da',
  ',dana@exemplu.ro,,Dana,Stan,,individual,prospect,Cluj-Napoca,,RO,,,,da,da',
  'u5,known@exemplu.ro,0722 000 005,Known,Again,,,,Sibiu,,RO,,,,da,',
  'u6,gone@exemplu.ro,0722 000 006,Gone,Away,,,,Cluj-Napoca,,RO,,,,da,da',
  'u7,not-an-email,,Bad,Email,,,,,,,,,,,',
  'u8,eve@exemplu.ro,,Eve,,,,,Cluj-Napoca,,RO,,1800-01-01,,,',
  'u9,fane@exemplu.ro,0722 000 009,Fane,Rusu,,nobody,,,,,,,,,',
  'u1,ANA@exemplu.ro,,Ana-Maria,,,,,,,,,,,,',
  ',,0722 000 003,,Cornelescu,,,,,,,,,,,',
  'u10,gina@exemplu.ro,+40 722 000 010,Gina,Munteanu,,,,Brașov,,RO,500001,,,nu,nu',
  'u11,bogdan@exemplu.ro,,Bogdan,Duplicate,,,,,,,,,,,',
].join('\n');

/** A tenant with a known customer, a suppressed address and a segment, as both imports start from. */
async function prepareTenant(): Promise<TestTenant> {
  const t = await createTestTenant(ctx.db);
  const r = await ingestEvents(ctx.db, { tenantId: t.tenantId, config: ctx.config, actor: 'test' }, [{
    id: 'reg-known', type: 'user.registered', occurred_at: '2025-01-01T10:00:00Z',
    customer: { external_id: 'u5', email: 'known@exemplu.ro', first_name: 'Known' }, data: { source: 'shop', city: 'Oradea' },
  }]);
  expect(r.accepted).toBe(1);
  await addSuppressions(ctx.db, t.tenantId, [{ channel: 'email', value: 'gone@exemplu.ro', reason: 'unsubscribed' }]);
  const seg = await ctx.app.inject({
    method: 'POST', url: '/api/crm/segments', headers: t.headers,
    payload: { name: 'Cluj', rules: { operator: 'and', conditions: [{ field: 'city', operator: '=', value: 'Cluj-Napoca' }] } },
  });
  expect(seg.statusCode, seg.body).toBe(201);
  return t;
}

async function runFile(t: TestTenant, csv: string, bulk: boolean) {
  const { id, filePath } = await newUploadPath(ctx.config);
  fs.writeFileSync(filePath, csv);
  return createImport({ db: ctx.db, config: ctx.config, tenantId: t.tenantId, actor: 'key:test' }, {
    id, type: 'customers', filePath, fileName: 'people.csv', wait: true, bulk,
  });
}

/** Everything an import writes, without ids and times, in a stable order. */
async function snapshot(t: TestTenant) {
  const tenant = sql`${t.tenantId}::uuid`;
  const key = sql`coalesce(c.external_id, c.email, c.phone)`;
  const customers = await ctx.db.rows<Record<string, unknown>>(sql`
    SELECT to_jsonb(c) - 'id' - 'tenant_id' - 'created_at' - 'updated_at' - 'last_activity_at' - 'consent'
           || jsonb_build_object('consent', c.consent - 'updated_at', 'has_activity', c.last_activity_at IS NOT NULL) AS profile
    FROM customers c WHERE c.tenant_id = ${tenant} ORDER BY ${key}`);
  const ledger = await ctx.db.rows(sql`
    SELECT ${key} AS who, e.channel, e.purpose, e.granted, e.source, e.recorded_by
    FROM consent_events e JOIN customers c ON c.tenant_id = e.tenant_id AND c.id = e.customer_id
    WHERE e.tenant_id = ${tenant} ORDER BY 1, 2, 3, 4`);
  const timeline = await ctx.db.rows(sql`
    SELECT ${key} AS who, a.type, a.summary, a.data - 'changes' - 'segment_id' AS data, a.data->'changes' AS changes, a.actor
    FROM activities a JOIN customers c ON c.tenant_id = a.tenant_id AND c.id = a.customer_id
    WHERE a.tenant_id = ${tenant} ORDER BY 1, 2, 3, 4::text, 5::text`);
  const outbox = (await ctx.db.rows<{ payload: unknown }>(sql`
    SELECT ${key} AS who, o.type, (o.payload #- '{customer,id}') - 'customer_id' - 'segment_id' AS payload
    FROM outbox o JOIN customers c ON c.tenant_id = o.tenant_id AND c.id = o.customer_id
    WHERE o.tenant_id = ${tenant} ORDER BY 1, 2, 3::text`))
    // segment ids differ between tenants: named by the segment's name instead
    .map((o) => ({ ...o, payload: JSON.parse(JSON.stringify(o.payload).replace(/"[0-9a-f-]{36}"/g, '"<id>"')) }));
  const members = await ctx.db.rows(sql`
    SELECT s.name, ${key} AS who FROM segment_members m
    JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id
    JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.customer_id
    WHERE m.tenant_id = ${tenant} ORDER BY 1, 2`);
  const counts = await ctx.db.one(sql`
    SELECT (SELECT count(*)::int FROM ingested_events WHERE tenant_id = ${tenant}) AS ingested_events,
           (SELECT count(*)::int FROM dedupe_queue WHERE tenant_id = ${tenant}) AS dedupe_queue,
           (SELECT count(*)::int FROM score_refresh_queue WHERE tenant_id = ${tenant}) AS score_queue,
           (SELECT count(*)::int FROM segment_membership_history WHERE tenant_id = ${tenant}) AS membership_history,
           (SELECT count(*)::int FROM import_errors WHERE tenant_id = ${tenant}) AS import_errors`);
  return { customers, ledger, timeline, outbox, members, counts };
}

/** Customers whose id is a version-7 UUID: made by the bulk path (ingestion makes version 4). */
async function bulkMade(t: TestTenant): Promise<string[]> {
  const rows = await ctx.db.rows<{ email: string | null; external_id: string | null }>(sql`
    SELECT email, external_id FROM customers WHERE tenant_id = ${t.tenantId}::uuid AND substr(id::text, 15, 1) = '7' ORDER BY external_id, email`);
  return rows.map((r) => r.external_id ?? r.email ?? '?');
}

const counters = (v: { created: number; updated: number; unchanged: number; rejected: number; total_rows: number }) =>
  ({ created: v.created, updated: v.updated, unchanged: v.unchanged, rejected: v.rejected, total_rows: v.total_rows });

describe('bulk path of customer imports', () => {
  it('makes time-ordered version-7 ids', () => {
    const [a, b] = [uuidv7(), uuidv7()];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.slice(0, 8) <= b.slice(0, 8)).toBe(true);
  });

  it('writes exactly what the per-event ingestion path writes for the same file', async () => {
    const viaBulk = await prepareTenant();
    const viaIngestion = await prepareTenant();
    const a = await runFile(viaBulk, FILE, true);
    const b = await runFile(viaIngestion, FILE, false);
    expect(a.status).toBe('completed');
    expect(counters(a)).toEqual(counters(b));
    // 13 rows: 6 new people; 4 rows of people known by then (u5 in the database; u1 and u3 earlier in the
    // file; u11 shares bogdan's e-mail); 3 rejected (bad e-mail, birth date out of range, unknown type)
    expect(counters(a)).toEqual({ created: 6, updated: 4, unchanged: 0, rejected: 3, total_rows: 13 });

    // the new people named by one row only went through the bulk path (and only there); u1, u2 and u3
    // have later rows in the file and stay on the ingestion path
    expect(await bulkMade(viaBulk)).toEqual(['u10', 'u6', 'dana@exemplu.ro']);
    expect(await bulkMade(viaIngestion)).toEqual([]);

    const [sa, sb] = [await snapshot(viaBulk), await snapshot(viaIngestion)];
    expect(sa.customers).toEqual(sb.customers);
    expect(sa.ledger).toEqual(sb.ledger);
    expect(sa.timeline).toEqual(sb.timeline);
    expect(sa.outbox).toEqual(sb.outbox);
    expect(sa.members).toEqual(sb.members);
    expect(sa.counts).toEqual(sb.counts);

    // and what that is, so the comparison cannot pass on two empty sets
    expect(sa.customers).toHaveLength(7);
    const byKey = new Map(sa.customers.map((r) => [(r.profile as any).external_id ?? (r.profile as any).email, r.profile as Record<string, any>]));
    expect(byKey.get('u1')).toMatchObject({
      email: 'ana@exemplu.ro', phone: '+40722000001', first_name: 'Ana-Maria', last_name: 'Pop', city: 'Cluj-Napoca', state: 'Cluj',
      country: 'RO', postal_code: '400001', date_of_birth: '1990-05-01', gender: 'F', source: 'import', consent: { marketing_email: true, marketing_sms: false },
    });
    expect(byKey.get('u2')).toMatchObject({ customer_type: 'business', company_name: 'Bogdan SRL', last_name: 'Duplicate' });
    expect(byKey.get('u3')).toMatchObject({ status: 'inactive', last_name: 'Cornelescu', date_of_birth: '1980-02-01' });
    expect(byKey.get('u6')!.consent).toEqual({ marketing_sms: true });
    expect(byKey.get('u5')).toMatchObject({ source: 'shop', first_name: 'Known', last_name: 'Again', city: 'Sibiu', phone: '+40722000005' });
    expect(sa.ledger.length).toBeGreaterThanOrEqual(8);
    expect(sa.outbox.filter((o: any) => o.type === 'customer.created')).toHaveLength(7);
    expect(sa.outbox.filter((o: any) => o.type === 'customer.updated').length).toBeGreaterThanOrEqual(3);
    expect(sa.members.map((m: any) => m.who)).toEqual(['dana@exemplu.ro', 'u1', 'u6']);
    expect(sa.counts).toMatchObject({ import_errors: 3 });
  });

  it('resumes after a crash without applying a row twice', async () => {
    const t = await prepareTenant();
    const done = await runFile(t, FILE, true);
    const before = await snapshot(t);
    // the process died after the batch's writes and before its progress was recorded: the job runs again
    const { filePath } = await newUploadPath(ctx.config);
    fs.writeFileSync(filePath, FILE);
    await ctx.db.run(sql`
      UPDATE imports SET status = 'running', processed_rows = 0, created = 0, updated = 0, unchanged = 0, rejected = 0,
        file_path = ${filePath}, finished_at = NULL
      WHERE tenant_id = ${t.tenantId}::uuid AND id = ${done.id}::uuid`);
    await ctx.db.run(sql`DELETE FROM import_errors WHERE tenant_id = ${t.tenantId}::uuid AND import_id = ${done.id}::uuid`);
    await runImport({ db: ctx.db, config: ctx.config }, t.tenantId, done.id);
    const again = await ctx.db.one<{ status: string; created: number; updated: number; unchanged: number; rejected: number }>(sql`
      SELECT status, created, updated, unchanged, rejected FROM imports WHERE tenant_id = ${t.tenantId}::uuid AND id = ${done.id}::uuid`);
    // every applied row comes back as already applied; the rejected ones are rejected again
    expect(again).toEqual({ status: 'completed', created: 0, updated: 0, unchanged: 10, rejected: 3 });
    expect(await snapshot(t)).toEqual(before);
  });
});
