import { arr, sql, type Executor } from '../../db/database.js';

/** One timeline entry to write. Every capability that changes a customer writes here. */
export interface NewActivity {
  customerId: string;
  /** e.g. order.completed, ticket.checked_in, note.added, profile.updated, loyalty.tier_changed */
  type: string;
  occurredAt: Date | string;
  summary?: string | null;
  data?: Record<string, unknown>;
  /** The ingested event, note, interaction… the entry comes from. */
  sourceId?: string | null;
  /** "key:<id>", "user:<id>" or "system". */
  actor?: string | null;
}

/** Writes many entries in one statement. */
export async function insertActivities(db: Executor, tenantId: string, rows: NewActivity[]): Promise<void> {
  if (rows.length === 0) return;
  await db.run(sql`
    INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, source_id, actor)
    SELECT ${tenantId}::uuid, t.customer_id, t.type, t.occurred_at, t.summary, t.data, t.source_id, t.actor
    FROM unnest(
      ${arr(rows.map((r) => r.customerId))}::uuid[],
      ${arr(rows.map((r) => r.type))}::text[],
      ${arr(rows.map((r) => (r.occurredAt instanceof Date ? r.occurredAt.toISOString() : r.occurredAt)))}::timestamptz[],
      ${arr(rows.map((r) => r.summary ?? null))}::text[],
      ${arr(rows.map((r) => JSON.stringify(r.data ?? {})))}::jsonb[],
      ${arr(rows.map((r) => r.sourceId ?? null))}::text[],
      ${arr(rows.map((r) => r.actor ?? null))}::text[]
    ) AS t(customer_id, type, occurred_at, summary, data, source_id, actor)`);
}
