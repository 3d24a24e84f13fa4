import { Type } from '@sinclair/typebox';
import { DateOnly, DateTime, ErrorResponse, Money, Nullable, Uuid } from '../../lib/schemas.js';

const Count = Type.Integer({ minimum: 0 });
const Amount = Type.Number({ description: 'tenant currency, two decimals' });
const ScoreCounts = Type.Record(Type.String(), Count, { description: 'customers per score "1"…"5"' });

export const RfmResponse = Type.Object({
  segments: Type.Array(
    Type.Object({
      name: Type.String(),
      count: Count,
      percentage: Type.Number({ description: 'share of the customers with an RFM score, in %' }),
      avgRevenue: Amount,
      totalRevenue: Amount,
    }),
    { description: 'all eleven segments, in seed 003 order, zeros included' },
  ),
  distribution: Type.Object({ recency: ScoreCounts, frequency: ScoreCounts, monetary: ScoreCounts }),
  customers: Type.Integer({ minimum: 0, description: 'customers with at least one completed order (the scored base)' }),
});

const TimeUnit = Type.Union([Type.Literal('week'), Type.Literal('day')]);

export const ClvQuery = Type.Object(
  {
    as_of: Type.Optional(Type.String({ format: 'date', description: 'calibration end (YYYY-MM-DD, tenant-local); default today' })),
    time_unit: Type.Optional(TimeUnit),
    horizon: Type.Optional(Type.Number({
      exclusiveMinimum: 0, maximum: 3660,
      description: 'prediction horizon in time_units (at most 3660); default LTV_CALCULATION_PERIOD_DAYS converted',
    })),
  },
  { additionalProperties: false },
);

export const LtvQuery = Type.Object(
  {
    ...ClvQuery.properties,
    top: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'how many top customers' })),
  },
  { additionalProperties: false },
);

export const CustomerClvResponse = Type.Object({
  p_alive: Nullable(Type.Number({ description: 'BG/NBD probability the customer is still active at as_of' })),
  expected_purchases: Nullable(Type.Number({ description: 'expected purchases (purchase days) over the horizon' })),
  expected_average_order_value: Nullable(Amount),
  predicted_clv: Nullable(Type.Number({ description: 'discounted (CLV_DISCOUNT_RATE) expected spend over the horizon' })),
  historic_clv: Amount,
  horizon: Type.Number(),
  time_unit: TimeUnit,
  as_of: DateOnly,
});

const ModelJson = Type.Object({
  bgnbd: Type.Object({ r: Type.Number(), alpha: Type.Number(), a: Type.Number(), b: Type.Number(), log_likelihood: Type.Number() }),
  gamma_gamma: Type.Object({ p: Type.Number(), q: Type.Number(), v: Type.Number({ description: 'γ of Fader & Hardie note 025' }), log_likelihood: Type.Number() }),
  customers: Count,
  repeat_customers: Count,
  as_of: DateOnly,
  time_unit: TimeUnit,
});

const ValueGroup = {
  customers: Count,
  historic_clv: Amount,
  predicted_clv: Amount,
  average_predicted_clv: Amount,
};

export const LtvResponse = Type.Object({
  model: ModelJson,
  distribution: Type.Object({
    customers: Count,
    total_predicted_clv: Amount,
    mean: Amount,
    median: Amount,
    p90: Amount,
    buckets: Type.Array(Type.Object({ min: Type.Number(), max: Nullable(Type.Number()), count: Count })),
  }),
  by_segment: Type.Array(Type.Object({ segment: Nullable(Type.String({ description: 'RFM segment' })), ...ValueGroup })),
  by_source: Type.Array(Type.Object({
    source: Nullable(Type.String({ description: 'acquisition source (customers.source)' })),
    ...ValueGroup,
    acquisition_cost: Nullable(Amount),
    cost_per_customer: Nullable(Amount),
    roi: Nullable(Type.Number({ description: '(historic + predicted CLV − cost) / cost' })),
  })),
  top_customers: Type.Array(Type.Object({
    customer_id: Uuid,
    name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    external_id: Nullable(Type.String()),
    ...CustomerClvResponse.properties,
  })),
});

export const RefreshResponse = Type.Object({
  tenant_id: Uuid,
  as_of: DateOnly,
  model: Type.Object({
    status: Type.Union([Type.Literal('fitted'), Type.Literal('unavailable')]),
    customers: Type.Optional(Count),
    reason: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  }),
  rfm_updated: Count,
  clv_updated: Count,
  scores_updated: Count,
  lifecycle_changes: Count,
  vip_changes: Type.Integer({ minimum: 0, description: 'customers whose is_vip flag changed' }),
  timings_ms: Type.Optional(Type.Object({
    statistics: Count, fit: Count, predict: Count, compute: Count, write: Count, vip: Count,
  }, { description: 'milliseconds per part of the refresh: purchase statistics, model fit, predictions, the set-based computation of every score, writing the changes, the VIP rule' })),
});

const AcquisitionCost = Type.Object(
  { source: Type.String({ minLength: 1, maxLength: 100 }), cost: Money },
  { additionalProperties: false, description: 'total spent acquiring the customers of this source' },
);

export const AcquisitionCostsBody = Type.Object(
  { costs: Type.Array(AcquisitionCost, { maxItems: 1000 }) },
  { additionalProperties: false },
);

export const AcquisitionCostsResponse = Type.Object({
  data: Type.Array(Type.Object({ ...AcquisitionCost.properties, updated_at: DateTime })),
});

const Rate = Nullable(Type.Number({ description: 'fraction (0.25 = 25 %); null when the base is empty' }));

export const OverviewResponse = Type.Object({
  generated_at: DateTime,
  customers: Type.Object({ total: Count, buyers: Count }),
  active: Type.Object(
    { last_30_days: Count, last_60_days: Count, last_90_days: Count },
    { description: 'customers whose last purchase is within the window' },
  ),
  acquisition: Type.Object({
    new_customers_30_days: Count,
    new_buyers_30_days: Type.Integer({ minimum: 0, description: 'first purchase in the last 30 days' }),
    rate_30_days: Type.Unsafe<number | null>({ ...Rate, description: 'new customers in 30 days / customers that existed 30 days ago' }),
  }),
  churn: Type.Object({
    threshold_days: Count,
    churned_buyers: Type.Integer({ minimum: 0, description: 'buyers without a purchase for CHURN_THRESHOLD_DAYS' }),
    rate: Type.Unsafe<number | null>({ ...Rate, description: 'churned buyers / buyers' }),
  }),
  average_ltv: Amount,
  average_predicted_clv: Nullable(Amount),
  average_engagement: Nullable(Type.Number()),
  lifecycle: Type.Record(Type.String(), Count, { description: 'customers per lifecycle stage ("none": no purchase)' }),
  segments: Type.Array(Type.Object({
    id: Uuid,
    name: Type.String(),
    customers: Count,
    entered_30_days: Count,
    exited_30_days: Count,
    growth_rate_30_days: Rate,
  })),
  ltv_distribution: Type.Object({
    customers: Count,
    mean: Amount,
    median: Amount,
    buckets: Type.Array(Type.Object({ min: Type.Number(), max: Nullable(Type.Number()), count: Count })),
  }, { description: 'lifetime value so far of the buyers over money buckets (available before the CLV model can be fitted; GET /analytics/ltv has the predicted distribution)' }),
  campaigns: Type.Object({
    campaigns: Count,
    sent: Count,
    delivered: Count,
    unique_opens: Count,
    unique_clicks: Count,
    conversions: Type.Integer({ minimum: 0, description: 'recipients with an order within ATTRIBUTION_WINDOW_DAYS of an open or click' }),
    revenue: Amount,
    open_rate: Type.Unsafe<number | null>({ ...Rate, description: 'unique opens / delivered' }),
    click_rate: Type.Unsafe<number | null>({ ...Rate, description: 'unique clicks / delivered' }),
    conversion_rate: Type.Unsafe<number | null>({ ...Rate, description: 'conversions / delivered' }),
  }, { description: 'the most recent 50 campaigns together' }),
});

export const CohortsQuery = Type.Object(
  {
    period: Type.Optional(Type.Union([Type.Literal('month'), Type.Literal('week')], { default: 'month' })),
    metric: Type.Optional(Type.Union([Type.Literal('retention'), Type.Literal('revenue'), Type.Literal('customers')], { default: 'retention' })),
    cohorts: Type.Optional(Type.Integer({ minimum: 1, maximum: 104, default: 12, description: 'how many most recent cohorts' })),
  },
  { additionalProperties: false },
);

export const CohortsResponse = Type.Object({
  period: Type.String(),
  metric: Type.String(),
  cohorts: Type.Array(Type.Object({
    cohort: Type.String({ format: 'date', description: 'first day of the acquisition period (tenant-local)' }),
    customers: Type.Integer({ minimum: 0, description: 'cohort size: customers whose first purchase fell in the period' }),
    values: Type.Array(Type.Number(), { description: 'values[k]: the metric k periods after the cohort period, up to the current period' }),
  })),
});

const Histogram = Type.Object({
  count: Count,
  mean: Nullable(Type.Number()),
  median: Nullable(Type.Number()),
  buckets: Type.Array(Type.Object({ bucket: Type.String(), count: Count })),
});

export const PurchasePatternsResponse = Type.Object({
  weekday_hour: Type.Object({
    weekdays: Type.Array(Type.String()),
    orders: Type.Array(Type.Array(Count), { description: 'orders[weekday][hour], Monday first, tenant-local hours' }),
  }),
  days_before_event: Type.Unsafe<unknown>({ ...Histogram, description: 'days from purchase to the show (per order and show)' }),
  genre_affinity: Type.Array(Type.Object({
    genre: Type.String(), tickets: Count, customers: Count, revenue: Amount, share_of_tickets: Rate,
  })),
  tickets_per_order: Histogram,
  inter_purchase_days: Type.Unsafe<unknown>({ ...Histogram, description: 'days between consecutive purchase days of a customer' }),
});

export const analyticsErrors = { 422: ErrorResponse };

// ---------------------------------------------------------------------------------------------
// VIP rule (issue 4, item 7)

const VipRules = Type.Unsafe<unknown>({
  description: 'optional extra segment rule tree (README, "Segments"), ANDed with the spend criteria; may not use is_vip or segment',
  anyOf: [{ type: 'object' }, { type: 'array' }, { type: 'null' }],
});

export const VipRuleBody = Type.Object(
  {
    top_percent: Type.Number({ minimum: 0, maximum: 50, description: 'share of buyers, ranked by total_spend, that are VIP (0 = none)' }),
    min_total_spend: Nullable(Type.Number({ minimum: 0, maximum: 999_999_999_999.99, description: 'total_spend from which a customer is VIP; null disables' })),
    rules: Type.Optional(VipRules),
  },
  { additionalProperties: false },
);

export const VipRuleResponse = Type.Object({
  top_percent: Type.Number(),
  min_total_spend: Nullable(Type.Number()),
  rules: Nullable(Type.Unsafe<unknown>({ type: 'object', additionalProperties: true, description: 'normalized rule tree' })),
  is_default: Type.Boolean({ description: 'true while the tenant has not set a rule (top 5 %, or total_spend >= 5000)' }),
  updated_at: Nullable(DateTime),
  vip_customers: Count,
  became_vip: Type.Optional(Type.Integer({ minimum: 0, description: 'PUT: customers that became VIP' })),
  lost_vip: Type.Optional(Type.Integer({ minimum: 0, description: 'PUT: customers that stopped being VIP' })),
});
