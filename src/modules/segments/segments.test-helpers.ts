import { expect } from 'vitest';
import { sql, type Executor } from '../../db/database.js';
import type { TestContext } from '../../test/helpers.js';
import { compileRules, parseRules } from './segments.rules.js';

export const DAY = 86_400_000;
export const ago = (days: number, from = Date.now()) => new Date(from - days * DAY).toISOString();

export interface CustomerFixture {
  email?: string;
  first_name?: string;
  city?: string | null;
  country?: string | null;
  gender?: string | null;
  source?: string | null;
  status?: string;
  customer_type?: string;
  company_name?: string | null;
  date_of_birth?: string | null;
  tags?: string[];
  preferences?: Record<string, unknown>;
  consent?: Record<string, unknown>;
  custom_fields?: Record<string, unknown>;
  loyalty_tier?: string | null;
  loyalty_points?: number;
  total_orders?: number;
  total_spend?: number;
  events_attended?: number;
  average_order_value?: number;
  lifetime_value?: number;
  predicted_clv?: number | null;
  first_purchase?: string | null;
  last_purchase?: string | null;
  created_at?: string;
  rfm_segment?: string | null;
  churn_risk?: number | null;
  lifecycle_stage?: string | null;
  engagement_score?: number | null;
  is_vip?: boolean;
  deleted?: boolean;
}

/** Inserts a customer row directly (metrics as given, not derived from orders). */
export async function insertCustomer(db: Executor, tenantId: string, f: CustomerFixture = {}): Promise<string> {
  const row = await db.one<{ id: string }>(sql`
    INSERT INTO customers (tenant_id, email, first_name, city, country, gender, source, status, customer_type, company_name,
      date_of_birth, tags, preferences, consent, custom_fields, loyalty_tier, loyalty_points, total_orders, total_spend,
      events_attended, average_order_value, lifetime_value, predicted_clv, first_purchase, last_purchase, created_at,
      rfm_segment, churn_risk, lifecycle_stage, engagement_score, is_vip, deleted_at)
    VALUES (${tenantId}::uuid, ${f.email ?? null}, ${f.first_name ?? 'Ana'}, ${f.city ?? null}, ${f.country ?? null},
      ${f.gender ?? null}, ${f.source ?? null}, ${f.status ?? 'active'}, ${f.customer_type ?? 'individual'}, ${f.company_name ?? null},
      ${f.date_of_birth ?? null}::date, ${sql.param(f.tags ?? [])}::text[], ${JSON.stringify(f.preferences ?? {})}::jsonb,
      ${JSON.stringify(f.consent ?? {})}::jsonb, ${JSON.stringify(f.custom_fields ?? {})}::jsonb, ${f.loyalty_tier ?? null},
      ${f.loyalty_points ?? 0}, ${f.total_orders ?? 0}, ${f.total_spend ?? 0}, ${f.events_attended ?? 0},
      ${f.average_order_value ?? 0}, ${f.lifetime_value ?? 0}, ${f.predicted_clv ?? null}::numeric,
      ${f.first_purchase ?? null}::timestamptz, ${f.last_purchase ?? null}::timestamptz,
      ${f.created_at ?? new Date().toISOString()}::timestamptz, ${f.rfm_segment ?? null}, ${f.churn_risk ?? null}::numeric,
      ${f.lifecycle_stage ?? null}, ${f.engagement_score ?? null}::smallint, ${f.is_vip ?? false},
      ${f.deleted ? new Date().toISOString() : null}::timestamptz)
    RETURNING id`);
  return row!.id;
}

let orderSeq = 0;

/** A completed (by default) order with items; answers its id. */
export async function insertOrder(
  db: Executor,
  tenantId: string,
  customerId: string,
  o: { at: string; status?: string; items?: { event_id: string; quantity?: number }[]; total?: number },
): Promise<string> {
  const id = `ord_${Date.now()}_${orderSeq++}`;
  const status = o.status ?? 'completed';
  await db.run(sql`
    INSERT INTO orders (tenant_id, id, customer_id, status, total, currency, placed_at, completed_at)
    VALUES (${tenantId}::uuid, ${id}, ${customerId}::uuid, ${status}, ${o.total ?? 50}, 'RON', ${o.at}::timestamptz,
            ${status === 'completed' || status === 'refunded' ? o.at : null}::timestamptz)`);
  let line = 0;
  for (const it of o.items ?? []) {
    await db.run(sql`
      INSERT INTO order_items (tenant_id, order_id, line_no, event_id, quantity, unit_price)
      VALUES (${tenantId}::uuid, ${id}, ${line++}, ${it.event_id}, ${it.quantity ?? 1}, 25)`);
  }
  return id;
}

export async function insertShow(db: Executor, tenantId: string, id: string, s: { genres?: string[]; venue?: string }): Promise<void> {
  await db.run(sql`
    INSERT INTO catalog_events (tenant_id, id, name, genres, venue)
    VALUES (${tenantId}::uuid, ${id}, ${`Show ${id}`}, ${sql.param(s.genres ?? [])}::text[], ${s.venue ?? null})`);
}

export async function insertAttendance(db: Executor, tenantId: string, customerId: string, eventId: string, at: string): Promise<void> {
  await db.run(sql`
    INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, checked_in_at)
    VALUES (${tenantId}::uuid, ${customerId}::uuid, ${eventId}, ${`t_${orderSeq++}`}, ${at}::timestamptz)`);
}

export async function insertActivity(
  db: Executor, tenantId: string, customerId: string, type: string, at: string, data: Record<string, unknown> = {},
): Promise<void> {
  await db.run(sql`
    INSERT INTO activities (tenant_id, customer_id, type, occurred_at, data)
    VALUES (${tenantId}::uuid, ${customerId}::uuid, ${type}, ${at}::timestamptz, ${JSON.stringify(data)}::jsonb)`);
}

export async function insertCart(db: Executor, tenantId: string, customerId: string, c: { status: string; at: string }): Promise<void> {
  await db.run(sql`
    INSERT INTO carts (tenant_id, id, customer_id, status, currency, created_at, updated_at)
    VALUES (${tenantId}::uuid, ${`cart_${orderSeq++}`}, ${customerId}::uuid, ${c.status}, 'RON', ${c.at}::timestamptz, ${c.at}::timestamptz)`);
}

/** Ids of the tenant's live customers matching the rules (compiled SQL), sorted. */
export async function matching(db: Executor, tenantId: string, rules: unknown, now?: Date): Promise<string[]> {
  const predicate = compileRules(parseRules(rules), { now });
  const rows = await db.rows<{ id: string }>(sql`
    SELECT c.id FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.deleted_at IS NULL AND c.merged_into IS NULL AND (${predicate})
    ORDER BY c.id`);
  return rows.map((r) => r.id);
}

export const sorted = (ids: string[]) => [...ids].sort();

export function expectInvalidRule(fn: () => unknown, path: string) {
  try {
    fn();
  } catch (err) {
    const e = err as { code?: string; details?: { path?: string } };
    expect(e.code).toBe('invalid_rule');
    expect(e.details?.path).toBe(path);
    return;
  }
  throw new Error(`expected invalid_rule at ${path}`);
}

export type Ctx = TestContext;
