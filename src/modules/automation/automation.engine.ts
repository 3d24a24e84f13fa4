import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import { relaxCommit, type Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { compileRules, parseRules } from '../segments/segments.rules.js';
import { addMembers, reevaluateCustomers } from '../segments/segments.service.js';
import { postWebhook } from '../webhooks/webhooks.delivery.js';
import * as repo from './automation.repository.js';
import { durationMinutes, parseTimeOfDay, type WorkflowStep } from './automation.steps.js';

/**
 * The journey engine. Enrollments are durable rows (current step, next_run_at); a ticker claims the
 * due ones in batches (FOR UPDATE SKIP LOCKED plus a lease) and moves each along its step graph,
 * one transaction per step. Database side effects (tags, fields, segments) commit with the step's
 * log row and the move, so they happen once. Messages and webhooks leave the database: they run
 * between two transactions with an idempotency key of enrollment + step, so a crash after the send
 * and before the move repeats the call, and the message layer drops the repeat.
 */

export interface MessageRequest {
  tenantId: string;
  customerId: string;
  channel: 'email' | 'sms';
  content: { templateId: string } | { subject?: string; html?: string; text?: string; mjml?: string };
  source: { kind: 'workflow'; id: string; stepId: string };
  idempotencyKey: string;
  extraContext?: Record<string, unknown>;
}
export interface MessageResult {
  status: 'sent' | 'queued' | 'suppressed' | 'skipped' | string;
  reason?: string | null;
  messageId?: string | null;
}
export type SendMessage = (req: MessageRequest) => Promise<MessageResult>;

export interface EngineDeps {
  db: Executor;
  config: Config;
  /** Sends one message (the messaging module's deliverMessage, bound to its dependencies). */
  send: SendMessage;
}

export interface RunOptions {
  /** The engine's clock (tests move it forward instead of sleeping). */
  now?: Date;
  /** Only this tenant's enrollments (tests). */
  tenantId?: string;
  batchSize?: number;
  /** Stop claiming new batches after this many (default 20). */
  maxBatches?: number;
}

export interface RunResult {
  enrollments: number;
  steps: number;
  completed: number;
  failed: number;
}

const MAX_CHAIN = 50;
const CONCURRENCY = 4;
const LEASE_SECONDS = 120;
const MAX_ATTEMPTS = 5;
const RETRY_MINUTES = [1, 5, 30, 120, 720];
const ACTOR = 'job:workflows';

/** Runs every due step (each enrollment as far as it can go without waiting). */
export async function runDueSteps(deps: EngineDeps, opts: RunOptions = {}): Promise<RunResult> {
  const now = opts.now ?? new Date();
  const out: RunResult = { enrollments: 0, steps: 0, completed: 0, failed: 0 };
  for (let b = 0; b < (opts.maxBatches ?? 20); b++) {
    const due = await repo.claimDue(deps.db, { now, limit: opts.batchSize ?? 50, leaseSeconds: LEASE_SECONDS, tenantId: opts.tenantId });
    if (due.length === 0) break;
    // Enrollments are independent (each is leased to this run): a few at a time, so a step's round
    // trips overlap with another's (PGlite serializes them anyway).
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const d = due[next++];
        out.enrollments++;
        const r = await runEnrollment(deps, d, now);
        out.steps += r.steps;
        if (r.final === 'completed') out.completed++;
        if (r.final === 'failed') out.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, due.length) }, worker));
  }
  return out;
}

type Outcome =
  | { kind: 'continue'; next: string | null; runAt?: Date; status?: 'succeeded' | 'skipped'; outcome: Record<string, unknown>; context?: Record<string, unknown> }
  | { kind: 'finish'; status: 'completed' | 'exited'; reason: string | null; outcome: Record<string, unknown> };

/** Moves one enrollment along until it waits, ends, or a step fails. */
async function runEnrollment(deps: EngineDeps, d: repo.DueRow, now: Date): Promise<{ steps: number; final: string | null }> {
  let steps = 0;
  // A plain read to see what comes; each step re-reads under the row lock, and what it answers
  // (the next step, the context) is what the following iteration looks at.
  let st = await repo.lockRun(deps.db, d.tenant_id, d.id, { lock: false });
  for (let i = 0; i < MAX_CHAIN; i++) {
    if (!st || st.status !== 'active') return { steps, final: st?.status ?? null };
    const seen = st;
    const step = seen.steps.find((s) => s.id === seen.current_step_id);
    let result: 'next' | 'wait' | 'done' | 'failed';
    let after: repo.RunState | undefined;
    try {
      // external side effect first (outside any transaction), then the move in one transaction
      const prepared = step && (step.type === 'send_email' || step.type === 'send_sms' || step.type === 'webhook')
        ? await external(deps, seen, step, now)
        : null;
      [result, after] = await deps.db.transaction(async (tx) => {
        // a commit lost in a crash loses the step's effects with its log row and the move: the step runs again;
        // messages are protected by their idempotency key, which the message layer commits durably
        await relaxCommit(tx);
        const cur = await repo.lockRun(tx, d.tenant_id, d.id);
        if (!cur || cur.status !== 'active' || cur.current_step_id !== seen.current_step_id) return ['done', undefined] as const;
        const outcome = await decide(deps, tx, cur, step, now, prepared);
        return apply(tx, cur, step, outcome, now);
      });
    } catch (err) {
      result = await deps.db.transaction(async (tx) => {
        // the state as of now (a concurrent worker may have moved it)
        const cur = await repo.lockRun(tx, d.tenant_id, d.id);
        if (!cur || cur.status !== 'active' || cur.current_step_id !== seen.current_step_id) return 'done' as const;
        return fail(tx, cur, step, err, now);
      });
    }
    steps++;
    if (result !== 'next') {
      const final = result === 'failed' ? 'failed' : result === 'done' ? 'completed' : null;
      return { steps, final };
    }
    st = after;
  }
  return { steps, final: null };
}

async function apply(
  tx: Executor,
  st: repo.RunState,
  step: WorkflowStep | undefined,
  o: Outcome,
  now: Date,
): Promise<readonly ['next' | 'wait' | 'done', repo.RunState | undefined]> {
  const finished = o.kind === 'finish' || o.next === null;
  const runAt = o.kind === 'continue' ? (o.runAt ?? now) : null;
  const context = o.kind === 'continue' ? o.context : undefined;
  const move: repo.AdvanceInput = finished
    ? { tenantId: st.tenant_id, id: st.id, stepId: null, runAt: null, status: o.kind === 'finish' ? o.status : 'completed', reason: o.kind === 'finish' ? o.reason : null, now, context }
    : { tenantId: st.tenant_id, id: st.id, stepId: (o as { next: string }).next, runAt, now, context };
  if (step) {
    await repo.recordStep(tx, {
      tenantId: st.tenant_id, enrollmentId: st.id, workflowId: st.workflow_id, customerId: st.customer_id,
      stepId: step.id, stepType: step.type, status: o.kind === 'continue' ? (o.status ?? 'succeeded') : 'succeeded', outcome: o.outcome, at: now,
    }, move);
  } else {
    await repo.advance(tx, move);
  }
  if (finished) return ['done', undefined];
  const next: repo.RunState = { ...st, current_step_id: move.stepId, attempts: 0, context: context ?? st.context };
  return [runAt!.getTime() > now.getTime() ? 'wait' : 'next', next];
}

async function fail(tx: Executor, st: repo.RunState, step: WorkflowStep | undefined, err: unknown, now: Date): Promise<'wait' | 'failed'> {
  const message = err instanceof Error ? err.message.slice(0, 1000) : String(err);
  const attempts = st.attempts + 1;
  // an expected refusal (a template deleted since the workflow was saved…) will not heal by retrying
  const permanent = err instanceof AppError;
  if (permanent || attempts >= MAX_ATTEMPTS || !step) {
    if (step) {
      await repo.insertStepRun(tx, {
        tenantId: st.tenant_id, enrollmentId: st.id, workflowId: st.workflow_id, customerId: st.customer_id,
        stepId: step.id, stepType: step.type, status: 'failed', outcome: { attempts }, error: message, at: now,
      });
    }
    await repo.advance(tx, { tenantId: st.tenant_id, id: st.id, stepId: null, runAt: null, status: 'failed', reason: 'step_failed', error: message, now });
    return 'failed';
  }
  const retryAt = new Date(now.getTime() + RETRY_MINUTES[Math.min(attempts - 1, RETRY_MINUTES.length - 1)] * 60_000);
  await repo.recordFailure(tx, { tenantId: st.tenant_id, id: st.id, error: message, retryAt });
  return 'wait';
}

const nextOf = (s: WorkflowStep) => s.next ?? null;
const idempotencyKey = (st: repo.RunState, step: WorkflowStep) => `workflow:${st.id}:${step.id}`;

interface Prepared {
  outcome: Record<string, unknown>;
  status: 'succeeded' | 'skipped';
  context?: Record<string, unknown>;
}

/** Messages and webhooks: the part that leaves the database. */
async function external(deps: EngineDeps, st: repo.RunState, step: WorkflowStep, now: Date): Promise<Prepared> {
  const done = await repo.succeededOutcome(deps.db, st.tenant_id, st.id, step.id);
  if (done) return { outcome: done, status: 'succeeded' };
  if (!st.live) return { outcome: { reason: 'customer_gone' }, status: 'skipped' };
  if (step.type === 'webhook') return callWebhook(deps, st, step, now);

  let context = st.context;
  const extra: Record<string, unknown> = { trigger: st.context, workflow: { id: st.workflow_id, enrollment_id: st.id } };
  const inc = step.config.incentive as { percent_off?: number; amount_off?: number; valid_for: string; prefix?: string } | undefined;
  if (inc) {
    const row = await deps.db.transaction((tx) => repo.ensureIncentive(tx, {
      tenantId: st.tenant_id, enrollmentId: st.id, stepId: step.id, workflowId: st.workflow_id, customerId: st.customer_id,
      code: incentiveCode(inc.prefix), percentOff: inc.percent_off ?? null, amountOff: inc.amount_off ?? null,
      expiresAt: new Date(now.getTime() + durationMinutes(inc.valid_for)! * 60_000),
    }));
    const incentive = {
      code: row.code, percent_off: row.percent_off, amount_off: row.amount_off,
      expires_at: row.expires_at.toISOString(),
      expires_on: formatDate(row.expires_at, st.timezone),
    };
    extra.incentive = incentive;
    context = { ...context, incentive };
  }
  const c = step.config;
  const content = typeof c.template_id === 'string'
    ? { templateId: c.template_id }
    : step.type === 'send_sms'
      ? { text: c.text as string }
      : { subject: c.subject as string, html: c.html as string | undefined, text: c.text as string | undefined, mjml: c.mjml as string | undefined };
  const res = await deps.send({
    tenantId: st.tenant_id, customerId: st.customer_id, channel: step.type === 'send_sms' ? 'sms' : 'email', content,
    source: { kind: 'workflow', id: st.workflow_id, stepId: step.id }, idempotencyKey: idempotencyKey(st, step), extraContext: extra,
  });
  const outcome = { message_status: res.status, message_id: res.messageId ?? null, reason: res.reason ?? null, ...(extra.incentive ? { incentive: extra.incentive } : {}) };
  // a refused send (no consent, suppressed, capped) is part of the journey, not a failure
  return { outcome, status: res.status === 'sent' || res.status === 'queued' ? 'succeeded' : 'skipped', context };
}

async function callWebhook(deps: EngineDeps, st: repo.RunState, step: WorkflowStep, now: Date): Promise<Prepared> {
  const body = JSON.stringify({
    type: 'workflow.step',
    occurred_at: now.toISOString(),
    tenant_id: st.tenant_id,
    workflow_id: st.workflow_id,
    enrollment_id: st.id,
    step_id: step.id,
    customer: { id: st.customer_id, email: st.email, phone: st.phone, first_name: st.first_name },
    context: st.context,
    data: step.config.payload ?? {},
  });
  const r = await postWebhook({
    url: step.config.url as string,
    body,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'EncoreCRM-Workflows/1',
      // receivers drop a repeat after a crash between the call and its record
      'Idempotency-Key': idempotencyKey(st, step),
    },
    timeoutMs: deps.config.webhookTimeoutMs,
    allowPrivate: deps.config.webhookAllowPrivateNetworks,
  });
  if (!r.ok) throw new Error(`webhook answered ${r.statusCode ?? 'nothing'}${r.error ? `: ${r.error}` : ''}`);
  return { outcome: { status_code: r.statusCode, ms: r.ms }, status: 'succeeded' };
}

/** What a step does inside the transaction that records it. */
async function decide(deps: EngineDeps, tx: Executor, st: repo.RunState, step: WorkflowStep | undefined, now: Date, prepared: Prepared | null): Promise<Outcome> {
  if (!step) return { kind: 'finish', status: 'exited', reason: st.current_step_id ? 'step_removed' : null, outcome: {} };
  if (!st.live) return { kind: 'finish', status: 'exited', reason: 'customer_gone', outcome: {} };
  if (prepared) return { kind: 'continue', next: nextOf(step), status: prepared.status, outcome: prepared.outcome, context: prepared.context };
  const c = step.config;
  const audit = (action: string, before: unknown, after: unknown) => recordAudit(tx, {
    tenantId: st.tenant_id, actor: ACTOR, action, entityType: 'customer', entityId: st.customer_id, before, after,
  });
  switch (step.type) {
    case 'wait': {
      let at = now;
      const minutes = c.duration === undefined ? null : durationMinutes(c.duration);
      if (minutes) at = new Date(at.getTime() + minutes * 60_000);
      const tod = parseTimeOfDay(c.until_time);
      if (tod) at = nextTimeOfDay(at, tod, st.timezone);
      return { kind: 'continue', next: nextOf(step), runAt: at, outcome: { until: at.toISOString() } };
    }
    case 'condition': {
      const matched = await repo.customerMatches(tx, st.tenant_id, st.customer_id, compileRules(parseRules(c.rules), { now }));
      return { kind: 'continue', next: (matched ? step.yes : step.no) ?? null, outcome: { matched } };
    }
    case 'add_tag':
    case 'remove_tag': {
      const add = step.type === 'add_tag';
      const changed = await repo.changeTag(tx, st.tenant_id, st.customer_id, c.tag as string, add);
      if (changed) {
        await audit(add ? 'customer.tag_add' : 'customer.tag_remove', null, { tag: c.tag, workflow_id: st.workflow_id });
        // tags feed segment rules
        await reevaluateCustomers(tx, st.tenant_id, [st.customer_id]);
      }
      return { kind: 'continue', next: nextOf(step), status: changed ? 'succeeded' : 'skipped', outcome: { tag: c.tag, changed } };
    }
    case 'update_field': {
      const before = await repo.setField(tx, st.tenant_id, st.customer_id, c.field as string, c.value);
      await audit('customer.update', { [c.field as string]: before }, { [c.field as string]: c.value, workflow_id: st.workflow_id });
      await reevaluateCustomers(tx, st.tenant_id, [st.customer_id]);
      return { kind: 'continue', next: nextOf(step), outcome: { field: c.field, before: before ?? null, after: c.value } };
    }
    case 'add_to_segment': {
      try {
        const r = await addMembers({ db: tx, tenantId: st.tenant_id, actor: ACTOR }, c.segment_id as string, [st.customer_id]);
        return { kind: 'continue', next: nextOf(step), status: r.added ? 'succeeded' : 'skipped', outcome: { segment_id: c.segment_id, added: r.added > 0 } };
      } catch (err) {
        // the segment was deleted or made dynamic since the workflow was saved: skip, do not retry forever
        if (err instanceof AppError) return { kind: 'continue', next: nextOf(step), status: 'skipped', outcome: { segment_id: c.segment_id, reason: err.code } };
        throw err;
      }
    }
    case 'exit':
      return { kind: 'finish', status: 'exited', reason: 'exit_step', outcome: {} };
    case 'send_email':
    case 'send_sms':
    case 'webhook':
      // reached only when `prepared` is null, which external() never answers
      throw new Error(`step ${step.id} ran without its external part`);
  }
}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A random, unambiguous code (no 0/O, 1/I): 10 characters ≈ 50 bits. */
export function incentiveCode(prefix = 'ENC'): string {
  const bytes = crypto.randomBytes(10);
  let s = '';
  for (const b of bytes) s += CODE_ALPHABET[b % CODE_ALPHABET.length];
  return `${prefix}-${s}`;
}

function formatDate(d: Date, timeZone: string): string {
  try {
    return new Intl.DateTimeFormat('en-GB', { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(d);
  } catch {
    return d.toISOString();
  }
}

/** Offset of `timeZone` from UTC at `at`, in minutes (Europe/Bucharest in summer: 180). */
function offsetMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
}

/** The first instant at or after `after` when the wall clock in `timeZone` shows h:m. */
export function nextTimeOfDay(after: Date, tod: { h: number; m: number }, timeZone: string): Date {
  let tz = timeZone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    tz = 'UTC';
  }
  const local = new Date(after.getTime() + offsetMinutes(after, tz) * 60_000);
  for (let day = 0; day <= 2; day++) {
    const wall = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + day, tod.h, tod.m);
    // local wall time → instant, with the offset that holds at that instant (DST changes)
    let at = wall - offsetMinutes(new Date(wall), tz) * 60_000;
    at = wall - offsetMinutes(new Date(at), tz) * 60_000;
    if (at >= after.getTime()) return new Date(at);
  }
  return new Date(after.getTime() + 86_400_000);
}
