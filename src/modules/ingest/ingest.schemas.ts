import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_MONEY } from '../../lib/money.js';
import { Nullable } from '../../lib/schemas.js';

/*
 * The ingestion contract (DESIGN.md, "The ingestion contract"). The HTTP body schema only checks
 * the envelope `{ events: [...] }`; every event is validated on its own (ingest.validation.ts)
 * so that one bad event is rejected without rejecting the batch.
 */

export const MAX_BATCH = 1000;

export const EVENT_TYPES = [
  'order.created',
  'order.completed',
  'order.refunded',
  'order.cancelled',
  'user.registered',
  'ticket.checked_in',
  'cart.updated',
  'cart.checked_out',
  'customer.updated',
  'interaction.logged',
  'email.opened',
  'email.clicked',
] as const;
export type KnownEventType = (typeof EVENT_TYPES)[number];

/** Per-event rejection codes (the `code` of a rejected result). */
export const REJECTION_CODES = [
  'invalid_event',
  'unknown_field',
  'unknown_event_type',
  'missing_identity',
  'invalid_email',
  'invalid_phone',
  'invalid_amount',
  'invalid_occurred_at',
  'invalid_date',
  'currency_mismatch',
  'order_not_found',
  'refund_exceeds_total',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

// --- building blocks ---------------------------------------------------------------------------

const Id = Type.String({ minLength: 1, maxLength: 255 });
const Text = (maxLength: number) => Type.String({ maxLength });
/** Amount in the tenant currency: non-negative, at most two decimals. */
const Money = Type.Number({ minimum: 0, maximum: MAX_MONEY, multipleOf: 0.01 });
const Currency = Type.String({ pattern: '^[A-Za-z]{3}$', description: 'ISO 4217; must be the tenant currency' });
const Timestamp = Type.String({ format: 'date-time', maxLength: 64 });
const DateOnly = Type.String({ format: 'date' });
const Json = Type.Record(Type.String(), Type.Unknown());
const strict = { additionalProperties: false } as const;

export const EventCustomer = Type.Object(
  {
    external_id: Type.Optional(Nullable(Id)),
    email: Type.Optional(Nullable(Text(320))),
    phone: Type.Optional(Nullable(Text(64))),
    first_name: Type.Optional(Nullable(Text(200))),
    last_name: Type.Optional(Nullable(Text(200))),
  },
  { ...strict, description: 'who the event is about: at least one of external_id, email, phone' },
);

export const Envelope = Type.Object(
  {
    id: Id,
    type: Type.String({ minLength: 1, maxLength: 120 }),
    occurred_at: Type.String({ maxLength: 64 }),
    customer: EventCustomer,
    data: Type.Optional(Json),
  },
  strict,
);
export type Envelope = Static<typeof Envelope>;

export const OrderItem = Type.Object(
  {
    event_id: Id,
    event_name: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
    venue: Type.Optional(Text(300)),
    city: Type.Optional(Text(200)),
    genres: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 60 }), { maxItems: 20 })),
    starts_at: Type.Optional(Timestamp),
    ticket_type: Type.Optional(Text(100)),
    quantity: Type.Integer({ minimum: 1, maximum: 100000 }),
    unit_price: Money,
  },
  strict,
);
export type OrderItem = Static<typeof OrderItem>;

const Items = Type.Array(OrderItem, { maxItems: 500 });

const OrderData = Type.Object(
  {
    order_id: Id,
    total: Type.Optional(Money),
    currency: Type.Optional(Currency),
    items: Type.Optional(Items),
    source: Type.Optional(Text(100)),
    metadata: Type.Optional(Json),
  },
  strict,
);

const Consent = Type.Object(
  { marketing_email: Type.Optional(Type.Boolean()), marketing_sms: Type.Optional(Type.Boolean()) },
  strict,
);

/** Profile fields user.registered fills and customer.updated overwrites (besides names and contacts). */
const PROFILE_FIELDS: Record<string, TSchema> = {
  date_of_birth: DateOnly,
  gender: Text(50),
  city: Text(200),
  state: Text(200),
  country: Text(100),
  postal_code: Text(40),
  company_name: Text(300),
};
const ProfileFields = Object.fromEntries(Object.entries(PROFILE_FIELDS).map(([k, v]) => [k, Type.Optional(v)]));
const nullableProfile = Object.fromEntries(Object.entries(PROFILE_FIELDS).map(([k, v]) => [k, Type.Optional(Nullable(v))]));

export const DataSchemas: Record<KnownEventType, TSchema> = {
  'order.created': OrderData,
  'order.completed': OrderData,
  'order.refunded': Type.Object(
    {
      order_id: Id,
      amount: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_MONEY, multipleOf: 0.01 })),
      currency: Type.Optional(Currency),
      reason: Type.Optional(Text(1000)),
    },
    strict,
  ),
  'order.cancelled': Type.Object(
    { order_id: Id, reason: Type.Optional(Text(1000)), total: Type.Optional(Money), currency: Type.Optional(Currency) },
    strict,
  ),
  'user.registered': Type.Object(
    {
      source: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
      consent: Type.Optional(Consent),
      preferences: Type.Optional(Json),
      ...ProfileFields,
    },
    strict,
  ),
  'ticket.checked_in': Type.Object(
    {
      event_id: Id,
      event_name: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
      ticket_id: Type.Optional(Id),
      order_id: Type.Optional(Id),
      checked_in_at: Type.Optional(Timestamp),
    },
    strict,
  ),
  'cart.updated': Type.Object(
    { cart_id: Id, items: Items, total: Type.Optional(Money), currency: Type.Optional(Currency) },
    strict,
  ),
  'cart.checked_out': Type.Object({ cart_id: Id, order_id: Type.Optional(Id) }, strict),
  'customer.updated': Type.Object(
    {
      changes: Type.Object(
        {
          first_name: Type.Optional(Nullable(Text(200))),
          last_name: Type.Optional(Nullable(Text(200))),
          email: Type.Optional(Nullable(Text(320))),
          phone: Type.Optional(Nullable(Text(64))),
          customer_type: Type.Optional(Type.Union([Type.Literal('individual'), Type.Literal('business')])),
          status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('prospect')])),
          addresses: Type.Optional(Type.Array(Json, { maxItems: 20 })),
          preferences: Type.Optional(Json),
          custom_fields: Type.Optional(Json),
          consent: Type.Optional(Consent),
          ...nullableProfile,
        },
        { ...strict, minProperties: 1 },
      ),
    },
    strict,
  ),
  'interaction.logged': Type.Object(
    {
      type: Type.Union(['call', 'email', 'meeting', 'support', 'sale', 'follow_up', 'other'].map((t) => Type.Literal(t))),
      subject: Type.String({ minLength: 1, maxLength: 500 }),
      description: Type.Optional(Text(10000)),
      outcome: Type.Optional(Text(500)),
      priority: Type.Optional(Type.Union(['low', 'medium', 'high', 'urgent'].map((t) => Type.Literal(t)))),
      status: Type.Optional(Type.Union(['pending', 'completed', 'cancelled'].map((t) => Type.Literal(t)))),
      duration_minutes: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
      follow_up_at: Type.Optional(Timestamp),
    },
    strict,
  ),
  'email.opened': Type.Object(
    { campaign_id: Type.Optional(Id), message_id: Type.Optional(Id), subject: Type.Optional(Text(500)) },
    strict,
  ),
  'email.clicked': Type.Object(
    { campaign_id: Type.Optional(Id), message_id: Type.Optional(Id), url: Type.Optional(Text(4000)), subject: Type.Optional(Text(500)) },
    strict,
  ),
};

/** custom.<name>: any JSON object as data, timeline only. */
export const CUSTOM_TYPE_RE = /^custom\.[A-Za-z0-9_][A-Za-z0-9_.:-]{0,100}$/;
export const CustomData = Json;

// --- HTTP --------------------------------------------------------------------------------------

export const IngestBody = Type.Object(
  {
    events: Type.Array(Type.Unknown(), {
      minItems: 1,
      description:
        `1 to ${MAX_BATCH} events; each is { id, type, occurred_at, customer: { external_id?, email?, phone?, first_name?, last_name? }, data }. ` +
        'Each event is validated on its own: a bad one is reported as rejected and the others are applied.',
    }),
  },
  strict,
);

export const IngestResultItem = Type.Object({
  id: Nullable(Type.String()),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('rejected')]),
  customer_id: Type.Optional(Type.String({ format: 'uuid' })),
  code: Type.Optional(Type.String({ description: 'why the event was rejected, e.g. unknown_event_type, invalid_email' })),
  reason: Type.Optional(Type.String()),
});
export type IngestResultItem = Static<typeof IngestResultItem>;

export const IngestResponse = Type.Object({
  accepted: Type.Integer(),
  duplicates: Type.Integer(),
  rejected: Type.Integer(),
  results: Type.Array(IngestResultItem, { description: 'one per event, in request order' }),
});
export type IngestResult = Static<typeof IngestResponse>;
