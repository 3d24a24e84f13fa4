import { Type, type Static } from '@sinclair/typebox';
import { DateTime, DateTimeInput, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

export const INTERACTION_TYPES = ['call', 'email', 'meeting', 'support', 'sale', 'follow_up', 'other'] as const;
export const INTERACTION_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const INTERACTION_STATUSES = ['pending', 'completed', 'cancelled'] as const;

export type InteractionType = (typeof INTERACTION_TYPES)[number];
export type InteractionPriority = (typeof INTERACTION_PRIORITIES)[number];
export type InteractionStatus = (typeof INTERACTION_STATUSES)[number];

export const InteractionTypeSchema = Type.Union(INTERACTION_TYPES.map((t) => Type.Literal(t)), { description: 'kind of contact (seed 004)' });
export const PrioritySchema = Type.Union(INTERACTION_PRIORITIES.map((t) => Type.Literal(t)));
export const StatusSchema = Type.Union(INTERACTION_STATUSES.map((t) => Type.Literal(t)));

const Subject = Type.String({ minLength: 1, maxLength: 300 });
const Description = Type.String({ maxLength: 10_000 });
const Outcome = Type.String({ maxLength: 2_000 });
const Duration = Type.Integer({ minimum: 0, maximum: 1440, description: 'minutes' });

export const Interaction = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    type: InteractionTypeSchema,
    subject: Type.String(),
    description: Nullable(Type.String()),
    outcome: Nullable(Type.String()),
    priority: PrioritySchema,
    status: StatusSchema,
    duration_minutes: Nullable(Type.Integer()),
    follow_up_at: Nullable(DateTime),
    occurred_at: DateTime,
    created_by: Nullable(Type.String()),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Interaction' },
);

export const CreateInteractionBody = Type.Object(
  {
    type: InteractionTypeSchema,
    subject: Subject,
    description: Type.Optional(Nullable(Description)),
    outcome: Type.Optional(Nullable(Outcome)),
    priority: Type.Optional(PrioritySchema),
    status: Type.Optional(StatusSchema),
    duration_minutes: Type.Optional(Nullable(Duration)),
    follow_up_at: Type.Optional(Nullable(DateTimeInput)),
    occurred_at: Type.Optional(Type.String({ format: 'date-time', description: 'when it happened; default now' })),
  },
  { additionalProperties: false },
);
export type CreateInteractionInput = Static<typeof CreateInteractionBody>;

/** PUT replaces every editable field: what is left out goes back to its default (occurred_at is kept). */
export const ReplaceInteractionBody = CreateInteractionBody;

export const PatchInteractionBody = Type.Object(
  {
    type: Type.Optional(InteractionTypeSchema),
    subject: Type.Optional(Subject),
    description: Type.Optional(Nullable(Description)),
    outcome: Type.Optional(Nullable(Outcome)),
    priority: Type.Optional(PrioritySchema),
    status: Type.Optional(StatusSchema),
    duration_minutes: Type.Optional(Nullable(Duration)),
    follow_up_at: Type.Optional(Nullable(DateTimeInput)),
    occurred_at: Type.Optional(DateTimeInput),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchInteractionInput = Static<typeof PatchInteractionBody>;

export const CustomerIdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const ListInteractionsQuery = Type.Object(
  {
    type: Type.Optional(Type.Array(InteractionTypeSchema, { maxItems: 7, description: 'one or more types (repeat the parameter)' })),
    status: Type.Optional(Type.Array(StatusSchema, { maxItems: 3 })),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const FollowUpsQuery = Type.Object(
  {
    due_before: Type.Optional(Type.String({ format: 'date-time', description: 'default: now + 7 days' })),
    status: Type.Optional(Type.Union(INTERACTION_STATUSES.map((t) => Type.Literal(t)), { default: 'pending' })),
    priority: Type.Optional(Type.Array(PrioritySchema, { maxItems: 4 })),
    customer_id: Type.Optional(Uuid),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const FollowUp = Type.Object(
  {
    ...Interaction.properties,
    customer: Type.Object({
      id: Uuid,
      name: Nullable(Type.String({ description: 'full name, else company, else e-mail' })),
      email: Nullable(Type.String()),
      phone: Nullable(Type.String()),
    }),
    overdue: Type.Boolean({ description: 'pending and follow_up_at is in the past' }),
  },
  { title: 'FollowUp' },
);

export const FollowUpsPage = Type.Object({
  data: Type.Array(FollowUp),
  next_cursor: Nullable(Type.String()),
  due_before: DateTime,
});
