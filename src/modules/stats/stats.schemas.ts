import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';
import { INTERACTION_STATUSES, INTERACTION_TYPES } from '../interactions/interactions.schemas.js';
import { LoyaltyStatus } from '../loyalty/loyalty.schemas.js';

const Count = Type.Integer({ minimum: 0 });
const Amount = Type.Number({ description: 'tenant currency, two decimals' });

const countsOf = (keys: readonly string[]) => Type.Object(Object.fromEntries(keys.map((k) => [k, Count])));

export const ByInteractionType = countsOf(INTERACTION_TYPES);
export const ByInteractionStatus = countsOf(INTERACTION_STATUSES);

const InteractionWindow = Type.Object({ total: Count, by_type: ByInteractionType });

export const TenantStats = Type.Object(
  {
    generated_at: DateTime,
    customers: Type.Object({
      total: Count,
      by_type: countsOf(['individual', 'business']),
      by_status: countsOf(['active', 'inactive', 'prospect']),
      new_last_30_days: Count,
      active: Type.Object(
        { last_30_days: Count, last_60_days: Count, last_90_days: Count },
        { description: 'customers whose last purchase is within the window' },
      ),
      average_ltv: Amount,
    }),
    interactions: Type.Object({
      last_7_days: InteractionWindow,
      last_30_days: InteractionWindow,
      pending_follow_ups: Count,
      overdue_follow_ups: Count,
    }),
    orders: Type.Object({
      completed: Type.Integer({ minimum: 0, description: 'orders with status completed' }),
      refunded: Type.Integer({ minimum: 0, description: 'orders refunded in full' }),
      revenue: Type.Number({ description: 'completed and refunded orders: total minus refunded amount' }),
      refunds_total: Amount,
    }),
    loyalty: Type.Object({
      tiers: Type.Array(Type.Object({ name: Type.String(), min_points: Type.Integer(), customers: Count })),
      without_tier: Count,
    }),
  },
  { title: 'CrmStats', description: 'tenant-wide; deleted and merged customers are left out' },
);

export const CustomerStats = Type.Object(
  {
    customer_id: Uuid,
    interactions: Type.Object({
      total: Count,
      by_type: ByInteractionType,
      by_status: ByInteractionStatus,
      last_interaction_at: Nullable(DateTime),
    }),
    follow_ups: Type.Object({
      pending: Count,
      overdue: Count,
      next_due_at: Nullable(DateTime),
      next: Nullable(Type.Object({ id: Uuid, subject: Type.String(), priority: Type.String(), follow_up_at: DateTime })),
    }),
    orders: Type.Object({
      completed: Count,
      refunded: Count,
      total_spend: Type.Number({ description: 'completed and refunded orders: total minus refunded amount' }),
      refunds_total: Amount,
      average_order_value: Type.Number({ description: 'total_spend / completed orders' }),
      first_order_at: Nullable(DateTime),
      last_order_at: Nullable(DateTime),
    }),
    events_attended: Type.Integer({ minimum: 0, description: 'distinct events checked in' }),
    loyalty: LoyaltyStatus,
  },
  { title: 'CustomerStats' },
);
