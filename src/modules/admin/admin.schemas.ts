import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';

export const Tenant = Type.Object({
  id: Uuid,
  name: Type.String(),
  currency: Type.String({ description: 'ISO 4217 code every amount of the tenant is in' }),
  timezone: Type.String({ description: 'IANA time zone, for showing dates' }),
  created_at: DateTime,
});

const Cell = Type.Object({
  recency: Type.Integer({ minimum: 1, maximum: 5 }),
  frequency: Type.Integer({ minimum: 1, maximum: 5 }),
  customers: Type.Integer(),
  revenue: Type.Number(),
  segment: Type.String({ description: 'the most common RFM segment among the cell\'s customers (monetary score decides between several)' }),
});

export const RfmGrid = Type.Object({
  customers: Type.Integer({ description: 'scored customers (buyers)' }),
  cells: Type.Array(Cell, { description: 'only cells with customers' }),
});

export const CustomerScores = Type.Object({
  customer_id: Uuid,
  rfm_segment: Nullable(Type.String()),
  rfm_recency: Nullable(Type.Integer()),
  rfm_frequency: Nullable(Type.Integer()),
  rfm_monetary: Nullable(Type.Integer()),
  lifecycle_stage: Nullable(Type.String()),
  churn_risk: Nullable(Type.Number({ description: '0–1, from the last score refresh' })),
  p_alive: Nullable(Type.Number()),
  engagement_score: Nullable(Type.Integer()),
  predicted_clv: Nullable(Type.Number()),
});
