import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

export const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms')]);
export const MessageStatus = Type.Union([
  Type.Literal('queued'), Type.Literal('sending'), Type.Literal('sent'), Type.Literal('failed'), Type.Literal('suppressed'), Type.Literal('skipped'),
]);

export const MessageListQuery = Type.Object(
  {
    ...PageQuery,
    channel: Type.Optional(Channel),
    status: Type.Optional(MessageStatus),
    customer_id: Type.Optional(Uuid),
    campaign_id: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);
export type MessageListQuery = Static<typeof MessageListQuery>;

const messageFields = {
  id: Uuid,
  channel: Channel,
  customer_id: Nullable(Uuid),
  to: Nullable(Type.String()),
  status: MessageStatus,
  reason: Nullable(Type.String()),
  source: Type.Object({ kind: Type.String(), id: Type.String(), step_id: Nullable(Type.String()) }),
  campaign_id: Nullable(Uuid),
  variant: Nullable(Type.String()),
  transport: Nullable(Type.String({ description: 'smtp, twilio, or local (stored only, nothing sent)' })),
  message_id_header: Nullable(Type.String()),
  provider_id: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  sms_segments: Nullable(Type.Integer()),
  sms_encoding: Nullable(Type.String()),
  send_after: Nullable(DateTime),
  attempts: Type.Integer(),
  last_error: Nullable(Type.String()),
  created_at: DateTime,
  sent_at: Nullable(DateTime),
  opened_at: Nullable(DateTime),
  clicked_at: Nullable(DateTime),
  bounced_at: Nullable(DateTime),
  complained_at: Nullable(DateTime),
  unsubscribed_at: Nullable(DateTime),
};

export const Message = Type.Object(messageFields, { title: 'Message' });
export const MessageDetail = Type.Object(
  {
    ...messageFields,
    html: Nullable(Type.String()),
    text: Nullable(Type.String()),
    headers: Type.Record(Type.String(), Type.String()),
  },
  { title: 'MessageDetail' },
);
export const MessagePage = Type.Object({ data: Type.Array(Message), next_cursor: Nullable(Type.String()) });

export const MessagingSettings = Type.Object({
  email_transport: Type.String(),
  sms_transport: Type.String(),
  sms_inbound_url: Type.String({ description: 'give this URL to the SMS provider for replies (STOP handling)' }),
  email_events_url: Type.String({ description: 'POST bounces and complaints here' }),
});

export const TokenQuery = Type.Object({ token: Type.String({ minLength: 10, maxLength: 2000 }) }, { additionalProperties: true });

export const SmsInboundBody = Type.Object(
  { From: Type.String({ minLength: 1, maxLength: 40 }), Body: Type.String({ maxLength: 2000 }) },
  { additionalProperties: true },
);

export const EmailEventsBody = Type.Object(
  {
    events: Type.Array(
      Type.Object(
        {
          type: Type.Union([Type.Literal('bounce'), Type.Literal('complaint'), Type.Literal('delivered')]),
          email: Type.Optional(Type.String({ maxLength: 320 })),
          message_id: Type.Optional(Type.String({ maxLength: 500, description: 'our message id or its Message-ID header' })),
          bounce_type: Type.Optional(Type.Union([Type.Literal('hard'), Type.Literal('soft')])),
          occurred_at: Type.Optional(Type.String({ format: 'date-time' })),
          reason: Type.Optional(Type.String({ maxLength: 1000 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
);
export type EmailEventsBody = Static<typeof EmailEventsBody>;

export const EmailEventsResult = Type.Object({ accepted: Type.Integer(), unmatched: Type.Integer() });
