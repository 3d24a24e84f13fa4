import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';

export const MAX_TIERS = 20;
const MAX_POINTS = 1_000_000_000;

export const TierName = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,49}$',
  description: 'slug: lower-case letters, digits, "_" and "-", up to 50 characters',
});

export const Tier = Type.Object(
  {
    name: TierName,
    min_points: Type.Integer({ minimum: 0, maximum: MAX_POINTS, description: 'earned points from which the tier applies' }),
    benefits: Type.Array(Type.String({ maxLength: 500 }), { maxItems: 50 }),
  },
  { title: 'LoyaltyTier' },
);

export const TiersResponse = Type.Object({ tiers: Type.Array(Tier) });

export const TierInput = Type.Object(
  {
    name: TierName,
    min_points: Type.Integer({ minimum: 0, maximum: MAX_POINTS }),
    benefits: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 50 })),
  },
  { additionalProperties: false },
);

export const PutTiersBody = Type.Object(
  {
    tiers: Type.Array(TierInput, {
      minItems: 1,
      maxItems: MAX_TIERS,
      description: 'the whole set: unique names, unique thresholds, exactly one tier at 0 points',
    }),
  },
  { additionalProperties: false },
);
export type PutTiersInput = Static<typeof PutTiersBody>;

export const PutTiersResponse = Type.Object({
  tiers: Type.Array(Tier),
  customers_changed: Type.Integer({ description: 'customers whose tier changed with the new set' }),
});

export const LoyaltyStatus = Type.Object({
  tier: Nullable(Type.String()),
  points: Type.Integer({ description: 'spendable balance' }),
  points_earned: Type.Integer({ description: 'earned net of refunds; the tier follows it' }),
  next_tier: Nullable(Type.String()),
  points_to_next_tier: Nullable(Type.Integer()),
});

export const LedgerEntry = Type.Object({
  id: Uuid,
  points: Type.Integer(),
  reason: Type.String({ description: 'order_completed, order_refunded, order_cancelled, redeemed, adjusted' }),
  ref: Nullable(Type.String()),
  note: Nullable(Type.String()),
  created_at: DateTime,
  created_by: Nullable(Type.String()),
});

export const CustomerLoyalty = Type.Object(
  {
    customer_id: Uuid,
    ...LoyaltyStatus.properties,
    ledger: Type.Array(LedgerEntry, { description: 'the last 50 entries, newest first' }),
  },
  { title: 'CustomerLoyalty' },
);

export const RedeemBody = Type.Object(
  {
    points: Type.Integer({ minimum: 1, maximum: MAX_POINTS }),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);

export const AdjustBody = Type.Object(
  {
    points: Type.Integer({ minimum: -MAX_POINTS, maximum: MAX_POINTS, not: { const: 0 }, description: 'non-zero; negative takes points away' }),
    note: Type.String({ minLength: 1, maxLength: 500, description: 'why (required)' }),
  },
  { additionalProperties: false },
);

export const LoyaltyChangeResponse = Type.Object({
  customer_id: Uuid,
  ...LoyaltyStatus.properties,
  entry: LedgerEntry,
});
