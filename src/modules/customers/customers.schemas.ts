import { Type, type Static } from '@sinclair/typebox';
import { DateOnly, DateTime, DateTimeInput, Nullable, Page, PageQuery, Uuid } from '../../lib/schemas.js';

/** Free-form JSON object (custom fields, preferences beyond the known keys). */
const JsonObject = Type.Object({}, { additionalProperties: true });

export const CUSTOMER_TYPES = ['individual', 'business'] as const;
export const CUSTOMER_STATUSES = ['active', 'inactive', 'prospect'] as const;
export const CustomerType = Type.Union(CUSTOMER_TYPES.map((t) => Type.Literal(t)));
export const CustomerStatus = Type.Union(CUSTOMER_STATUSES.map((s) => Type.Literal(s)));

const Text = (maxLength: number, description?: string) => Type.String({ maxLength, ...(description ? { description } : {}) });

export const Address = Type.Object(
  {
    type: Type.Optional(Text(50, 'e.g. home, billing, shipping')),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Nullable(Text(200))),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    state: Type.Optional(Nullable(Text(100))),
    postal_code: Type.Optional(Nullable(Text(20))),
    country: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2; stored upper-cased' }))),
  },
  { additionalProperties: false },
);
export type AddressInput = Static<typeof Address>;

export const Preferences = Type.Object(
  {
    genres: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 })),
    communication: Type.Optional(Type.Array(Type.String({ maxLength: 50 }), { maxItems: 20 })),
  },
  { additionalProperties: true, description: 'free-form; genres and communication are the known keys' },
);

export const ConsentInput = Type.Object(
  {
    marketing_email: Type.Optional(Type.Boolean()),
    marketing_sms: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const Tag = Type.String({ minLength: 1, maxLength: 50, description: 'trimmed and lower-cased when stored' });
export const TagList = Type.Array(Tag, { maxItems: 100 });

/** Every editable field; all optional (POST/PATCH); PUT replaces all of them. */
const editable = {
  external_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200, description: 'the platform\'s user id' }))),
  email: Type.Optional(Nullable(Type.String({ maxLength: 254, description: 'validated, stored lower-cased' }))),
  phone: Type.Optional(Nullable(Type.String({ maxLength: 40, description: `validated, stored in E.164 (national numbers in DEFAULT_PHONE_REGION)` }))),
  first_name: Type.Optional(Nullable(Text(100))),
  last_name: Type.Optional(Nullable(Text(100))),
  company_name: Type.Optional(Nullable(Text(200, 'required when customer_type is business'))),
  customer_type: Type.Optional(CustomerType),
  status: Type.Optional(CustomerStatus),
  date_of_birth: Type.Optional(Nullable(Type.String({ format: 'date', description: 'YYYY-MM-DD, from 1900-01-01 to today' }))),
  gender: Type.Optional(Nullable(Text(50))),
  addresses: Type.Optional(Type.Array(Address, { maxItems: 20 })),
  city: Type.Optional(Nullable(Text(100))),
  state: Type.Optional(Nullable(Text(100))),
  country: Type.Optional(Nullable(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2; stored upper-cased' }))),
  postal_code: Type.Optional(Nullable(Text(20))),
  source: Type.Optional(Nullable(Text(100, 'how the customer signed up'))),
  tags: Type.Optional(TagList),
  preferences: Type.Optional(Preferences),
  consent: Type.Optional(ConsentInput),
  custom_fields: Type.Optional(JsonObject),
};

export const CustomerInput = Type.Object(editable, { additionalProperties: false, title: 'CustomerInput' });
export type CustomerInput = Static<typeof CustomerInput>;

export const Consent = Type.Object({
  marketing_email: Type.Boolean(),
  marketing_sms: Type.Boolean(),
  updated_at: Nullable(DateTime),
});

export const Metrics = Type.Object({
  total_orders: Type.Integer(),
  total_spend: Type.Number(),
  events_attended: Type.Integer(),
  average_order_value: Type.Number(),
  lifetime_value: Type.Number(),
  first_purchase: Nullable(DateTime),
  last_purchase: Nullable(DateTime),
});

export const CustomerProfile = Type.Object(
  {
    id: Uuid,
    external_id: Nullable(Type.String()),
    email: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    first_name: Nullable(Type.String()),
    last_name: Nullable(Type.String()),
    name: Nullable(Type.String({ description: 'first and last name, or the company name' })),
    company_name: Nullable(Type.String()),
    customer_type: CustomerType,
    status: CustomerStatus,
    date_of_birth: Nullable(DateOnly),
    gender: Nullable(Type.String()),
    addresses: Type.Array(Type.Object({
      type: Type.Optional(Type.String()),
      line1: Type.String(),
      line2: Type.Optional(Nullable(Type.String())),
      city: Type.String(),
      state: Type.Optional(Nullable(Type.String())),
      postal_code: Type.Optional(Nullable(Type.String())),
      country: Type.Optional(Nullable(Type.String())),
    })),
    city: Nullable(Type.String()),
    state: Nullable(Type.String()),
    country: Nullable(Type.String()),
    postal_code: Nullable(Type.String()),
    source: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    preferences: JsonObject,
    consent: Consent,
    custom_fields: JsonObject,
    loyalty_tier: Nullable(Type.String()),
    loyalty_points: Type.Integer(),
    is_vip: Type.Boolean({ description: 'set by the tenant\'s VIP rule (GET /analytics/vip-rule)' }),
    metrics: Metrics,
    segments: Type.Array(Type.String(), { description: 'names of the segments the customer belongs to' }),
    last_contact_at: Nullable(DateTime),
    last_activity_at: Nullable(DateTime),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'CustomerProfile' },
);
export type CustomerProfile = Static<typeof CustomerProfile>;

export const CUSTOMER_SORTS = [
  'created_at', '-created_at', 'last_purchase', '-last_purchase', 'total_spend', '-total_spend',
  'lifetime_value', '-lifetime_value', 'name', '-name',
] as const;
export type CustomerSort = (typeof CUSTOMER_SORTS)[number];

/** A date (midnight UTC) or a date-time. */
const DateOrDateTime = Type.Union([DateOnly, DateTimeInput]);

export const ListCustomersQuery = Type.Object(
  {
    search: Type.Optional(Type.String({ maxLength: 200, description: 'name, e-mail, phone (any format) or company fragment' })),
    segment_id: Type.Optional(Uuid),
    tags: Type.Optional(Type.String({ maxLength: 2000, description: 'comma-separated; customers having all of them' })),
    min_ltv: Type.Optional(Type.Number({ minimum: 0 })),
    last_purchase_after: Type.Optional(DateOrDateTime),
    last_purchase_before: Type.Optional(Type.Union([DateOnly, DateTimeInput], { description: 'exclusive; customers without a purchase never match' })),
    status: Type.Optional(CustomerStatus),
    customer_type: Type.Optional(CustomerType),
    city: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
    loyalty_tier: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
    created_after: Type.Optional(DateOrDateTime),
    created_before: Type.Optional(DateOrDateTime),
    sort: Type.Optional(Type.Union(CUSTOMER_SORTS.map((s) => Type.Literal(s)), {
      default: '-created_at',
      description: 'a leading "-" sorts descending; customers without a last purchase or a name come last either way',
    })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type ListCustomersQuery = Static<typeof ListCustomersQuery>;

export const CustomerPage = Page(CustomerProfile);

/** Path parameter kept as text so a malformed id answers 404 like an unknown one. */
export const CustomerParams = Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false });
export const NoteParams = Type.Object(
  { id: Type.String({ maxLength: 100 }), noteId: Type.String({ maxLength: 100 }) },
  { additionalProperties: false },
);

export const IdentifyBody = Type.Object(
  {
    external_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    email: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
    phone: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    first_name: Type.Optional(Type.String({ maxLength: 100 })),
    last_name: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false, description: 'at least one of external_id, email, phone' },
);
export type IdentifyBody = Static<typeof IdentifyBody>;
export const IdentifyResponse = Type.Object({ customer: CustomerProfile, created: Type.Boolean() });

export const TagsBody = Type.Object({ tags: Type.Array(Tag, { minItems: 1, maxItems: 100 }) }, { additionalProperties: false });
export const TagsQuery = Type.Object(
  { tags: Type.Optional(Type.String({ maxLength: 2000, description: 'comma-separated (alternative to the body)' })) },
  { additionalProperties: false },
);
export const TagsResponse = Type.Object({ tags: Type.Array(Type.String()) });

export const NoteInput = Type.Object(
  {
    body: Type.String({ minLength: 1, maxLength: 10000 }),
    pinned: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
export const NotePatch = Type.Object(
  {
    body: Type.Optional(Type.String({ minLength: 1, maxLength: 10000 })),
    pinned: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const Note = Type.Object(
  {
    id: Uuid,
    customer_id: Uuid,
    body: Type.String(),
    pinned: Type.Boolean(),
    created_by: Nullable(Type.String()),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'CustomerNote' },
);
export const NoteListQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
export const NotePage = Page(Note);

export const OrderItem = Type.Object({
  event_id: Nullable(Type.String()),
  event_name: Nullable(Type.String({ description: 'from the catalog when the event is known' })),
  ticket_type: Nullable(Type.String()),
  quantity: Type.Integer(),
  unit_price: Type.Number(),
});
export const Refund = Type.Object({
  id: Type.String(),
  amount: Type.Number(),
  reason: Nullable(Type.String()),
  refunded_at: DateTime,
});
export const CustomerOrder = Type.Object(
  {
    id: Type.String(),
    status: Type.String(),
    total: Type.Number(),
    refunded_amount: Type.Number(),
    currency: Type.String(),
    placed_at: DateTime,
    completed_at: Nullable(DateTime),
    cancelled_at: Nullable(DateTime),
    items: Type.Array(OrderItem),
    refunds: Type.Array(Refund),
  },
  { title: 'CustomerOrder' },
);
export const OrderPage = Page(CustomerOrder);

export const Attendance = Type.Object(
  {
    event_id: Type.String(),
    ticket_id: Nullable(Type.String()),
    order_id: Nullable(Type.String()),
    checked_in_at: DateTime,
    event_name: Nullable(Type.String()),
    venue: Nullable(Type.String()),
    city: Nullable(Type.String()),
    starts_at: Nullable(DateTime),
    genres: Type.Array(Type.String()),
  },
  { title: 'CustomerAttendance' },
);
export const AttendancePage = Page(Attendance);
export const HistoryQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });
