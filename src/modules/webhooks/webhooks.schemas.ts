import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

const EventTypePattern = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^(\\*|[a-z][a-z0-9_]*\\.(\\*|[a-z][a-z0-9_]*))$',
  description: 'a published event type (customer.created), a namespace wildcard (customer.*) or * for every event',
});

const Url = Type.String({ minLength: 1, maxLength: 2000, description: 'http or https URL the events are POSTed to' });
const Description = Nullable(Type.String({ maxLength: 500 }));

export const CreateWebhookBody = Type.Object(
  {
    url: Url,
    event_types: Type.Array(EventTypePattern, { minItems: 1, maxItems: 50 }),
    secret: Type.Optional(Type.String({
      minLength: 24, maxLength: 200, pattern: '^[\\x21-\\x7e]+$',
      description: 'signing secret (printable ASCII, no spaces); generated when not given',
    })),
    active: Type.Optional(Type.Boolean({ default: true })),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBody>;

export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    event_types: Type.Optional(Type.Array(EventTypePattern, { minItems: 1, maxItems: 50 })),
    active: Type.Optional(Type.Boolean()),
    description: Type.Optional(Description),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateWebhookBody = Static<typeof UpdateWebhookBody>;

export const Webhook = Type.Object(
  {
    id: Uuid,
    url: Type.String(),
    event_types: Type.Array(Type.String()),
    active: Type.Boolean(),
    description: Nullable(Type.String()),
    secret_hint: Type.String({ description: 'the last characters of the secret' }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Webhook' },
);

export const WebhookWithSecret = Type.Object(
  {
    ...Webhook.properties,
    secret: Type.String({ description: 'the signing secret; shown only in this answer' }),
  },
  { title: 'WebhookWithSecret' },
);

export const WebhookPage = Type.Object({ data: Type.Array(Webhook), next_cursor: Nullable(Type.String()) });

export const ListWebhooksQuery = Type.Object({ ...PageQuery }, { additionalProperties: false });

export const DeliveryStatus = Type.Union([
  Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed'), Type.Literal('dead'),
]);

export const DeliveryListQuery = Type.Object(
  { ...PageQuery, status: Type.Optional(DeliveryStatus) },
  { additionalProperties: false },
);
export type DeliveryListQuery = Static<typeof DeliveryListQuery>;

export const Delivery = Type.Object(
  {
    id: Uuid,
    subscription_id: Uuid,
    event_id: Uuid,
    event_type: Type.String(),
    customer_id: Nullable(Uuid),
    status: DeliveryStatus,
    attempts: Type.Integer(),
    next_attempt_at: Nullable(DateTime),
    last_attempt_at: Nullable(DateTime),
    last_status_code: Nullable(Type.Integer()),
    last_error: Nullable(Type.String()),
    response_ms: Nullable(Type.Integer()),
    replay_of: Nullable(Uuid),
    payload: Type.Object({}, { additionalProperties: true, description: 'the JSON body sent' }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'WebhookDelivery' },
);

export const DeliveryPage = Type.Object({ data: Type.Array(Delivery), next_cursor: Nullable(Type.String()) });

export const DeliveryParams = Type.Object({ id: Uuid, deliveryId: Uuid }, { additionalProperties: false });
