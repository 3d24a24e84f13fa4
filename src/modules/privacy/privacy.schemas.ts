import { Type, type Static } from '@sinclair/typebox';
import { DateTime, DateTimeInput, Nullable, Page, PageQuery, Uuid } from '../../lib/schemas.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms'), Type.Literal('phone'), Type.Literal('push')]);
const Purpose = Type.Union([Type.Literal('marketing'), Type.Literal('transactional'), Type.Literal('profiling')]);

export const ConsentBody = Type.Object(
  {
    channel: Channel,
    purpose: Purpose,
    granted: Type.Boolean(),
    source: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'where the decision was made: api (default), checkout, preference_center, …' })),
    text_version: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 100, description: 'version of the consent text the person saw' }))),
    ip: Type.Optional(Nullable(Type.String({ minLength: 2, maxLength: 45, description: 'IP address the decision came from (default: the caller\'s)' }))),
    occurred_at: Type.Optional(DateTimeInput),
  },
  { additionalProperties: false },
);
export type ConsentBody = Static<typeof ConsentBody>;

const ConsentEvent = Type.Object({
  id: Uuid,
  channel: Channel,
  purpose: Purpose,
  granted: Type.Boolean(),
  source: Type.String(),
  text_version: Nullable(Type.String()),
  ip: Nullable(Type.String()),
  occurred_at: DateTime,
  recorded_by: Nullable(Type.String()),
}, { title: 'ConsentEvent' });

export const ConsentResponse = Type.Object(
  {
    customer_id: Uuid,
    state: Type.Object(
      { marketing_email: Type.Boolean(), marketing_sms: Type.Boolean(), updated_at: Nullable(Type.String()) },
      { additionalProperties: Type.Union([Type.Boolean(), Type.String(), Type.Null()]), description: 'customers.consent: <purpose>_<channel> flags' },
    ),
    current: Type.Array(ConsentEvent, { description: 'the latest decision per channel and purpose' }),
    ledger: Type.Array(ConsentEvent, { description: 'every decision, newest first' }),
  },
  { title: 'Consent' },
);

export const ExportQuery = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('zip')], { default: 'json' })) },
  { additionalProperties: false },
);

const Rows = Type.Array(Type.Object({}, { additionalProperties: true }));
export const CustomerExport = Type.Object(
  {
    exported_at: DateTime,
    customer: Type.Object({}, { additionalProperties: true, description: 'every stored profile field' }),
    orders: Rows, order_items: Rows, refunds: Rows, attendance: Rows, carts: Rows, timeline: Rows, interactions: Rows,
    notes: Rows, consent_events: Rows, loyalty_ledger: Rows, segments: Rows, messages: Rows, privacy_requests: Rows,
  },
  { title: 'CustomerExport' },
);

export const EraseBody = Type.Object(
  {
    confirm: Type.Boolean({ description: 'must be true: erasure cannot be undone' }),
    reason: Type.Optional(Nullable(Type.String({ maxLength: 500, description: 'why (e.g. "GDPR art. 17 request of 2025-03-01"); no personal data' }))),
  },
  { additionalProperties: false },
);

const Count = Type.Integer({ minimum: 0 });
export const ErasureResponse = Type.Object(
  {
    customer_id: Uuid,
    privacy_request_id: Uuid,
    erased_at: DateTime,
    scrubbed: Type.Object({
      customers: Count, notes: Count, activities: Count, interactions: Count, orders: Count, loyalty_ledger: Count,
      consent_events: Count, outbox: Count, webhook_deliveries: Count, import_errors: Count, customer_aliases: Count,
      workflow_enrollments: Count, messages: Count, audit_entries: Count, suppressions: Count,
    }, { description: 'rows changed per table' }),
  },
  { title: 'Erasure' },
);

export const PrivacyRequestsQuery = Type.Object(
  {
    type: Type.Optional(Type.Union([Type.Literal('access'), Type.Literal('erasure')])),
    customer_id: Type.Optional(Uuid),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const PrivacyRequestPage = Page(Type.Object({
  id: Uuid,
  type: Type.String(),
  customer_id: Nullable(Uuid),
  status: Type.String(),
  reason: Nullable(Type.String()),
  requested_by: Type.String(),
  details: Type.Object({}, { additionalProperties: true }),
  created_at: DateTime,
  completed_at: Nullable(DateTime),
}, { title: 'PrivacyRequest' }));

export const RetentionRuns = Type.Object({
  data: Type.Array(Type.Object({
    id: Uuid,
    inactive_years: Type.Integer(),
    cutoff: DateTime,
    customers_erased: Type.Integer(),
    started_at: DateTime,
    finished_at: DateTime,
  })),
});
