import { arr, sql, type Executor } from '../../db/database.js';
import type { CustomerRow } from '../customers/customers.repository.js';

/*
 * SQL of a merge. Every statement runs in the merge's transaction, after the customers' rows are
 * locked; each moves the rows of all merged records at once.
 */

/** The customers (any state: live, deleted, merged) by id, row-locked in id order. */
export async function lockForMerge(tx: Executor, tenantId: string, ids: string[]): Promise<CustomerRow[]> {
  return tx.rows<CustomerRow>(sql`
    SELECT c.* FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[])
    ORDER BY c.id FOR UPDATE`);
}

/**
 * Makes the merged records tombstones pointing at the survivor; records merged into them earlier
 * point at the survivor too, so a lookup is one hop.
 */
export async function markMerged(tx: Executor, tenantId: string, survivorId: string, mergedIds: string[]): Promise<void> {
  await tx.run(sql`
    UPDATE customers SET merged_into = ${survivorId}::uuid, updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND (id = ANY(${arr(mergedIds)}::uuid[]) OR merged_into = ANY(${arr(mergedIds)}::uuid[]))`);
}

export interface MovedCounts {
  orders: number;
  attendance: number;
  activities: number;
  interactions: number;
  notes: number;
  carts: number;
  loyalty_entries: number;
  consent_events: number;
}

/** Moves the merged records' history to the survivor. */
export async function moveRecords(tx: Executor, tenantId: string, survivorId: string, mergedIds: string[]): Promise<MovedCounts> {
  const t = sql`${tenantId}::uuid`;
  const s = sql`${survivorId}::uuid`;
  const m = sql`${arr(mergedIds)}::uuid[]`;
  const move = (table: string, touch = false) => tx.run(sql`
    UPDATE ${sql.raw(table)} SET customer_id = ${s}${touch ? sql`, updated_at = now()` : sql``}
    WHERE tenant_id = ${t} AND customer_id = ANY(${m})`);
  const orders = await move('orders', true);
  await move('refunds');
  // The same ticket checked in on both records is one admission: kept once.
  await tx.run(sql`
    INSERT INTO attendance (tenant_id, customer_id, event_id, ticket_id, order_id, checked_in_at)
    SELECT tenant_id, ${s}, event_id, ticket_id, order_id, checked_in_at FROM attendance
    WHERE tenant_id = ${t} AND customer_id = ANY(${m})
    ON CONFLICT DO NOTHING`);
  const attendance = await tx.run(sql`DELETE FROM attendance WHERE tenant_id = ${t} AND customer_id = ANY(${m})`);
  return {
    orders,
    attendance,
    activities: await move('activities'),
    interactions: await move('interactions', true),
    notes: await move('customer_notes', true),
    carts: await move('carts'),
    loyalty_entries: await move('loyalty_ledger'),
    consent_events: await move('consent_events'),
  };
}

export interface MovedMembership {
  segment_id: string;
  segment_name: string;
  customer_id: string;
}

/**
 * Moves segment memberships: the survivor joins every segment a merged record was in (answers
 * those it newly entered), the merged records leave them (answers those exits).
 */
export async function moveMemberships(
  tx: Executor,
  tenantId: string,
  survivorId: string,
  mergedIds: string[],
): Promise<{ entered: MovedMembership[]; exited: MovedMembership[] }> {
  const t = sql`${tenantId}::uuid`;
  const m = sql`${arr(mergedIds)}::uuid[]`;
  const entered = await tx.rows<MovedMembership>(sql`
    WITH ins AS (
      INSERT INTO segment_members (tenant_id, segment_id, customer_id)
      SELECT DISTINCT tenant_id, segment_id, ${survivorId}::uuid FROM segment_members
      WHERE tenant_id = ${t} AND customer_id = ANY(${m})
      ON CONFLICT DO NOTHING
      RETURNING segment_id, customer_id
    )
    SELECT ins.segment_id, s.name AS segment_name, ins.customer_id
    FROM ins JOIN segments s ON s.tenant_id = ${t} AND s.id = ins.segment_id`);
  const exited = await tx.rows<MovedMembership>(sql`
    WITH del AS (
      DELETE FROM segment_members WHERE tenant_id = ${t} AND customer_id = ANY(${m})
      RETURNING segment_id, customer_id
    )
    SELECT del.segment_id, s.name AS segment_name, del.customer_id
    FROM del JOIN segments s ON s.tenant_id = ${t} AND s.id = del.segment_id`);
  return { entered, exited };
}

/**
 * Points the merged records' identifiers (and aliases they had received) at the survivor, except
 * those the survivor now carries itself.
 */
export async function writeAliases(
  tx: Executor,
  tenantId: string,
  survivorId: string,
  merged: { id: string; external_id: string | null; email: string | null; phone: string | null }[],
  survivorHas: { external_id: unknown; email: unknown; phone: unknown },
): Promise<void> {
  const kinds: string[] = [];
  const values: string[] = [];
  const from: string[] = [];
  for (const r of merged) {
    for (const kind of ['external_id', 'email', 'phone'] as const) {
      const v = r[kind];
      if (v && v !== survivorHas[kind]) {
        kinds.push(kind);
        values.push(v);
        from.push(r.id);
      }
    }
  }
  await tx.run(sql`
    UPDATE customer_aliases SET customer_id = ${survivorId}::uuid
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(merged.map((r) => r.id))}::uuid[])`);
  if (kinds.length === 0) return;
  await tx.run(sql`
    INSERT INTO customer_aliases (tenant_id, kind, value, customer_id, merged_from)
    SELECT ${tenantId}::uuid, u.kind, u.value, ${survivorId}::uuid, u.merged_from
    FROM unnest(${arr(kinds)}::text[], ${arr(values)}::text[], ${arr(from)}::uuid[]) AS u(kind, value, merged_from)
    ON CONFLICT (tenant_id, kind, value) DO UPDATE SET customer_id = EXCLUDED.customer_id, merged_from = EXCLUDED.merged_from`);
}
