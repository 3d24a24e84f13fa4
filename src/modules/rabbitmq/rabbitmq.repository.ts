import { sql, type Executor } from '../../db/database.js';

export async function tenantExists(db: Executor, tenantId: string): Promise<boolean> {
  const row = await db.one<{ ok: number }>(sql`SELECT 1 AS ok FROM tenants WHERE id = ${tenantId}::uuid`);
  return row !== undefined;
}

export interface UnpublishedEvent {
  tenant_id: string;
  id: string;
  seq: number;
  type: string;
  payload: Record<string, unknown>;
  occurred_at: Date;
}

// Any constant shared by every process (distinct from the webhook dispatcher's): one publisher at a
// time, so events reach the exchange in seq order even with several workers.
const PUBLISH_LOCK_KEY = 7_418_220_007;

/** Takes the publisher lock for the transaction; false when another publisher holds it. */
export async function tryLockPublisher(tx: Executor): Promise<boolean> {
  const r = await tx.one<{ ok: boolean }>(sql`SELECT pg_try_advisory_xact_lock(${PUBLISH_LOCK_KEY}) AS ok`);
  return r?.ok === true;
}

/** The next events not published to RabbitMQ yet, in seq order. */
export async function nextUnpublished(tx: Executor, limit: number): Promise<UnpublishedEvent[]> {
  return tx.rows<UnpublishedEvent>(sql`
    SELECT tenant_id, id, seq, type, payload, occurred_at FROM outbox
    WHERE rabbitmq_published_at IS NULL
    ORDER BY seq
    LIMIT ${limit}`);
}

export async function markPublished(tx: Executor, events: readonly { tenant_id: string; id: string }[]): Promise<void> {
  if (events.length === 0) return;
  const keys = JSON.stringify(events.map((e) => ({ t: e.tenant_id, i: e.id })));
  await tx.run(sql`
    UPDATE outbox o SET rabbitmq_published_at = now()
    FROM jsonb_to_recordset(${keys}::jsonb) AS k(t uuid, i uuid)
    WHERE o.tenant_id = k.t AND o.id = k.i`);
}
