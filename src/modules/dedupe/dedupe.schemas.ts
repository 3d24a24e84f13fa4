import { Type, type Static } from '@sinclair/typebox';
import { DateOnly, DateTime, Nullable, Page, PageQuery, Uuid } from '../../lib/schemas.js';
import { CustomerProfile } from '../customers/customers.schemas.js';
import { CHOOSABLE_FIELDS } from './merge.service.js';

export const DedupeSettings = Type.Object(
  {
    fields: Type.Optional(Type.Array(Type.Union([Type.Literal('email'), Type.Literal('phone')]), {
      maxItems: 2, description: 'exact identifiers compared: e-mail (normalized: case, +tags, Gmail dots) and E.164 phone',
    })),
    fuzzy_match: Type.Optional(Type.Boolean({ description: 'similar names (pg_trgm) corroborated by one of fuzzy_fields' })),
    fuzzy_fields: Type.Optional(Type.Array(
      Type.Union([Type.Literal('city'), Type.Literal('date_of_birth'), Type.Literal('phone_suffix')]),
      { maxItems: 3, description: 'what must match besides a similar name' },
    )),
    name_similarity: Type.Optional(Type.Number({ minimum: 0.3, maximum: 1, description: 'trigram similarity of full names, 0.3–1' })),
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'pairs scoring below are not kept' })),
    auto_merge_exact_email: Type.Optional(Type.Boolean({ description: 'the scan job merges customers with the very same e-mail into the oldest' })),
  },
  { additionalProperties: false, title: 'DuplicateDetectionSettings' },
);
export type DedupeSettingsInput = Static<typeof DedupeSettings>;
export const DedupeSettingsResponse = Type.Required(DedupeSettings);

const DuplicateStatus = Type.Union([Type.Literal('open'), Type.Literal('dismissed'), Type.Literal('merged')]);

export const CustomerSummary = Type.Object({
  id: Uuid,
  first_name: Nullable(Type.String()),
  last_name: Nullable(Type.String()),
  email: Nullable(Type.String()),
  phone: Nullable(Type.String()),
  city: Nullable(Type.String()),
  date_of_birth: Nullable(DateOnly),
  created_at: DateTime,
  merged_into: Nullable(Uuid),
  deleted: Type.Boolean(),
});

export const Duplicate = Type.Object(
  {
    id: Uuid,
    score: Type.Number({ minimum: 0, maximum: 1 }),
    reasons: Type.Array(Type.String(), {
      description: 'same_email, same_email_normalized, same_phone, similar_name, same_city, same_birth_date, same_phone_suffix',
    }),
    status: DuplicateStatus,
    customers: Type.Array(CustomerSummary, { minItems: 2, maxItems: 2, description: 'the pair, older id first' }),
    detected_at: DateTime,
    updated_at: DateTime,
    resolved_by: Nullable(Type.String()),
    resolved_at: Nullable(DateTime),
  },
  { title: 'DuplicateCandidate' },
);
export const DuplicatePage = Page(Duplicate);

export const DuplicateListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('dismissed'), Type.Literal('merged')], { description: 'default open' })),
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    customer_id: Type.Optional(Uuid),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const IdParam = Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false });

export const Scan = Type.Object(
  {
    id: Uuid,
    status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]),
    pairs: Nullable(Type.Integer({ description: 'candidate pairs found' })),
    auto_merged: Nullable(Type.Integer({ description: 'customers merged away by auto_merge_exact_email' })),
    error: Nullable(Type.String()),
    created_by: Type.String(),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
  },
  { title: 'DuplicateScan' },
);

export const MergeBody = Type.Object(
  {
    merge_ids: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 50, description: 'customers merged into the survivor (the path id)' }),
    fields: Type.Optional(Type.Object(
      Object.fromEntries(CHOOSABLE_FIELDS.map((f) => [f, Type.Optional(Type.String({ maxLength: 100 }))])),
      { additionalProperties: false, description: 'per field, the id of the record whose value the survivor keeps' },
    )),
    dry_run: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export type MergeBody = Static<typeof MergeBody>;

export const MergeResponse = Type.Object(
  {
    dry_run: Type.Boolean(),
    survivor: CustomerProfile,
    merged_ids: Type.Array(Uuid),
    moved: Type.Object({
      orders: Type.Integer(), attendance: Type.Integer(), activities: Type.Integer(), interactions: Type.Integer(),
      notes: Type.Integer(), carts: Type.Integer(), loyalty_entries: Type.Integer(), consent_events: Type.Integer(),
      segment_memberships: Type.Integer(),
    }),
  },
  { title: 'MergeResult' },
);
