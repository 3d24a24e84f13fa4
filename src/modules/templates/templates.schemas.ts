import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, PageQuery, Uuid } from '../../lib/schemas.js';

const Channel = Type.Union([Type.Literal('email'), Type.Literal('sms')]);
const Format = Type.Union([Type.Literal('mjml'), Type.Literal('html'), Type.Literal('text')]);

export const TemplateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(Channel),
    subject: Type.Optional(Nullable(Type.String({ maxLength: 500, description: 'Liquid; required for e-mail' }))),
    preheader: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    format: Type.Optional(Format),
    body: Type.String({
      minLength: 1, maxLength: 300_000,
      description: 'MJML (starts with <mjml>) or HTML for e-mail, text for SMS; LiquidJS: {{ customer.first_name }}, metrics, recommendations, unsubscribe_url',
    }),
  },
  { additionalProperties: false },
);
export type TemplateBody = Static<typeof TemplateBody>;

export const Template = Type.Object(
  {
    id: Uuid,
    name: Type.String(),
    channel: Channel,
    subject: Nullable(Type.String()),
    preheader: Nullable(Type.String()),
    format: Format,
    body: Type.String(),
    created_by: Nullable(Type.String()),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'Template' },
);
export const TemplatePage = Type.Object({ data: Type.Array(Template), next_cursor: Nullable(Type.String()) });
export const TemplateListQuery = Type.Object({ ...PageQuery, channel: Type.Optional(Channel) }, { additionalProperties: false });

export const PreviewBody = Type.Object(
  { customer_id: Uuid, context: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'extra Liquid variables' })) },
  { additionalProperties: false },
);
export const DraftPreviewBody = Type.Object(
  {
    customer_id: Uuid,
    channel: TemplateBody.properties.channel,
    subject: TemplateBody.properties.subject,
    preheader: TemplateBody.properties.preheader,
    format: TemplateBody.properties.format,
    body: TemplateBody.properties.body,
    context: PreviewBody.properties.context,
  },
  { additionalProperties: false },
);
export type DraftPreviewBody = Static<typeof DraftPreviewBody>;
export const Preview = Type.Object({
  subject: Nullable(Type.String()),
  preheader: Nullable(Type.String()),
  html: Nullable(Type.String()),
  text: Type.String(),
});
