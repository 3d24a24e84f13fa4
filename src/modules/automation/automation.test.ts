import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arr, sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { nextTimeOfDay, runDueSteps, type MessageRequest } from './automation.engine.js';
import { createTemplate } from '../templates/templates.service.js';
import { messageSender } from './automation.jobs.js';
import { insertEnrollments, workflowsUsingTemplate } from './automation.repository.js';
import { eraseCustomerJourneys, triggerWorkflow } from './automation.service.js';
import { findCycle, normalizeSteps } from './automation.steps.js';
import { scanTimeTriggers } from './automation.triggers.js';

let ctx: TestContext;
beforeAll(async () => {
  // the webhook step posts to a server on this machine
  ctx = await createTestApp({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
});
afterAll(async () => ctx.close());

const MIN = 60_000;
const DAY = 86_400_000;

function api(t: TestTenant, headers = t.headers) {
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    ctx.app.inject({ method, url: `/api/crm${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  return {
    get: (url: string) => call('GET', url),
    post: (url: string, payload?: unknown) => call('POST', url, payload),
    patch: (url: string, payload: unknown) => call('PATCH', url, payload),
    del: (url: string) => call('DELETE', url),
  };
}

async function customer(tenantId: string, c: { email?: string; tags?: string[]; spend?: number } = {}): Promise<string> {
  const row = await ctx.db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, email, first_name, tags, total_spend, consent)
    VALUES (${tenantId}, ${c.email ?? null}, 'Ana', ${`{${(c.tags ?? []).join(',')}}`}::text[], ${c.spend ?? 0}, '{"marketing_email": true}')
    RETURNING id`);
  return row!.id;
}

async function workflowCount(tenantId: string): Promise<number> {
  const r = await ctx.db.one<{ n: number }>(sql`SELECT count(*)::int AS n FROM workflows WHERE tenant_id = ${tenantId}`);
  return r!.n;
}

/** A sender that records requests instead of sending (the journeys test uses a real SMTP server). */
function recorder() {
  const sent: MessageRequest[] = [];
  return { sent, send: async (r: MessageRequest) => (sent.push(r), { status: 'sent', messageId: `m${sent.length}` }) };
}

const linear = [
  { id: 'tag', type: 'add_tag', config: { tag: 'Journey' } },
  { id: 'mail', type: 'send_email', config: { subject: 'Hi {{ customer.first_name }}', html: '<p>Hello</p>' } },
];

describe('workflow CRUD', () => {
  it('creates, reads, lists, patches, adds steps, toggles and deletes, each audited', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const created = await a.post('/workflows', { name: 'Fans', trigger_type: 'custom', trigger_config: { event: 'custom.fan' }, steps: linear });
    expect(created.statusCode).toBe(201);
    const wf = created.json();
    expect(wf).toMatchObject({
      name: 'Fans', trigger_type: 'custom', active: false, reentry: 'once',
      steps: [{ id: 'tag', type: 'add_tag', config: { tag: 'journey' }, next: 'mail' }, { id: 'mail', next: null }],
      enrollments: { active: 0, completed: 0, exited: 0, failed: 0 },
    });

    expect((await a.get(`/workflows/${wf.id}`)).json().name).toBe('Fans');
    expect((await a.get('/workflows')).json().data.map((w: { id: string }) => w.id)).toEqual([wf.id]);

    const patched = await a.patch(`/workflows/${wf.id}`, { name: 'Fans 2', reentry: 'always', reentry_cooldown_minutes: 60 });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Fans 2', reentry: 'always', reentry_cooldown_minutes: 60 });

    // a condition after the tag: the tag now leads to it, and it keeps the old continuation on "yes"
    const cond = await a.post(`/workflows/${wf.id}/steps`, {
      id: 'vip', type: 'condition', after: 'tag', config: { rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } },
      yes: 'mail', no: null,
    });
    expect(cond.statusCode).toBe(201);
    const steps = cond.json().steps;
    expect(steps.find((s: { id: string }) => s.id === 'tag').next).toBe('vip');
    expect(steps.find((s: { id: string }) => s.id === 'vip')).toMatchObject({ yes: 'mail', no: null });
    const appended = await a.post(`/workflows/${wf.id}/steps`, { type: 'exit', after: 'vip', branch: 'no' });
    expect(appended.statusCode).toBe(201);
    expect(appended.json().steps.find((s: { id: string }) => s.id === 'vip').no).toBe('step_4');

    const on = await a.post(`/workflows/${wf.id}/toggle`, {});
    expect(on.json().active).toBe(true);
    // no body flips it
    const off = await a.post(`/workflows/${wf.id}/toggle`);
    expect(off.json().active).toBe(false);

    expect((await a.del(`/workflows/${wf.id}`)).statusCode).toBe(204);
    expect((await a.get(`/workflows/${wf.id}`)).statusCode).toBe(404);

    const audit = await ctx.db.rows<{ action: string }>(sql`
      SELECT action FROM audit_log WHERE tenant_id = ${t.tenantId} AND entity_type = 'workflow' ORDER BY seq`);
    expect(audit.map((r) => r.action).sort()).toEqual(
      ['workflow.activate', 'workflow.create', 'workflow.deactivate', 'workflow.delete', 'workflow.step_add', 'workflow.step_add', 'workflow.update'].sort(),
    );
  });

  it('answers 4xx and stores nothing for bad definitions', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const bad = async (body: object, code: string, status = 400) => {
      const r = await a.post('/workflows', { name: 'X', trigger_type: 'signup', ...body });
      expect(r.statusCode, JSON.stringify(r.json())).toBe(status);
      expect(r.json().error.code).toBe(code);
      return r.json().error;
    };
    expect((await bad({ trigger_type: 'moon_phase' }, 'invalid_workflow')).message).toMatch(/unknown trigger type "moon_phase"/);
    expect((await bad({ steps: [{ id: 'a', type: 'teleport' }] }, 'invalid_workflow')).message).toMatch(/unknown step type "teleport"/);
    expect((await bad({ steps: [{ id: 'a', type: 'send_email', config: { template_id: '00000000-0000-4000-8000-000000000000' } }] }, 'invalid_workflow')).message)
      .toMatch(/template .* does not exist/);
    expect((await bad({ steps: [{ id: 'a', type: 'add_to_segment', config: { segment_id: '00000000-0000-4000-8000-000000000001' } }] }, 'invalid_workflow')).message)
      .toMatch(/segment .* does not exist/);
    await bad({ trigger_type: 'segment_entered', trigger_config: { segment_id: '00000000-0000-4000-8000-000000000002' } }, 'invalid_workflow');
    const cyc = await bad({
      steps: [
        { id: 'a', type: 'add_tag', config: { tag: 'x' } },
        { id: 'c', type: 'condition', config: { rules: { operator: 'and', conditions: [{ field: 'total_orders', operator: '>', value: 1 }] } }, yes: 'a', no: null },
      ],
    }, 'invalid_workflow');
    expect(cyc.message).toMatch(/cycle: a → c → a/);
    await bad({ steps: [{ id: 'a', type: 'add_tag', config: { tag: 'x' }, next: 'nowhere' }] }, 'invalid_workflow');
    await bad({ steps: [{ id: 'a', type: 'wait', config: { duration: 'soon' } }] }, 'invalid_workflow');
    await bad({ steps: [{ id: 'a', type: 'webhook', config: { url: 'ftp://files.example.com/x' } }] }, 'invalid_workflow');
    await bad({ steps: [{ id: 'a', type: 'condition', config: { rules: { operator: 'and', conditions: [{ field: 'shoe_size', operator: '=', value: 1 }] } } }] }, 'invalid_workflow');
    await bad({ trigger_type: 'inactivity', trigger_config: {} }, 'invalid_workflow');
    await bad({ active: true }, 'invalid_workflow');
    await bad({ steps: [{ id: 'a', type: 'add_tag', config: { tag: 'x' }, extra: 1 }] }, 'validation_failed');
    expect(await workflowCount(t.tenantId)).toBe(0);

    // adding a step that closes a loop is refused and leaves the workflow as it was
    const wf = (await a.post('/workflows', { name: 'Y', trigger_type: 'signup', steps: linear })).json();
    const loop = await a.post(`/workflows/${wf.id}/steps`, { id: 'back', type: 'add_tag', config: { tag: 'y' }, after: 'mail', next: 'tag' });
    expect(loop.statusCode).toBe(400);
    expect(loop.json().error.code).toBe('invalid_workflow');
    expect((await a.get(`/workflows/${wf.id}`)).json().steps).toHaveLength(2);
  });

  it('a viewer reads but cannot change; another tenant sees 404 and changes nothing', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const wf = (await api(t).post('/workflows', { name: 'Mine', trigger_type: 'custom', steps: linear })).json();
    const viewer = api(t, await t.keyFor('viewer'));
    expect((await viewer.get(`/workflows/${wf.id}`)).statusCode).toBe(200);
    expect((await viewer.post(`/workflows/${wf.id}/toggle`, {})).statusCode).toBe(403);

    const o = api(other);
    expect((await o.get(`/workflows/${wf.id}`)).statusCode).toBe(404);
    expect((await o.post(`/workflows/${wf.id}/toggle`, {})).json().error.code).toBe('workflow_not_found');
    expect((await o.patch(`/workflows/${wf.id}`, { name: 'theirs' })).statusCode).toBe(404);
    expect((await o.post(`/workflows/${wf.id}/steps`, { type: 'exit' })).statusCode).toBe(404);
    expect((await o.del(`/workflows/${wf.id}`)).statusCode).toBe(404);
    expect((await o.get(`/workflows/${wf.id}/enrollments`)).statusCode).toBe(404);
    expect((await o.get('/workflows')).json().data).toEqual([]);
    const mine = (await api(t).get(`/workflows/${wf.id}`)).json();
    expect(mine).toMatchObject({ name: 'Mine', active: false });
    // a customer of one tenant cannot be enrolled through another tenant's workflow
    await api(t).post(`/workflows/${wf.id}/toggle`, { active: true });
    const stranger = await customer(other.tenantId);
    expect((await api(t).post(`/workflows/${wf.id}/trigger`, { customer_id: stranger })).json().error.code).toBe('customer_not_found');
  });
});

describe('enrollment counts per step', () => {
  it('counts every enrollment in the database, beyond one page of the enrollment list', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const steps = [
      { id: 'pause', type: 'wait', config: { duration: '3d' } },
      { id: 'tag', type: 'add_tag', config: { tag: 'late' } },
      { id: 'mail', type: 'send_email', config: { subject: 'Hi', html: '<p>Hello</p>' } },
    ];
    const wf = (await a.post('/workflows', { name: 'Crowd', trigger_type: 'custom', steps, active: true })).json();
    const other = (await a.post('/workflows', { name: 'Other', trigger_type: 'custom', steps, active: true })).json();
    const ids = (await ctx.db.rows<{ id: string }>(sql`
      INSERT INTO customers (tenant_id, email, first_name)
      SELECT ${t.tenantId}::uuid, 'crowd.' || g || '@example.com', 'Fan ' || g FROM generate_series(1, 650) g
      RETURNING id`)).map((r) => r.id);
    const now = new Date();
    const enrolled = await insertEnrollments(ctx.db, t.tenantId, ids.map((customerId) => ({ workflowId: wf.id, customerId, triggerKey: null, context: {} })), now);
    expect(enrolled).toHaveLength(650);
    // another workflow's enrollments are not counted
    await insertEnrollments(ctx.db, t.tenantId, ids.slice(0, 30).map((customerId) => ({ workflowId: other.id, customerId, triggerKey: null, context: {} })), now);
    // 110 have waited and moved on to the tag step; 7 of those failed there; 4 more completed the journey
    const moved = enrolled.slice(0, 110).map((e) => e.id);
    await ctx.db.run(sql`
      INSERT INTO workflow_step_runs (tenant_id, enrollment_id, workflow_id, customer_id, step_id, step_type, status, ran_at)
      SELECT tenant_id, id, workflow_id, customer_id, 'pause', 'wait', 'succeeded', now() FROM workflow_enrollments
      WHERE tenant_id = ${t.tenantId}::uuid AND id = ANY(${arr(moved)}::uuid[])`);
    await ctx.db.run(sql`UPDATE workflow_enrollments SET current_step_id = 'tag' WHERE id = ANY(${arr(moved)}::uuid[])`);
    await ctx.db.run(sql`UPDATE workflow_enrollments SET status = 'failed' WHERE id = ANY(${arr(moved.slice(0, 7))}::uuid[])`);
    await ctx.db.run(sql`
      UPDATE workflow_enrollments SET status = 'completed', current_step_id = NULL, finished_at = now()
      WHERE id = ANY(${arr(enrolled.slice(110, 114).map((e) => e.id))}::uuid[])`);

    const page = (await a.get(`/workflows/${wf.id}/enrollments?status=active&limit=500`)).json();
    expect(page.data).toHaveLength(500);
    expect(page.next_cursor).not.toBeNull();

    const res = await a.get(`/workflows/${wf.id}/stats`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      workflow_id: wf.id,
      enrollments: { active: 650 - 7 - 4, completed: 4, exited: 0, failed: 7 },
      steps: [
        { step_id: 'pause', step_type: 'wait', active: 650 - 110 - 4, failed: 0, passed: 110 },
        { step_id: 'tag', step_type: 'add_tag', active: 103, failed: 7, passed: 0 },
        { step_id: 'mail', step_type: 'send_email', active: 0, failed: 0, passed: 0 },
      ],
    });

    // a step removed from the graph keeps its waiting enrollments visible until they move on
    const kept = await a.patch(`/workflows/${wf.id}`, { steps: steps.filter((s) => s.id !== 'tag') });
    expect(kept.statusCode, kept.body).toBe(200);
    const after = (await a.get(`/workflows/${wf.id}/stats`)).json();
    expect(after.steps.map((s: { step_id: string; step_type: string | null }) => [s.step_id, s.step_type])).toEqual([['pause', 'wait'], ['mail', 'send_email'], ['tag', null]]);

    const viewer = api(t, await t.keyFor('viewer'));
    expect((await viewer.get(`/workflows/${wf.id}/stats`)).statusCode).toBe(200);
    const stranger = api(await createTestTenant(ctx.db));
    const foreign = await stranger.get(`/workflows/${wf.id}/stats`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error.code).toBe('workflow_not_found');
  });
});

describe('OpenAPI', () => {
  it('documents every workflow and recommendation route', async () => {
    const doc = (await ctx.app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const p of ['/api/crm/workflows', '/api/crm/workflows/{id}', '/api/crm/workflows/{id}/steps', '/api/crm/workflows/{id}/toggle',
      '/api/crm/workflows/{id}/trigger', '/api/crm/workflows/{id}/enrollments', '/api/crm/workflows/{id}/stats', '/api/crm/customers/{id}/workflows',
      '/api/crm/workflow-templates', '/api/crm/workflow-templates/{key}/enable', '/api/crm/customers/{id}/recommendations']) {
      expect(Object.keys(doc.paths), p).toContain(p);
    }
  });
});

describe('engine', () => {
  it('runs a branching journey step by step, waits, and logs each step once', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const seg = (await a.post('/segments', { name: 'Journeyed', type: 'static' })).json();
    const wf = (await a.post('/workflows', {
      name: 'Branchy', trigger_type: 'custom', active: true, reentry: 'after_exit',
      steps: [
        { id: 'tag', type: 'add_tag', config: { tag: 'journey' } },
        { id: 'field', type: 'update_field', config: { field: 'custom.stage', value: 'nurtured' } },
        { id: 'wait', type: 'wait', config: { duration: '2d' } },
        { id: 'big', type: 'condition', config: { rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } }, yes: 'mail', no: 'seg' },
        { id: 'mail', type: 'send_email', config: { subject: 'Thanks', html: '<p>Big spender</p>' }, next: null },
        { id: 'seg', type: 'add_to_segment', config: { segment_id: seg.id } },
      ],
    })).json();
    const rich = await customer(t.tenantId, { spend: 500 });
    const poor = await customer(t.tenantId, { spend: 5 });
    for (const c of [rich, poor]) {
      const r = await a.post(`/workflows/${wf.id}/trigger`, { customer_id: c, data: { source: 'test' } });
      expect(r.statusCode).toBe(202);
      expect(r.json().enrolled).toBe(true);
    }
    // after_exit: a second trigger while the first run is active does not enroll
    expect((await a.post(`/workflows/${wf.id}/trigger`, { customer_id: rich })).json()).toMatchObject({ enrolled: false, reason: 'reentry_policy' });

    const rec = recorder();
    const deps = { db: ctx.db, config: ctx.config, send: rec.send };
    const now = new Date();
    await runDueSteps(deps, { now, tenantId: t.tenantId });
    const row = await ctx.db.one<{ tags: string[]; custom_fields: Record<string, unknown> }>(sql`SELECT tags, custom_fields FROM customers WHERE id = ${rich}::uuid`);
    expect(row).toMatchObject({ tags: ['journey'], custom_fields: { stage: 'nurtured' } });
    expect(rec.sent).toHaveLength(0);

    // a repeated run at the same time does nothing more (everyone waits two days)
    expect((await runDueSteps(deps, { now, tenantId: t.tenantId })).steps).toBe(0);
    await runDueSteps(deps, { now: new Date(now.getTime() + 2 * DAY + MIN), tenantId: t.tenantId });
    expect(rec.sent).toHaveLength(1);
    expect(rec.sent[0]).toMatchObject({ customerId: rich, channel: 'email', source: { kind: 'workflow', id: wf.id, stepId: 'mail' } });
    expect(rec.sent[0].idempotencyKey).toMatch(/^workflow:.+:mail$/);
    const members = await ctx.db.rows<{ customer_id: string }>(sql`SELECT customer_id FROM segment_members WHERE segment_id = ${seg.id}::uuid`);
    expect(members.map((m) => m.customer_id)).toEqual([poor]);

    const page = (await a.get(`/workflows/${wf.id}/enrollments`)).json();
    expect(page.data).toHaveLength(2);
    const richRun = page.data.find((e: { customer_id: string }) => e.customer_id === rich);
    expect(richRun).toMatchObject({ status: 'completed', current_step_id: null, context: { data: { source: 'test' } } });
    expect(richRun.step_runs.map((s: { step_id: string }) => s.step_id)).toEqual(['tag', 'field', 'wait', 'big', 'mail']);
    expect(richRun.step_runs.find((s: { step_id: string }) => s.step_id === 'big').outcome).toEqual({ matched: true });
    expect((await a.get(`/customers/${poor}/workflows`)).json().data[0].step_runs.map((s: { step_id: string }) => s.step_id))
      .toEqual(['tag', 'field', 'wait', 'big', 'seg']);
    expect((await a.get(`/workflows/${wf.id}`)).json().enrollments).toMatchObject({ completed: 2, active: 0 });
    const timeline = (await a.get(`/customers/${rich}/timeline?type=workflow.*`)).json().data;
    expect(timeline).toMatchObject([{ type: 'workflow.enrolled', summary: 'Entered workflow Branchy', data: { workflow_id: wf.id } }]);

    // after_exit: once finished, the customer may enter again
    expect((await a.post(`/workflows/${wf.id}/trigger`, { customer_id: rich })).json().enrolled).toBe(true);

    // erasure ends the run and forgets its context
    expect(await eraseCustomerJourneys(ctx.db, t.tenantId, [rich])).toBe(2);
    const erased = (await a.get(`/customers/${rich}/workflows`)).json().data;
    expect(erased.map((e: { status: string; context: object }) => [e.status, e.context])).toEqual([['exited', {}], ['completed', {}]]);
  });

  it('a failing step retries with backoff, then fails the enrollment; a paused workflow holds its runs', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const wf = (await a.post('/workflows', {
      name: 'Flaky', trigger_type: 'custom', active: true,
      steps: [{ id: 'mail', type: 'send_email', config: { subject: 'x', text: 'y' } }],
    })).json();
    const c = await customer(t.tenantId);
    await a.post(`/workflows/${wf.id}/trigger`, { customer_id: c });
    let calls = 0;
    const deps = { db: ctx.db, config: ctx.config, send: async () => { calls++; throw new Error('smtp down'); } };
    let now = new Date();
    await runDueSteps(deps, { now, tenantId: t.tenantId });
    let e = (await a.get(`/workflows/${wf.id}/enrollments`)).json().data[0];
    expect(e).toMatchObject({ status: 'active', attempts: 1, last_error: 'smtp down', current_step_id: 'mail' });

    await a.post(`/workflows/${wf.id}/toggle`, { active: false });
    now = new Date(now.getTime() + DAY);
    await runDueSteps(deps, { now, tenantId: t.tenantId });
    expect(calls).toBe(1);
    await a.post(`/workflows/${wf.id}/toggle`, { active: true });
    for (let i = 0; i < 6; i++) {
      now = new Date(now.getTime() + DAY);
      await runDueSteps(deps, { now, tenantId: t.tenantId });
    }
    expect(calls).toBe(5);
    e = (await a.get(`/workflows/${wf.id}/enrollments`)).json().data[0];
    expect(e).toMatchObject({ status: 'failed', exit_reason: 'step_failed' });
    expect(e.step_runs).toMatchObject([{ step_id: 'mail', status: 'failed', error: 'smtp down' }]);
  });

  it('always re-enters after the cooldown; SMS and exit steps', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const wf = (await a.post('/workflows', {
      name: 'Often', trigger_type: 'custom', active: true, reentry: 'always', reentry_cooldown_minutes: 60,
      steps: [
        { id: 'sms', type: 'send_sms', config: { text: 'Doors open at 19:00, {{ customer.first_name }}' } },
        { id: 'stop', type: 'exit' },
        { id: 'never', type: 'add_tag', config: { tag: 'unreachable' } },
      ],
    })).json();
    const c = await customer(t.tenantId);
    const sctx = { db: ctx.db, config: ctx.config, tenantId: t.tenantId, actor: 'test' };
    const now = new Date();
    expect((await triggerWorkflow(sctx, wf.id, { customer_id: c }, { now })).enrolled).toBe(true);
    expect((await triggerWorkflow(sctx, wf.id, { customer_id: c }, { now: new Date(now.getTime() + 30 * MIN) })).reason).toBe('reentry_policy');
    expect((await triggerWorkflow(sctx, wf.id, { customer_id: c }, { now: new Date(now.getTime() + 61 * MIN) })).enrolled).toBe(true);
    const rec = recorder();
    await runDueSteps({ db: ctx.db, config: ctx.config, send: rec.send }, { now: new Date(now.getTime() + 62 * MIN), tenantId: t.tenantId });
    expect(rec.sent.map((m) => [m.channel, m.content])).toEqual([
      ['sms', { text: 'Doors open at 19:00, {{ customer.first_name }}' }], ['sms', { text: 'Doors open at 19:00, {{ customer.first_name }}' }],
    ]);
    expect(new Set(rec.sent.map((m) => m.idempotencyKey)).size).toBe(2);
    const runs = (await a.get(`/workflows/${wf.id}/enrollments`)).json().data;
    expect(runs.map((e: { status: string; exit_reason: string }) => [e.status, e.exit_reason])).toEqual([['exited', 'exit_step'], ['exited', 'exit_step']]);
    const tags = await ctx.db.one<{ tags: string[] }>(sql`SELECT tags FROM customers WHERE id = ${c}::uuid`);
    expect(tags!.tags).toEqual([]);
  });

  it('a template deleted after the workflow was saved ends the step at once (no retries), and is reported as in use', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const tpl = await createTemplate(
      { db: ctx.db, config: ctx.config, tenantId: t.tenantId, audit: { actor: 'test' } },
      { name: 'Gone soon', channel: 'email', subject: 'Hi', format: 'html', body: '<p>Hi</p>' },
    );
    const wf = (await a.post('/workflows', {
      name: 'Uses template', trigger_type: 'custom', active: true, steps: [{ id: 'm', type: 'send_email', config: { template_id: tpl.id } }],
    })).json();
    expect(await workflowsUsingTemplate(ctx.db, t.tenantId, tpl.id)).toEqual([{ id: wf.id, name: 'Uses template' }]);
    // Through the API a template a workflow uses cannot be deleted...
    const del = await ctx.app.inject({ method: 'DELETE', url: `/api/crm/templates/${tpl.id}`, headers: t.headers });
    expect(del.statusCode, del.body).toBe(409);
    expect(del.json().error.code).toBe('template_in_use');
    // ...but if it disappears anyway, the step ends at once: the refused send is logged as skipped with the reason.
    await ctx.db.run(sql`UPDATE templates SET deleted_at = now() WHERE id = ${tpl.id}::uuid`);
    await a.post(`/workflows/${wf.id}/trigger`, { customer_id: await customer(t.tenantId, { email: 'x@example.com' }) });
    await runDueSteps({ db: ctx.db, config: ctx.config, send: messageSender({ db: ctx.db, config: ctx.config }) }, { tenantId: t.tenantId });
    const e = (await a.get(`/workflows/${wf.id}/enrollments`)).json().data[0];
    expect(e.step_runs).toHaveLength(1);
    const [r] = e.step_runs;
    expect(r).toMatchObject({ step_id: 'm', status: 'skipped', outcome: { message_status: 'failed' } });
    expect(r.outcome.reason).toMatch(/template/);
    expect(e.status).toBe('completed');
  });

  it('only the custom trigger is callable by API, and only when active', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    const c = await customer(t.tenantId);
    const signup = (await a.post('/workflows', { name: 'S', trigger_type: 'signup', steps: linear, active: true })).json();
    expect((await a.post(`/workflows/${signup.id}/trigger`, { customer_id: c })).json().error.code).toBe('workflow_not_triggerable');
    const custom = (await a.post('/workflows', { name: 'C', trigger_type: 'custom', steps: linear })).json();
    const r = await a.post(`/workflows/${custom.id}/trigger`, { customer_id: c });
    expect(r.statusCode).toBe(409);
    expect(r.json().error.code).toBe('workflow_inactive');
  });

  it('ends an abandoned-cart run when the customer buys, and enrolls each cart occurrence once', async () => {
    const t = await createTestTenant(ctx.db);
    const a = api(t);
    await a.post('/workflows', {
      name: 'Cart', trigger_type: 'cart_abandoned', trigger_config: { idle_minutes: 30 }, active: true, reentry: 'always',
      steps: [{ id: 'w', type: 'wait', config: { duration: '1h' } }, { id: 'm', type: 'send_email', config: { subject: 'x', text: 'y' } }],
    });
    const who = { external_id: 'cart-1', email: 'cart1@example.com' };
    const ingest = (events: object[]) => a.post('/events', { events });
    const old = new Date(Date.now() - 2 * 3_600_000).toISOString();
    expect((await ingest([{ id: 'c1', type: 'cart.updated', occurred_at: old, customer: who, data: { cart_id: 'k1', items: [{ event_id: 'ev1', quantity: 1, unit_price: 50 }] } }])).statusCode).toBe(200);
    const first = await scanTimeTriggers(ctx.db, { tenantId: t.tenantId });
    expect(first.enrolled).toBe(1);
    expect((await scanTimeTriggers(ctx.db, { tenantId: t.tenantId })).enrolled).toBe(0);
    await ingest([{ id: 'o1', type: 'order.completed', occurred_at: new Date().toISOString(), customer: who, data: { order_id: 'o1', total: 50, items: [{ event_id: 'ev1', quantity: 1, unit_price: 50 }] } }]);
    const rows = await ctx.db.rows<{ status: string; exit_reason: string }>(sql`SELECT status, exit_reason FROM workflow_enrollments WHERE tenant_id = ${t.tenantId}`);
    expect(rows).toEqual([{ status: 'exited', exit_reason: 'purchased' }]);
  });
});

describe('triggers', () => {
  const ingest = async (t: TestTenant, events: object[]) => {
    const r = await api(t).post('/events', { events });
    expect(r.json().rejected, JSON.stringify(r.json().results)).toBe(0);
    return r.json().results as { customer_id: string }[];
  };
  const enrolled = async (workflowId: string) =>
    (await ctx.db.rows<{ customer_id: string; trigger_key: string | null; context: Record<string, unknown> }>(sql`
      SELECT customer_id, trigger_key, context FROM workflow_enrollments WHERE workflow_id = ${workflowId}::uuid ORDER BY enrolled_at`));
  const make = async (t: TestTenant, body: object) => {
    const r = await api(t).post('/workflows', { name: 'T', active: true, steps: [{ id: 'x', type: 'exit' }], ...body });
    expect(r.statusCode, JSON.stringify(r.json())).toBe(201);
    return r.json().id as string;
  };

  it('signup, purchase (min total, first only) and custom events enroll at ingestion', async () => {
    const t = await createTestTenant(ctx.db);
    const signup = await make(t, { trigger_type: 'signup' });
    const big = await make(t, { trigger_type: 'purchase', trigger_config: { min_total: 100 }, reentry: 'always' });
    const first = await make(t, { trigger_type: 'purchase', trigger_config: { first_only: true }, reentry: 'always' });
    const survey = await make(t, { trigger_type: 'custom', trigger_config: { event: 'custom.survey_done' } });
    const now = new Date().toISOString();
    const who = { external_id: 'trig-1' };
    const [r] = await ingest(t, [
      { id: 't1', type: 'user.registered', occurred_at: now, customer: who, data: {} },
      { id: 't2', type: 'order.completed', occurred_at: now, customer: who, data: { order_id: 'a', total: 50 } },
      { id: 't3', type: 'custom.other', occurred_at: now, customer: who, data: {} },
    ]);
    await ingest(t, [
      { id: 't4', type: 'order.completed', occurred_at: now, customer: who, data: { order_id: 'b', total: 150 } },
      { id: 't5', type: 'custom.survey_done', occurred_at: now, customer: who, data: { score: 9 } },
    ]);
    expect(await enrolled(signup)).toMatchObject([{ customer_id: r.customer_id, trigger_key: 'signup' }]);
    expect(await enrolled(big)).toMatchObject([{ trigger_key: 'order:b', context: { total: 150 } }]);
    expect(await enrolled(first)).toMatchObject([{ trigger_key: 'order:a' }]);
    expect(await enrolled(survey)).toMatchObject([{ trigger_key: 'event:t5', context: { event_type: 'custom.survey_done', data: { score: 9 } } }]);
    // the same events again are duplicates: nothing new
    await api(t).post('/events', { events: [{ id: 't4', type: 'order.completed', occurred_at: now, customer: who, data: { order_id: 'b', total: 150 } }] });
    expect(await enrolled(big)).toHaveLength(1);
  });

  it('event_day, anniversary and segment exits', async () => {
    const t = await createTestTenant(ctx.db);
    const now = new Date();
    const r = await api(t).post('/catalog/events', { id: 'soon', name: 'Soon', starts_at: new Date(now.getTime() + 2 * DAY).toISOString() });
    expect(r.statusCode).toBe(201);
    const before = await make(t, { trigger_type: 'event_day', trigger_config: { days_offset: -2 } });
    const anniversary = await make(t, { trigger_type: 'anniversary', trigger_config: { of: 'first_purchase' } });
    const seg = (await api(t).post('/segments', { name: 'Big', rules: { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 100 }] } })).json();
    const left = await make(t, { trigger_type: 'segment_exited', trigger_config: { segment_id: seg.id } });
    const yearAgo = new Date(now.getTime() - 365 * DAY);
    const [c] = await ingest(t, [
      { id: 'a1', type: 'order.completed', occurred_at: yearAgo.toISOString(), customer: { external_id: 'ann' }, data: { order_id: 'y', total: 20 } },
      { id: 'a2', type: 'order.completed', occurred_at: now.toISOString(), customer: { external_id: 'ann' }, data: { order_id: 'z', total: 200, items: [{ event_id: 'soon', quantity: 1, unit_price: 200 }] } },
    ]);
    await scanTimeTriggers(ctx.db, { tenantId: t.tenantId, now });
    expect(await enrolled(before)).toMatchObject([{ customer_id: c.customer_id, trigger_key: 'event_day:soon', context: { event_id: 'soon', event_name: 'Soon' } }]);
    const ann = await enrolled(anniversary);
    // the first purchase is 365 days back: its anniversary is today unless a 29 February lies between
    if (ann.length) expect(ann[0]).toMatchObject({ trigger_key: `anniversary:${now.getUTCFullYear()}`, context: { years: 1 } });
    expect(await enrolled(left)).toHaveLength(0);
    await ingest(t, [{ id: 'a3', type: 'order.refunded', occurred_at: now.toISOString(), customer: { external_id: 'ann' }, data: { order_id: 'z' } }]);
    expect(await enrolled(left)).toMatchObject([{ customer_id: c.customer_id, trigger_key: null, context: { segment_id: seg.id, change: 'exited' } }]);
  });

  it('a webhook step posts the customer and context once, with an idempotency key', async () => {
    const received: { headers: http.IncomingHttpHeaders; body: any }[] = [];
    const server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c) => (data += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(data) });
        res.writeHead(received.length === 1 ? 503 : 200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const t = await createTestTenant(ctx.db);
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const wf = (await api(t).post('/workflows', {
        name: 'Hook', trigger_type: 'custom', active: true, steps: [{ id: 'call', type: 'webhook', config: { url, payload: { campaign: 'spring' } } }],
      })).json();
      const c = await customer(t.tenantId, { email: 'hook@example.com' });
      await api(t).post(`/workflows/${wf.id}/trigger`, { customer_id: c, data: { why: 'test' } });
      const deps = { db: ctx.db, config: ctx.config, send: recorder().send };
      const now = new Date();
      await runDueSteps(deps, { now, tenantId: t.tenantId });
      // the first answer was 503: retried a minute later
      await runDueSteps(deps, { now: new Date(now.getTime() + 2 * MIN), tenantId: t.tenantId });
      expect(received).toHaveLength(2);
      expect(received[1].body).toMatchObject({
        type: 'workflow.step', workflow_id: wf.id, step_id: 'call', customer: { id: c, email: 'hook@example.com' },
        context: { data: { why: 'test' } }, data: { campaign: 'spring' },
      });
      expect(received[1].headers['idempotency-key']).toBe(received[0].headers['idempotency-key']);
      const e = (await api(t).get(`/workflows/${wf.id}/enrollments`)).json().data[0];
      expect(e).toMatchObject({ status: 'completed', step_runs: [{ step_id: 'call', status: 'succeeded', outcome: { status_code: 200 } }] });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('step graph and clock helpers', () => {
  it('finds cycles and defaults next to the following step', () => {
    const steps = normalizeSteps([
      { id: 'a', type: 'add_tag', config: { tag: 'x' } },
      { id: 'b', type: 'exit' },
    ], { allowPrivateWebhooks: false });
    expect(steps[0].next).toBe('b');
    expect(findCycle(steps)).toBeNull();
    expect(findCycle([{ id: 'a', type: 'wait', config: {}, next: 'b' }, { id: 'b', type: 'wait', config: {}, next: 'a' }])).toEqual(['a', 'b', 'a']);
  });

  it('computes the next wall-clock time in a time zone, across DST', () => {
    // 2026-03-29 is the spring-forward day in Europe/Bucharest (UTC+2 → UTC+3)
    expect(nextTimeOfDay(new Date('2026-03-28T12:00:00Z'), { h: 10, m: 0 }, 'Europe/Bucharest').toISOString()).toBe('2026-03-29T07:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-01-10T07:59:00Z'), { h: 10, m: 0 }, 'Europe/Bucharest').toISOString()).toBe('2026-01-10T08:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-01-10T08:01:00Z'), { h: 10, m: 0 }, 'Europe/Bucharest').toISOString()).toBe('2026-01-11T08:00:00.000Z');
    expect(nextTimeOfDay(new Date('2026-07-01T23:30:00Z'), { h: 9, m: 30 }, 'America/New_York').toISOString()).toBe('2026-07-02T13:30:00.000Z');
  });
});
