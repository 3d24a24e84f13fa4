import { Type, type Static } from '@sinclair/typebox';
import { DateTime, DateTimeInput, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms')]);
const Format = Type.Union([Type.Literal('mjml'), Type.Literal('html'), Type.Literal('text')]);
export const CampaignStatus = Type.Union([
  Type.Literal('draft'), Type.Literal('scheduled'), Type.Literal('sending'), Type.Literal('paused'), Type.Literal('sent'), Type.Literal('cancelled'),
]);

const AbTestInput = Type.Object(
  {
    subjects: Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { minItems: 2, maxItems: 2 }),
    split_percent: Type.Optional(Type.Integer({ minimum: 2, maximum: 100, default: 20, description: 'share of the audience in the test groups (half a, half b)' })),
    metric: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('click')], { default: 'open' })),
    wait_hours: Type.Optional(Type.Number({ minimum: 0, maximum: 720, default: 4 })),
  },
  { additionalProperties: false },
);

export const CampaignBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(Channel),
    segment_id: Type.Optional(Uuid),
    segment_ids: Type.Optional(Type.Array(Uuid, { maxItems: 50 })),
    exclude_segment_ids: Type.Optional(Type.Array(Uuid, { maxItems: 50 })),
    subject: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    preheader: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    content: Type.Optional(Type.String({ minLength: 1, maxLength: 300_000, description: 'HTML, MJML or SMS text with Liquid' })),
    content_format: Type.Optional(Format),
    template_id: Type.Optional(Uuid),
    ab_test: Type.Optional(AbTestInput),
    send_at: Type.Optional(Nullable(DateTimeInput)),
  },
  { additionalProperties: false },
);
export type CampaignBody = Static<typeof CampaignBody>;

export const Campaign = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    channel: Channel,
    status: CampaignStatus,
    segment_ids: Type.Array(Uuid),
    exclude_segment_ids: Type.Array(Uuid),
    template_id: Nullable(Uuid),
    subject: Nullable(Type.String()),
    preheader: Nullable(Type.String()),
    content: Nullable(Type.String()),
    content_format: Nullable(Format),
    ab_test: Nullable(Type.Object({
      subjects: Type.Array(Type.String()), split_percent: Type.Number(), metric: Type.String(), wait_hours: Type.Number(),
    })),
    ab_winner: Nullable(Type.String()),
    ab_decide_at: Nullable(DateTime),
    send_at: Nullable(DateTime),
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
    audience_size: Nullable(Type.Integer()),
    created_by: Nullable(Type.String()),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Campaign' },
);
export const CampaignPage = Type.Object({ data: Type.Array(Campaign), next_cursor: Nullable(Type.String()) });
export const CampaignListQuery = Type.Object({ ...PageQuery, status: Type.Optional(CampaignStatus) }, { additionalProperties: false });

export const ScheduleBody = Type.Object({ send_at: DateTimeInput }, { additionalProperties: false });
export const TestBody = Type.Object({ emails: Type.Array(Type.String({ format: 'email', maxLength: 320 }), { minItems: 1, maxItems: 20 }) }, { additionalProperties: false });
export const TestResult = Type.Object({
  results: Type.Array(Type.Object({ email: Type.String(), status: Type.String(), reason: Type.Optional(Type.String()), message_id: Type.Optional(Uuid) })),
});

export const CampaignStatsQuery = Type.Object(
  { interval: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')], { default: 'hour' })) },
  { additionalProperties: false },
);
export type CampaignStatsQuery = Static<typeof CampaignStatsQuery>;

const figures = {
  recipients: Type.Integer(),
  sent: Type.Integer(),
  delivered: Type.Integer({ description: 'sent minus bounces' }),
  bounces: Type.Integer(),
  unique_opens: Type.Integer(),
  unique_clicks: Type.Integer(),
  open_rate: Type.Number(),
  ctr: Type.Number({ description: 'unique clicks / delivered' }),
  click_to_open_rate: Type.Number(),
  unsubscribes: Type.Integer(),
  suppressed: Type.Integer(),
  skipped: Type.Integer(),
  failed: Type.Integer(),
  pending: Type.Integer(),
  conversions: Type.Integer({ description: 'recipients with an order within the attribution window after an open or click' }),
  revenue: Type.Number(),
};

export const CampaignStats = Type.Object({
  campaign_id: Uuid,
  name: Type.String(),
  status: CampaignStatus,
  ...figures,
  attribution_window_days: Type.Integer(),
  links: Type.Array(Type.Object({ url: Type.String(), clicks: Type.Integer(), unique_clicks: Type.Integer() })),
  variants: Type.Array(Type.Object({ variant: Type.String(), subject: Type.String(), winner: Type.Boolean(), ...figures })),
  over_time: Type.Array(Type.Object({
    bucket: DateTime, sent: Type.Integer(), opens: Type.Integer(), clicks: Type.Integer(), bounces: Type.Integer(), unsubscribes: Type.Integer(),
  })),
}, { title: 'CampaignStats' });

export const AllStatsQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })), status: Type.Optional(CampaignStatus) },
  { additionalProperties: false },
);
export const AllStats = Type.Object({
  totals: Type.Object({
    campaigns: Type.Integer(), sent: Type.Integer(), delivered: Type.Integer(), bounces: Type.Integer(), unique_opens: Type.Integer(),
    unique_clicks: Type.Integer(), unsubscribes: Type.Integer(), conversions: Type.Integer(), revenue: Type.Number(),
    open_rate: Type.Number(), ctr: Type.Number(),
  }),
  data: Type.Array(Type.Object({
    campaign_id: Uuid, name: Type.String(), channel: Channel, status: CampaignStatus, finished_at: Nullable(DateTime), ...figures,
  })),
});

export const RecipientListQuery = Type.Object(
  { ...PageQuery, status: Type.Optional(Type.String({ maxLength: 20 })) },
  { additionalProperties: false },
);
export const RecipientPage = Type.Object({
  data: Type.Array(Type.Object({
    customer_id: Uuid, variant: Nullable(Type.String()), status: Type.String(), reason: Nullable(Type.String()), message_id: Nullable(Uuid),
    queued_at: DateTime, sent_at: Nullable(DateTime), delivered_at: Nullable(DateTime), bounced_at: Nullable(DateTime),
    opened_at: Nullable(DateTime), clicked_at: Nullable(DateTime), unsubscribed_at: Nullable(DateTime), converted_at: Nullable(DateTime),
  })),
  next_cursor: Nullable(Type.String()),
});
