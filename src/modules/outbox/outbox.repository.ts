import { sql, type Executor, type SQL } from '../../db/database.js';
import type { PublishedEventType } from './outbox.events.js';

/** One event to publish. */
export interface NewOutboxEvent {
  type: PublishedEventType;
  /** The customer the event is about; deliveries of one customer's events keep their order. */
  customerId?: string | null;
  /** The event's `data` as subscribers receive it. */
  payload: Record<string, unknown>;
  /** Defaults to the time of the insert. */
  occurredAt?: Date | string;
}

// Rows travel as one JSON parameter (like the timeline): a tier-table change can publish an event
// for every customer of the tenant, so the writer slices them.
const CHUNK = 5_000;

/**
 * Writes events into the outbox. Call it with the transaction that makes the change, after the
 * customer row is locked (or inserted): then the events of one customer are numbered (seq) in the
 * order their transactions commit, which is the order subscribers receive them in.
 */
export async function enqueueEvents(tx: Executor, tenantId: string, events: readonly NewOutboxEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += CHUNK) await tx.run(enqueueEventsSql(tenantId, events.slice(i, i + CHUNK)));
}

/**
 * The INSERT statement of enqueueEvents for a slice of events (at most a few thousand), for callers that
 * fold it into a bigger statement.
 */
export function enqueueEventsSql(tenantId: string, events: readonly NewOutboxEvent[]): SQL {
  const payload = JSON.stringify(
    events.map((e) => ({
      t: e.type,
      c: e.customerId ?? null,
      p: e.payload,
      o: e.occurredAt instanceof Date ? e.occurredAt.toISOString() : (e.occurredAt ?? null),
    })),
  );
  return sql`
    INSERT INTO outbox (tenant_id, type, customer_id, payload, occurred_at)
    SELECT ${tenantId}::uuid, e.t, e.c, e.p, coalesce(e.o, now())
    -- seq follows the order the events were given in
    FROM ROWS FROM (jsonb_to_recordset(${payload}::jsonb) AS (t text, c uuid, p jsonb, o timestamptz)) WITH ORDINALITY AS e(t, c, p, o, n)
    ORDER BY e.n`;
}

export interface OutboxRow {
  tenant_id: string;
  id: string;
  seq: number;
  type: string;
  customer_id: string | null;
  payload: Record<string, unknown>;
  occurred_at: Date;
}

/** Events of a tenant in seq order (tests and diagnostics). */
export async function listOutbox(db: Executor, tenantId: string, limit = 100): Promise<OutboxRow[]> {
  return db.rows<OutboxRow>(sql`
    SELECT tenant_id, id, seq, type, customer_id, payload, occurred_at FROM outbox
    WHERE tenant_id = ${tenantId}::uuid ORDER BY seq LIMIT ${limit}`);
}

/**
 * Deletes what is no longer needed: outbox events fanned out before `eventsBefore`, and finished
 * (succeeded or dead) deliveries last touched before `deliveriesBefore`. Answers the counts.
 * With `rabbitmq` (RabbitMQ configured) an event must also have been published there (`rabbitmq_published_at`).
 */
export async function purgeOld(
  db: Executor,
  opts: { eventsBefore: Date; deliveriesBefore: Date; /** RabbitMQ is configured: keep events it has not published yet. */ rabbitmq?: boolean },
): Promise<{ events: number; deliveries: number }> {
  const before = opts.eventsBefore.toISOString();
  const events = await db.run(sql`
    DELETE FROM outbox WHERE webhooks_dispatched_at < ${before}::timestamptz
      AND (NOT ${opts.rabbitmq === true}::boolean OR rabbitmq_published_at < ${before}::timestamptz)`);
  const deliveries = await db.run(sql`
    DELETE FROM webhook_deliveries
    WHERE status IN ('succeeded', 'dead') AND updated_at < ${opts.deliveriesBefore.toISOString()}::timestamptz`);
  return { events, deliveries };
}

// Any constant shared by every process: only one dispatcher fans out at a time, so deliveries are
// created in seq order even with several workers.
const DISPATCH_LOCK_KEY = 7_418_220_006;

/**
 * Fans the next batch of undispatched events (in seq order) out into webhook_deliveries, one row
 * per active subscription whose patterns match, and marks them dispatched; one transaction, set-based.
 * Answers null when another dispatcher holds the lock.
 */
export async function fanOutBatch(db: Executor, limit: number): Promise<{ events: number; deliveries: number } | null> {
  return db.transaction(async (tx) => {
    const locked = await tx.one<{ ok: boolean }>(sql`SELECT pg_try_advisory_xact_lock(${DISPATCH_LOCK_KEY}) AS ok`);
    if (!locked?.ok) return null;
    const r = await tx.one<{ events: number; deliveries: number }>(sql`
      WITH batch AS MATERIALIZED (
        SELECT tenant_id, id, seq, type, customer_id, payload, occurred_at FROM outbox
        WHERE webhooks_dispatched_at IS NULL
        ORDER BY seq
        LIMIT ${limit}
      ),
      marked AS (
        UPDATE outbox o SET webhooks_dispatched_at = now()
        FROM batch b WHERE o.tenant_id = b.tenant_id AND o.id = b.id
        RETURNING o.id
      ),
      inserted AS (
        INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, event_seq, event_type, customer_id, payload)
        SELECT b.tenant_id, s.id, b.id, b.seq, b.type, b.customer_id,
               jsonb_build_object(
                 'id', b.id, 'type', b.type,
                 'occurred_at', to_char(b.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                 'tenant_id', b.tenant_id, 'data', b.payload)
        FROM batch b
        JOIN webhook_subscriptions s ON s.tenant_id = b.tenant_id AND s.active
        WHERE EXISTS (
          SELECT 1 FROM unnest(s.event_types) AS p(pattern)
          WHERE p.pattern = '*' OR p.pattern = b.type
             OR (right(p.pattern, 2) = '.*' AND starts_with(b.type, left(p.pattern, -1)))
        )
        ORDER BY b.seq, s.id
        ON CONFLICT DO NOTHING
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM marked)::int AS events, (SELECT count(*) FROM inserted)::int AS deliveries`);
    return r ?? { events: 0, deliveries: 0 };
  });
}
