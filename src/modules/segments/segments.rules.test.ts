import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDialect } from 'drizzle-orm/pg-core';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { compileRules, MAX_CONDITIONS, MAX_DEPTH, parseDuration, parseRules } from './segments.rules.js';
import {
  ago, expectInvalidRule, insertActivity, insertAttendance, insertCart, insertCustomer, insertOrder, insertShow, matching, sorted,
} from './segments.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const leaf = (field: string, operator: string, value?: unknown) => (value === undefined ? { field, operator } : { field, operator, value });
const and = (...conditions: unknown[]) => ({ operator: 'and', conditions });

describe('rule validation', () => {
  it('accepts seed 001 nested rules and stores them normalized', () => {
    const rules = parseRules({
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 100 },
        { operator: 'or', conditions: [
          { field: 'last_purchase', operator: 'within', value: '90d' },
          { field: 'events_attended', operator: '>=', value: 3 },
        ] },
      ],
    });
    expect(rules).toEqual({
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 100 },
        { operator: 'or', conditions: [
          { field: 'last_purchase', operator: 'within', value: '90d' },
          { field: 'events_attended', operator: '>=', value: 3 },
        ] },
      ],
    });
  });

  it('normalizes seed 002 list form and seed 003 operator aliases', () => {
    expect(parseRules({
      conditions: [
        { type: 'total_spent', operator: '>=', value: 100 },
        { type: 'orders_count', operator: 'gte', value: 3 },
        { type: 'tag', value: 'VIP' },
      ],
    })).toEqual({
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 100 },
        { field: 'total_orders', operator: '>=', value: 3 },
        { field: 'tags', operator: 'contains', value: 'vip' },
      ],
    });
    const ops = { eq: '=', neq: '!=', gt: '>', lt: '<', gte: '>=', lte: '<=' };
    for (const [alias, op] of Object.entries(ops)) {
      expect(parseRules(and(leaf('total_orders', alias, 2))).conditions[0]).toEqual(leaf('total_orders', op, 2));
    }
    expect(parseRules(and(leaf('city', 'IN', ['Cluj']))).conditions[0]).toEqual(leaf('city', 'in', ['Cluj']));
    expect(parseRules(and(leaf('total_spend', 'between', [10, 20]))).conditions[0]).toEqual(leaf('total_spend', 'between', [10, 20]));
    // a bare list is an "and" group too
    expect(parseRules([leaf('is_vip', 'eq', true)])).toEqual(and(leaf('is_vip', '=', true)));
  });

  it('points at the offending condition', () => {
    const nested = (bad: unknown) => and(leaf('total_spend', '>=', 1), { operator: 'or', conditions: [bad] });
    expectInvalidRule(() => parseRules(nested(leaf('nope', '=', 1))), 'conditions[1].conditions[0].field');
    expectInvalidRule(() => parseRules(nested(leaf('total_spend', 'contains', 'x'))), 'conditions[1].conditions[0].operator');
    expectInvalidRule(() => parseRules(nested(leaf('total_spend', 'frobnicate', 1))), 'conditions[1].conditions[0].operator');
    expectInvalidRule(() => parseRules(nested(leaf('total_spend', '>=', '100'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('last_purchase', 'within', '90 days'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('last_purchase', 'within', '0d'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('city', 'in', []))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('city', 'in', ['a', 3]))), 'conditions[1].conditions[0].value[1]');
    expectInvalidRule(() => parseRules(nested(leaf('total_spend', 'between', [5, 1]))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('status', '=', 'sleeping'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('is_vip', '=', 'yes'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('birthday', '>', '2020-01-01'))), 'conditions[1].conditions[0].operator');
    expectInvalidRule(() => parseRules(nested(leaf('last_purchase', 'anniversary_within', '7d'))), 'conditions[1].conditions[0].operator');
    expectInvalidRule(() => parseRules(nested(leaf('birthday', 'anniversary_within', '2m'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('created_at', 'before', 'yesterday'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('custom.bad key', '=', 'x'))), 'conditions[1].conditions[0].field');
    expectInvalidRule(() => parseRules(nested(leaf('purchased', 'exists', { genre: 'rock', when: '9d' }))), 'conditions[1].conditions[0].value.when');
    expectInvalidRule(() => parseRules(nested(leaf('purchased', 'exists', { min_count: 0 }))), 'conditions[1].conditions[0].value.min_count');
    expectInvalidRule(() => parseRules(nested(leaf('email_opened', 'exists', { genre: 'rock' }))), 'conditions[1].conditions[0].value.genre');
    expectInvalidRule(() => parseRules(nested(leaf('segment', '=', 'not-a-uuid'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested({ field: 'city', operator: '=', value: 'x', extra: 1 })), 'conditions[1].conditions[0].extra');
    expectInvalidRule(() => parseRules(nested({ operator: 'xor', conditions: [leaf('is_vip', '=', true)] })), 'conditions[1].conditions[0].operator');
    expectInvalidRule(() => parseRules(nested({ operator: 'and', conditions: [] })), 'conditions[1].conditions[0].conditions');
    expectInvalidRule(() => parseRules(nested('total_spend > 1')), 'conditions[1].conditions[0]');
    expectInvalidRule(() => parseRules({ field: 'city', operator: '=', value: 'x' }), '');
    expectInvalidRule(() => parseRules(nested(leaf('city', 'is_set', 'x'))), 'conditions[1].conditions[0].value');
    expectInvalidRule(() => parseRules(nested(leaf('total_spend', '>=', 1.234))), 'conditions[1].conditions[0].value');
  });

  it('limits depth and condition count', () => {
    let deep: unknown = leaf('is_vip', '=', true);
    for (let i = 0; i < MAX_DEPTH; i++) deep = and(deep);
    expect(() => parseRules(deep)).not.toThrow();
    deep = and(deep);
    expectInvalidRule(() => parseRules(deep), `${'conditions[0].'.repeat(MAX_DEPTH)}conditions`);
    const many = and(...Array.from({ length: MAX_CONDITIONS + 1 }, () => leaf('is_vip', '=', true)));
    expectInvalidRule(() => parseRules(many), `conditions[${MAX_CONDITIONS}]`);
  });

  it('parses durations', () => {
    expect(parseDuration('90d')).toEqual({ n: 90, unit: 'd' });
    expect(parseDuration('12w')).toEqual({ n: 12, unit: 'w' });
    expect(parseDuration('6m')).toEqual({ n: 6, unit: 'm' });
    expect(parseDuration('1y')).toEqual({ n: 1, unit: 'y' });
    for (const bad of ['90', 'd', '-1d', '1.5d', '90D ', '1h', 90, null]) expect(parseDuration(bad)).toBeNull();
  });

  it('binds every value as a parameter', () => {
    const evil = "x'; DROP TABLE customers; --";
    const compiled = compileRules(parseRules(and(
      leaf('city', '=', evil), leaf(`custom.k`, 'contains', evil), leaf('tags', 'in', [evil]),
      leaf('purchased', 'exists', { genre: evil, within: '9d' }),
    )));
    const q = new PgDialect().sqlToQuery(compiled);
    expect(q.sql).not.toContain('DROP TABLE');
    expect(JSON.stringify(q.params)).toContain('DROP TABLE');
  });
});

describe('fields and operators (SQL)', () => {
  it('numbers, money, text, enums, booleans, consent, scores, custom fields', async () => {
    const t = await createTestTenant(ctx.db);
    const a = await insertCustomer(ctx.db, t.tenantId, {
      total_spend: 500, total_orders: 6, events_attended: 5, average_order_value: 83.33, lifetime_value: 400, loyalty_points: 120,
      city: 'Cluj-Napoca', country: 'RO', gender: 'female', source: 'facebook', loyalty_tier: 'gold', customer_type: 'individual',
      consent: { marketing_email: true }, rfm_segment: 'Champions', churn_risk: 0.1234, lifecycle_stage: 'Loyal', engagement_score: 80,
      is_vip: true, predicted_clv: 900, custom_fields: { favourite_band: 'Phoenix', seats: 4 },
    });
    const b = await insertCustomer(ctx.db, t.tenantId, {
      total_spend: 50, total_orders: 1, city: 'Bucuresti', country: 'RO', status: 'inactive', customer_type: 'business',
      company_name: 'Acme', consent: { marketing_email: false, marketing_sms: true }, churn_risk: 0.9,
    });
    const c = await insertCustomer(ctx.db, t.tenantId, { total_spend: 100, total_orders: 2 });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 9999, deleted: true });
    const m = (rules: unknown) => matching(ctx.db, t.tenantId, rules);
    const one = (field: string, op: string, value?: unknown) => m(and(leaf(field, op, value)));

    expect(await one('total_spend', '>=', 100)).toEqual(sorted([a, c]));
    expect(await one('total_spend', '>', 100)).toEqual([a]);
    expect(await one('total_spent', '<', 100)).toEqual([b]);
    expect(await one('total_spend', '<=', 100)).toEqual(sorted([b, c]));
    expect(await one('total_spend', '=', 100)).toEqual([c]);
    expect(await one('total_spend', '!=', 100)).toEqual(sorted([a, b]));
    expect(await one('total_spend', 'between', [50, 100])).toEqual(sorted([b, c]));
    expect(await one('orders_count', 'in', [1, 6])).toEqual(sorted([a, b]));
    expect(await one('total_orders', 'not_in', [1, 6])).toEqual([c]);
    expect(await one('events_attended', '>=', 5)).toEqual([a]);
    expect(await one('average_order_value', '>', 80)).toEqual([a]);
    expect(await one('lifetime_value', '>=', 400)).toEqual([a]);
    expect(await one('loyalty_points', '>', 100)).toEqual([a]);
    expect(await one('predicted_clv', '>', 100)).toEqual([a]);
    expect(await one('predicted_clv', 'is_not_set')).toEqual(sorted([b, c]));

    expect(await one('city', '=', 'Cluj-Napoca')).toEqual([a]);
    expect(await one('city', '!=', 'Cluj-Napoca')).toEqual([b]); // no city: not "different"
    expect(await one('city', 'in', ['Bucuresti', 'Iasi'])).toEqual([b]);
    expect(await one('city', 'not_in', ['Bucuresti'])).toEqual([a]);
    expect(await one('city', 'contains', 'NAPO')).toEqual([a]);
    expect(await one('city', 'starts_with', 'buc')).toEqual([b]);
    expect(await one('city', 'is_set')).toEqual(sorted([a, b]));
    expect(await one('city', 'is_not_set')).toEqual([c]);
    expect(await one('country', '=', 'RO')).toEqual(sorted([a, b]));
    expect(await one('gender', '=', 'female')).toEqual([a]);
    expect(await one('source', 'in', ['facebook'])).toEqual([a]);
    expect(await one('loyalty_tier', '=', 'gold')).toEqual([a]);
    expect(await one('status', '=', 'inactive')).toEqual([b]);
    expect(await one('status', 'not_in', ['inactive', 'prospect'])).toEqual(sorted([a, c]));
    expect(await one('customer_type', '=', 'business')).toEqual([b]);
    expect(await one('consent.marketing_email', '=', true)).toEqual([a]);
    expect(await one('consent.marketing_email', '!=', true)).toEqual(sorted([b, c]));
    expect(await one('consent.marketing_sms', '=', true)).toEqual([b]);
    expect(await one('is_vip', 'eq', true)).toEqual([a]);
    expect(await one('rfm_segment', '=', 'Champions')).toEqual([a]);
    expect(await one('churn_risk', '>', 0.5)).toEqual([b]);
    expect(await one('lifecycle_stage', 'is_set')).toEqual([a]);
    expect(await one('engagement_score', '>=', 80)).toEqual([a]);
    expect(await one('custom.favourite_band', '=', 'Phoenix')).toEqual([a]);
    expect(await one('custom.seats', '=', '4')).toEqual([a]);
    expect(await one('custom.favourite_band', 'is_not_set')).toEqual(sorted([b, c]));
  });

  it('tags and genres', async () => {
    const t = await createTestTenant(ctx.db);
    const a = await insertCustomer(ctx.db, t.tenantId, { tags: ['vip', 'early-adopter'], preferences: { genres: ['rock', 'jazz'] } });
    const b = await insertCustomer(ctx.db, t.tenantId, { tags: ['newsletter'], preferences: { genres: ['pop'] } });
    const c = await insertCustomer(ctx.db, t.tenantId, { preferences: { genres: 'rock' } }); // not a list: no genres
    const one = (field: string, op: string, value?: unknown) => matching(ctx.db, t.tenantId, and(leaf(field, op, value)));
    expect(await one('tags', 'contains', 'VIP')).toEqual([a]);
    expect(await one('tags', 'contains', ['vip', 'early-adopter'])).toEqual([a]);
    expect(await one('tags', 'contains', ['vip', 'newsletter'])).toEqual([]);
    expect(await one('tags', 'in', ['vip', 'newsletter'])).toEqual(sorted([a, b]));
    expect(await one('tags', 'not_in', ['vip'])).toEqual(sorted([b, c]));
    expect(await one('tags', 'is_not_set')).toEqual([c]);
    expect(await matching(ctx.db, t.tenantId, { conditions: [{ type: 'tag', value: 'newsletter' }] })).toEqual([b]);
    expect(await one('genres', 'contains', 'rock')).toEqual([a]);
    expect(await one('genres', 'in', ['pop', 'jazz'])).toEqual(sorted([a, b]));
    expect(await one('genres', 'not_in', ['rock'])).toEqual(sorted([b, c]));
    expect(await one('genres', 'is_set')).toEqual(sorted([a, b]));
  });

  it('dates: within, before, after, between, is_set, and the negative-window rule', async () => {
    const t = await createTestTenant(ctx.db);
    const recent = await insertCustomer(ctx.db, t.tenantId, { last_purchase: ago(10), first_purchase: ago(400), created_at: ago(500) });
    const lapsed = await insertCustomer(ctx.db, t.tenantId, { last_purchase: ago(200), first_purchase: ago(300), created_at: ago(300) });
    const neverOld = await insertCustomer(ctx.db, t.tenantId, { created_at: ago(120) });
    const neverNew = await insertCustomer(ctx.db, t.tenantId, { created_at: ago(30) });
    const one = (field: string, op: string, value?: unknown) => matching(ctx.db, t.tenantId, and(leaf(field, op, value)));
    expect(await one('last_purchase', 'within', '90d')).toEqual([recent]);
    expect(await one('last_purchase', 'within', '12w')).toEqual([recent]);
    expect(await one('last_purchase', 'within', '1y')).toEqual(sorted([recent, lapsed]));
    expect(await one('last_purchase', 'within', '6m')).toEqual(sorted([recent]));
    // no purchase in 90 days: lapsed buyers, and never-buyers who have been customers for 90 days
    expect(await one('last_purchase', 'not_within', '90d')).toEqual(sorted([lapsed, neverOld]));
    expect(await one('last_purchase', 'not_within', '1y')).toEqual(sorted([]));
    expect(await one('created_at', 'not_within', '60d')).toEqual(sorted([recent, lapsed, neverOld]));
    expect(await one('last_purchase', 'is_not_set')).toEqual(sorted([neverOld, neverNew]));
    expect(await one('last_purchase', 'before', ago(100).slice(0, 10))).toEqual([lapsed]);
    expect(await one('last_purchase', 'after', ago(100))).toEqual([recent]);
    expect(await one('first_purchase', 'between', [ago(350), ago(250)])).toEqual([lapsed]);
    expect(await one('created_at', '<', ago(400))).toEqual([recent]);
    expect(await one('created_at', '>=', ago(60))).toEqual([neverNew]);
  });

  it('anniversaries across the year end, Feb 29, and age', async () => {
    const t = await createTestTenant(ctx.db);
    const jan = await insertCustomer(ctx.db, t.tenantId, { date_of_birth: '1990-01-05', first_purchase: '2023-12-25T10:00:00Z' });
    const dec = await insertCustomer(ctx.db, t.tenantId, { date_of_birth: '1985-12-19', first_purchase: '2024-06-01T10:00:00Z' });
    const leap = await insertCustomer(ctx.db, t.tenantId, { date_of_birth: '2000-02-29' });
    await insertCustomer(ctx.db, t.tenantId, {});
    const at = (now: string, rules: unknown) => matching(ctx.db, t.tenantId, rules, new Date(now));
    const dec20 = '2026-12-20T12:00:00Z';
    // Jan 5 is 16 days after Dec 20; Dec 19 was yesterday (next one in 364 days)
    expect(await at(dec20, and(leaf('birthday', 'anniversary_within', '30d')))).toEqual([jan]);
    expect(await at(dec20, and(leaf('birthday', 'anniversary_within', '15d')))).toEqual([]);
    expect(await at(dec20, and(leaf('birthday', 'anniversary_within', '16d')))).toEqual([jan]);
    expect(await at('2026-12-19T23:59:00Z', and(leaf('birthday', 'anniversary_within', '0d')))).toEqual([dec]);
    expect(await at(dec20, and(leaf('first_purchase', 'anniversary_within', '1w')))).toEqual([jan]);
    // born Feb 29: the anniversary falls on Feb 28 in common years
    expect(await at('2027-02-20T00:00:00Z', and(leaf('birthday', 'anniversary_within', '8d')))).toEqual([leap]);
    expect(await at('2027-02-20T00:00:00Z', and(leaf('birthday', 'anniversary_within', '7d')))).toEqual([]);
    expect(await at('2028-02-28T00:00:00Z', and(leaf('birthday', 'anniversary_within', '0d')))).toEqual([]);
    expect(await at('2028-02-28T00:00:00Z', and(leaf('birthday', 'anniversary_within', '1d')))).toEqual([leap]);
    expect(await at(dec20, and(leaf('birthday', 'is_not_set')))).toHaveLength(1);
    expect(await at(dec20, and(leaf('age', '>=', 41)))).toEqual([dec]);
    expect(await at('2026-12-18T00:00:00Z', and(leaf('age', '=', 40)))).toEqual([dec]);
    expect(await at(dec20, and(leaf('age', 'between', [26, 36])))).toEqual(sorted([jan, leap]));
  });

  it('behavior: purchased, attended, e-mail opens/clicks and abandoned carts with windows and min_count', async () => {
    const t = await createTestTenant(ctx.db);
    await insertShow(ctx.db, t.tenantId, 'ev_rock', { genres: ['rock'], venue: 'Arenele Romane' });
    await insertShow(ctx.db, t.tenantId, 'ev_jazz', { genres: ['jazz'], venue: 'Sala Radio' });
    const rocker = await insertCustomer(ctx.db, t.tenantId);
    await insertOrder(ctx.db, t.tenantId, rocker, { at: ago(10), items: [{ event_id: 'ev_rock' }] });
    await insertOrder(ctx.db, t.tenantId, rocker, { at: ago(20), items: [{ event_id: 'ev_rock' }, { event_id: 'ev_jazz' }] });
    await insertAttendance(ctx.db, t.tenantId, rocker, 'ev_rock', ago(5));
    await insertActivity(ctx.db, t.tenantId, rocker, 'email.opened', ago(3), { campaign_id: 'cmp_1' });
    await insertActivity(ctx.db, t.tenantId, rocker, 'email.opened', ago(2), { campaign_id: 'cmp_2' });
    const jazzOld = await insertCustomer(ctx.db, t.tenantId, { created_at: ago(400) });
    await insertOrder(ctx.db, t.tenantId, jazzOld, { at: ago(200), items: [{ event_id: 'ev_jazz' }] });
    await insertOrder(ctx.db, t.tenantId, jazzOld, { at: ago(5), status: 'refunded', items: [{ event_id: 'ev_rock' }] });
    await insertOrder(ctx.db, t.tenantId, jazzOld, { at: ago(5), status: 'cancelled', items: [{ event_id: 'ev_rock' }] });
    await insertAttendance(ctx.db, t.tenantId, jazzOld, 'ev_jazz', ago(199));
    await insertAttendance(ctx.db, t.tenantId, jazzOld, 'ev_rock', ago(150));
    await insertActivity(ctx.db, t.tenantId, jazzOld, 'email.clicked', ago(40), { campaign_id: 'cmp_1', url: 'https://x' });
    await insertCart(ctx.db, t.tenantId, jazzOld, { status: 'abandoned', at: ago(2) });
    const cartOnly = await insertCustomer(ctx.db, t.tenantId);
    await insertCart(ctx.db, t.tenantId, cartOnly, { status: 'abandoned', at: ago(60) });
    await insertCart(ctx.db, t.tenantId, cartOnly, { status: 'open', at: ago(1) });
    const one = (field: string, op: string, value?: unknown) => matching(ctx.db, t.tenantId, and(leaf(field, op, value)));

    expect(await one('purchased', 'exists')).toEqual(sorted([rocker, jazzOld]));
    expect(await one('purchased', 'exists', { genre: 'rock' })).toEqual([rocker]); // refunded/cancelled orders are no purchase
    expect(await one('purchased', 'exists', { genre: 'rock', within: '90d', min_count: 2 })).toEqual([rocker]);
    expect(await one('purchased', 'exists', { genre: 'rock', min_count: 3 })).toEqual([]);
    expect(await one('purchased', 'exists', { genre: 'jazz', within: '90d' })).toEqual([rocker]);
    expect(await one('purchased', 'exists', { event_id: 'ev_jazz' })).toEqual(sorted([rocker, jazzOld]));
    expect(await one('purchased', 'exists', { venue: 'Sala Radio', within: '30d' })).toEqual([rocker]);
    expect(await one('purchased', 'not_exists', { within: '90d' })).toEqual(sorted([jazzOld, cartOnly]));
    expect(await one('purchased', 'exists', { min_count: 2 })).toEqual([rocker]);
    expect(await one('attended', 'exists', { genre: 'jazz' })).toEqual([jazzOld]);
    expect(await one('attended', 'exists', { min_count: 2 })).toEqual([jazzOld]);
    expect(await one('attended', 'exists', { within: '30d' })).toEqual([rocker]);
    expect(await one('attended', 'exists', { venue: 'Arenele Romane' })).toEqual(sorted([rocker, jazzOld]));
    expect(await one('attended', 'not_exists')).toEqual([cartOnly]);
    expect(await one('email_opened', 'exists', { min_count: 2, within: '7d' })).toEqual([rocker]);
    expect(await one('email_opened', 'exists', { campaign_id: 'cmp_2' })).toEqual([rocker]);
    expect(await one('email_clicked', 'exists', { campaign_id: 'cmp_1' })).toEqual([jazzOld]);
    expect(await one('email_clicked', 'exists', { within: '30d' })).toEqual([]);
    expect(await one('abandoned_cart', 'exists', { within: '7d' })).toEqual([jazzOld]);
    expect(await one('abandoned_cart', 'exists')).toEqual(sorted([jazzOld, cartOnly]));
    expect(await one('abandoned_cart', 'not_exists')).toEqual([rocker]);
  });

  it('seed 001 nested example, or and not groups', async () => {
    const t = await createTestTenant(ctx.db);
    const recentBuyer = await insertCustomer(ctx.db, t.tenantId, { total_spend: 150, last_purchase: ago(30), events_attended: 0 });
    const loyalFan = await insertCustomer(ctx.db, t.tenantId, { total_spend: 300, last_purchase: ago(200), events_attended: 4 });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 300, last_purchase: ago(200), events_attended: 1 });
    await insertCustomer(ctx.db, t.tenantId, { total_spend: 50, last_purchase: ago(5), events_attended: 9 });
    const seed001 = {
      operator: 'and',
      conditions: [
        { field: 'total_spend', operator: '>=', value: 100 },
        { operator: 'or', conditions: [
          { field: 'last_purchase', operator: 'within', value: '90d' },
          { field: 'events_attended', operator: '>=', value: 3 },
        ] },
      ],
    };
    expect(await matching(ctx.db, t.tenantId, seed001)).toEqual(sorted([recentBuyer, loyalFan]));
    const negated = { operator: 'and', conditions: [{ field: 'total_spend', operator: '>=', value: 100 }, { operator: 'not', conditions: [seed001] }] };
    expect(await matching(ctx.db, t.tenantId, negated)).toHaveLength(1);
  });
});
