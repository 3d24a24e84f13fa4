import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client } from '../customers/customers.test-helpers.js';
import { startFakeTwilio, type FakeTwilio } from '../messaging/messaging.test-helpers.js';
import { runDueSteps } from './automation.engine.js';
import { messageSender } from './automation.jobs.js';
import { triggerWorkflow } from './automation.service.js';

/*
 * A journey's send_sms step through the real sending path: the worker's sender (messageSender →
 * deliverMessage) and the Twilio-shaped HTTP adapter, configured with TWILIO_BASE_URL pointing at
 * a real HTTP server in this process that answers like Twilio's Messages API.
 */

let ctx: TestContext;
let twilio: FakeTwilio;
beforeAll(async () => {
  twilio = await startFakeTwilio();
  ctx = await createTestApp({
    TWILIO_ACCOUNT_SID: 'AC_journeys', TWILIO_AUTH_TOKEN: 'journey-token', TWILIO_FROM: '+40700000099', TWILIO_BASE_URL: twilio.url,
    SMS_QUIET_HOURS: '21-9',
  });
});
afterAll(async () => {
  await ctx.close();
  await twilio.close();
});

/**
 * A fixed-offset time zone in which the local hour is now `hour` (give or take the minutes left in
 * this hour), so the test does not depend on when it runs. Etc/GMT names have the sign reversed.
 */
function zoneAtLocalHour(hour: number): string {
  const utc = new Date().getUTCHours();
  for (let offset = -12; offset <= 14; offset++) {
    if ((utc + offset + 24) % 24 === hour) return offset === 0 ? 'Etc/GMT' : offset > 0 ? `Etc/GMT-${offset}` : `Etc/GMT+${-offset}`;
  }
  throw new Error(`no zone for ${hour}`);
}

async function tenantAt(hour: number): Promise<TestTenant> {
  const t = await createTestTenant(ctx.db);
  await ctx.db.run(sql`UPDATE tenants SET timezone = ${zoneAtLocalHour(hour)} WHERE id = ${t.tenantId}::uuid`);
  return t;
}

async function smsJourney(t: TestTenant): Promise<string> {
  const res = await ctx.app.inject({
    method: 'POST', url: '/api/crm/workflows', headers: t.headers,
    payload: {
      name: 'Doors open', trigger_type: 'custom', active: true,
      steps: [{ id: 'sms', type: 'send_sms', config: { text: 'Salut {{ customer.first_name }}, porțile se deschid la 19:00.' } }],
    },
  });
  expect(res.statusCode).toBe(201);
  return res.json().id;
}

/** Enrolls the customers and runs the engine with the worker's own sender. */
async function run(t: TestTenant, workflowId: string, customerIds: string[]): Promise<void> {
  const now = new Date();
  for (const id of customerIds) {
    const r = await triggerWorkflow({ db: ctx.db, config: ctx.config, tenantId: t.tenantId, actor: 'test' }, workflowId, { customer_id: id }, { now });
    expect(r.enrolled).toBe(true);
  }
  await runDueSteps({ db: ctx.db, config: ctx.config, send: messageSender({ db: ctx.db, config: ctx.config }) }, { now, tenantId: t.tenantId });
}

async function stepOutcome(t: TestTenant, workflowId: string, customerId: string) {
  const res = await ctx.app.inject({ method: 'GET', url: `/api/crm/workflows/${workflowId}/enrollments`, headers: t.headers });
  const e = res.json().data.find((x: { customer_id: string }) => x.customer_id === customerId);
  return e.step_runs.find((s: { step_id: string }) => s.step_id === 'sms');
}

describe('send_sms step through the Twilio-shaped adapter', () => {
  it('posts From/To/Body with basic auth to the provider and records the message; no consent → nothing is sent', async () => {
    const t = await tenantAt(14);
    const api = client(ctx, t.headers);
    const ion = await api.create({ first_name: 'Ion', phone: '+40722333111', consent: { marketing_sms: true } });
    const mute = await api.create({ first_name: 'Dan', phone: '+40722333222', consent: { marketing_email: true } });
    const wf = await smsJourney(t);
    const before = twilio.requests.length;
    await run(t, wf, [ion.id, mute.id]);

    const reqs = twilio.requests.slice(before);
    expect(reqs).toHaveLength(1);
    expect(reqs[0].path).toBe('/2010-04-01/Accounts/AC_journeys/Messages.json');
    expect(reqs[0].authorization).toBe(`Basic ${Buffer.from('AC_journeys:journey-token').toString('base64')}`);
    expect(reqs[0].form.get('From')).toBe('+40700000099');
    expect(reqs[0].form.get('To')).toBe('+40722333111');
    expect(reqs[0].form.get('Body')).toBe('Salut Ion, porțile se deschid la 19:00.');

    const sent = await stepOutcome(t, wf, ion.id);
    expect(sent).toMatchObject({ status: 'succeeded', outcome: { message_status: 'sent' } });
    const msg = (await api.get(`/messages/${sent.outcome.message_id}`)).json();
    expect(msg).toMatchObject({
      channel: 'sms', customer_id: ion.id, to: '+40722333111', status: 'sent', transport: 'twilio', attempts: 1,
      source: { kind: 'workflow', id: wf, step_id: 'sms' }, sms_encoding: 'UCS-2', sms_segments: 1, text: 'Salut Ion, porțile se deschid la 19:00.',
    });
    // the provider's message SID (the fake numbers them) is kept for its delivery callbacks
    expect(msg.provider_id).toMatch(/^SM\d{32}$/);
    expect(msg.sent_at).not.toBeNull();

    const refused = await stepOutcome(t, wf, mute.id);
    expect(refused).toMatchObject({ status: 'skipped', outcome: { message_status: 'suppressed', reason: 'no_consent' } });
    const none = (await api.get(`/messages/${refused.outcome.message_id}`)).json();
    expect(none).toMatchObject({ status: 'suppressed', reason: 'no_consent', sent_at: null, provider_id: null });
  });

  it('inside quiet hours (tenant time zone) the SMS waits in the outbox instead of going out', async () => {
    const t = await tenantAt(2);
    const api = client(ctx, t.headers);
    const late = await api.create({ first_name: 'Ana', phone: '+40722333444', consent: { marketing_sms: true } });
    const wf = await smsJourney(t);
    const before = twilio.requests.length;
    const startedAt = Date.now();
    await run(t, wf, [late.id]);

    expect(twilio.requests.slice(before).filter((r) => r.form.get('To') === '+40722333444')).toHaveLength(0);
    const step = await stepOutcome(t, wf, late.id);
    expect(step).toMatchObject({ status: 'succeeded', outcome: { message_status: 'queued', reason: 'quiet_hours' } });
    const msg = (await api.get(`/messages/${step.outcome.message_id}`)).json();
    expect(msg).toMatchObject({ status: 'queued', reason: 'quiet_hours', sent_at: null, provider_id: null });
    // held until 09:00 local: 6 to 7 hours from 02:xx, on the hour
    const wait = new Date(msg.send_after).getTime() - startedAt;
    expect(wait).toBeGreaterThan(5 * 3_600_000);
    expect(wait).toBeLessThanOrEqual(7 * 3_600_000);
    expect(new Date(msg.send_after).getUTCMinutes()).toBe(0);
  });
});
