import { Type } from '@sinclair/typebox';
import { Nullable, Uuid } from '../../lib/schemas.js';

export const Enrichment = Type.Object(
  {
    phone_country: Type.Optional(Nullable(Type.String())),
    phone_line_type: Type.Optional(Nullable(Type.String({ description: 'mobile, fixed_line, fixed_line_or_mobile, toll_free, voip, …' }))),
    phone_carrier: Type.Optional(Nullable(Type.String({ description: 'operator the number range was allocated to (RO mobiles)' }))),
    email_domain: Type.Optional(Nullable(Type.String())),
    free_mail: Type.Optional(Nullable(Type.Boolean())),
    company_suggestion: Type.Optional(Nullable(Type.String())),
    country: Type.Optional(Nullable(Type.String())),
    timezone: Type.Optional(Nullable(Type.String())),
    age: Type.Optional(Nullable(Type.Integer())),
    enriched_at: Type.Optional(Type.String({ format: 'date-time' })),
    external: Type.Optional(Nullable(Type.Object({}, { additionalProperties: true }))),
    external_provider: Type.Optional(Type.String()),
    external_at: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { title: 'Enrichment', description: 'derived facts; empty until the customer was enriched' },
);

export const EnrichmentResponse = Type.Object({ customer_id: Uuid, enrichment: Enrichment });
export const EnrichResponse = Type.Object({
  customer_id: Uuid,
  enrichment: Enrichment,
  external_error: Nullable(Type.String({ description: 'why the external provider gave nothing this time' })),
});
