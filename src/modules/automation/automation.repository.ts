import { arr, sql, type Executor, type SQL } from '../../db/database.js';
import type { WorkflowStep } from './automation.steps.js';

// ---------------------------------------------------------------------------------------------
// Workflows

export interface WorkflowRow {
  tenant_id: string;
  id: string;
  name: string;
  description: string | null;
  trigger_type: string;
  trigger_config: Record<string, unknown>;
  steps: WorkflowStep[];
  active: boolean;
  reentry: 'once' | 'after_exit' | 'always';
  reentry_cooldown_minutes: number;
  template_key: string | null;
  created_at: Date;
  updated_at: Date;
  /** created_at as exact text, for cursors */
  created_key: string;
}

const WF_COLS = sql.raw(`w.tenant_id, w.id, w.name, w.description, w.trigger_type, w.trigger_config, w.steps, w.active, w.reentry,
  w.reentry_cooldown_minutes, w.template_key, w.created_at, w.updated_at,
  to_char(w.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`);

export interface WorkflowWrite {
  name: string;
  description: string | null;
  triggerType: string;
  triggerConfig: Record<string, unknown>;
  steps: WorkflowStep[];
  active: boolean;
  reentry: string;
  cooldownMinutes: number;
  templateKey?: string | null;
}

export async function insertWorkflow(db: Executor, tenantId: string, w: WorkflowWrite & { createdBy: string }): Promise<WorkflowRow> {
  return (await db.one<WorkflowRow>(sql`
    INSERT INTO workflows AS w (tenant_id, name, description, trigger_type, trigger_config, steps, active, reentry,
                                reentry_cooldown_minutes, template_key, created_by)
    VALUES (${tenantId}::uuid, ${w.name}, ${w.description}, ${w.triggerType}, ${JSON.stringify(w.triggerConfig)}::jsonb,
            ${JSON.stringify(w.steps)}::jsonb, ${w.active}, ${w.reentry}, ${w.cooldownMinutes}, ${w.templateKey ?? null}, ${w.createdBy})
    RETURNING ${WF_COLS}`))!;
}

export async function findWorkflow(db: Executor, tenantId: string, id: string, opts: { lock?: boolean } = {}): Promise<WorkflowRow | undefined> {
  return db.one<WorkflowRow>(sql`
    SELECT ${WF_COLS} FROM workflows w
    WHERE w.tenant_id = ${tenantId}::uuid AND w.id = ${id}::uuid AND w.deleted_at IS NULL
    ${opts.lock ? sql`FOR UPDATE` : sql``}`);
}

export async function listWorkflows(
  db: Executor,
  q: { tenantId: string; limit: number; after?: { createdAt: string; id: string }; active?: boolean; triggerType?: string },
): Promise<WorkflowRow[]> {
  return db.rows<WorkflowRow>(sql`
    SELECT ${WF_COLS} FROM workflows w
    WHERE w.tenant_id = ${q.tenantId}::uuid AND w.deleted_at IS NULL
      ${q.active === undefined ? sql`` : sql`AND w.active = ${q.active}`}
      ${q.triggerType ? sql`AND w.trigger_type = ${q.triggerType}` : sql``}
      ${q.after ? sql`AND (w.created_at, w.id) > (${q.after.createdAt}::timestamptz, ${q.after.id}::uuid)` : sql``}
    ORDER BY w.created_at, w.id
    LIMIT ${q.limit}`);
}

export async function updateWorkflow(db: Executor, tenantId: string, id: string, w: WorkflowWrite): Promise<WorkflowRow> {
  return (await db.one<WorkflowRow>(sql`
    UPDATE workflows w
    SET name = ${w.name}, description = ${w.description}, trigger_type = ${w.triggerType},
        trigger_config = ${JSON.stringify(w.triggerConfig)}::jsonb, steps = ${JSON.stringify(w.steps)}::jsonb,
        active = ${w.active}, reentry = ${w.reentry}, reentry_cooldown_minutes = ${w.cooldownMinutes}, updated_at = now()
    WHERE w.tenant_id = ${tenantId}::uuid AND w.id = ${id}::uuid
    RETURNING ${WF_COLS}`))!;
}

export async function softDeleteWorkflow(db: Executor, tenantId: string, id: string): Promise<void> {
  await db.run(sql`
    UPDATE workflows SET deleted_at = now(), active = false, updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

/**
 * The re-entry policy lives in each enrollment's reentry_key; when the policy changes, finished
 * enrollments take the new one (a running enrollment keeps blocking a second concurrent run).
 */
export async function rekeyFinishedEnrollments(db: Executor, tenantId: string, workflowId: string, reentry: string): Promise<void> {
  await db.run(sql`
    UPDATE workflow_enrollments
    SET reentry_key = ${reentry === 'once' ? 'once' : null}
    WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId}::uuid AND status <> 'active'`);
}

export type StatsRow = { workflow_id: string; active: number; completed: number; exited: number; failed: number };

export async function enrollmentStats(db: Executor, tenantId: string, workflowIds: string[]): Promise<Map<string, StatsRow>> {
  if (workflowIds.length === 0) return new Map();
  const rows = await db.rows<StatsRow>(sql`
    SELECT workflow_id,
           count(*) FILTER (WHERE status = 'active')::int AS active,
           count(*) FILTER (WHERE status = 'completed')::int AS completed,
           count(*) FILTER (WHERE status = 'exited')::int AS exited,
           count(*) FILTER (WHERE status = 'failed')::int AS failed
    FROM workflow_enrollments
    WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ANY(${arr(workflowIds)}::uuid[])
    GROUP BY workflow_id`);
  return new Map(rows.map((r) => [r.workflow_id, r]));
}

export type StepCountRow = { step_id: string; active: number; failed: number; passed: number };

/**
 * Per step of one workflow: enrollments waiting there now (active), stopped there (failed), and
 * that have run it (passed: a non-failed step run). Counted in the database, over all enrollments.
 */
export async function stepCounts(db: Executor, tenantId: string, workflowId: string): Promise<StepCountRow[]> {
  return db.rows<StepCountRow>(sql`
    WITH here AS (
      SELECT current_step_id AS step_id,
             count(*) FILTER (WHERE status = 'active')::int AS active,
             count(*) FILTER (WHERE status = 'failed')::int AS failed
      FROM workflow_enrollments
      WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId}::uuid AND current_step_id IS NOT NULL
        AND status IN ('active', 'failed')
      GROUP BY current_step_id
    ), ran AS (
      -- a step succeeds or is skipped at most once per enrollment (workflow_step_runs_once)
      SELECT step_id, count(*)::int AS passed
      FROM workflow_step_runs
      WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId}::uuid AND status <> 'failed'
      GROUP BY step_id
    )
    SELECT coalesce(here.step_id, ran.step_id) AS step_id, coalesce(here.active, 0) AS active,
           coalesce(here.failed, 0) AS failed, coalesce(ran.passed, 0) AS passed
    FROM here FULL JOIN ran ON ran.step_id = here.step_id
    ORDER BY 1`);
}

/** Active workflows of a tenant listening to these triggers (ingestion and segment hooks). */
export async function activeWorkflowsByTrigger(db: Executor, tenantId: string, types: readonly string[]): Promise<WorkflowRow[]> {
  return db.rows<WorkflowRow>(sql`
    SELECT ${WF_COLS} FROM workflows w
    WHERE w.tenant_id = ${tenantId}::uuid AND w.active AND w.deleted_at IS NULL AND w.trigger_type = ANY(${arr(types)}::text[])`);
}

/** Active workflows of every tenant (or one) with a time-based trigger, with the tenant's time zone. */
export async function activeScanWorkflows(db: Executor, types: readonly string[], tenantId?: string): Promise<(WorkflowRow & { timezone: string })[]> {
  return db.rows<WorkflowRow & { timezone: string }>(sql`
    SELECT ${WF_COLS}, t.timezone FROM workflows w JOIN tenants t ON t.id = w.tenant_id
    WHERE w.active AND w.deleted_at IS NULL AND w.trigger_type = ANY(${arr(types)}::text[])
      ${tenantId ? sql`AND w.tenant_id = ${tenantId}::uuid` : sql``}`);
}

/** template_key → the newest live workflow created from it. */
export async function enabledTemplateKeys(db: Executor, tenantId: string): Promise<Map<string, string>> {
  const rows = await db.rows<{ template_key: string; id: string }>(sql`
    SELECT DISTINCT ON (template_key) template_key, id FROM workflows
    WHERE tenant_id = ${tenantId}::uuid AND template_key IS NOT NULL AND deleted_at IS NULL
    ORDER BY template_key, created_at DESC`);
  return new Map(rows.map((r) => [r.template_key, r.id]));
}

export async function existingTemplateIds(db: Executor, tenantId: string, ids: string[]): Promise<{ id: string; channel: string }[]> {
  if (ids.length === 0) return [];
  return db.rows<{ id: string; channel: string }>(sql`
    SELECT id, channel FROM templates WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(ids)}::uuid[]) AND deleted_at IS NULL`);
}

/** Live workflows whose steps send this template (a template in use should not be deleted). */
export async function workflowsUsingTemplate(db: Executor, tenantId: string, templateId: string): Promise<{ id: string; name: string }[]> {
  return db.rows<{ id: string; name: string }>(sql`
    SELECT w.id, w.name FROM workflows w
    WHERE w.tenant_id = ${tenantId}::uuid AND w.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.steps) s WHERE s -> 'config' ->> 'template_id' = ${templateId.toLowerCase()})`);
}

export async function segmentTypes(db: Executor, tenantId: string, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db.rows<{ id: string; type: string }>(sql`
    SELECT id, type FROM segments WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(ids)}::uuid[]) AND deleted_at IS NULL`);
  return new Map(rows.map((r) => [r.id, r.type]));
}

export async function customerExists(db: Executor, tenantId: string, id: string): Promise<boolean> {
  const row = await db.one(sql`
    SELECT 1 FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${id}::uuid
      AND c.deleted_at IS NULL AND c.merged_into IS NULL`);
  return !!row;
}

// ---------------------------------------------------------------------------------------------
// Enrollment

export interface EnrollCandidate {
  workflowId: string;
  customerId: string;
  /** the occurrence ("order:o1", "birthday:2026"): the same occurrence never enrolls twice */
  triggerKey: string | null;
  context: Record<string, unknown>;
}

export interface EnrolledRow {
  id: string;
  workflow_id: string;
  customer_id: string;
}

/**
 * Enrolls a whole batch in one INSERT … SELECT: live customers, active workflows, the re-entry
 * policy as unique keys (once: forever; after_exit: while a run is active) plus the cooldown of
 * `always`; conflicts (already enrolled, same occurrence) are skipped, not errors.
 */
export async function insertEnrollments(db: Executor, tenantId: string, candidates: readonly EnrollCandidate[], now: Date): Promise<EnrolledRow[]> {
  const out: EnrolledRow[] = [];
  // a full segment refresh or a first scan can carry a whole customer base: bounded statements
  for (let i = 0; i < candidates.length; i += ENROLL_CHUNK) {
    out.push(...(await insertEnrollmentChunk(db, tenantId, candidates.slice(i, i + ENROLL_CHUNK), now)));
  }
  return out;
}

const ENROLL_CHUNK = 5_000;

async function insertEnrollmentChunk(db: Executor, tenantId: string, candidates: readonly EnrollCandidate[], now: Date): Promise<EnrolledRow[]> {
  const payload = JSON.stringify(candidates.map((c) => ({ w: c.workflowId, c: c.customerId, k: c.triggerKey, x: c.context })));
  return db.rows<EnrolledRow>(sql`
    WITH ins AS (
      INSERT INTO workflow_enrollments (tenant_id, workflow_id, customer_id, status, current_step_id, next_run_at, context,
                                        trigger_key, reentry_key, enrolled_at, updated_at)
      SELECT w.tenant_id, w.id, cu.id, 'active', w.steps -> 0 ->> 'id', ${now.toISOString()}::timestamptz, coalesce(e.x, '{}'::jsonb),
             e.k, CASE w.reentry WHEN 'once' THEN 'once' WHEN 'after_exit' THEN 'active' END,
             ${now.toISOString()}::timestamptz, now()
      FROM jsonb_to_recordset(${payload}::jsonb) AS e(w uuid, c uuid, k text, x jsonb)
      JOIN workflows w ON w.tenant_id = ${tenantId}::uuid AND w.id = e.w AND w.active AND w.deleted_at IS NULL
      JOIN customers cu ON cu.tenant_id = w.tenant_id AND cu.id = e.c AND cu.deleted_at IS NULL AND cu.merged_into IS NULL
      WHERE w.reentry <> 'always' OR NOT EXISTS (
        SELECT 1 FROM workflow_enrollments x
        WHERE x.tenant_id = w.tenant_id AND x.workflow_id = w.id AND x.customer_id = cu.id
          AND x.enrolled_at > ${now.toISOString()}::timestamptz - make_interval(mins => w.reentry_cooldown_minutes))
      ON CONFLICT DO NOTHING
      RETURNING tenant_id, id, workflow_id, customer_id, enrolled_at
    ),
    -- the journey shows on the customer's timeline
    timeline AS (
      INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, source_id, actor)
      SELECT ins.tenant_id, ins.customer_id, 'workflow.enrolled', ins.enrolled_at, 'Entered workflow ' || w.name,
             jsonb_build_object('workflow_id', w.id, 'workflow_name', w.name, 'enrollment_id', ins.id), ins.id::text, 'system'
      FROM ins JOIN workflows w ON w.tenant_id = ins.tenant_id AND w.id = ins.workflow_id
    )
    SELECT id, workflow_id, customer_id FROM ins`);
}

/** Ends the active runs of these customers in workflows with these triggers (a cart bought ends its reminders). */
export async function exitEnrollments(
  db: Executor,
  q: { tenantId: string; customerIds: string[]; triggerTypes: string[]; reason: string; now: Date },
): Promise<number> {
  if (q.customerIds.length === 0) return 0;
  return db.run(sql`
    UPDATE workflow_enrollments e
    SET status = 'exited', exit_reason = ${q.reason}, finished_at = ${q.now.toISOString()}::timestamptz,
        next_run_at = NULL, lease_until = NULL, current_step_id = NULL, updated_at = now(),
        reentry_key = CASE WHEN e.reentry_key = 'active' THEN NULL ELSE e.reentry_key END
    FROM workflows w
    WHERE e.tenant_id = ${q.tenantId}::uuid AND e.status = 'active' AND e.customer_id = ANY(${arr(q.customerIds)}::uuid[])
      AND w.tenant_id = e.tenant_id AND w.id = e.workflow_id AND w.trigger_type = ANY(${arr(q.triggerTypes)}::text[])`);
}

export async function exitWorkflowEnrollments(db: Executor, tenantId: string, workflowId: string, reason: string): Promise<number> {
  return db.run(sql`
    UPDATE workflow_enrollments
    SET status = 'exited', exit_reason = ${reason}, finished_at = now(), next_run_at = NULL, lease_until = NULL,
        current_step_id = NULL, updated_at = now(), reentry_key = CASE WHEN reentry_key = 'active' THEN NULL ELSE reentry_key END
    WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId}::uuid AND status = 'active'`);
}

export interface EnrollmentRow {
  tenant_id: string;
  id: string;
  workflow_id: string;
  workflow_name: string;
  customer_id: string;
  status: string;
  current_step_id: string | null;
  next_run_at: Date | null;
  attempts: number;
  last_error: string | null;
  exit_reason: string | null;
  context: Record<string, unknown>;
  enrolled_at: Date;
  finished_at: Date | null;
  enrolled_key: string;
}

const EN_COLS = sql.raw(`e.tenant_id, e.id, e.workflow_id, w.name AS workflow_name, e.customer_id, e.status, e.current_step_id,
  e.next_run_at, e.attempts, e.last_error, e.exit_reason, e.context, e.enrolled_at, e.finished_at,
  to_char(e.enrolled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS enrolled_key`);

/** Newest first. */
export async function listEnrollments(
  db: Executor,
  q: { tenantId: string; workflowId?: string; customerId?: string; status?: string; limit: number; before?: { enrolledAt: string; id: string } },
): Promise<EnrollmentRow[]> {
  return db.rows<EnrollmentRow>(sql`
    SELECT ${EN_COLS}
    FROM workflow_enrollments e JOIN workflows w ON w.tenant_id = e.tenant_id AND w.id = e.workflow_id
    WHERE e.tenant_id = ${q.tenantId}::uuid
      ${q.workflowId ? sql`AND e.workflow_id = ${q.workflowId}::uuid` : sql``}
      ${q.customerId ? sql`AND e.customer_id = ${q.customerId}::uuid` : sql``}
      ${q.status ? sql`AND e.status = ${q.status}` : sql``}
      ${q.before ? sql`AND (e.enrolled_at, e.id) < (${q.before.enrolledAt}::timestamptz, ${q.before.id}::uuid)` : sql``}
    ORDER BY e.enrolled_at DESC, e.id DESC
    LIMIT ${q.limit}`);
}

export interface StepRunRow {
  enrollment_id: string;
  step_id: string;
  step_type: string;
  status: string;
  outcome: Record<string, unknown>;
  error: string | null;
  ran_at: Date;
}

export async function stepRunsOf(db: Executor, tenantId: string, enrollmentIds: string[]): Promise<StepRunRow[]> {
  if (enrollmentIds.length === 0) return [];
  return db.rows<StepRunRow>(sql`
    SELECT enrollment_id, step_id, step_type, status, outcome, error, ran_at FROM workflow_step_runs
    WHERE tenant_id = ${tenantId}::uuid AND enrollment_id = ANY(${arr(enrollmentIds)}::uuid[])
    ORDER BY id`);
}

// ---------------------------------------------------------------------------------------------
// Engine

export interface DueRow {
  tenant_id: string;
  id: string;
  workflow_id: string;
  customer_id: string;
}

/**
 * Claims a batch of due enrollments for `leaseSeconds`: FOR UPDATE SKIP LOCKED, so workers running
 * at once take different rows, and a lease, so a claim outlives the claiming statement but not a
 * crashed worker.
 */
export async function claimDue(db: Executor, q: { now: Date; limit: number; leaseSeconds: number; tenantId?: string }): Promise<DueRow[]> {
  const now = sql`${q.now.toISOString()}::timestamptz`;
  return db.rows<DueRow>(sql`
    UPDATE workflow_enrollments e
    SET lease_until = ${now} + make_interval(secs => ${q.leaseSeconds})
    FROM (
      SELECT x.tenant_id, x.id FROM workflow_enrollments x
      WHERE x.status = 'active' AND x.next_run_at <= ${now} AND (x.lease_until IS NULL OR x.lease_until <= ${now})
        ${q.tenantId ? sql`AND x.tenant_id = ${q.tenantId}::uuid` : sql``}
        -- a paused (inactive) workflow's runs wait where they are until it is switched on again
        AND EXISTS (SELECT 1 FROM workflows w WHERE w.tenant_id = x.tenant_id AND w.id = x.workflow_id AND w.active)
      ORDER BY x.next_run_at
      LIMIT ${q.limit}
      FOR UPDATE OF x SKIP LOCKED
    ) d
    WHERE e.tenant_id = d.tenant_id AND e.id = d.id
    RETURNING e.tenant_id, e.id, e.workflow_id, e.customer_id`);
}

export interface RunState {
  tenant_id: string;
  id: string;
  workflow_id: string;
  customer_id: string;
  status: string;
  current_step_id: string | null;
  attempts: number;
  context: Record<string, unknown>;
  enrolled_at: Date;
  reentry_key: string | null;
  wf_active: boolean;
  wf_deleted: boolean;
  steps: WorkflowStep[];
  // the customer, for messages and waits
  live: boolean;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  timezone: string;
}

/** The enrollment with its workflow and customer; `lock` takes the row for this step. */
export async function lockRun(tx: Executor, tenantId: string, id: string, opts: { lock?: boolean } = { lock: true }): Promise<RunState | undefined> {
  return tx.one<RunState>(sql`
    SELECT e.tenant_id, e.id, e.workflow_id, e.customer_id, e.status, e.current_step_id, e.attempts, e.context,
           e.enrolled_at, e.reentry_key, w.active AS wf_active, (w.deleted_at IS NOT NULL) AS wf_deleted, w.steps,
           (c.deleted_at IS NULL AND c.merged_into IS NULL) AS live, c.email, c.phone, c.first_name,
           coalesce(nullif(c.preferences ->> 'timezone', ''), t.timezone) AS timezone
    FROM workflow_enrollments e
    JOIN workflows w ON w.tenant_id = e.tenant_id AND w.id = e.workflow_id
    JOIN customers c ON c.tenant_id = e.tenant_id AND c.id = e.customer_id
    JOIN tenants t ON t.id = e.tenant_id
    WHERE e.tenant_id = ${tenantId}::uuid AND e.id = ${id}::uuid
    ${opts.lock ? sql`FOR UPDATE OF e` : sql``}`);
}

export interface StepRunInput {
  tenantId: string;
  enrollmentId: string;
  workflowId: string;
  customerId: string;
  stepId: string;
  stepType: string;
  status: 'succeeded' | 'skipped' | 'failed';
  outcome: Record<string, unknown>;
  error?: string | null;
  at: Date;
}

const insertRunSql = (r: StepRunInput) => sql`
  INSERT INTO workflow_step_runs (tenant_id, enrollment_id, workflow_id, customer_id, step_id, step_type, status, outcome, error, ran_at)
  VALUES (${r.tenantId}::uuid, ${r.enrollmentId}::uuid, ${r.workflowId}::uuid, ${r.customerId}::uuid, ${r.stepId}, ${r.stepType},
          ${r.status}, ${JSON.stringify(r.outcome)}::jsonb, ${r.error ?? null}, ${r.at.toISOString()}::timestamptz)
  ON CONFLICT DO NOTHING`;

/** Records a step's run; false when the step already succeeded for this enrollment (a repeated run). */
export async function insertStepRun(tx: Executor, r: StepRunInput): Promise<boolean> {
  const row = await tx.one(sql`${insertRunSql(r)} RETURNING id`);
  return !!row;
}

export async function succeededOutcome(tx: Executor, tenantId: string, enrollmentId: string, stepId: string): Promise<Record<string, unknown> | undefined> {
  const row = await tx.one<{ outcome: Record<string, unknown> }>(sql`
    SELECT outcome FROM workflow_step_runs
    WHERE tenant_id = ${tenantId}::uuid AND enrollment_id = ${enrollmentId}::uuid AND step_id = ${stepId} AND status <> 'failed'`);
  return row?.outcome;
}

export interface AdvanceInput {
  tenantId: string;
  id: string;
  stepId: string | null;
  runAt: Date | null;
  status?: 'completed' | 'exited' | 'failed';
  reason?: string | null;
  error?: string | null;
  now: Date;
  context?: Record<string, unknown>;
}

function advanceSql(q: AdvanceInput) {
  const finished = q.stepId === null;
  return sql`
    UPDATE workflow_enrollments
    SET current_step_id = ${q.stepId}, next_run_at = ${q.runAt ? q.runAt.toISOString() : null}::timestamptz, lease_until = NULL,
        attempts = 0, last_error = ${q.error ?? null}, updated_at = now(),
        ${q.context ? sql`context = ${JSON.stringify(q.context)}::jsonb,` : sql``}
        status = ${finished ? (q.status ?? 'completed') : 'active'},
        exit_reason = ${finished ? (q.reason ?? null) : null},
        finished_at = ${finished ? q.now.toISOString() : null}::timestamptz,
        reentry_key = CASE WHEN ${finished} AND reentry_key = 'active' THEN NULL ELSE reentry_key END
    WHERE tenant_id = ${q.tenantId}::uuid AND id = ${q.id}::uuid`;
}

/** Moves the enrollment on: to `stepId` at `runAt`, or finished with `status` when stepId is null. */
export async function advance(tx: Executor, q: AdvanceInput): Promise<void> {
  await tx.run(advanceSql(q));
}

/** A step's log row and the move it causes, in one statement (one round trip per step). */
export async function recordStep(tx: Executor, run: StepRunInput, move: AdvanceInput): Promise<void> {
  await tx.run(sql`WITH run AS (${insertRunSql(run)}) ${advanceSql(move)}`);
}

/** A failed attempt: try the same step again at `retryAt`. */
export async function recordFailure(tx: Executor, q: { tenantId: string; id: string; error: string; retryAt: Date }): Promise<void> {
  await tx.run(sql`
    UPDATE workflow_enrollments
    SET attempts = attempts + 1, last_error = ${q.error}, next_run_at = ${q.retryAt.toISOString()}::timestamptz,
        lease_until = NULL, updated_at = now()
    WHERE tenant_id = ${q.tenantId}::uuid AND id = ${q.id}::uuid`);
}

/** Does one customer match a compiled segment predicate (the condition step)? */
export async function customerMatches(tx: Executor, tenantId: string, customerId: string, predicate: SQL): Promise<boolean> {
  const row = await tx.one<{ ok: boolean }>(sql`
    SELECT EXISTS (SELECT 1 FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid AND (${predicate})) AS ok`);
  return row?.ok ?? false;
}

export async function changeTag(tx: Executor, tenantId: string, customerId: string, tag: string, add: boolean): Promise<boolean> {
  const n = await tx.run(sql`
    UPDATE customers
    SET tags = ${add ? sql`array_append(tags, ${tag})` : sql`array_remove(tags, ${tag})`}, updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid
      AND ${add ? sql`NOT (${tag} = ANY(tags))` : sql`${tag} = ANY(tags)`}`);
  return n > 0;
}

export async function setField(tx: Executor, tenantId: string, customerId: string, field: string, value: unknown): Promise<unknown> {
  if (field.startsWith('custom.')) {
    const key = field.slice('custom.'.length);
    const row = await tx.one<{ before: unknown }>(sql`
      UPDATE customers c SET custom_fields = c.custom_fields || jsonb_build_object(${key}::text, ${JSON.stringify(value)}::jsonb), updated_at = now()
      FROM (SELECT custom_fields -> ${key}::text AS before FROM customers WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid) old
      WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid
      RETURNING old.before`);
    return row?.before ?? null;
  }
  // field is one of UPDATABLE_FIELDS (checked when the workflow was stored)
  const col = sql.raw(`"${field}"`);
  const row = await tx.one<{ before: unknown }>(sql`
    UPDATE customers c SET ${col} = ${value as string | null}, updated_at = now()
    FROM (SELECT ${col} AS before FROM customers WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid) old
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid
    RETURNING old.before`);
  return row?.before ?? null;
}

export interface IncentiveRow {
  code: string;
  percent_off: number | null;
  amount_off: number | null;
  expires_at: Date;
}

/** The step's incentive code, created on the first run and the same on every repeat. */
export async function ensureIncentive(
  tx: Executor,
  q: { tenantId: string; enrollmentId: string; stepId: string; workflowId: string; customerId: string; code: string; percentOff: number | null; amountOff: number | null; expiresAt: Date },
): Promise<IncentiveRow> {
  await tx.run(sql`
    INSERT INTO workflow_incentives (tenant_id, code, enrollment_id, step_id, workflow_id, customer_id, percent_off, amount_off, expires_at)
    VALUES (${q.tenantId}::uuid, ${q.code}, ${q.enrollmentId}::uuid, ${q.stepId}, ${q.workflowId}::uuid, ${q.customerId}::uuid,
            ${q.percentOff}, ${q.amountOff}, ${q.expiresAt.toISOString()}::timestamptz)
    ON CONFLICT (tenant_id, enrollment_id, step_id) DO NOTHING`);
  return (await tx.one<IncentiveRow>(sql`
    SELECT code, percent_off, amount_off, expires_at FROM workflow_incentives
    WHERE tenant_id = ${q.tenantId}::uuid AND enrollment_id = ${q.enrollmentId}::uuid AND step_id = ${q.stepId}`))!;
}

export async function incentivesOf(db: Executor, tenantId: string, customerId: string): Promise<(IncentiveRow & { workflow_id: string })[]> {
  return db.rows(sql`
    SELECT code, percent_off, amount_off, expires_at, workflow_id FROM workflow_incentives
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid ORDER BY created_at`);
}

// ---------------------------------------------------------------------------------------------
// Time-based trigger scans: each answers (customer, occurrence key, context) for one workflow

export interface ScanHit {
  customer_id: string;
  trigger_key: string;
  context: Record<string, unknown>;
}

const LIVE = sql.raw('c.deleted_at IS NULL AND c.merged_into IS NULL');

/** Customers whose birthday is `daysBefore` days after today (the tenant's date); 29 Feb falls on 28 Feb in other years. */
export function scanBirthdays(q: { tenantId: string; timezone: string; now: Date; daysBefore: number }): SQL {
  return sql`
    WITH d AS (SELECT ((${q.now.toISOString()}::timestamptz AT TIME ZONE ${q.timezone})::date + ${q.daysBefore}::int) AS day)
    SELECT c.id AS customer_id, 'birthday:' || extract(year FROM d.day)::int AS trigger_key,
           jsonb_build_object('birthday', to_char(d.day, 'YYYY-MM-DD')) AS context
    FROM customers c, d
    WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE} AND c.date_of_birth IS NOT NULL
      AND extract(month FROM c.date_of_birth) = extract(month FROM d.day)
      AND (extract(day FROM c.date_of_birth) = extract(day FROM d.day)
           OR (extract(month FROM d.day) = 2 AND extract(day FROM d.day) = 28 AND extract(day FROM c.date_of_birth) = 29
               AND extract(day FROM (date_trunc('year', d.day) + interval '1 month 28 days')) <> 29))`;
}

/** Whole-year anniversaries (≥ 1 year) of the first purchase or of the sign-up. */
export function scanAnniversaries(q: { tenantId: string; timezone: string; now: Date; daysBefore: number; of: 'first_purchase' | 'signup' }): SQL {
  const col = q.of === 'signup' ? sql.raw('c.created_at') : sql.raw('c.first_purchase');
  return sql`
    WITH d AS (SELECT ((${q.now.toISOString()}::timestamptz AT TIME ZONE ${q.timezone})::date + ${q.daysBefore}::int) AS day),
    x AS (
      SELECT c.id, (${col} AT TIME ZONE ${q.timezone})::date AS since, d.day FROM customers c, d
      WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE} AND ${col} IS NOT NULL)
    SELECT x.id AS customer_id, 'anniversary:' || extract(year FROM x.day)::int AS trigger_key,
           jsonb_build_object('years', extract(year FROM age(x.day, x.since))::int, 'since', to_char(x.since, 'YYYY-MM-DD')) AS context
    FROM x
    WHERE extract(year FROM age(x.day, x.since)) >= 1
      AND (x.since + make_interval(years => extract(year FROM age(x.day, x.since))::int))::date = x.day`;
}

/** No purchase for `days` days; one occurrence per last purchase (a new purchase re-arms it). */
export function scanInactive(q: { tenantId: string; now: Date; days: number }): SQL {
  return sql`
    SELECT c.id AS customer_id,
           'inactivity:' || to_char(c.last_purchase AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS trigger_key,
           jsonb_build_object('last_purchase', c.last_purchase, 'days_inactive',
             floor(extract(epoch FROM ${q.now.toISOString()}::timestamptz - c.last_purchase) / 86400)::int) AS context
    FROM customers c
    WHERE c.tenant_id = ${q.tenantId}::uuid AND ${LIVE}
      AND c.last_purchase <= ${q.now.toISOString()}::timestamptz - make_interval(days => ${q.days}::int)`;
}

/**
 * Carts idle for `idleMinutes` with no order placed since their last change: still open, or already
 * marked abandoned by carts.mark_abandoned (CART_ABANDON_MINUTES may be shorter than the workflow's wait).
 */
export function scanAbandonedCarts(q: { tenantId: string; now: Date; idleMinutes: number }): SQL {
  return sql`
    SELECT k.customer_id, 'cart:' || k.id || ':' || floor(extract(epoch FROM k.updated_at))::bigint AS trigger_key,
           jsonb_build_object('cart_id', k.id, 'items', k.items, 'total', k.total, 'currency', k.currency, 'updated_at', k.updated_at) AS context
    FROM carts k JOIN customers c ON c.tenant_id = k.tenant_id AND c.id = k.customer_id AND ${LIVE}
    WHERE k.tenant_id = ${q.tenantId}::uuid AND k.status IN ('open', 'abandoned')
      AND k.updated_at <= ${q.now.toISOString()}::timestamptz - make_interval(mins => ${q.idleMinutes}::int)
      -- carts left for more than a week past the wait are history, not a reminder to send
      AND k.updated_at > ${q.now.toISOString()}::timestamptz - make_interval(mins => ${q.idleMinutes}::int) - interval '7 days'
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.tenant_id = k.tenant_id AND o.customer_id = k.customer_id
                        AND o.placed_at >= k.updated_at AND o.status IN ('pending', 'completed'))`;
}

/** Ticket holders of shows starting `daysOffset` days from today (negative: before the show). */
export function scanEventDay(q: { tenantId: string; timezone: string; now: Date; daysOffset: number }): SQL {
  return sql`
    SELECT DISTINCT ON (o.customer_id, ev.id) o.customer_id, 'event_day:' || ev.id AS trigger_key,
           jsonb_build_object('event_id', ev.id, 'event_name', ev.name, 'starts_at', ev.starts_at, 'venue', ev.venue, 'city', ev.city,
                              'genres', to_jsonb(ev.genres)) AS context
    FROM catalog_events ev
    JOIN order_items oi ON oi.tenant_id = ev.tenant_id AND oi.event_id = ev.id
    JOIN orders o ON o.tenant_id = oi.tenant_id AND o.id = oi.order_id AND o.status = 'completed'
    WHERE ev.tenant_id = ${q.tenantId}::uuid AND ev.status <> 'cancelled' AND ev.starts_at IS NOT NULL
      AND (ev.starts_at AT TIME ZONE ${q.timezone})::date
          = (${q.now.toISOString()}::timestamptz AT TIME ZONE ${q.timezone})::date - ${q.daysOffset}::int`;
}

/**
 * Runs a scan for one workflow, leaving out occurrences already enrolled (an anti-join on the
 * occurrence key), so a scan repeated every few minutes only carries new hits.
 */
export async function scanHits(db: Executor, tenantId: string, workflowId: string, scan: SQL): Promise<ScanHit[]> {
  return db.rows<ScanHit>(sql`
    SELECT h.customer_id, h.trigger_key, h.context FROM (${scan}) h
    WHERE NOT EXISTS (
      SELECT 1 FROM workflow_enrollments x
      WHERE x.tenant_id = ${tenantId}::uuid AND x.workflow_id = ${workflowId}::uuid
        AND x.customer_id = h.customer_id AND x.trigger_key = h.trigger_key)`);
}

export async function analyzeEnrollments(db: Executor): Promise<void> {
  await db.run(sql`ANALYZE workflow_enrollments`);
}

/** Genres and names of shows (context of post_event enrollments). */
export async function catalogInfo(db: Executor, tenantId: string, ids: string[]): Promise<Map<string, { name: string; genres: string[] }>> {
  if (ids.length === 0) return new Map();
  const rows = await db.rows<{ id: string; name: string; genres: string[] }>(sql`
    SELECT id, name, genres FROM catalog_events WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr(ids)}::text[])`);
  return new Map(rows.map((r) => [r.id, r]));
}

/** Customers among these with at most one order (first_only purchase triggers). */
export async function firstTimeBuyers(db: Executor, tenantId: string, customerIds: string[]): Promise<Set<string>> {
  if (customerIds.length === 0) return new Set();
  const rows = await db.rows<{ id: string }>(sql`
    SELECT c.id FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(customerIds)}::uuid[]) AND c.total_orders <= 1`);
  return new Set(rows.map((r) => r.id));
}

/** Erasure: the customer's runs end and lose their context (trigger data may carry personal data). */
export async function forgetCustomers(tx: Executor, tenantId: string, customerIds: string[]): Promise<number> {
  if (customerIds.length === 0) return 0;
  return tx.run(sql`
    UPDATE workflow_enrollments
    SET context = '{}'::jsonb, last_error = NULL, updated_at = now(),
        status = CASE WHEN status = 'active' THEN 'exited' ELSE status END,
        exit_reason = CASE WHEN status = 'active' THEN 'customer_erased' ELSE exit_reason END,
        finished_at = coalesce(finished_at, now()), next_run_at = NULL, lease_until = NULL,
        reentry_key = CASE WHEN reentry_key = 'active' THEN NULL ELSE reentry_key END
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(customerIds)}::uuid[])`);
}
