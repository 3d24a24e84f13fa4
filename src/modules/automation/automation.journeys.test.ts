import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { closeTransports } from '../messaging/messaging.transport.js';
import { runDueSteps, type SendMessage } from './automation.engine.js';
import { messageSender } from './automation.jobs.js';
import { scanTimeTriggers } from './automation.triggers.js';

/*
 * Each ready-made use case end to end: enable it with one call, send platform events through
 * POST /events, let the trigger fire (ingestion, segment change or the scheduled scan), run the
 * engine with a controlled clock, and read the e-mail that arrives at a real SMTP server.
 */

const mails: ParsedMail[] = [];
let smtp: SMTPServer;
let ctx: TestContext;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, done) {
      simpleParser(stream).then((m) => {
        mails.push(m);
        done();
      }, done);
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  ctx = await createTestApp({ SMTP_URL: `smtp://127.0.0.1:${port}`, EMAIL_FROM: 'Encore <shows@encore.test>' });
});
afterAll(async () => {
  closeTransports(ctx.config);
  await ctx.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const iso = (d: Date | number) => new Date(d).toISOString();

const mailsTo = (address: string) => mails.filter((m) => (Array.isArray(m.to) ? m.to : [m.to]).some((t) => t?.text.includes(address)));

function http(t: TestTenant) {
  return {
    post: (url: string, payload?: unknown) => ctx.app.inject({ method: 'POST', url: `/api/crm${url}`, headers: t.headers, ...(payload === undefined ? {} : { payload: payload as object }) }),
    get: (url: string) => ctx.app.inject({ method: 'GET', url: `/api/crm${url}`, headers: t.headers }),
  };
}

let n = 0;
const eid = () => `evt_${Date.now()}_${++n}`;

async function ingest(t: TestTenant, events: object[]) {
  const r = await http(t).post('/events', { events });
  expect(r.statusCode).toBe(200);
  expect(r.json().rejected, JSON.stringify(r.json().results)).toBe(0);
  return r.json();
}

/** A customer who agreed to marketing e-mail (the messaging layer refuses the others). */
const registered = (who: object, extra: object = {}, at = new Date()) => ({
  id: eid(), type: 'user.registered', occurred_at: iso(at), customer: who, data: { consent: { marketing_email: true }, ...extra },
});
const order = (who: object, orderId: string, total: number, items: object[], at = new Date()) => ({
  id: eid(), type: 'order.completed', occurred_at: iso(at), customer: who, data: { order_id: orderId, total, currency: 'RON', items },
});

async function enable(t: TestTenant, key: string, body: object = {}) {
  const r = await http(t).post(`/workflow-templates/${key}/enable`, body);
  expect(r.statusCode, JSON.stringify(r.json())).toBe(201);
  return r.json() as { workflow: { id: string; active: boolean; template_key: string }; template_ids: string[]; segment_id: string | null };
}

const sender = (): SendMessage => messageSender({ db: ctx.db, config: ctx.config });
const run = (t: TestTenant, now: Date, send = sender()) => runDueSteps({ db: ctx.db, config: ctx.config, send }, { now, tenantId: t.tenantId });

async function show(t: TestTenant, id: string, name: string, genres: string[], startsAt: Date) {
  const r = await http(t).post('/catalog/events', { id, name, genres, venue: 'Arena', city: 'Cluj', starts_at: iso(startsAt), status: 'on_sale' });
  expect(r.statusCode).toBe(201);
}

async function enrollments(t: TestTenant, workflowId: string) {
  return (await http(t).get(`/workflows/${workflowId}/enrollments`)).json().data as { customer_id: string; status: string; step_runs: { step_id: string; status: string; outcome: Record<string, unknown> }[] }[];
}

describe('ready-made journeys, end to end', () => {
  it('lists every use case of seed 001 and enables one with its templates in one call', async () => {
    const t = await createTestTenant(ctx.db);
    const list = (await http(t).get('/workflow-templates')).json().data as { key: string; enabled_workflow_id: string | null }[];
    expect(list.map((x) => x.key)).toEqual(['vip_program', 'reengagement', 'welcome_series', 'post_concert_similar', 'abandoned_cart', 'birthday_offer', 'post_event_feedback']);
    const out = await enable(t, 'welcome_series');
    expect(out.workflow).toMatchObject({ active: true, template_key: 'welcome_series' });
    expect(out.template_ids).toHaveLength(3);
    const after = (await http(t).get('/workflow-templates')).json().data as { key: string; enabled_workflow_id: string | null }[];
    expect(after.find((x) => x.key === 'welcome_series')!.enabled_workflow_id).toBe(out.workflow.id);

    const bad = await http(t).post('/workflow-templates/reengagement/enable', { params: { inactive_days: 'soon' } });
    expect(bad.statusCode).toBe(400);
    expect((await http(t).post('/workflow-templates/reengagement/enable', { params: { colour: 1 } })).json().error.code).toBe('invalid_workflow');
    expect((await http(t).post('/workflow-templates/nope/enable', {})).json().error.code).toBe('workflow_template_not_found');
    const count = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM workflows WHERE tenant_id = ${t.tenantId}`);
    expect(count!.n).toBe(1);
  });

  it('VIP program: a big purchase enters the VIP segment, tags the customer and sends the VIP welcome', async () => {
    const t = await createTestTenant(ctx.db);
    const { workflow, segment_id } = await enable(t, 'vip_program', { params: { min_total_spend: 300 } });
    expect(segment_id).not.toBeNull();
    const vip = { external_id: 'vip-1', email: 'vip1@example.com', first_name: 'Maria' };
    const small = { external_id: 'vip-2', email: 'small1@example.com', first_name: 'Dan' };
    await ingest(t, [
      registered(vip), registered(small),
      order(vip, 'o-vip', 450, [{ event_id: 'ev-a', quantity: 3, unit_price: 150 }]),
      order(small, 'o-small', 50, [{ event_id: 'ev-a', quantity: 1, unit_price: 50 }]),
    ]);
    await run(t, new Date());
    const got = mailsTo('vip1@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('Maria, welcome to our VIP circle');
    expect(got[0].html).toContain('priority access');
    expect(got[0].from?.text).toContain('shows@encore.test');
    expect(mailsTo('small1@example.com')).toHaveLength(0);
    const tags = await ctx.db.one<{ tags: string[] }>(sql`SELECT tags FROM customers WHERE tenant_id = ${t.tenantId} AND external_id = 'vip-1'`);
    expect(tags!.tags).toContain('vip');
    expect((await enrollments(t, workflow.id))[0]).toMatchObject({ status: 'completed' });
  });

  it('re-engagement: six months without a purchase brings an offer from past preferences, then a reminder', async () => {
    const t = await createTestTenant(ctx.db);
    const now = new Date();
    await show(t, 're-rock-past', 'Old Rock Night', ['rock'], new Date(now.getTime() - 200 * DAY));
    await show(t, 're-rock-next', 'Rock Revival Tour', ['rock'], new Date(now.getTime() + 30 * DAY));
    await show(t, 're-jazz-next', 'Quiet Jazz Club', ['jazz'], new Date(now.getTime() + 20 * DAY));
    const { workflow } = await enable(t, 'reengagement');
    const lapsed = { external_id: 're-1', email: 'lapsed@example.com', first_name: 'Ioana' };
    const recent = { external_id: 're-2', email: 'recent@example.com', first_name: 'Vlad' };
    await ingest(t, [
      registered(lapsed, {}, new Date(now.getTime() - 210 * DAY)), registered(recent, {}, new Date(now.getTime() - 210 * DAY)),
      order(lapsed, 're-o1', 100, [{ event_id: 're-rock-past', quantity: 1, unit_price: 100 }], new Date(now.getTime() - 201 * DAY)),
      order(recent, 're-o2', 100, [{ event_id: 're-rock-past', quantity: 1, unit_price: 100 }], new Date(now.getTime() - 20 * DAY)),
    ]);
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now })).enrolled).toBe(1);
    await run(t, now);
    let got = mailsTo('lapsed@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('We miss you, Ioana');
    const html = got[0].html as string;
    expect(html).toContain('Rock Revival Tour');
    // genre preference ranks the rock show first
    expect(html.indexOf('Rock Revival Tour')).toBeLessThan(html.includes('Quiet Jazz Club') ? html.indexOf('Quiet Jazz Club') : Infinity);
    expect(mailsTo('recent@example.com')).toHaveLength(0);

    // still no purchase two weeks later: the reminder
    await run(t, new Date(now.getTime() + 14 * DAY + MIN));
    got = mailsTo('lapsed@example.com');
    expect(got.map((m) => m.subject)).toEqual(['We miss you, Ioana', 'Still thinking about it, Ioana?']);
    const [e] = await enrollments(t, workflow.id);
    expect(e.step_runs.map((s) => s.step_id)).toEqual(['first_offer', 'wait', 'bought_since', 'reminder']);
    // the same lapse never enrolls twice
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now: new Date(now.getTime() + 15 * DAY) })).enrolled).toBe(0);
  });

  it('welcome series: the first purchase starts three e-mails spread over a week; a second purchase does not restart it', async () => {
    const t = await createTestTenant(ctx.db);
    await enable(t, 'welcome_series');
    const who = { external_id: 'w-1', email: 'newbie@example.com', first_name: 'Radu' };
    await ingest(t, [registered(who), order(who, 'w-o1', 80, [{ event_id: 'w-ev', quantity: 1, unit_price: 80 }])]);
    const now = new Date();
    await run(t, now);
    expect(mailsTo('newbie@example.com').map((m) => m.subject)).toEqual(['Welcome to Test tenant, Radu!']);
    await ingest(t, [order(who, 'w-o2', 80, [{ event_id: 'w-ev', quantity: 1, unit_price: 80 }])]);
    await run(t, new Date(now.getTime() + 3 * DAY + MIN));
    await run(t, new Date(now.getTime() + 7 * DAY + 2 * MIN));
    const got = mailsTo('newbie@example.com');
    expect(got.map((m) => m.subject)).toEqual(['Welcome to Test tenant, Radu!', 'What is coming up at Test tenant', 'Your loyalty benefits']);
    expect(got[2].html).toMatch(/\d+ points/);
  });

  it('post-concert: attendees get similar upcoming acts by genre the next morning', async () => {
    const t = await createTestTenant(ctx.db);
    const now = new Date();
    await show(t, 'pc-rock', 'Rock Night', ['rock', 'indie'], new Date(now.getTime() - 3 * HOUR));
    await show(t, 'pc-rock2', 'Indie Rock Legends', ['rock'], new Date(now.getTime() + 20 * DAY));
    await show(t, 'pc-jazz', 'Jazz Evening', ['jazz'], new Date(now.getTime() + 10 * DAY));
    await enable(t, 'post_concert_similar');
    const fan = { external_id: 'pc-1', email: 'fan@example.com', first_name: 'Elena' };
    // someone else who went to Rock Night already bought Indie Rock Legends (co-attendance)
    const peer = { external_id: 'pc-2', email: 'peer@example.com' };
    await ingest(t, [
      registered(fan),
      order(fan, 'pc-o1', 120, [{ event_id: 'pc-rock', quantity: 1, unit_price: 120 }], new Date(now.getTime() - 10 * DAY)),
      order(peer, 'pc-o2', 240, [{ event_id: 'pc-rock', quantity: 1, unit_price: 120 }, { event_id: 'pc-rock2', quantity: 1, unit_price: 120 }], new Date(now.getTime() - 9 * DAY)),
      { id: eid(), type: 'ticket.checked_in', occurred_at: iso(now.getTime() - 2 * HOUR), customer: fan, data: { event_id: 'pc-rock' } },
    ]);
    const enrolledAt = new Date();
    await run(t, enrolledAt);
    expect(mailsTo('fan@example.com')).toHaveLength(0);
    // one day, then the next 10:00 in the customer's time zone
    await run(t, new Date(enrolledAt.getTime() + DAY + 12 * HOUR));
    expect(mailsTo('fan@example.com')).toHaveLength(0);
    await run(t, new Date(enrolledAt.getTime() + 2 * DAY + MIN));
    const got = mailsTo('fan@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('Loved Rock Night? You will like these');
    const html = got[0].html as string;
    expect(html).toContain('Indie Rock Legends');
    expect(html.indexOf('Indie Rock Legends')).toBeLessThan(html.includes('Jazz Evening') ? html.indexOf('Jazz Evening') : Infinity);
    expect(html).not.toMatch(/<strong>Rock Night<\/strong>/);
  });

  it('abandoned cart: an idle cart gets a unique code with its expiry; a bought cart gets nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const { workflow } = await enable(t, 'abandoned_cart', { params: { idle_minutes: 60, percent_off: 15, valid_for: '48h' } });
    const idle = { external_id: 'ac-1', email: 'idle@example.com', first_name: 'Sorin' };
    const buyer = { external_id: 'ac-2', email: 'buyer@example.com', first_name: 'Ana' };
    const now = new Date();
    const items = [{ event_id: 'ac-ev', quantity: 2, unit_price: 75 }];
    await ingest(t, [
      registered(idle), registered(buyer),
      { id: eid(), type: 'cart.updated', occurred_at: iso(now), customer: idle, data: { cart_id: 'cart-idle', items, total: 150, currency: 'RON' } },
      { id: eid(), type: 'cart.updated', occurred_at: iso(now), customer: buyer, data: { cart_id: 'cart-buy', items, total: 150, currency: 'RON' } },
    ]);
    // not idle long enough yet
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now: new Date(now.getTime() + 30 * MIN) })).enrolled).toBe(0);
    await ingest(t, [
      { id: eid(), type: 'cart.checked_out', occurred_at: iso(now.getTime() + 40 * MIN), customer: buyer, data: { cart_id: 'cart-buy', order_id: 'ac-o' } },
      order(buyer, 'ac-o', 150, items, new Date(now.getTime() + 40 * MIN)),
    ]);
    const later = new Date(now.getTime() + 2 * HOUR);
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now: later })).enrolled).toBe(1);
    await run(t, later);
    const got = mailsTo('idle@example.com');
    expect(got).toHaveLength(1);
    const code = /CART-[A-Z2-9]{10}/.exec(got[0].html as string)?.[0];
    expect(code).toBeDefined();
    expect(got[0].subject).toMatch(/^Your tickets are waiting: 15% off until /);
    expect(got[0].html).toContain('150 RON');
    const stored = await ctx.db.one<{ code: string; percent_off: number; expires_at: Date; workflow_id: string }>(sql`
      SELECT code, percent_off, expires_at, workflow_id FROM workflow_incentives WHERE tenant_id = ${t.tenantId}`);
    expect(stored).toMatchObject({ code, percent_off: 15, workflow_id: workflow.id });
    expect(stored!.expires_at.getTime()).toBe(later.getTime() + 48 * HOUR);
    expect(mailsTo('buyer@example.com')).toHaveLength(0);
  });

  it('birthday: the customer gets a personal offer on the day, once a year', async () => {
    const t = await createTestTenant(ctx.db);
    await enable(t, 'birthday_offer');
    const now = new Date();
    // today in the tenant's time zone (Europe/Bucharest), 30 years back; 29 Feb would shift, so avoid it
    const [y, m, d] = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Bucharest' }).format(now).split('-');
    const born = `${Number(y) - 30}-${m}-${m === '02' && d === '29' ? '28' : d}`;
    const other = `${Number(y) - 30}-${m === '06' ? '07' : '06'}-15`;
    const cake = { external_id: 'b-1', email: 'cake@example.com', first_name: 'Irina' };
    const notToday = { external_id: 'b-2', email: 'later@example.com', first_name: 'Paul' };
    await ingest(t, [registered(cake, { date_of_birth: born }), registered(notToday, { date_of_birth: other })]);
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now })).enrolled).toBe(1);
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now: new Date(now.getTime() + HOUR) })).enrolled).toBe(0);
    await run(t, now);
    const got = mailsTo('cake@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('Happy birthday, Irina! A gift inside');
    expect(got[0].html).toMatch(/BDAY-[A-Z2-9]{10}/);
    expect(got[0].html).toContain('15% off');
    expect(mailsTo('later@example.com')).toHaveLength(0);
  });

  it('post-event feedback: attendees are asked the day after, with the show in the link', async () => {
    const t = await createTestTenant(ctx.db);
    const now = new Date();
    await show(t, 'fb-show', 'Symphony No. 9', ['classical'], new Date(now.getTime() - 4 * HOUR));
    await enable(t, 'post_event_feedback', { params: { survey_url: 'https://survey.example.com/f' } });
    const who = { external_id: 'fb-1', email: 'listener@example.com', first_name: 'Mihai' };
    await ingest(t, [registered(who), { id: eid(), type: 'ticket.checked_in', occurred_at: iso(now.getTime() - 3 * HOUR), customer: who, data: { event_id: 'fb-show' } }]);
    const enrolledAt = new Date();
    await run(t, enrolledAt);
    expect(mailsTo('listener@example.com')).toHaveLength(0);
    await run(t, new Date(enrolledAt.getTime() + DAY + MIN));
    const got = mailsTo('listener@example.com');
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('How was Symphony No. 9?');
    // click tracking wraps the link (the target travels in the URL or in its token); the survey URL carries the show
    const links = [...(got[0].html as string).matchAll(/href="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
    const targets = links.flatMap((l) => {
      const out = [l, new URL(l).searchParams.get('u') ?? ''];
      const token = /\/track\/click\/([^.?]+)\./.exec(l)?.[1];
      try {
        if (token) out.push((JSON.parse(Buffer.from(token, 'base64url').toString()) as { u: string }).u);
      } catch {
        // an opaque token: the target is in the query instead
      }
      return out;
    });
    expect(targets).toContain('https://survey.example.com/f?event=fb-show');
  });

  it('a crash after the send and before the step is recorded repeats nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const { workflow } = await enable(t, 'welcome_series');
    const who = { external_id: 'cr-1', email: 'crash@example.com', first_name: 'Tudor' };
    await ingest(t, [registered(who), order(who, 'cr-o1', 80, [{ event_id: 'cr-ev', quantity: 1, unit_price: 80 }])]);
    const real = sender();
    let crashed = false;
    const crashing: SendMessage = async (req) => {
      const r = await real(req);
      if (!crashed) {
        crashed = true;
        throw new Error('worker died after the send');
      }
      return r;
    };
    const now = new Date();
    await run(t, now, crashing);
    expect(mailsTo('crash@example.com')).toHaveLength(1);
    // the step is retried (the enrollment did not move), the message layer answers the first outcome
    await run(t, new Date(now.getTime() + 2 * MIN), crashing);
    expect(mailsTo('crash@example.com')).toHaveLength(1);
    const [e] = await enrollments(t, workflow.id);
    expect(e.step_runs.filter((s) => s.step_id === 'welcome')).toHaveLength(1);
    expect(e.step_runs[0]).toMatchObject({ step_id: 'welcome', status: 'succeeded', outcome: { message_status: 'sent' } });
  });

  it('a customer without marketing consent is skipped, not failed', async () => {
    const t = await createTestTenant(ctx.db);
    const { workflow } = await enable(t, 'welcome_series');
    const who = { external_id: 'nc-1', email: 'noconsent@example.com' };
    await ingest(t, [order(who, 'nc-o1', 80, [{ event_id: 'nc-ev', quantity: 1, unit_price: 80 }])]);
    await run(t, new Date());
    expect(mailsTo('noconsent@example.com')).toHaveLength(0);
    const [e] = await enrollments(t, workflow.id);
    expect(e.step_runs[0]).toMatchObject({ step_id: 'welcome', status: 'skipped', outcome: { message_status: 'suppressed', reason: 'no_consent' } });
  });
});
