import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { verifyAuditChain } from '../audit/audit.service.js';
import { runRetention } from './privacy.service.js';
import { findSuppressed } from './suppressions.repository.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

let seq = 0;
const uid = (p: string) => `${p}_${++seq}_${Math.random().toString(36).slice(2, 8)}`;
const ago = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

function inject(t: TestTenant, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object, headers = t.headers) {
  return ctx.app.inject({ method, url: `/api/crm${url}`, headers, ...(payload ? { payload } : {}) });
}

async function ok(t: TestTenant, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  const res = await inject(t, method, url, payload);
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.body ? res.json() : null;
}

async function ingest(t: TestTenant, events: object[]) {
  const body = await ok(t, 'POST', '/events', { events });
  expect(body.rejected, JSON.stringify(body.results)).toBe(0);
  return body as { results: { customer_id: string; status: string }[] };
}

const registered = (customer: object, consent?: object, at = ago(2)) =>
  ({ id: uid('evt'), type: 'user.registered', occurred_at: at, customer, data: consent ? { consent } : {} });
const completed = (customer: object, orderId: string, total: number, at = ago(1)) => ({
  id: uid('evt'), type: 'order.completed', occurred_at: at, customer,
  data: { order_id: orderId, total, currency: 'RON', items: [{ event_id: 'ev_gdpr', event_name: 'GDPR Live', quantity: 1, unit_price: total }] },
});

/** Tables of the tenant (every table with a tenant_id column) whose rows mention `needle`, anywhere. */
async function tablesMentioning(tenantId: string, needle: string): Promise<string[]> {
  const tables = await ctx.db.rows<{ table_name: string }>(sql`
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`);
  const found: string[] = [];
  for (const { table_name } of tables) {
    const row = await ctx.db.one<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM ${sql.identifier(table_name)} t
      WHERE t.tenant_id = ${tenantId}::uuid AND strpos(lower(t::text), ${needle.toLowerCase()}) > 0`);
    if (row!.n > 0) found.push(table_name);
  }
  return found;
}

describe('consent ledger', () => {
  it('appends decisions, keeps the latest as the state and publishes the change', async () => {
    const t = await createTestTenant(ctx.db);
    const c = await ok(t, 'POST', '/customers', { first_name: 'Ana', email: 'ana.consent@exemplu.ro' });

    const granted = await inject(t, 'POST', `/customers/${c.id}/consent`, {
      channel: 'email', purpose: 'marketing', granted: true, source: 'checkout', text_version: 'v3', ip: '203.0.113.7',
    });
    expect(granted.statusCode, granted.body).toBe(201);
    expect(granted.json()).toMatchObject({
      customer_id: c.id,
      state: { marketing_email: true, marketing_sms: false },
      current: [{ channel: 'email', purpose: 'marketing', granted: true, source: 'checkout', text_version: 'v3', ip: '203.0.113.7' }],
    });
    // what segments and sending read
    expect((await ok(t, 'GET', `/customers/${c.id}`)).consent.marketing_email).toBe(true);

    // an older decision is recorded but does not override the newer one
    await ok(t, 'POST', `/customers/${c.id}/consent`, { channel: 'email', purpose: 'marketing', granted: false, occurred_at: ago(30) });
    let state = await ok(t, 'GET', `/customers/${c.id}/consent`);
    expect(state.state.marketing_email).toBe(true);
    expect(state.ledger).toHaveLength(2);

    await ok(t, 'POST', `/customers/${c.id}/consent`, { channel: 'sms', purpose: 'marketing', granted: true });
    await ok(t, 'POST', `/customers/${c.id}/consent`, { channel: 'email', purpose: 'marketing', granted: false, source: 'unsubscribe_link' });
    state = await ok(t, 'GET', `/customers/${c.id}/consent`);
    expect(state.state).toMatchObject({ marketing_email: false, marketing_sms: true });
    expect(state.ledger.map((e: { granted: boolean }) => e.granted)).toEqual([false, true, true, false]);
    expect(state.ledger[3].ip).toBeTruthy(); // defaulted to the caller's address

    const published = await ctx.db.rows<{ payload: any }>(sql`
      SELECT payload FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND type = 'customer.updated' ORDER BY seq`);
    expect(published.map((p) => p.payload.changes)).toEqual([
      { 'consent.marketing_email': { from: false, to: true } },
      { 'consent.marketing_sms': { from: false, to: true } },
      { 'consent.marketing_email': { from: true, to: false } },
    ]);
    const timeline = await ctx.db.rows<{ n: number }>(sql`
      SELECT count(*)::int AS n FROM activities WHERE tenant_id = ${t.tenantId}::uuid AND type = 'consent.changed'`);
    expect(timeline[0].n).toBe(3);
  });

  it('rejects bad input without changing anything; viewers read only; other tenants see 404', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const c = await ok(t, 'POST', '/customers', { first_name: 'Dan' });
    for (const body of [
      { channel: 'fax', purpose: 'marketing', granted: true },
      { channel: 'email', purpose: 'marketing' },
      { channel: 'email', purpose: 'marketing', granted: 'yes' },
      { channel: 'email', purpose: 'marketing', granted: true, extra: 1 },
      { channel: 'email', purpose: 'marketing', granted: true, occurred_at: '2999-01-01T00:00:00Z' },
    ]) {
      const res = await inject(t, 'POST', `/customers/${c.id}/consent`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }
    const viewer = await t.keyFor('viewer');
    expect((await inject(t, 'POST', `/customers/${c.id}/consent`, { channel: 'email', purpose: 'marketing', granted: true }, viewer)).statusCode).toBe(403);
    expect((await inject(t, 'GET', `/customers/${c.id}/consent`, undefined, viewer)).statusCode).toBe(200);
    expect((await inject(other, 'POST', `/customers/${c.id}/consent`, { channel: 'email', purpose: 'marketing', granted: true })).statusCode).toBe(404);
    expect((await inject(other, 'GET', `/customers/${c.id}/consent`)).statusCode).toBe(404);
    const n = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM consent_events WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(n!.n).toBe(0);
  });

  it('consent changes from ingested events go to the ledger', async () => {
    const t = await createTestTenant(ctx.db);
    const { results } = await ingest(t, [registered({ email: 'ev.consent@exemplu.ro' }, { marketing_email: true, marketing_sms: false })]);
    const id = results[0].customer_id;
    await ingest(t, [{
      id: uid('evt'), type: 'customer.updated', occurred_at: ago(1), customer: { email: 'ev.consent@exemplu.ro' },
      data: { changes: { consent: { marketing_email: false } } },
    }]);
    const state = await ok(t, 'GET', `/customers/${id}/consent`);
    expect(state.state.marketing_email).toBe(false);
    const ledger = state.ledger.map((e: { channel: string; granted: boolean; source: string }) => [e.channel, e.granted, e.source]);
    expect(ledger[0]).toEqual(['email', false, 'event']);
    // both decisions of the registration (an explicit refusal is recorded too)
    expect(ledger.slice(1).sort()).toEqual([['email', true, 'event'], ['sms', false, 'event']]);
  });
});

describe('consent through the customer API', () => {
  it('create and update with consent flags append to the ledger', async () => {
    const t = await createTestTenant(ctx.db);
    const c = await ok(t, 'POST', '/customers', { email: 'api.consent@exemplu.ro', consent: { marketing_email: true } });
    await ok(t, 'PATCH', `/customers/${c.id}`, { consent: { marketing_email: false, marketing_sms: true } });
    await ok(t, 'PATCH', `/customers/${c.id}`, { consent: { marketing_sms: true } }); // no change, no entry
    const state = await ok(t, 'GET', `/customers/${c.id}/consent`);
    expect(state.state).toMatchObject({ marketing_email: false, marketing_sms: true });
    expect(state.ledger.map((e: { channel: string; granted: boolean; source: string }) => `${e.channel}:${e.granted}:${e.source}`).sort())
      .toEqual(['email:false:api', 'email:true:api', 'sms:true:api']);
  });
});

describe('right of access', () => {
  it('exports everything held about the person as JSON and as a ZIP of CSVs, and records the access', async () => {
    const t = await createTestTenant(ctx.db);
    const email = 'export.me@exemplu.ro';
    const { results } = await ingest(t, [registered({ email, first_name: 'Elena' }, { marketing_email: true }), completed({ email }, 'ord_x1', 120)]);
    const id = results[0].customer_id;
    await ok(t, 'POST', `/customers/${id}/notes`, { body: 'Called about refunds' });
    await ok(t, 'POST', `/customers/${id}/interactions`, { type: 'call', subject: 'Refund question' });
    await ok(t, 'POST', '/segments', { name: 'Buyers', rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>', value: 0 }] } });

    const employee = await t.keyFor('employee');
    const res = await inject(t, 'GET', `/customers/${id}/export`, undefined, employee);
    expect(res.statusCode, res.body).toBe(200);
    const data = res.json();
    expect(data.customer).toMatchObject({ id, email, first_name: 'Elena' });
    expect(data.orders).toMatchObject([{ id: 'ord_x1', total: 120 }]);
    expect(data.order_items).toMatchObject([{ order_id: 'ord_x1', event_id: 'ev_gdpr', event_name: 'GDPR Live' }]);
    expect(data.notes).toMatchObject([{ body: 'Called about refunds' }]);
    expect(data.interactions).toMatchObject([{ subject: 'Refund question' }]);
    expect(data.consent_events).toMatchObject([{ channel: 'email', granted: true }]);
    expect(data.loyalty_ledger.length).toBeGreaterThan(0);
    expect(data.segments).toMatchObject([{ name: 'Buyers' }]);
    expect(data.timeline.map((a: { type: string }) => a.type)).toEqual(expect.arrayContaining(['user.registered', 'order.completed', 'note.added']));
    expect(Array.isArray(data.messages)).toBe(true);

    const zip = await inject(t, 'GET', `/customers/${id}/export?format=zip`);
    expect(zip.statusCode).toBe(200);
    expect(zip.headers['content-type']).toBe('application/zip');
    const bytes = zip.rawPayload;
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('PK\u0003\u0004');
    for (const name of ['profile.csv', 'orders.csv', 'timeline.csv', 'notes.csv', 'consent_events.csv', 'export.json']) {
      expect(bytes.includes(Buffer.from(name)), name).toBe(true);
    }

    const requests = await ok(t, 'GET', `/privacy/requests?type=access&customer_id=${id}`);
    expect(requests.data).toHaveLength(2);
    const audited = await ok(t, 'GET', `/audit?action=customer.export&entity_id=${id}`);
    expect(audited.data.map((e: { after: { format: string } }) => e.after.format).sort()).toEqual(['json', 'zip']);

    const viewer = await t.keyFor('viewer');
    expect((await inject(t, 'GET', `/customers/${id}/export`, undefined, viewer)).statusCode).toBe(403);
    const other = await createTestTenant(ctx.db);
    expect((await inject(other, 'GET', `/customers/${id}/export`)).statusCode).toBe(404);
    expect((await ok(other, 'GET', '/privacy/requests')).data).toEqual([]);
    expect((await inject(t, 'GET', '/privacy/requests', undefined, employee)).statusCode).toBe(403);
    expect((await inject(t, 'GET', '/privacy/requests?type=deletion')).statusCode).toBe(400);
    expect((await inject(t, 'GET', `/customers/${id}/export?format=pdf`)).statusCode).toBe(400);
  });
});

describe('right to erasure', () => {
  it('anonymises the person everywhere, keeps revenue, suppresses the address and blocks re-consent by events', async () => {
    const t = await createTestTenant(ctx.db);
    const email = 'erase.me@exemplu.ro';
    const phone = '+40722999111';
    const { results } = await ingest(t, [
      registered({ email, phone, first_name: 'Radu', last_name: 'Ionescu', external_id: 'platform-user-42' }, { marketing_email: true, marketing_sms: true }),
      completed({ email }, 'ord_e1', 200),
      { id: uid('evt'), type: 'interaction.logged', occurred_at: ago(1), customer: { email }, data: { type: 'email', subject: `Mail from ${email}`, description: `call ${phone}` } },
    ]);
    const id = results[0].customer_id;
    const bystander = (await ok(t, 'POST', '/customers', { first_name: 'Other', email: 'other@exemplu.ro' })).id;
    // an older record of the same person, merged into this one, keeps its own identifiers
    const tombstone = (await ok(t, 'POST', '/customers', { first_name: 'Radu', email: 'radu.old@exemplu.ro' })).id;
    await ctx.db.run(sql`UPDATE customers SET merged_into = ${id}::uuid WHERE tenant_id = ${t.tenantId}::uuid AND id = ${tombstone}::uuid`);
    await ingest(t, [completed({ email: 'other@exemplu.ro' }, 'ord_o1', 50)]);
    await ok(t, 'PATCH', `/customers/${id}`, { city: 'Iasi', custom_fields: { contact: email } });
    await ok(t, 'POST', `/customers/${id}/notes`, { body: `Reach at ${email} or ${phone}` });
    await ok(t, 'POST', `/customers/${id}/interactions`, { type: 'call', subject: 'Support', description: `wrote from ${email}` });
    await ok(t, 'POST', `/customers/${id}/loyalty/adjust`, { points: 10, note: `for ${email}` });
    await ok(t, 'POST', `/customers/${id}/consent`, { channel: 'email', purpose: 'marketing', granted: true, ip: '198.51.100.9' });
    const imports = await ctx.db.rows<{ ok: boolean }>(sql`SELECT to_regclass('import_errors') IS NOT NULL AS ok`);
    if (imports[0].ok) {
      const imp = await ctx.db.one<{ id: string }>(sql`
        INSERT INTO imports (tenant_id, type, status, file_format, actor) VALUES (${t.tenantId}::uuid, 'customers', 'completed', 'csv', 'test')
        RETURNING id`);
      await ctx.db.run(sql`
        INSERT INTO import_errors (tenant_id, import_id, row_number, reason, raw) VALUES
          (${t.tenantId}::uuid, ${imp!.id}::uuid, 2, 'invalid phone', ${JSON.stringify({ email: email.toUpperCase(), phone: 'x' })}::jsonb),
          (${t.tenantId}::uuid, ${imp!.id}::uuid, 3, 'invalid email', '{"email": "someone@else"}'::jsonb)`);
    }
    const buyers = await ok(t, 'POST', '/segments', { name: 'Buyers', rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>', value: 0 }] } });
    expect(buyers.customer_count).toBe(2);
    const revenue = async () => (await ctx.db.one<{ s: number }>(sql`
      SELECT coalesce(sum(total), 0)::float8 AS s FROM orders WHERE tenant_id = ${t.tenantId}::uuid`))!.s;
    const revenueBefore = await revenue();
    expect(revenueBefore).toBe(250);
    expect(await tablesMentioning(t.tenantId, email)).toEqual(expect.arrayContaining(['customers', 'audit_log', 'outbox', 'customer_notes']));

    // refused: no confirmation, not an admin, unknown or foreign customer
    expect((await inject(t, 'POST', `/customers/${id}/erase`, { confirm: false })).statusCode).toBe(400);
    expect((await inject(t, 'POST', `/customers/${id}/erase`, {})).statusCode).toBe(400);
    expect((await inject(t, 'POST', `/customers/${id}/erase`, { confirm: true }, await t.keyFor('employee'))).statusCode).toBe(403);
    const other = await createTestTenant(ctx.db);
    expect((await inject(other, 'POST', `/customers/${id}/erase`, { confirm: true })).statusCode).toBe(404);
    expect((await ok(t, 'GET', `/customers/${id}`)).email).toBe(email);

    const erased = await inject(t, 'POST', `/customers/${id}/erase`, { confirm: true, reason: 'GDPR art. 17 request #12' });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ customer_id: id, scrubbed: { customers: 2, notes: 1 } }); // with the tombstone

    for (const needle of [email, phone, 'Ionescu', 'platform-user-42', '198.51.100.9', 'radu.old@exemplu.ro']) {
      expect(await tablesMentioning(t.tenantId, needle), needle).toEqual([]);
    }
    expect(await revenue()).toBe(revenueBefore);
    // no longer a live customer: out of the dynamic segment at once, with the exit recorded
    expect((await ok(t, 'GET', `/segments/${buyers.id}`)).customer_count).toBe(1);
    expect((await ok(t, 'GET', `/segments/${buyers.id}/customers`)).data.map((c: { id: string }) => c.id)).toEqual([bystander]);
    const exits = await ctx.db.rows<{ customer_id: string }>(sql`
      SELECT customer_id FROM segment_membership_history
      WHERE tenant_id = ${t.tenantId}::uuid AND segment_id = ${buyers.id}::uuid AND change = 'exited'`);
    expect(exits).toEqual([{ customer_id: id }]);
    expect((await ok(t, 'GET', `/customers/${bystander}`)).email).toBe('other@exemplu.ro');
    expect((await inject(t, 'GET', `/customers/${id}`)).statusCode).toBe(404);
    expect((await inject(t, 'POST', `/customers/${id}/erase`, { confirm: true })).statusCode).toBe(409);

    expect(await findSuppressed(ctx.db, t.tenantId, 'email', [email])).toEqual(new Set([email]));
    expect(await findSuppressed(ctx.db, t.tenantId, 'sms', [phone])).toEqual(new Set([phone]));
    const deleted = await ctx.db.one<{ payload: any }>(sql`
      SELECT payload FROM outbox WHERE tenant_id = ${t.tenantId}::uuid AND type = 'customer.deleted' AND customer_id = ${id}::uuid`);
    expect(deleted!.payload).toEqual({ customer_id: id, erased: true });
    const entry = (await ok(t, 'GET', `/audit?action=customer.erase&entity_id=${id}`)).data[0];
    expect(entry.after).toMatchObject({ source: 'request', reason: 'GDPR art. 17 request #12' });
    expect((await ok(t, 'GET', `/privacy/requests?type=erasure`)).data).toMatchObject([{ customer_id: id, status: 'completed' }]);
    expect((await verifyAuditChain(ctx.db, t.tenantId)).ok).toBe(true);

    // the platform registers the same address again, with its stale opt-in: no marketing consent
    const again = await ingest(t, [registered({ email, phone }, { marketing_email: true, marketing_sms: true })]);
    const newId = again.results[0].customer_id;
    expect(newId).not.toBe(id);
    expect((await ok(t, 'GET', `/customers/${newId}`)).consent).toMatchObject({ marketing_email: false, marketing_sms: false });
    // an explicit grant through the consent API lifts the erasure suppression
    await ok(t, 'POST', `/customers/${newId}/consent`, { channel: 'email', purpose: 'marketing', granted: true });
    expect(await findSuppressed(ctx.db, t.tenantId, 'email', [email])).toEqual(new Set());
  });
});

describe('retention', () => {
  it('anonymises customers inactive for N years through the erasure path and reports the run', async () => {
    const t = await createTestTenant(ctx.db);
    await ingest(t, [registered({ email: 'old.one@exemplu.ro' }), registered({ email: 'old.two@exemplu.ro' })]);
    const recent = (await ok(t, 'POST', '/customers', { first_name: 'Fresh', email: 'fresh@exemplu.ro' })).id;
    await ctx.db.run(sql`UPDATE customers SET last_activity_at = now() + interval '6 years' WHERE id = ${recent}::uuid`);

    expect(await runRetention(ctx.db, { inactiveYears: 0, tenantId: t.tenantId })).toMatchObject({ tenants: [] });
    const in5 = new Date(Date.now() + 5 * 365.25 * 86_400_000);
    const result = await runRetention(ctx.db, { inactiveYears: 3, tenantId: t.tenantId, now: in5 });
    expect(result.tenants).toEqual([{ tenant_id: t.tenantId, customers_erased: 2 }]);
    expect(await tablesMentioning(t.tenantId, 'old.one@exemplu.ro')).toEqual([]);
    expect((await ok(t, 'GET', `/customers/${recent}`)).email).toBe('fresh@exemplu.ro');
    const runs = await ok(t, 'GET', '/privacy/retention-runs');
    expect(runs.data).toMatchObject([{ inactive_years: 3, customers_erased: 2 }]);
    const other = await createTestTenant(ctx.db);
    expect((await ok(other, 'GET', '/privacy/retention-runs')).data).toEqual([]);
    const entries = await ok(t, 'GET', '/audit?action=customer.erase');
    expect(entries.data).toHaveLength(2);
    expect(entries.data[0]).toMatchObject({ actor: 'job:privacy.retention', after: { source: 'retention' } });
    // a second run finds nothing new
    expect((await runRetention(ctx.db, { inactiveYears: 3, tenantId: t.tenantId, now: in5 })).tenants).toEqual([{ tenant_id: t.tenantId, customers_erased: 0 }]);
  });
});
