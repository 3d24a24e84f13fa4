import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, testConfig, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError } from '../customers/customers.test-helpers.js';
import { addSuppressions } from '../privacy/suppressions.repository.js';
import { deliverMessage, processPendingMessages } from './messaging.service.js';
import { closeTransports, quietHoursDeferral, smsSegments } from './messaging.transport.js';
import { anonymizeCustomerMessages } from './messaging.repository.js';
import { startFakeTwilio, startSmtpSink, type FakeTwilio, type SmtpSink } from './messaging.test-helpers.js';

let ctx: TestContext;
let sink: SmtpSink;
let twilio: FakeTwilio;
beforeAll(async () => {
  sink = await startSmtpSink();
  twilio = await startFakeTwilio();
  ctx = await createTestApp({
    SMTP_URL: sink.url, PUBLIC_URL: 'https://crm.example.com', EMAIL_FROM: 'Encore <news@encore.example>',
    TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: 'secret-token', TWILIO_FROM: '+40700000000', TWILIO_BASE_URL: twilio.url,
  });
});
afterAll(async () => {
  await ctx.close();
  await sink.close();
  await twilio.close();
});

async function customer(t: TestTenant, body: Record<string, unknown>) {
  return client(ctx, t.headers).create(body);
}

const deps = () => ({ db: ctx.db, config: ctx.config });
/** A raw header's value (mailparser folds List-* headers into a structure). */
export const header = (mail: { headerLines: readonly { key: string; line: string }[] }, key: string) =>
  mail.headerLines.find((h) => h.key === key)?.line.replace(/^[^:]+:\s*/, '').replace(/\r?\n\s+/g, ' ');
const received = (to: string) => sink.messages.filter((m) => (m.to as { text: string } | undefined)?.text === to);

describe('deliverMessage (e-mail)', () => {
  it('sends once per idempotency key with List-Unsubscribe (RFC 8058), tracked links and a text part', async () => {
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'ana.once@example.com', first_name: 'Ana', consent: { marketing_email: true } });
    const input = {
      tenantId: t.tenantId, customerId: c.id, channel: 'email' as const,
      content: { subject: 'Salut {{ customer.first_name }}', html: '<html><body><p>Hi {{ customer.first_name }}</p><a href="https://tickets.example.com/show?a=1&amp;b=2">Buy</a> <a href="{{ unsubscribe_url }}">unsubscribe</a></body></html>' },
      source: { kind: 'workflow' as const, id: 'wf1', stepId: 's1' }, idempotencyKey: `wf1:s1:${c.id}`,
    };
    const first = await deliverMessage(deps(), input);
    expect(first.status).toBe('sent');
    const again = await deliverMessage(deps(), input);
    expect(again).toMatchObject({ status: 'sent', messageId: first.messageId });
    const got = received('ana.once@example.com');
    expect(got).toHaveLength(1);
    const mail = got[0];
    expect(mail.subject).toBe('Salut Ana');
    expect(header(mail, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(header(mail, 'list-unsubscribe')).toMatch(/^<https:\/\/crm\.example\.com\/api\/crm\/track\/unsubscribe\/[^>]+>$/);
    expect(mail.messageId).toBe(`<${first.messageId}@encore.example>`);
    expect(mail.html).toContain('https://crm.example.com/api/crm/track/click/');
    expect(mail.html).not.toContain('href="https://tickets.example.com');
    expect(mail.html).toContain('/api/crm/track/open/');
    expect(mail.text).toContain('Hi Ana');
  });

  it('refuses without consent, when suppressed, for deleted customers, and over the frequency cap', async () => {
    const t = await createTestTenant(ctx.db);
    const none = await customer(t, { email: 'no.consent@example.com' });
    const supp = await customer(t, { email: 'supp@example.com', consent: { marketing_email: true } });
    await addSuppressions(ctx.db, t.tenantId, [{ channel: 'email', value: 'supp@example.com', reason: 'unsubscribed' }]);
    const content = { subject: 'x', html: '<p>x</p>' };
    const send = (customerId: string, key: string, config = ctx.config) => deliverMessage({ db: ctx.db, config }, {
      tenantId: t.tenantId, customerId, channel: 'email', content, source: { kind: 'campaign', id: 'c' }, idempotencyKey: key,
    });
    expect(await send(none.id, 'k1')).toMatchObject({ status: 'suppressed', reason: 'no_consent' });
    expect(await send(supp.id, 'k2')).toMatchObject({ status: 'suppressed', reason: 'suppressed' });
    const del = await customer(t, { email: 'deleted@example.com', consent: { marketing_email: true } });
    await ctx.app.inject({ method: 'DELETE', url: `/api/crm/customers/${del.id}`, headers: t.headers });
    expect(await send(del.id, 'k3')).toMatchObject({ status: 'skipped', reason: 'customer_deleted' });

    const capped = testConfig({ SMTP_URL: sink.url, FREQUENCY_CAP: '2/7d' });
    const busy = await customer(t, { email: 'busy@example.com', consent: { marketing_email: true } });
    expect((await send(busy.id, 'f1', capped)).status).toBe('sent');
    expect((await send(busy.id, 'f2', capped)).status).toBe('sent');
    expect(await send(busy.id, 'f3', capped)).toMatchObject({ status: 'skipped', reason: 'frequency_cap' });
    closeTransports(capped);
    const gone = await deliverMessage(deps(), {
      tenantId: t.tenantId, customerId: busy.id, channel: 'email', content: { templateId: '00000000-0000-4000-8000-000000000000' },
      source: { kind: 'transactional', id: 'x' }, idempotencyKey: 'no-template',
    });
    expect(gone.status).toBe('failed');
    expect(gone.reason).toMatch(/^template_not_found/);
    expect(received('no.consent@example.com')).toHaveLength(0);
    expect(received('supp@example.com')).toHaveLength(0);
    expect(received('busy@example.com')).toHaveLength(2);
  });

  it('a message left "sending" by a crash is sent again with the same Message-ID', async () => {
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'crash@example.com', consent: { marketing_email: true } });
    const failing = { email: { kind: 'smtp' as const, send: async () => { throw new Error('process died'); }, close() {} }, sms: { kind: 'local' as const, send: async () => ({ providerId: null }) } };
    const input = {
      tenantId: t.tenantId, customerId: c.id, channel: 'email' as const, content: { subject: 'once', html: '<p>once</p>' },
      source: { kind: 'transactional' as const, id: 'order-1' }, idempotencyKey: 'order-1:confirmation',
    };
    const r1 = await deliverMessage({ ...deps(), transports: failing }, input);
    expect(r1.status).toBe('queued');
    expect(await processPendingMessages(deps())).toBeGreaterThanOrEqual(1);
    const r2 = await deliverMessage(deps(), input);
    expect(r2).toMatchObject({ status: 'sent', messageId: r1.messageId });
    const got = received('crash@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].messageId).toBe(`<${r1.messageId}@encore.example>`);
  });

  it('anonymizeCustomerMessages removes the address and content', async () => {
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'erase.me@example.com', first_name: 'Erasmus', consent: { marketing_email: true } });
    const r = await deliverMessage(deps(), {
      tenantId: t.tenantId, customerId: c.id, channel: 'email', content: { subject: 'Hi {{ customer.first_name }}', html: '<p>{{ customer.email }}</p>' },
      source: { kind: 'workflow', id: 'w' }, idempotencyKey: 'erase-1',
    });
    expect(r.status).toBe('sent');
    await anonymizeCustomerMessages(ctx.db, t.tenantId, c.id);
    const row = await ctx.db.one<Record<string, unknown>>(sql`SELECT * FROM messages WHERE tenant_id = ${t.tenantId}::uuid AND id = ${r.messageId!}::uuid`);
    expect(JSON.stringify(row)).not.toContain('erase.me@example.com');
    expect(JSON.stringify(row)).not.toContain('Erasmus');
    expect(row!.status).toBe('sent');
  });
});

describe('transport options', () => {
  it('DKIM-signs when DKIM_* are configured', async () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    const config = testConfig({ SMTP_URL: sink.url, EMAIL_FROM: 'Encore <news@encore.example>', DKIM_PRIVATE_KEY: pem, DKIM_DOMAIN: 'encore.example', DKIM_SELECTOR: 'crm' });
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'dkim@example.com', consent: { marketing_email: true } });
    const r = await deliverMessage({ db: ctx.db, config }, {
      tenantId: t.tenantId, customerId: c.id, channel: 'email', content: { subject: 'signed', html: '<p>signed</p>' },
      source: { kind: 'workflow', id: 'w' }, idempotencyKey: 'dkim-1',
    });
    closeTransports(config);
    expect(r.status).toBe('sent');
    const sig = header(received('dkim@example.com')[0], 'dkim-signature');
    expect(sig).toContain('d=encore.example');
    expect(sig).toContain('s=crm');
  });

  it('without SMTP_URL nothing leaves: the message is kept in the local outbox with its content', async () => {
    const local = testConfig({});
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'local@example.com', first_name: 'Lia', consent: { marketing_email: true } });
    const before = sink.count;
    const r = await deliverMessage({ db: ctx.db, config: local }, {
      tenantId: t.tenantId, customerId: c.id, channel: 'email', content: { subject: 'Local {{ customer.first_name }}', html: '<p>kept</p>' },
      source: { kind: 'workflow', id: 'w' }, idempotencyKey: 'local-1',
    });
    expect(r.status).toBe('sent');
    expect(sink.count).toBe(before);
    const one = (await client(ctx, t.headers).get(`/messages/${r.messageId}`)).json();
    expect(one).toMatchObject({ transport: 'local', subject: 'Local Lia', status: 'sent' });
    expect(one.html).toContain('kept');
    expect(one.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
  });
});

describe('SMS', () => {
  it('counts GSM-7 and UCS-2 segments', () => {
    expect(smsSegments('a'.repeat(160))).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    expect(smsSegments('a'.repeat(161))).toMatchObject({ encoding: 'GSM-7', segments: 2 });
    expect(smsSegments('a'.repeat(306))).toMatchObject({ segments: 2 });
    expect(smsSegments('a'.repeat(307))).toMatchObject({ segments: 3 });
    expect(smsSegments('€'.repeat(80))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsSegments('€'.repeat(81))).toMatchObject({ encoding: 'GSM-7', segments: 2 });
    expect(smsSegments('ă'.repeat(70))).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    expect(smsSegments('ă'.repeat(71))).toMatchObject({ encoding: 'UCS-2', segments: 2 });
    expect(smsSegments('ă'.repeat(134))).toMatchObject({ segments: 2 });
    expect(smsSegments('ă'.repeat(135))).toMatchObject({ segments: 3 });
  });

  it('defers to the end of quiet hours in the tenant time zone', () => {
    const q = { start: 21, end: 9 };
    // 22:30 in Bucharest (UTC+2 in winter) → 09:00 local = 07:00 UTC next day
    expect(quietHoursDeferral(new Date('2026-01-10T20:30:00Z'), 'Europe/Bucharest', q)?.toISOString()).toBe('2026-01-11T07:00:00.000Z');
    expect(quietHoursDeferral(new Date('2026-01-10T10:00:00Z'), 'Europe/Bucharest', q)).toBeNull();
    // 03:15 local (UTC+3 in summer) → 09:00 local = 06:00 UTC
    expect(quietHoursDeferral(new Date('2026-07-10T00:15:00Z'), 'Europe/Bucharest', q)?.toISOString()).toBe('2026-07-10T06:00:00.000Z');
  });

  it('an SMS in quiet hours is queued until they end', async () => {
    const config = testConfig({ TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: 'secret-token', TWILIO_FROM: '+40700000000', TWILIO_BASE_URL: twilio.url, SMS_QUIET_HOURS: '21-9' });
    const t = await createTestTenant(ctx.db);
    const c = await customer(t, { phone: '+40722111444', consent: { marketing_sms: true } });
    const before = twilio.requests.length;
    const r = await deliverMessage({ db: ctx.db, config, now: () => new Date('2026-01-10T21:30:00Z') }, {
      tenantId: t.tenantId, customerId: c.id, channel: 'sms', content: { text: 'late' }, source: { kind: 'campaign', id: 'c' }, idempotencyKey: 'quiet-1',
    });
    expect(r).toMatchObject({ status: 'queued', reason: 'quiet_hours' });
    expect(twilio.requests.length).toBe(before);
    const one = (await client(ctx, t.headers).get(`/messages/${r.messageId}`)).json();
    expect(one.send_after).toBe('2026-01-11T07:00:00.000Z');
    expect(one).toMatchObject({ sms_segments: 1, sms_encoding: 'GSM-7' });
  });

  it('sends through the Twilio-shaped API with basic auth, and refuses numbers without consent', async () => {
    const t = await createTestTenant(ctx.db);
    const ok = await customer(t, { phone: '+40722111222', first_name: 'Ion', consent: { marketing_sms: true } });
    const no = await customer(t, { phone: '+40722111333' });
    const send = (id: string, key: string) => deliverMessage(deps(), {
      tenantId: t.tenantId, customerId: id, channel: 'sms', content: { text: 'Salut {{ customer.first_name }}, bilete noi!' },
      source: { kind: 'campaign', id: 'c' }, idempotencyKey: key,
    });
    const before = twilio.requests.length;
    expect((await send(ok.id, 's1')).status).toBe('sent');
    expect(await send(no.id, 's2')).toMatchObject({ status: 'suppressed', reason: 'no_consent' });
    const reqs = twilio.requests.slice(before);
    expect(reqs).toHaveLength(1);
    expect(reqs[0].path).toBe('/2010-04-01/Accounts/AC123/Messages.json');
    expect(reqs[0].authorization).toBe(`Basic ${Buffer.from('AC123:secret-token').toString('base64')}`);
    expect(reqs[0].form.get('To')).toBe('+40722111222');
    expect(reqs[0].form.get('From')).toBe('+40700000000');
    expect(reqs[0].form.get('Body')).toBe('Salut Ion, bilete noi!');
  });
});

describe('messages API', () => {
  it('lists and shows messages of the tenant only', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const c = await customer(t, { email: 'api.list@example.com', consent: { marketing_email: true } });
    const r = await deliverMessage(deps(), {
      tenantId: t.tenantId, customerId: c.id, channel: 'email', content: { subject: 'Listed', html: '<p>listed</p>' },
      source: { kind: 'workflow', id: 'w' }, idempotencyKey: 'list-1',
    });
    const list = await client(ctx, t.headers).get('/messages?channel=email');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json().data.map((m: { id: string }) => m.id)).toContain(r.messageId);
    const one = await client(ctx, t.headers).get(`/messages/${r.messageId}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: r.messageId, subject: 'Listed', status: 'sent', to: 'api.list@example.com' });
    expect(one.json().html).toContain('listed');
    expectError(await client(ctx, other.headers).get(`/messages/${r.messageId}`), 404, 'message_not_found');
    expect((await client(ctx, other.headers).get('/messages')).json().data).toHaveLength(0);
    expectError(await client(ctx, t.headers).get('/messages?channel=fax'), 400);
  });
});
