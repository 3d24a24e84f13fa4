import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError } from '../customers/customers.test-helpers.js';
import { deliverMessage } from '../messaging/messaging.service.js';
import { listOutbox } from '../outbox/outbox.repository.js';
import { findSuppressed } from '../privacy/suppressions.repository.js';

let ctx: TestContext;
const PUBLIC = 'https://crm.example.com';
beforeAll(async () => {
  ctx = await createTestApp({ PUBLIC_URL: PUBLIC });
});
afterAll(async () => {
  await ctx.close();
});

async function settings(headers: { authorization: string }) {
  const res = await client(ctx, headers).get('/messaging/settings');
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { sms_inbound_url: string; email_events_url: string; email_transport: string };
}

describe('provider webhooks', () => {
  it('an SMS STOP reply withdraws SMS consent (ledger) and suppresses the number; other tenants’ tokens do not work', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const c = await api.create({ phone: '+40722999888', consent: { marketing_sms: true, marketing_email: true } });
    const s = await settings(t.headers);
    expect(s.email_transport).toBe('local');
    const url = s.sms_inbound_url.slice(PUBLIC.length);
    const hello = await ctx.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'From=%2B40722999888&Body=Hello' });
    expect(hello.json()).toEqual({ stopped: false });
    const stop = await ctx.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'From=%2B40722999888&Body=stop' });
    expect(stop.statusCode, stop.body).toBe(200);
    expect(stop.json()).toEqual({ stopped: true });
    const profile = (await api.get(`/customers/${c.id}`)).json();
    expect(profile.consent).toMatchObject({ marketing_sms: false, marketing_email: true });
    expect([...await findSuppressed(ctx.db, t.tenantId, 'sms', ['+40722999888'])]).toEqual(['+40722999888']);
    const ledger = await ctx.db.rows<{ channel: string; granted: boolean; source: string }>(sql`
      SELECT channel, granted, source FROM consent_events WHERE tenant_id = ${t.tenantId}::uuid AND customer_id = ${c.id}::uuid`);
    expect(ledger).toContainEqual({ channel: 'sms', granted: false, source: 'sms_stop' });
    // subscribers hear of it like any other consent change
    const updates = (await listOutbox(ctx.db, t.tenantId, 100)).filter((e) => e.type === 'customer.updated' && e.customer_id === c.id);
    expect(updates.map((e) => e.payload)).toContainEqual({ customer_id: c.id, changes: { 'consent.marketing_sms': { from: true, to: false } } });
    // an SMS to the number is now refused
    const sms = await deliverMessage({ db: ctx.db, config: ctx.config }, {
      tenantId: t.tenantId, customerId: c.id, channel: 'sms', content: { text: 'x' }, source: { kind: 'transactional', id: 'x' }, idempotencyKey: 'after-stop',
    });
    expect(sms).toMatchObject({ status: 'suppressed' });

    const bad = await ctx.app.inject({
      method: 'POST', url: '/api/crm/messaging/sms/inbound?token=not-a-real-token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'From=%2B40722999888&Body=STOP',
    });
    expectError(bad, 401, 'unauthorized');
    // the other tenant's token does not reach this tenant's customer
    const c2 = await client(ctx, other.headers).create({ phone: '+40722999777', consent: { marketing_sms: true } });
    await ctx.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'From=%2B40722999777&Body=STOP' });
    expect((await client(ctx, other.headers).get(`/customers/${c2.id}`)).json().consent.marketing_sms).toBe(true);
    expectError(await client(ctx, await t.keyFor('employee')).get('/messaging/settings'), 403, 'forbidden');
  });

  it('bounce and complaint events suppress the address and mark the message', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const c = await api.create({ email: 'bouncy@example.com', consent: { marketing_email: true } });
    const sent = await deliverMessage({ db: ctx.db, config: ctx.config }, {
      tenantId: t.tenantId, customerId: c.id, channel: 'email', content: { subject: 's', html: '<p>x</p>' }, source: { kind: 'workflow', id: 'w' }, idempotencyKey: 'b1',
    });
    expect(sent.status).toBe('sent');
    const url = (await settings(t.headers)).email_events_url.slice(PUBLIC.length);
    const res = await ctx.app.inject({ method: 'POST', url, payload: { events: [
      { type: 'bounce', bounce_type: 'hard', message_id: sent.messageId },
      { type: 'complaint', email: 'Complainer@Example.com' },
      { type: 'bounce', bounce_type: 'soft', email: 'soft@example.com' },
      { type: 'delivered' },
    ] } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ accepted: 3, unmatched: 1 });
    const supp = await findSuppressed(ctx.db, t.tenantId, 'email', ['bouncy@example.com', 'complainer@example.com', 'soft@example.com']);
    expect([...supp].sort()).toEqual(['bouncy@example.com', 'complainer@example.com']);
    const msg = (await api.get(`/messages/${sent.messageId}`)).json();
    expect(msg.bounced_at).not.toBeNull();
    expectError(await ctx.app.inject({ method: 'POST', url, payload: { events: [{ type: 'explode' }] } }), 400, 'validation_failed');
    expectError(await ctx.app.inject({ method: 'POST', url: '/api/crm/messaging/email/events?token=xxxxxxxxxxxx', payload: { events: [{ type: 'delivered' }] } }), 401, 'unauthorized');
  });

  it('an open with a bad token still answers the pixel and records nothing', async () => {
    const res = await ctx.app.inject({ method: 'GET', url: '/api/crm/track/open/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/track/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA' })).statusCode).toBe(404);
    expect((await ctx.app.inject({ method: 'POST', url: '/api/crm/track/unsubscribe/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA' })).statusCode).toBe(404);
  });
});
