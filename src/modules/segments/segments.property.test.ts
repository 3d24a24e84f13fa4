import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, type TestContext } from '../../test/helpers.js';
import { compileRules, evaluateRules, parseRules, type CustomerFacts } from './segments.rules.js';

/**
 * For random valid rules over a fixed set of profile fields and random customers in the
 * database, the compiled SQL predicate selects exactly the customers the in-memory evaluator
 * accepts (both at the same instant).
 */

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const NOW = new Date('2026-03-15T10:30:00.000Z');
const DAY = 86_400_000;

const atOffset = fc.tuple(fc.integer({ min: 0, max: 900 }), fc.integer({ min: 0, max: DAY - 1 }))
  .map(([d, ms]) => new Date(NOW.getTime() - d * DAY - ms).toISOString());
const birthDate = fc.oneof(
  fc.constant('2000-02-29'),
  fc.constant('1990-03-20'),
  fc.constant('1980-12-31'),
  fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2010-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
);
const TAGS = ['vip', 'rock', 'jazz', 'newsletter'];
const GENRES = ['rock', 'jazz', 'pop'];
const CITIES = ['Cluj', 'cluj-napoca', 'Iasi', 'Bucuresti'];

const customerArb = fc.record({
  total_spend: fc.integer({ min: 0, max: 100000 }).map((c) => c / 100),
  total_orders: fc.integer({ min: 0, max: 12 }),
  events_attended: fc.integer({ min: 0, max: 8 }),
  city: fc.option(fc.constantFrom(...CITIES, ''), { nil: null }),
  country: fc.option(fc.constantFrom('RO', 'HU'), { nil: null }),
  status: fc.constantFrom('active', 'inactive', 'prospect'),
  tags: fc.subarray(TAGS),
  genres: fc.oneof(fc.subarray(GENRES), fc.constant('rock'), fc.constant(undefined)),
  consent: fc.constantFrom({}, { marketing_email: true }, { marketing_email: false }),
  is_vip: fc.boolean(),
  last_purchase: fc.option(atOffset, { nil: null }),
  created_at: atOffset,
  date_of_birth: fc.option(birthDate, { nil: null }),
  churn_risk: fc.option(fc.integer({ min: 0, max: 10000 }).map((x) => x / 10000), { nil: null }),
  band: fc.option(fc.constantFrom('Phoenix', 'Subcarpati'), { nil: null }),
});
type Gen = typeof customerArb extends fc.Arbitrary<infer T> ? T : never;

const leaf = (field: string, operator: string, value?: unknown) => (value === undefined ? { field, operator } : { field, operator, value });
const money = fc.integer({ min: 0, max: 100000 }).map((c) => c / 100);
const small = fc.integer({ min: 0, max: 12 });
const duration = fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom('d', 'w', 'm', 'y'))
  .map(([n, u]) => `${u === 'd' ? n : u === 'w' ? Math.ceil(n / 7) : u === 'm' ? Math.ceil(n / 30) : Math.ceil(n / 365)}${u}`);
const dateValue = atOffset.chain((iso) => fc.constantFrom(iso, iso.slice(0, 10)));
const nullableOps = fc.constantFrom('is_set', 'is_not_set');

const leafArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.constantFrom('=', '!=', '>', '>=', '<', '<='), money).map(([op, v]) => leaf('total_spend', op, v)),
  fc.tuple(money, money).map(([a, b]) => leaf('total_spent', 'between', [Math.min(a, b), Math.max(a, b)])),
  fc.tuple(fc.constantFrom('eq', 'neq', 'gt', 'gte', 'lt', 'lte'), small).map(([op, v]) => leaf('orders_count', op, v)),
  fc.tuple(fc.constantFrom('in', 'not_in'), fc.array(small, { minLength: 1, maxLength: 3 })).map(([op, v]) => leaf('events_attended', op, v)),
  fc.tuple(fc.constantFrom('=', '!=', 'contains', 'starts_with'), fc.constantFrom(...CITIES, 'CLUJ', 'i')).map(([op, v]) => leaf('city', op, v)),
  fc.tuple(fc.constantFrom('in', 'not_in'), fc.subarray(CITIES, { minLength: 1 })).map(([op, v]) => leaf('city', op, v)),
  nullableOps.map((op) => leaf('city', op)),
  fc.tuple(fc.constantFrom('=', '!='), fc.constantFrom('RO', 'HU')).map(([op, v]) => leaf('country', op, v)),
  fc.tuple(fc.constantFrom('=', '!=', 'in', 'not_in'), fc.constantFrom('active', 'inactive', 'prospect'))
    .map(([op, v]) => leaf('status', op, op === 'in' || op === 'not_in' ? [v] : v)),
  fc.tuple(fc.constantFrom('contains', 'in', 'not_in'), fc.subarray(TAGS, { minLength: 1 })).map(([op, v]) => leaf('tags', op, v)),
  fc.constantFrom(...TAGS).map((v) => ({ type: 'tag', value: v })),
  nullableOps.map((op) => leaf('tags', op)),
  fc.tuple(fc.constantFrom('contains', 'in', 'not_in'), fc.subarray(GENRES, { minLength: 1 })).map(([op, v]) => leaf('genres', op, v)),
  nullableOps.map((op) => leaf('genres', op)),
  fc.tuple(fc.constantFrom('=', '!='), fc.boolean()).map(([op, v]) => leaf('consent.marketing_email', op, v)),
  fc.boolean().map((v) => leaf('is_vip', '=', v)),
  fc.tuple(fc.constantFrom('within', 'not_within'), duration).map(([op, v]) => leaf('last_purchase', op, v)),
  fc.tuple(fc.constantFrom('before', 'after', '>=', '<='), dateValue).map(([op, v]) => leaf('last_purchase', op, v)),
  fc.tuple(dateValue, dateValue).map(([a, b]) => leaf('created_at', 'between', a < b ? [a, b] : [b, a])),
  nullableOps.map((op) => leaf('last_purchase', op)),
  fc.tuple(fc.constantFrom('within', 'not_within'), duration).map(([op, v]) => leaf('created_at', op, v)),
  fc.integer({ min: 0, max: 366 }).map((n) => leaf('birthday', 'anniversary_within', `${n}d`)),
  fc.tuple(fc.constantFrom('>=', '<', '='), fc.integer({ min: 10, max: 80 })).map(([op, v]) => leaf('age', op, v)),
  fc.tuple(fc.constantFrom('>', '<=', 'is_set'), fc.integer({ min: 0, max: 10000 }).map((x) => x / 10000))
    .map(([op, v]) => (op === 'is_set' ? leaf('churn_risk', op) : leaf('churn_risk', op, v))),
  fc.tuple(fc.constantFrom('=', '!=', 'is_not_set'), fc.constantFrom('Phoenix', 'Subcarpati'))
    .map(([op, v]) => (op === 'is_not_set' ? leaf('custom.band', op) : leaf('custom.band', op, v))),
);

const { rule } = fc.letrec<{ rule: unknown; group: unknown }>((tie) => ({
  rule: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('group')),
  group: fc.record({
    operator: fc.constantFrom('and', 'or', 'not'),
    conditions: fc.array(tie('rule'), { minLength: 1, maxLength: 4 }),
  }),
}));
const rootArb = fc.record({ operator: fc.constantFrom('and', 'or', 'not'), conditions: fc.array(rule, { minLength: 1, maxLength: 4 }) });

interface FactRow extends Omit<CustomerFacts, 'now' | 'genres' | 'consent_email' | 'consent_sms'> {
  id: string;
  genres: unknown;
  consent_email: boolean;
  consent_sms: boolean;
}

async function insertAll(customers: Gen[]): Promise<{ tenantId: string; facts: (CustomerFacts & { id: string })[] }> {
  const tenant = await ctx.db.one<{ id: string }>(sql`INSERT INTO tenants (name) VALUES ('property') RETURNING id`);
  const tenantId = tenant!.id;
  const payload = JSON.stringify(customers.map((c) => ({
    ...c,
    preferences: c.genres === undefined ? {} : { genres: c.genres },
    custom_fields: c.band === null ? {} : { band: c.band },
  })));
  await ctx.db.run(sql`
    INSERT INTO customers (tenant_id, first_name, total_spend, total_orders, events_attended, city, country, status, tags,
      preferences, consent, custom_fields, is_vip, last_purchase, created_at, date_of_birth, churn_risk)
    SELECT ${tenantId}::uuid, 'P', x.total_spend, x.total_orders, x.events_attended, x.city, x.country, x.status,
      ARRAY(SELECT jsonb_array_elements_text(x.tags)), x.preferences, x.consent, x.custom_fields, x.is_vip, x.last_purchase,
      x.created_at, x.date_of_birth, x.churn_risk
    FROM jsonb_to_recordset(${payload}::jsonb) AS x(total_spend numeric, total_orders int, events_attended int, city text,
      country text, status text, tags jsonb, preferences jsonb, consent jsonb, custom_fields jsonb, is_vip boolean,
      last_purchase timestamptz, created_at timestamptz, date_of_birth date, churn_risk numeric)`);
  const rows = await ctx.db.rows<FactRow>(sql`
    SELECT c.id, c.total_spend, c.total_orders, c.events_attended, c.average_order_value, c.lifetime_value, c.predicted_clv,
      c.loyalty_points, c.last_purchase, c.first_purchase, c.created_at, c.city, c.country, c.gender, c.source, c.loyalty_tier,
      c.rfm_segment, c.lifecycle_stage, c.customer_type, c.status, c.date_of_birth, c.tags, c.preferences -> 'genres' AS genres,
      coalesce(c.consent -> 'marketing_email' = 'true'::jsonb, false) AS consent_email,
      coalesce(c.consent -> 'marketing_sms' = 'true'::jsonb, false) AS consent_sms,
      c.is_vip, c.churn_risk, c.p_alive, c.engagement_score, c.rfm_recency, c.rfm_frequency, c.rfm_monetary, c.custom_fields
    FROM customers c WHERE c.tenant_id = ${tenantId}::uuid`);
  return { tenantId, facts: rows.map((r) => ({ ...r, now: NOW })) };
}

describe('compiled SQL agrees with the in-memory evaluator', () => {
  it('for random rules and random customers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(customerArb, { minLength: 1, maxLength: 12 }), rootArb, async (customers, input) => {
        const rules = parseRules(input);
        const { tenantId, facts } = await insertAll(customers);
        const rows = await ctx.db.rows<{ id: string }>(sql`
          SELECT c.id FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND (${compileRules(rules, { now: NOW })})`);
        const viaSql = rows.map((r) => r.id).sort();
        const inMemory = facts.filter((f) => evaluateRules(rules, f)).map((f) => f.id).sort();
        expect(viaSql).toEqual(inMemory);
      }),
      { numRuns: 100 },
    );
  });
});
