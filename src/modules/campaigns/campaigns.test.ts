import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParsedMail } from 'mailparser';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { client, expectError } from '../customers/customers.test-helpers.js';
import { listOutbox } from '../outbox/outbox.repository.js';
import { startSmtpSink, type SmtpSink } from '../messaging/messaging.test-helpers.js';
import { transportsFor, TransportError, type Transports } from '../messaging/messaging.transport.js';
import { JobQueue } from '../../jobs/queue.js';
import { defineCampaignJobs } from './campaigns.jobs.js';
import { runCampaignSend, sendCampaign, startDue } from './campaigns.service.js';

let ctx: TestContext;
let sink: SmtpSink;
const PUBLIC = 'https://crm.example.com';
beforeAll(async () => {
  sink = await startSmtpSink();
  ctx = await createTestApp({ SMTP_URL: sink.url, PUBLIC_URL: PUBLIC, EMAIL_FROM: 'Encore <news@encore.example>', CAMPAIGN_BATCH_SIZE: '3' });
});
afterAll(async () => {
  await ctx.close();
  await sink.close();
});

const to = (m: ParsedMail) => (m.to as { text: string } | undefined)?.text ?? '';
const mailsTo = (addr: string) => sink.messages.filter((m) => to(m) === addr);

async function audience(t: TestTenant, people: { email: string; consent?: boolean; first_name?: string }[], name = 'Audience') {
  const api = client(ctx, t.headers);
  const ids: string[] = [];
  for (const p of people) {
    const c = await api.create({ email: p.email, first_name: p.first_name ?? null, consent: { marketing_email: p.consent ?? true } });
    ids.push(c.id);
  }
  const seg = await api.post('/segments', { name, type: 'static' });
  expect(seg.statusCode, seg.body).toBe(201);
  const add = await api.post(`/segments/${seg.json().id}/members`, { customer_ids: ids });
  expect(add.statusCode, add.body).toBeLessThan(300);
  return { segmentId: seg.json().id as string, ids };
}

const run = (t: TestTenant, id: string, now?: () => Date) => runCampaignSend({ db: ctx.db, config: ctx.config, now }, t.tenantId, id);

async function createCampaign(t: TestTenant, body: Record<string, unknown>) {
  const res = await client(ctx, t.headers).post('/campaigns', body);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

const path = (url: string) => url.slice(PUBLIC.length);

describe('campaign input', () => {
  it('rejects unknown segments, broken templates (with the line), and ambiguous content; nothing is created', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const { segmentId } = await audience(t, [{ email: 'in.1@example.com' }]);
    expectError(await api.post('/campaigns', { name: 'x', segment_id: '00000000-0000-4000-8000-000000000000', subject: 's', content: '<p>x</p>' }), 404, 'segment_not_found');
    const broken = await api.post('/campaigns', { name: 'x', segment_id: segmentId, subject: 's', content: '<p>a</p>\n<p>{% if x %}</p>' });
    expectError(broken, 400, 'template_invalid');
    expect(broken.json().error.details.line).toBe(2);
    expectError(await api.post('/campaigns', { name: 'x', segment_id: segmentId, subject: 's' }), 400, 'validation_failed');
    expectError(await api.post('/campaigns', { name: 'x', segment_id: segmentId, subject: 's', content: '<p>x</p>', bogus: 1 }), 400, 'validation_failed');
    expectError(await api.post('/campaigns', { name: 'x', segment_id: segmentId, content: '<p>x</p>' }), 400, 'validation_failed');
    expect((await api.get('/campaigns')).json().data).toHaveLength(0);
  });
});

describe('sending', () => {
  it('sends once to each consenting member minus exclusions, records recipients and publishes campaign.sent', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const main = await audience(t, [
      { email: 'c1.a@example.com', first_name: 'Ana' }, { email: 'c1.b@example.com', first_name: 'Bob' },
      { email: 'c1.c@example.com', consent: false }, { email: 'c1.d@example.com' }, { email: 'c1.e@example.com' },
    ]);
    const segmentId = main.segmentId;
    const excluded = await audience(t, [{ email: 'c1.x@example.com' }], 'Excluded');
    await api.post(`/segments/${excluded.segmentId}/members`, { customer_ids: [main.ids[3]] });
    await api.post(`/segments/${segmentId}/members`, { customer_ids: excluded.ids });
    const c = await createCampaign(t, {
      name: 'Spring', segment_ids: [segmentId], exclude_segment_ids: [excluded.segmentId], subject: 'Hi {{ customer.first_name | default: "friend" }}',
      content: '<html><body><p>Concert!</p><a href="https://tickets.example.com/x">Buy</a></body></html>',
    });
    expect(c.status).toBe('draft');
    const sent = await api.post(`/campaigns/${c.id}/send`);
    expect(sent.statusCode, sent.body).toBe(202);
    expect(sent.json().status).toBe('sending');
    const result = await run(t, c.id);
    expect(result, JSON.stringify(result)).toMatchObject({ state: 'finished', sent: 3 });
    expect(mailsTo('c1.a@example.com').map((m) => m.subject)).toEqual(['Hi Ana']);
    expect(mailsTo('c1.b@example.com')).toHaveLength(1);
    expect(mailsTo('c1.e@example.com')).toHaveLength(1);
    expect(mailsTo('c1.c@example.com')).toHaveLength(0);
    expect(mailsTo('c1.d@example.com')).toHaveLength(0);
    expect(mailsTo('c1.x@example.com')).toHaveLength(0);

    const after = (await api.get(`/campaigns/${c.id}`)).json();
    expect(after).toMatchObject({ status: 'sent', audience_size: 4 });
    const recipients = (await api.get(`/campaigns/${c.id}/recipients`)).json().data;
    expect(recipients.map((r: { status: string }) => r.status).sort()).toEqual(['sent', 'sent', 'sent', 'suppressed']);
    const events = (await listOutbox(ctx.db, t.tenantId, 1000)).filter((e) => e.type === 'campaign.sent');
    expect(events).toHaveLength(1);
    expect(events[0].payload).toMatchObject({ campaign_id: c.id, sent: 3, suppressed: 1 });

    // running again sends nothing; a sent or cancelled campaign cannot be sent again
    expect((await run(t, c.id)).state).toBe('stopped');
    expectError(await api.post(`/campaigns/${c.id}/send`), 409, 'campaign_state_conflict');
    const other = await createCampaign(t, { name: 'Cancelled', segment_id: segmentId, subject: 's', content: '<p>x</p>' });
    expect((await api.post(`/campaigns/${other.id}/cancel`)).json().status).toBe('cancelled');
    expectError(await api.post(`/campaigns/${other.id}/send`), 409, 'campaign_state_conflict');
    expect(mailsTo('c1.a@example.com')).toHaveLength(1);
  });

  it('a job worker sends it: the send is queued as a job and processed in batches without being driven by hand', async () => {
    const t = await createTestTenant(ctx.db);
    const people = Array.from({ length: 7 }, (_, i) => ({ email: `job.${i}@example.com` }));
    const { segmentId } = await audience(t, people);
    const c = await createCampaign(t, { name: 'By the worker', segment_id: segmentId, subject: 'Hello', content: '<p>Hello</p>' });
    const queue = new JobQueue(ctx.db);
    defineCampaignJobs(queue, { db: ctx.db, config: ctx.config });
    await queue.start({ work: true });
    try {
      const out = await sendCampaign({ db: ctx.db, config: ctx.config, tenantId: t.tenantId, audit: { actor: 'test' }, jobs: queue }, c.id);
      expect(out.status).toBe('sending');
      const api = client(ctx, t.headers);
      const deadline = Date.now() + 60_000;
      let status = out.status;
      while (status !== 'sent' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        status = (await api.get(`/campaigns/${c.id}`)).json().status;
      }
      expect(status).toBe('sent');
      // batches of 3 (CAMPAIGN_BATCH_SIZE): one message each, nobody twice
      for (const p of people) expect(mailsTo(p.email)).toHaveLength(1);
    } finally {
      await queue.stop(5_000);
    }
  });

  it('never sends twice across a crash: the SMTP server drops connections half-way, the send is restarted', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const people = Array.from({ length: 10 }, (_, i) => ({ email: `crash.${i}@example.com` }));
    const { segmentId } = await audience(t, people);
    const c = await createCampaign(t, { name: 'Crash', segment_id: segmentId, subject: 'Once', content: '<p>once</p>' });
    await api.post(`/campaigns/${c.id}/send`);
    const before = sink.count;
    sink.dropAfter = 4;
    const first = await run(t, c.id);
    expect(first.state).toBe('interrupted');
    // the pooled connections had a few messages in flight when the server started dropping
    expect(sink.count - before).toBeGreaterThanOrEqual(4);
    expect(sink.count - before).toBeLessThan(10);
    sink.dropAfter = null;
    const second = await run(t, c.id);
    expect(second.state, JSON.stringify(second)).toBe('finished');
    for (const p of people) expect(mailsTo(p.email), p.email).toHaveLength(1);
    const ids = new Set(people.map((p) => mailsTo(p.email)[0].messageId));
    expect(ids.size).toBe(10);
    expect((await api.get(`/campaigns/${c.id}`)).json().status).toBe('sent');
  });

  it('a crash after the server accepted a message but before it was recorded resends it once, with the same Message-ID', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const people = Array.from({ length: 4 }, (_, i) => ({ email: `lost.${i}@example.com` }));
    const { segmentId } = await audience(t, people);
    const c = await createCampaign(t, { name: 'Lost ack', segment_id: segmentId, subject: 'Hello {{ customer.email }}', content: '<p><a href="https://x.example.com/">x</a></p>' });
    await api.post(`/campaigns/${c.id}/send`);
    const real = transportsFor(ctx.config);
    let n = 0;
    const flaky: Transports = {
      sms: real.sms,
      email: {
        kind: 'smtp',
        close() {},
        async send(msg) {
          const r = await real.email.send(msg);
          // the process "dies" after the first acceptance: the outcome never reaches the database
          if (n++ === 0) throw new TransportError('connection lost after DATA', 'unknown');
          return r;
        },
      },
    };
    expect((await runCampaignSend({ db: ctx.db, config: ctx.config, transports: flaky }, t.tenantId, c.id)).state).toBe('interrupted');
    expect((await run(t, c.id)).state).toBe('finished');
    const copies = people.map((p) => mailsTo(p.email));
    expect(copies.map((x) => x.length).sort()).toEqual([1, 1, 1, 2]);
    const twice = copies.find((x) => x.length === 2)!;
    // the same message: same Message-ID, same subject, same tracking links (rendered again from the campaign)
    expect(twice[0].messageId).toBe(twice[1].messageId);
    expect(twice[0].subject).toBe(twice[1].subject);
    expect(twice[0].html).toBe(twice[1].html);
  });

  it('a scheduled campaign starts when due', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const { segmentId } = await audience(t, [{ email: 'due.1@example.com' }]);
    const c = await createCampaign(t, { name: 'Due', segment_id: segmentId, subject: 'D', content: '<p>d</p>', send_at: '2030-05-01T08:00:00Z' });
    expect(c.status).toBe('scheduled');
    expect((await startDue(ctx.db, new Date('2030-04-30T00:00:00Z'))).map((x) => x.id)).not.toContain(c.id);
    expect((await startDue(ctx.db, new Date('2030-05-01T08:00:01Z'))).map((x) => x.id)).toContain(c.id);
    expect((await api.get(`/campaigns/${c.id}`)).json().status).toBe('sending');
    expect((await run(t, c.id)).state).toBe('finished');
    expect(mailsTo('due.1@example.com')).toHaveLength(1);
  });

  it('pause stops the send, resume continues it', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const { segmentId } = await audience(t, [{ email: 'p.1@example.com' }, { email: 'p.2@example.com' }]);
    const c = await createCampaign(t, { name: 'Pause', segment_id: segmentId, subject: 'P', content: '<p>p</p>' });
    await api.post(`/campaigns/${c.id}/send`);
    expect((await api.post(`/campaigns/${c.id}/pause`)).json().status).toBe('paused');
    expect((await run(t, c.id)).state).toBe('stopped');
    expect(mailsTo('p.1@example.com')).toHaveLength(0);
    expect((await api.post(`/campaigns/${c.id}/resume`)).json().status).toBe('sending');
    expect((await run(t, c.id)).state).toBe('finished');
    expect(mailsTo('p.1@example.com')).toHaveLength(1);
  });

  it('schedules, tests and isolates tenants', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const { segmentId } = await audience(t, [{ email: 's.1@example.com' }]);
    const c = await createCampaign(t, { name: 'Sched', segment_id: segmentId, subject: 'Sub {{ campaign.name }}', content: '<p>s</p>' });
    const s = await api.post(`/campaigns/${c.id}/schedule`, { send_at: '2030-01-01T10:00:00Z' });
    expect(s.json()).toMatchObject({ status: 'scheduled', send_at: '2030-01-01T10:00:00.000Z' });
    const test = await api.post(`/campaigns/${c.id}/test`, { emails: ['qa@example.com'] });
    expect(test.statusCode, test.body).toBe(200);
    expect(test.json().results[0].status).toBe('sent');
    expect(mailsTo('qa@example.com').map((m) => m.subject)).toEqual(['[Test] Sub Sched']);
    expect(mailsTo('s.1@example.com')).toHaveLength(0);
    const upd = await api.put(`/campaigns/${c.id}`, { name: 'Sched 2', segment_id: segmentId, subject: 'x', content: '<p>y</p>' });
    expect(upd.json()).toMatchObject({ name: 'Sched 2', status: 'scheduled' });

    const foreign = client(ctx, other.headers);
    expectError(await foreign.get(`/campaigns/${c.id}`), 404, 'campaign_not_found');
    expectError(await foreign.post(`/campaigns/${c.id}/send`), 404, 'campaign_not_found');
    expectError(await foreign.get(`/campaigns/${c.id}/stats`), 404, 'campaign_not_found');
    expectError(await foreign.post('/campaigns', { name: 'x', segment_id: segmentId, subject: 's', content: '<p>x</p>' }), 404, 'segment_not_found');
    expect((await foreign.get('/campaigns')).json().data).toHaveLength(0);
    const viewer = await t.keyFor('viewer');
    expectError(await client(ctx, viewer).post(`/campaigns/${c.id}/send`), 403, 'forbidden');
  });
});

describe('tracking and stats', () => {
  it('opens, clicks (no open redirect), unsubscribes and conversions show in the stats', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const { segmentId, ids } = await audience(t, [{ email: 'tr.1@example.com' }, { email: 'tr.2@example.com' }, { email: 'tr.3@example.com' }]);
    const c = await createCampaign(t, {
      name: 'Tracked', segment_id: segmentId, subject: 'T',
      content: '<html><body><a href="https://tickets.example.com/a">A</a> <a href="https://tickets.example.com/b">B</a> <a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
    });
    await api.post(`/campaigns/${c.id}/send`);
    expect((await run(t, c.id)).state).toBe('finished');
    const [m1] = mailsTo('tr.1@example.com');
    const [m2] = mailsTo('tr.2@example.com');
    const links = (m: ParsedMail) => [...String(m.html).matchAll(/href="([^"]+)"/g)].map((x) => x[1].replace(/&amp;/g, '&'));
    const pixel = (m: ParsedMail) => /src="([^"]+\/track\/open\/[^"]+)"/.exec(String(m.html))![1];

    const open = await ctx.app.inject({ method: 'GET', url: path(pixel(m1)) });
    expect(open.statusCode).toBe(200);
    expect(open.headers['content-type']).toBe('image/gif');
    const clickA = links(m2).find((l) => l.includes('/track/click/'))!;
    const click = await ctx.app.inject({ method: 'GET', url: path(clickA) });
    expect(click.statusCode).toBe(302);
    expect(click.headers.location).toBe('https://tickets.example.com/a');
    // a tampered token (another URL under the old signature) goes nowhere
    const forged = clickA.replace(/\?u=.*$/, `?u=${encodeURIComponent('https://evil.example.com/')}`);
    const bad = await ctx.app.inject({ method: 'GET', url: path(forged) });
    expect(bad.statusCode).toBe(404);
    expect(bad.headers.location).toBeUndefined();
    expect((await ctx.app.inject({ method: 'GET', url: '/api/crm/track/click/garbage.token?u=https://x.example.com' })).statusCode).toBe(404);

    // timeline activities feed segment rules
    const acts = await ctx.db.rows<{ type: string }>(sql`
      SELECT type FROM activities WHERE tenant_id = ${t.tenantId}::uuid AND type IN ('email.opened', 'email.clicked') ORDER BY type`);
    expect(acts.map((a) => a.type)).toEqual(['email.clicked', 'email.opened', 'email.opened']);
    const opened = await api.post('/segments/preview', { rules: { operator: 'and', conditions: [{ field: 'email_opened', operator: 'exists', value: { campaign_id: c.id } }] } });
    expect(opened.statusCode, opened.body).toBe(200);
    expect(opened.json().count).toBe(2);

    // one-click unsubscribe (RFC 8058) from the List-Unsubscribe header
    const unsubUrl = /<([^>]+)>/.exec(m2.headerLines.find((h) => h.key === 'list-unsubscribe')!.line)![1];
    const page = await ctx.app.inject({ method: 'GET', url: path(unsubUrl) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<form method="post"');
    const unsub = await ctx.app.inject({
      method: 'POST', url: path(unsubUrl), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'List-Unsubscribe=One-Click',
    });
    expect(unsub.statusCode, unsub.body).toBe(200);
    expect((await api.get(`/customers/${ids[1]}`)).json().consent.marketing_email).toBe(false);

    // an order two days after the click converts
    const order = await api.post('/events', { events: [{
      id: 'evt-conv-1', type: 'order.completed', occurred_at: new Date(Date.now() + 60_000).toISOString(),
      customer: { email: 'tr.2@example.com' }, data: { order_id: 'o-conv-1', total: 150, currency: 'RON' },
    }] });
    expect(order.statusCode, order.body).toBe(200);

    const stats = await api.get(`/campaigns/${c.id}/stats?interval=day`);
    expect(stats.statusCode, stats.body).toBe(200);
    expect(stats.json()).toMatchObject({
      sent: 3, delivered: 3, unique_opens: 2, unique_clicks: 1, unsubscribes: 1, conversions: 1, revenue: 150, ctr: 0.3333,
    });
    expect(stats.json().links).toEqual([{ url: 'https://tickets.example.com/a', clicks: 1, unique_clicks: 1 }]);
    expect(stats.json().over_time[0]).toMatchObject({ sent: 3, opens: 1, clicks: 1, unsubscribes: 1 });
    const all = await api.get('/campaigns/stats');
    expect(all.statusCode, all.body).toBe(200);
    expect(all.json().totals).toMatchObject({ campaigns: 1, sent: 3, unique_clicks: 1, revenue: 150 });
    // the dashboard's overview carries the same figures and the conversion rate
    const overview = await api.get('/analytics/overview');
    expect(overview.json().campaigns).toMatchObject({
      campaigns: 1, sent: 3, delivered: 3, unique_opens: 2, unique_clicks: 1, conversions: 1, revenue: 150, conversion_rate: 0.3333,
    });

    // the unsubscribed customer gets nothing from the next campaign
    const next = await createCampaign(t, { name: 'Next', segment_id: segmentId, subject: 'N', content: '<p>n</p>' });
    await api.post(`/campaigns/${next.id}/send`);
    expect((await run(t, next.id)).state).toBe('finished');
    expect(mailsTo('tr.2@example.com')).toHaveLength(1);
    expect(mailsTo('tr.1@example.com')).toHaveLength(2);
  });

  it('A/B subject test: the test groups first, the winner to the rest after the wait', async () => {
    const t = await createTestTenant(ctx.db);
    const api = client(ctx, t.headers);
    const people = Array.from({ length: 10 }, (_, i) => ({ email: `ab.${i}@example.com` }));
    const { segmentId } = await audience(t, people);
    const c = await createCampaign(t, {
      name: 'AB', segment_id: segmentId, content: '<html><body><p>ab</p></body></html>',
      ab_test: { subjects: ['Subject A', 'Subject B'], split_percent: 40, metric: 'open', wait_hours: 2 },
    });
    await api.post(`/campaigns/${c.id}/send`);
    const first = await run(t, c.id);
    expect(first).toMatchObject({ state: 'waiting', reason: 'ab_test_wait', sent: 4 });
    const got = people.flatMap((p) => mailsTo(p.email));
    expect(got.map((m) => m.subject).sort()).toEqual(['Subject A', 'Subject A', 'Subject B', 'Subject B']);
    for (const m of got.filter((x) => x.subject === 'Subject B')) {
      await ctx.app.inject({ method: 'GET', url: path(/src="([^"]+\/track\/open\/[^"]+)"/.exec(String(m.html))![1]) });
    }
    expect((await run(t, c.id)).state).toBe('waiting');
    const later = await run(t, c.id, () => new Date(Date.now() + 3 * 3_600_000));
    expect(later).toMatchObject({ state: 'finished', sent: 6 });
    const all = people.flatMap((p) => mailsTo(p.email));
    expect(all).toHaveLength(10);
    expect(all.filter((m) => m.subject === 'Subject B')).toHaveLength(8);
    const stats = (await api.get(`/campaigns/${c.id}/stats`)).json();
    expect(stats.variants.find((v: { variant: string }) => v.variant === 'b')).toMatchObject({ winner: true, unique_opens: 2 });
    expect((await api.get(`/campaigns/${c.id}`)).json().ab_winner).toBe('b');
  });
});
