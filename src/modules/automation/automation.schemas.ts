import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, PageQuery, Page, Uuid } from '../../lib/schemas.js';

export const TRIGGER_TYPES = [
  'purchase', 'signup', 'event_day', 'post_event', 'birthday', 'anniversary', 'inactivity',
  'cart_abandoned', 'segment_entered', 'segment_exited', 'custom',
] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export const STEP_TYPES = [
  'send_email', 'send_sms', 'wait', 'condition', 'add_tag', 'remove_tag', 'update_field', 'add_to_segment', 'webhook', 'exit',
] as const;
export type StepType = (typeof STEP_TYPES)[number];

export const REENTRY_POLICIES = ['once', 'after_exit', 'always'] as const;
export type ReentryPolicy = (typeof REENTRY_POLICIES)[number];

export const ENROLLMENT_STATUSES = ['active', 'completed', 'exited', 'failed'] as const;
export type EnrollmentStatus = (typeof ENROLLMENT_STATUSES)[number];

const StepId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'unique within the workflow' });
const Json = Type.Record(Type.String(), Type.Unknown());

// Trigger and step types are plain strings here so that an unknown one answers a clear
// invalid_workflow error naming it (the service checks them), not a union-mismatch dump.
export const Step = Type.Object(
  {
    id: StepId,
    type: Type.String({ description: STEP_TYPES.join(', ') }),
    config: Type.Optional(Json),
    next: Type.Optional(Nullable(StepId)),
    yes: Type.Optional(Nullable(StepId)),
    no: Type.Optional(Nullable(StepId)),
  },
  {
    additionalProperties: false,
    description:
      'One step. `next` defaults to the step that follows in the list (null ends the journey); a condition goes to `yes` or `no` ' +
      '(null or absent ends it). Configs: send_email {template_id | subject + html/text/mjml, incentive?: {percent_off|amount_off, valid_for, prefix?}}, ' +
      'send_sms {template_id | text}, wait {duration?: "30m"|"12h"|"3d"|"2w", until_time?: "HH:MM" in the customer\'s time zone}, ' +
      'condition {rules: segment rule}, add_tag/remove_tag {tag}, update_field {field, value}, add_to_segment {segment_id of a static segment}, ' +
      'webhook {url, payload?}, exit {}.',
  },
);
export type StepInput = Static<typeof Step>;

const triggerDoc =
  'purchase {min_total?, first_only?}, signup {}, event_day {days_offset: -N before / +N after the show}, post_event {}, ' +
  'birthday {days_before?}, anniversary {of?: "first_purchase"|"signup", days_before?}, inactivity {days}, ' +
  'cart_abandoned {idle_minutes}, segment_entered/segment_exited {segment_id}, custom {event?: "custom.<name>"}';

const WorkflowFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  trigger_type: Type.String({ description: TRIGGER_TYPES.join(', ') }),
  trigger_config: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: triggerDoc })),
  steps: Type.Optional(Type.Array(Step, { maxItems: 100 })),
  reentry: Type.Optional(Type.Union(REENTRY_POLICIES.map((p) => Type.Literal(p)), {
    description: 'once: a customer goes through at most once; after_exit: again after the previous run ended; always: every trigger, spaced by the cooldown',
  })),
  reentry_cooldown_minutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 5_256_000 })),
};

export const CreateWorkflowBody = Type.Object(
  { ...WorkflowFields, active: Type.Optional(Type.Boolean({ description: 'default false; a workflow needs steps to be active' })) },
  { additionalProperties: false },
);
export type CreateWorkflowBody = Static<typeof CreateWorkflowBody>;

export const UpdateWorkflowBody = Type.Object(
  {
    name: Type.Optional(WorkflowFields.name),
    description: WorkflowFields.description,
    trigger_type: Type.Optional(WorkflowFields.trigger_type),
    trigger_config: WorkflowFields.trigger_config,
    steps: WorkflowFields.steps,
    reentry: WorkflowFields.reentry,
    reentry_cooldown_minutes: WorkflowFields.reentry_cooldown_minutes,
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateWorkflowBody = Static<typeof UpdateWorkflowBody>;

export const AddStepBody = Type.Object(
  {
    ...Step.properties,
    id: Type.Optional(StepId),
    after: Type.Optional(Type.String({
      maxLength: 64,
      description: 'the step that leads to the new one (default: the last step); the new step continues where `after` used to lead ' +
        '(its `next`, or `yes` for a condition) unless it says otherwise',
    })),
    branch: Type.Optional(Type.Union([Type.Literal('next'), Type.Literal('yes'), Type.Literal('no')], {
      description: 'which exit of `after` leads to the new step (default next; yes/no for a condition)',
    })),
  },
  { additionalProperties: false },
);
export type AddStepBody = Static<typeof AddStepBody>;

export const ToggleBody = Type.Object(
  { active: Type.Optional(Type.Boolean({ description: 'the state to set; absent flips it' })) },
  { additionalProperties: false },
);

export const TriggerBody = Type.Object(
  { customer_id: Uuid, data: Type.Optional(Json) },
  { additionalProperties: false },
);

export const TriggerResult = Type.Object({
  enrolled: Type.Boolean(),
  enrollment_id: Nullable(Uuid),
  reason: Nullable(Type.String({ description: 'why not enrolled, e.g. reentry_policy' })),
});

export const WorkflowStats = Type.Object({
  active: Type.Integer(),
  completed: Type.Integer(),
  exited: Type.Integer(),
  failed: Type.Integer(),
});

export const WorkflowStepStats = Type.Object(
  {
    workflow_id: Uuid,
    enrollments: WorkflowStats,
    steps: Type.Array(Type.Object({
      step_id: Type.String(),
      step_type: Nullable(Type.String({ description: 'null when the step is no longer in the workflow' })),
      active: Type.Integer({ description: 'enrollments waiting at this step now' }),
      failed: Type.Integer({ description: 'enrollments that failed at this step' }),
      passed: Type.Integer({ description: 'enrollments that have run this step' }),
    }), { description: 'every step of the workflow in order, then any step that is gone but still counted' }),
  },
  { title: 'WorkflowStepStats' },
);

export const Workflow = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    description: Nullable(Type.String()),
    trigger_type: Type.String(),
    trigger_config: Json,
    steps: Type.Array(
      Type.Object({
        id: Type.String(),
        type: Type.String(),
        config: Json,
        next: Type.Optional(Nullable(Type.String())),
        yes: Type.Optional(Nullable(Type.String())),
        no: Type.Optional(Nullable(Type.String())),
      }),
    ),
    active: Type.Boolean(),
    reentry: Type.String(),
    reentry_cooldown_minutes: Type.Integer(),
    template_key: Nullable(Type.String()),
    enrollments: WorkflowStats,
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Workflow' },
);
export type Workflow = Static<typeof Workflow>;
export const WorkflowPage = Page(Workflow);

export const ListWorkflowsQuery = Type.Object(
  {
    ...PageQuery,
    active: Type.Optional(Type.Boolean()),
    trigger_type: Type.Optional(Type.String({ maxLength: 40 })),
  },
  { additionalProperties: false },
);
export type ListWorkflowsQuery = Static<typeof ListWorkflowsQuery>;

export const StepRun = Type.Object({
  step_id: Type.String(),
  step_type: Type.String(),
  status: Type.String({ description: 'succeeded, skipped or failed' }),
  outcome: Json,
  error: Nullable(Type.String()),
  ran_at: DateTime,
});

export const Enrollment = Type.Object(
  {
    id: Uuid,
    workflow_id: Uuid,
    workflow_name: Type.String(),
    customer_id: Uuid,
    status: Type.String({ description: ENROLLMENT_STATUSES.join(', ') }),
    current_step_id: Nullable(Type.String()),
    next_run_at: Nullable(DateTime),
    attempts: Type.Integer(),
    last_error: Nullable(Type.String()),
    exit_reason: Nullable(Type.String()),
    context: Json,
    enrolled_at: DateTime,
    finished_at: Nullable(DateTime),
    step_runs: Type.Array(StepRun),
  },
  { title: 'WorkflowEnrollment' },
);
export type Enrollment = Static<typeof Enrollment>;
export const EnrollmentPage = Page(Enrollment);

export const ListEnrollmentsQuery = Type.Object(
  {
    ...PageQuery,
    status: Type.Optional(Type.Union(ENROLLMENT_STATUSES.map((s) => Type.Literal(s)))),
    customer_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type ListEnrollmentsQuery = Static<typeof ListEnrollmentsQuery>;

export const WorkflowTemplate = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  use_case: Type.String({ description: 'the seed use case it implements' }),
  trigger_type: Type.String(),
  params: Json,
  steps: Type.Array(Type.Object({ id: Type.String(), type: Type.String() })),
  enabled_workflow_id: Nullable(Uuid),
});
export const WorkflowTemplateList = Type.Object({ data: Type.Array(WorkflowTemplate) });

export const TemplateKeyParams = Type.Object({ key: Type.String({ pattern: '^[a-z0-9_]{1,64}$' }) }, { additionalProperties: false });

export const EnableTemplateBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown(), {
      description: 'overrides of the template\'s params (see GET /workflow-templates), e.g. {"inactive_days": 120}',
    })),
    active: Type.Optional(Type.Boolean({ description: 'default true' })),
  },
  { additionalProperties: false },
);
export type EnableTemplateBody = Static<typeof EnableTemplateBody>;

export const EnableTemplateResult = Type.Object({
  workflow: Workflow,
  template_ids: Type.Array(Uuid, { description: 'message templates created for it' }),
  segment_id: Nullable(Uuid),
});
