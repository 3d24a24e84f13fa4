import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { createSegment } from '../segments/segments.service.js';
import { createTemplate } from '../templates/templates.service.js';
import { urlProblem } from '../webhooks/webhooks.delivery.js';
import * as repo from './automation.repository.js';
import type {
  AddStepBody, CreateWorkflowBody, EnableTemplateBody, Enrollment, ListEnrollmentsQuery, ListWorkflowsQuery, UpdateWorkflowBody, Workflow,
} from './automation.schemas.js';
import { normalizeSteps, normalizeTrigger, referencesOf, type WorkflowStep } from './automation.steps.js';
import { templateByKey, WORKFLOW_TEMPLATES, type ParamValue } from './automation.templates.js';

export interface AutomationCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  /** "key:<id>" / "user:<id>" / "cli" */
  actor: string;
  requestId?: string | null;
}

const notFound = (id: string) => new AppError('workflow_not_found', `workflow ${id} was not found`, { id });
const invalid = (message: string, details: Record<string, unknown> = {}) => new AppError('invalid_workflow', message, details);

function toWorkflow(row: repo.WorkflowRow, stats?: repo.StatsRow): Workflow {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    trigger_type: row.trigger_type,
    trigger_config: row.trigger_config,
    steps: row.steps.map((s) => ({ ...s, config: s.config ?? {} })),
    active: row.active,
    reentry: row.reentry,
    reentry_cooldown_minutes: row.reentry_cooldown_minutes,
    template_key: row.template_key,
    enrollments: { active: stats?.active ?? 0, completed: stats?.completed ?? 0, exited: stats?.exited ?? 0, failed: stats?.failed ?? 0 },
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const auditView = (row: repo.WorkflowRow) => ({
  name: row.name, trigger_type: row.trigger_type, trigger_config: row.trigger_config, active: row.active,
  reentry: row.reentry, reentry_cooldown_minutes: row.reentry_cooldown_minutes, steps: row.steps.map((s) => ({ id: s.id, type: s.type })),
});

async function audit(tx: Executor, ctx: AutomationCtx, action: string, id: string, before: unknown, after: unknown): Promise<void> {
  await recordAudit(tx, { tenantId: ctx.tenantId, actor: ctx.actor, action, entityType: 'workflow', entityId: id, before, after, requestId: ctx.requestId ?? null });
}

async function requireWorkflow(db: Executor, tenantId: string, id: string, opts: { lock?: boolean } = {}): Promise<repo.WorkflowRow> {
  const row = isUuid(id) ? await repo.findWorkflow(db, tenantId, id, opts) : undefined;
  if (!row) throw notFound(id);
  return row;
}

/** Templates, segments and the segments named in condition rules must exist in this tenant. */
async function checkReferences(db: Executor, tenantId: string, steps: WorkflowStep[], trigger: { type: string; config: Record<string, unknown> }): Promise<void> {
  const refs = referencesOf(steps);
  const templates = await repo.existingTemplateIds(db, tenantId, refs.templateIds);
  const have = new Map(templates.map((t) => [t.id, t.channel]));
  for (const s of steps) {
    const id = typeof s.config.template_id === 'string' ? s.config.template_id.toLowerCase() : null;
    if (!id) continue;
    const channel = have.get(id);
    if (!channel) throw invalid(`steps[${s.id}].config.template_id: template ${id} does not exist`, { path: `steps[${s.id}].config.template_id` });
    const want = s.type === 'send_sms' ? 'sms' : 'email';
    if (channel !== want) throw invalid(`steps[${s.id}]: template ${id} is an ${channel} template, the step sends ${want}`, { path: `steps[${s.id}].config.template_id` });
  }
  const segIds = [...new Set([...refs.staticSegmentIds, ...refs.ruleSegmentIds, ...(typeof trigger.config.segment_id === 'string' ? [trigger.config.segment_id] : [])])];
  const types = await repo.segmentTypes(db, tenantId, segIds);
  for (const id of segIds) {
    if (!types.has(id)) throw invalid(`segment ${id} does not exist`, { segment_id: id });
  }
  for (const id of refs.staticSegmentIds) {
    if (types.get(id) !== 'static') throw invalid(`add_to_segment needs a static segment; ${id} is dynamic`, { segment_id: id });
  }
}

export async function createWorkflow(ctx: AutomationCtx, input: CreateWorkflowBody & { templateKey?: string }): Promise<Workflow> {
  const trigger = normalizeTrigger(input.trigger_type, input.trigger_config);
  const steps = normalizeSteps(input.steps ?? [], { allowPrivateWebhooks: ctx.config.webhookAllowPrivateNetworks });
  const active = input.active ?? false;
  if (active && steps.length === 0) throw invalid('a workflow needs at least one step to be active', { path: 'steps' });
  const name = input.name.trim();
  if (!name) throw invalid('name must not be blank', { path: 'name' });
  return ctx.db.transaction(async (tx) => {
    await checkReferences(tx, ctx.tenantId, steps, trigger);
    const row = await repo.insertWorkflow(tx, ctx.tenantId, {
      name, description: input.description?.trim() || null, triggerType: trigger.type, triggerConfig: trigger.config, steps, active,
      reentry: input.reentry ?? 'once', cooldownMinutes: input.reentry_cooldown_minutes ?? 0, templateKey: input.templateKey ?? null, createdBy: ctx.actor,
    });
    await audit(tx, ctx, 'workflow.create', row.id, null, auditView(row));
    return toWorkflow(row);
  });
}

export async function getWorkflow(ctx: Pick<AutomationCtx, 'db' | 'tenantId'>, id: string): Promise<Workflow> {
  const row = await requireWorkflow(ctx.db, ctx.tenantId, id);
  const stats = await repo.enrollmentStats(ctx.db, ctx.tenantId, [row.id]);
  return toWorkflow(row, stats.get(row.id));
}

export async function listWorkflows(ctx: Pick<AutomationCtx, 'db' | 'tenantId'>, q: ListWorkflowsQuery): Promise<Page<Workflow>> {
  const limit = q.limit ?? 50;
  let after: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    after = { createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listWorkflows(ctx.db, { tenantId: ctx.tenantId, limit: limit + 1, after, active: q.active, triggerType: q.trigger_type });
  const stats = await repo.enrollmentStats(ctx.db, ctx.tenantId, rows.slice(0, limit).map((r) => r.id));
  return pageOf(rows, limit, (r) => toWorkflow(r, stats.get(r.id)), (r) => [r.created_key, r.id]);
}

/** Enrollment counts of a workflow as a whole and per step, over all its enrollments. */
export async function workflowStats(ctx: Pick<AutomationCtx, 'db' | 'tenantId'>, id: string) {
  const row = await requireWorkflow(ctx.db, ctx.tenantId, id);
  const [stats, counts] = await Promise.all([repo.enrollmentStats(ctx.db, ctx.tenantId, [row.id]), repo.stepCounts(ctx.db, ctx.tenantId, row.id)]);
  const byStep = new Map(counts.map((c) => [c.step_id, c]));
  const known = new Set(row.steps.map((s) => s.id));
  const zero = { active: 0, failed: 0, passed: 0 };
  return {
    workflow_id: row.id,
    enrollments: toWorkflow(row, stats.get(row.id)).enrollments,
    steps: [
      ...row.steps.map((s) => {
        const c = byStep.get(s.id) ?? zero;
        return { step_id: s.id, step_type: s.type as string | null, active: c.active, failed: c.failed, passed: c.passed };
      }),
      ...counts.filter((c) => !known.has(c.step_id)).map((c) => ({ step_id: c.step_id, step_type: null, active: c.active, failed: c.failed, passed: c.passed })),
    ],
  };
}

/** Stores a changed definition (validated as a whole) and audits it. */
async function save(tx: Executor, ctx: AutomationCtx, current: repo.WorkflowRow, next: repo.WorkflowWrite, action: string): Promise<Workflow> {
  const trigger = { type: next.triggerType, config: next.triggerConfig };
  await checkReferences(tx, ctx.tenantId, next.steps, trigger);
  if (next.active && next.steps.length === 0) throw invalid('a workflow needs at least one step to be active', { path: 'steps' });
  const row = await repo.updateWorkflow(tx, ctx.tenantId, current.id, next);
  if (next.reentry !== current.reentry) await repo.rekeyFinishedEnrollments(tx, ctx.tenantId, current.id, next.reentry);
  await audit(tx, ctx, action, row.id, auditView(current), auditView(row));
  const stats = await repo.enrollmentStats(tx, ctx.tenantId, [row.id]);
  return toWorkflow(row, stats.get(row.id));
}

const writeOf = (row: repo.WorkflowRow): repo.WorkflowWrite => ({
  name: row.name, description: row.description, triggerType: row.trigger_type, triggerConfig: row.trigger_config, steps: row.steps,
  active: row.active, reentry: row.reentry, cooldownMinutes: row.reentry_cooldown_minutes,
});

/** The stored steps back into input form (explicit next/yes/no, so the order change of an append keeps the graph). */
const asInput = (steps: WorkflowStep[]) => steps.map((s) => ({ id: s.id, type: s.type, config: s.config, ...(s.type === 'condition' ? { yes: s.yes ?? null, no: s.no ?? null } : { next: s.next ?? null }) }));

export async function updateWorkflow(ctx: AutomationCtx, id: string, input: UpdateWorkflowBody): Promise<Workflow> {
  return ctx.db.transaction(async (tx) => {
    const current = await requireWorkflow(tx, ctx.tenantId, id, { lock: true });
    const next = writeOf(current);
    if (input.name !== undefined) {
      next.name = input.name.trim();
      if (!next.name) throw invalid('name must not be blank', { path: 'name' });
    }
    if (input.description !== undefined) next.description = input.description?.trim() || null;
    if (input.trigger_type !== undefined || input.trigger_config !== undefined) {
      const t = normalizeTrigger(input.trigger_type ?? current.trigger_type, input.trigger_config ?? (input.trigger_type ? {} : current.trigger_config));
      next.triggerType = t.type;
      next.triggerConfig = t.config;
    }
    if (input.steps !== undefined) next.steps = normalizeSteps(input.steps, { allowPrivateWebhooks: ctx.config.webhookAllowPrivateNetworks });
    if (input.reentry !== undefined) next.reentry = input.reentry;
    if (input.reentry_cooldown_minutes !== undefined) next.cooldownMinutes = input.reentry_cooldown_minutes;
    return save(tx, ctx, current, next, 'workflow.update');
  });
}

/** Appends a step and links it from `after` (default: the last step) through `branch`. */
export async function addStep(ctx: AutomationCtx, id: string, input: AddStepBody): Promise<Workflow> {
  return ctx.db.transaction(async (tx) => {
    const current = await requireWorkflow(tx, ctx.tenantId, id, { lock: true });
    const steps = asInput(current.steps);
    const stepId = input.id ?? nextStepId(current.steps);
    const branch = input.branch ?? 'next';
    const fromId = input.after ?? current.steps.at(-1)?.id;
    const added = { id: stepId, type: input.type, config: input.config, ...(input.type === 'condition' ? { yes: input.yes ?? null, no: input.no ?? null } : { next: input.next ?? null }) };
    if (fromId !== undefined) {
      const from = steps.find((s) => s.id === fromId);
      if (!from) throw invalid(`after names a missing step "${fromId}"`, { path: 'after' });
      const isCondition = from.type === 'condition';
      if (isCondition && branch === 'next') throw invalid(`step "${fromId}" is a condition: give branch yes or no`, { path: 'branch' });
      if (!isCondition && branch !== 'next') throw invalid(`step "${fromId}" is not a condition: branch must be next`, { path: 'branch' });
      if (from.type === 'exit') throw invalid(`step "${fromId}" is an exit: nothing follows it`, { path: 'after' });
      // the new step takes over where `from` used to lead, unless it says otherwise
      const old = (from as Record<string, unknown>)[branch] as string | null | undefined;
      if (added.type === 'condition') {
        if (input.yes === undefined) (added as { yes?: string | null }).yes = old ?? null;
      } else if (input.next === undefined && added.type !== 'exit') {
        (added as { next?: string | null }).next = old ?? null;
      }
      (from as Record<string, unknown>)[branch] = stepId;
    } else if (input.branch) {
      throw invalid('branch needs an existing step to attach to', { path: 'branch' });
    }
    const next = writeOf(current);
    next.steps = normalizeSteps([...steps, added], { allowPrivateWebhooks: ctx.config.webhookAllowPrivateNetworks });
    return save(tx, ctx, current, next, 'workflow.step_add');
  });
}

function nextStepId(steps: WorkflowStep[]): string {
  const used = new Set(steps.map((s) => s.id));
  let n = steps.length + 1;
  while (used.has(`step_${n}`)) n++;
  return `step_${n}`;
}

export async function toggleWorkflow(ctx: AutomationCtx, id: string, active?: boolean): Promise<Workflow> {
  return ctx.db.transaction(async (tx) => {
    const current = await requireWorkflow(tx, ctx.tenantId, id, { lock: true });
    const next = writeOf(current);
    next.active = active ?? !current.active;
    return save(tx, ctx, current, next, next.active ? 'workflow.activate' : 'workflow.deactivate');
  });
}

/** Soft delete; running enrollments end (exited, workflow_deleted). */
export async function deleteWorkflow(ctx: AutomationCtx, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const current = await requireWorkflow(tx, ctx.tenantId, id, { lock: true });
    await repo.softDeleteWorkflow(tx, ctx.tenantId, current.id);
    const exited = await repo.exitWorkflowEnrollments(tx, ctx.tenantId, current.id, 'workflow_deleted');
    await audit(tx, ctx, 'workflow.delete', current.id, auditView(current), { exited_enrollments: exited });
  });
}

/** POST /workflows/{id}/trigger: enrolls one customer in an active custom-trigger workflow. */
export async function triggerWorkflow(
  ctx: AutomationCtx,
  id: string,
  input: { customer_id: string; data?: Record<string, unknown> },
  opts: { now?: Date } = {},
): Promise<{ enrolled: boolean; enrollment_id: string | null; reason: string | null }> {
  return ctx.db.transaction(async (tx) => {
    const wf = await requireWorkflow(tx, ctx.tenantId, id);
    if (wf.trigger_type !== 'custom') {
      throw new AppError('workflow_not_triggerable', `workflow ${wf.id} starts on ${wf.trigger_type}; only custom workflows are triggered by API`, { trigger_type: wf.trigger_type });
    }
    if (!wf.active) throw new AppError('workflow_inactive', `workflow ${wf.id} is not active`, { id: wf.id });
    if (!(await repo.customerExists(tx, ctx.tenantId, input.customer_id))) {
      throw new AppError('customer_not_found', `customer ${input.customer_id} was not found`, { id: input.customer_id });
    }
    const [row] = await repo.insertEnrollments(tx, ctx.tenantId, [
      { workflowId: wf.id, customerId: input.customer_id.toLowerCase(), triggerKey: null, context: { event_type: 'api', data: input.data ?? {} } },
    ], opts.now ?? new Date());
    if (!row) return { enrolled: false, enrollment_id: null, reason: 'reentry_policy' };
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'workflow.trigger', entityType: 'workflow_enrollment', entityId: row.id,
      before: null, after: { workflow_id: wf.id, customer_id: row.customer_id }, requestId: ctx.requestId ?? null,
    });
    return { enrolled: true, enrollment_id: row.id, reason: null };
  });
}

// ---------------------------------------------------------------------------------------------
// Enrollments

async function withRuns(db: Executor, tenantId: string, rows: repo.EnrollmentRow[]): Promise<Enrollment[]> {
  const runs = await repo.stepRunsOf(db, tenantId, rows.map((r) => r.id));
  const byEnrollment = new Map<string, repo.StepRunRow[]>();
  for (const r of runs) {
    const list = byEnrollment.get(r.enrollment_id);
    if (list) list.push(r);
    else byEnrollment.set(r.enrollment_id, [r]);
  }
  return rows.map((r) => ({
    id: r.id, workflow_id: r.workflow_id, workflow_name: r.workflow_name, customer_id: r.customer_id, status: r.status,
    current_step_id: r.current_step_id, next_run_at: r.next_run_at, attempts: r.attempts, last_error: r.last_error,
    exit_reason: r.exit_reason, context: r.context, enrolled_at: r.enrolled_at, finished_at: r.finished_at,
    step_runs: (byEnrollment.get(r.id) ?? []).map((s) => ({ step_id: s.step_id, step_type: s.step_type, status: s.status, outcome: s.outcome, error: s.error, ran_at: s.ran_at })),
  }));
}

async function listEnrollmentPage(
  db: Executor,
  q: { tenantId: string; workflowId?: string; customerId?: string; status?: string; limit?: number; cursor?: string },
): Promise<Page<Enrollment>> {
  const limit = q.limit ?? 50;
  let before: { enrolledAt: string; id: string } | undefined;
  if (q.cursor) {
    const [enrolledAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { enrolledAt: enrolledAt as string, id: id as string };
  }
  const rows = await repo.listEnrollments(db, { ...q, limit: limit + 1, before });
  const page = pageOf(rows, limit, (r) => r, (r) => [r.enrolled_key, r.id]);
  return { data: await withRuns(db, q.tenantId, page.data), next_cursor: page.next_cursor };
}

export async function listWorkflowEnrollments(ctx: Pick<AutomationCtx, 'db' | 'tenantId'>, id: string, q: ListEnrollmentsQuery): Promise<Page<Enrollment>> {
  const wf = await requireWorkflow(ctx.db, ctx.tenantId, id);
  return listEnrollmentPage(ctx.db, { tenantId: ctx.tenantId, workflowId: wf.id, customerId: q.customer_id, status: q.status, limit: q.limit, cursor: q.cursor });
}

export async function listCustomerEnrollments(
  ctx: Pick<AutomationCtx, 'db' | 'tenantId'>,
  customerId: string,
  q: { limit?: number; cursor?: string; status?: string },
): Promise<Page<Enrollment>> {
  if (!isUuid(customerId) || !(await repo.customerExists(ctx.db, ctx.tenantId, customerId))) {
    throw new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
  }
  return listEnrollmentPage(ctx.db, { tenantId: ctx.tenantId, customerId, status: q.status, limit: q.limit, cursor: q.cursor });
}

// ---------------------------------------------------------------------------------------------
// Ready-made use cases

export async function listWorkflowTemplates(ctx: Pick<AutomationCtx, 'db' | 'tenantId'>) {
  const enabled = await repo.enabledTemplateKeys(ctx.db, ctx.tenantId);
  return {
    data: WORKFLOW_TEMPLATES.map((t) => {
      const built = t.build(t.params);
      return {
        key: t.key, name: t.name, description: t.description, use_case: t.useCase, trigger_type: built.triggerType, params: t.params,
        steps: built.steps.map((s) => ({ id: s.id, type: s.type })), enabled_workflow_id: enabled.get(t.key) ?? null,
      };
    }),
  };
}

function mergeParams(defaults: Record<string, ParamValue>, given: Record<string, unknown> = {}): Record<string, ParamValue> {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(given)) {
    if (!(k in defaults)) throw invalid(`unknown param "${k}"; this template takes ${Object.keys(defaults).join(', ')}`, { path: `params.${k}` });
    const want = typeof defaults[k];
    if (typeof v !== want) throw invalid(`params.${k} must be a ${want}`, { path: `params.${k}` });
    if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw invalid(`params.${k} must be a non-negative number`, { path: `params.${k}` });
    if (typeof v === 'string') {
      if (k.endsWith('_url')) {
        if (urlProblem(v, true) || /["'<>\s{}]/.test(v)) throw invalid(`params.${k} must be an http(s) URL`, { path: `params.${k}` });
      } else if (v.length > 100 || /[<>{}"]/.test(v)) {
        throw invalid(`params.${k} is not a valid value`, { path: `params.${k}` });
      }
    }
    out[k] = v as ParamValue;
  }
  return out;
}

/**
 * Creates the workflow of a use case with its e-mail templates (and the VIP segment) in one
 * transaction. Names get a short suffix: a use case can be enabled more than once.
 */
export async function enableWorkflowTemplate(
  ctx: AutomationCtx,
  key: string,
  input: EnableTemplateBody,
): Promise<{ workflow: Workflow; template_ids: string[]; segment_id: string | null }> {
  const def = templateByKey(key);
  if (!def) throw new AppError('workflow_template_not_found', `workflow template ${key} was not found`, { key, known: WORKFLOW_TEMPLATES.map((t) => t.key) });
  const params = mergeParams(def.params, input.params);
  const built = def.build(params);
  const suffix = crypto.randomBytes(3).toString('hex');
  const name = input.name?.trim() || def.name;
  return ctx.db.transaction(async (tx) => {
    let segmentId: string | null = null;
    if (built.segment) {
      const seg = await createSegment({ db: tx, tenantId: ctx.tenantId, actor: ctx.actor }, {
        name: `${built.segment.name} ${suffix}`, type: 'dynamic', rules: built.segment.rules as never, auto_update: true,
        description: `Created with the workflow "${name}"`,
      });
      segmentId = seg.id;
      built.triggerConfig.segment_id = seg.id;
    }
    const ids = new Map<string, string>();
    for (const t of built.templates) {
      const created = await createTemplate(
        { db: tx, config: ctx.config, tenantId: ctx.tenantId, audit: { actor: ctx.actor, requestId: ctx.requestId ?? null } },
        { name: `${t.name} ${suffix}`, channel: 'email', subject: t.subject, format: 'html', body: t.html },
      );
      ids.set(t.ref, created.id);
    }
    const steps = built.steps.map((s) => {
      const { template_ref: ref, ...config } = (s.config ?? {}) as Record<string, unknown>;
      return ref === undefined ? s : { ...s, config: { ...config, template_id: ids.get(String(ref))! } };
    });
    const workflow = await createWorkflow({ ...ctx, db: tx }, {
      name, description: def.description, trigger_type: built.triggerType, trigger_config: built.triggerConfig, steps,
      reentry: built.reentry, reentry_cooldown_minutes: built.cooldownMinutes, active: input.active ?? true, templateKey: def.key,
    });
    return { workflow, template_ids: [...ids.values()], segment_id: segmentId };
  });
}

/**
 * For the privacy module's erasure, in its transaction: ends the customers' running journeys and
 * clears the trigger context kept on every enrollment (orders, carts, custom event data).
 */
export async function eraseCustomerJourneys(tx: Executor, tenantId: string, customerIds: string[]): Promise<number> {
  return repo.forgetCustomers(tx, tenantId, customerIds);
}
