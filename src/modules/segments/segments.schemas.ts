import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

/**
 * Rules are validated by segments.rules.ts (which reports the offending condition path as
 * invalid_rule); the schema only says they are a JSON object (or seed 002's bare list).
 */
export const Rules = Type.Unsafe<unknown>({
  description:
    'Rule tree: {"operator": "and"|"or"|"not", "conditions": [group | {"field", "operator", "value"}]}, nested up to 10 levels, '
    + 'at most 200 conditions. Seed 002\'s {"conditions": [{"type", "operator", "value"}]} and seed 003\'s eq/neq/gt/gte/lt/lte '
    + 'operators are accepted and stored normalized. See README, "Segments".',
  anyOf: [{ type: 'object' }, { type: 'array' }],
  example: {
    operator: 'and',
    conditions: [
      { field: 'total_spend', operator: '>=', value: 100 },
      { operator: 'or', conditions: [
        { field: 'last_purchase', operator: 'within', value: '90d' },
        { field: 'events_attended', operator: '>=', value: 3 },
      ] },
    ],
  },
});

const SegmentType = Type.Union([Type.Literal('dynamic'), Type.Literal('static'), Type.Literal('manual')], {
  description: 'dynamic (rules decide members) or static (members added by hand; "manual" is accepted as static)',
});
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2000 });

export const CreateSegmentBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Nullable(Description)),
    type: Type.Optional(SegmentType),
    rules: Type.Optional(Nullable(Rules)),
    auto_update: Type.Optional(Type.Boolean({ description: 'keep membership current (data changes and the scheduled refresh); default true' })),
  },
  { additionalProperties: false },
);
export type CreateSegmentBody = Static<typeof CreateSegmentBody>;

export const UpdateSegmentBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Nullable(Description)),
    type: Type.Optional(SegmentType),
    rules: Type.Optional(Nullable(Rules)),
    auto_update: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type UpdateSegmentBody = Static<typeof UpdateSegmentBody>;

export const Segment = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    description: Nullable(Type.String()),
    type: Type.Union([Type.Literal('dynamic'), Type.Literal('static')]),
    rules: Nullable(Type.Unsafe<unknown>({ type: 'object', additionalProperties: true, description: 'normalized rule tree' })),
    auto_update: Type.Boolean(),
    customer_count: Type.Integer(),
    last_refreshed_at: Nullable(DateTime),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Segment' },
);
export type Segment = Static<typeof Segment>;

export const SegmentParams = Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false });

export const ListQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });

export const PreviewBody = Type.Object({ rules: Rules }, { additionalProperties: false });

export const CalculateResponse = Type.Object({
  entered: Type.Integer({ description: 'customers that joined' }),
  exited: Type.Integer({ description: 'customers that left' }),
  total: Type.Integer({ description: 'members now' }),
});

export const MembersBody = Type.Object(
  { customer_ids: Type.Array(Uuid, { minItems: 1, maxItems: 1000 }) },
  { additionalProperties: false },
);
export const AddMembersResponse = Type.Object({ added: Type.Integer(), customer_count: Type.Integer() });
export const RemoveMembersResponse = Type.Object({ removed: Type.Integer(), customer_count: Type.Integer() });

// ---------------------------------------------------------------------------------------------
// Analytics and export (issue 4, item 6)

export const AnalyticsQuery = Type.Object(
  { days: Type.Optional(Type.Integer({ minimum: 1, maximum: 730, default: 90, description: 'window in tenant-local days, ending today' })) },
  { additionalProperties: false },
);

const Amount = Type.Number({ description: 'tenant currency, two decimals' });
const Fraction = Nullable(Type.Number({ description: 'fraction (0.25 = 25 %); null when the base is empty' }));

export const SegmentAnalytics = Type.Object({
  segment_id: Uuid,
  name: Type.String(),
  days: Type.Integer(),
  from: Nullable(Type.String({ format: 'date', description: 'first day of the series (tenant-local)' })),
  to: Nullable(Type.String({ format: 'date', description: 'last day of the series: today (tenant-local)' })),
  members: Type.Integer({ description: 'current members that are live customers' }),
  customers: Type.Integer({ description: 'live customers of the tenant' }),
  share_of_customers: Fraction,
  total_spend: Type.Number({ description: 'revenue of the current members: sum of total_spend' }),
  average_spend: Nullable(Amount),
  average_lifetime_value: Nullable(Amount),
  average_predicted_clv: Nullable(Type.Number({ description: 'over members whose predicted_clv is set; null when none is' })),
  predicted_clv_members: Type.Integer({ description: 'members with a predicted_clv' }),
  average_clv: Nullable(Type.Number({ description: 'average of lifetime_value + predicted_clv (0 when not set)' })),
  entered: Type.Integer({ description: 'entries over the window' }),
  exited: Type.Integer({ description: 'exits over the window' }),
  series: Type.Array(Type.Object({
    date: Type.String({ format: 'date' }),
    size: Type.Integer({ description: 'members at the end of the day, from membership history' }),
    entered: Type.Integer(),
    exited: Type.Integer(),
  })),
}, { title: 'SegmentAnalytics' });

export const ExportQuery = Type.Object(
  {
    columns: Type.Optional(Type.String({
      maxLength: 2000,
      description: 'comma-separated columns (README, "Segments"); default id, external_id, email, phone, first_name, last_name, '
        + 'city, country, total_orders, total_spend, lifetime_value, loyalty_tier, tags, created_at',
    })),
  },
  { additionalProperties: false },
);
