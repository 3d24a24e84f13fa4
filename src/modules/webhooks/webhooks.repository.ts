import { arr, sql, type Executor, type SQL } from '../../db/database.js';

export interface SubscriptionRow {
  id: string;
  url: string;
  event_types: string[];
  secret: string;
  active: boolean;
  description: string | null;
  created_at: Date;
  updated_at: Date;
  /** created_at as exact text (microseconds) for the cursor */
  created_key: string;
}

const SUBSCRIPTION_COLUMNS = sql`id, url, event_types, secret, active, description, created_at, updated_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

export async function insertSubscription(
  db: Executor,
  v: { tenantId: string; url: string; eventTypes: string[]; secret: string; active: boolean; description: string | null },
): Promise<SubscriptionRow> {
  return (await db.one<SubscriptionRow>(sql`
    INSERT INTO webhook_subscriptions (tenant_id, url, event_types, secret, active, description)
    VALUES (${v.tenantId}::uuid, ${v.url}, ${arr(v.eventTypes)}::text[], ${v.secret}, ${v.active}, ${v.description})
    RETURNING ${SUBSCRIPTION_COLUMNS}`))!;
}

export async function findSubscription(db: Executor, tenantId: string, id: string): Promise<SubscriptionRow | undefined> {
  return db.one<SubscriptionRow>(sql`
    SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

export async function listSubscriptions(
  db: Executor,
  q: { tenantId: string; limit: number; after?: { createdAt: string; id: string } },
): Promise<SubscriptionRow[]> {
  const where: SQL[] = [sql`tenant_id = ${q.tenantId}::uuid`];
  if (q.after) where.push(sql`(created_at, id) > (${q.after.createdAt}::timestamptz, ${q.after.id}::uuid)`);
  return db.rows<SubscriptionRow>(sql`
    SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE ${sql.join(where, sql` AND `)}
    ORDER BY created_at, id LIMIT ${q.limit}`);
}

export async function updateSubscription(
  db: Executor,
  tenantId: string,
  id: string,
  v: { url?: string; eventTypes?: string[]; secret?: string; active?: boolean; description?: string | null },
): Promise<SubscriptionRow | undefined> {
  const set: SQL[] = [sql`updated_at = now()`];
  if (v.url !== undefined) set.push(sql`url = ${v.url}`);
  if (v.eventTypes !== undefined) set.push(sql`event_types = ${arr(v.eventTypes)}::text[]`);
  if (v.secret !== undefined) set.push(sql`secret = ${v.secret}`);
  if (v.active !== undefined) set.push(sql`active = ${v.active}`);
  if (v.description !== undefined) set.push(sql`description = ${v.description}`);
  return db.one<SubscriptionRow>(sql`
    UPDATE webhook_subscriptions SET ${sql.join(set, sql`, `)}
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    RETURNING ${SUBSCRIPTION_COLUMNS}`);
}

export async function deleteSubscription(db: Executor, tenantId: string, id: string): Promise<boolean> {
  return (await db.run(sql`DELETE FROM webhook_subscriptions WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`)) > 0;
}

// ---------------------------------------------------------------------------------------------
// Deliveries

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'dead';

export interface DeliveryRow {
  tenant_id: string;
  id: string;
  subscription_id: string;
  event_id: string;
  event_seq: number;
  event_type: string;
  customer_id: string | null;
  payload: Record<string, unknown>;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  response_ms: number | null;
  replay_of: string | null;
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

const DELIVERY_COLUMNS = sql`d.tenant_id, d.id, d.subscription_id, d.event_id, d.event_seq, d.event_type, d.customer_id,
  d.payload, d.status, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status_code, d.last_error, d.response_ms,
  d.replay_of, d.created_at, d.updated_at,
  to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

export async function listDeliveries(
  db: Executor,
  q: { tenantId: string; subscriptionId: string; status?: DeliveryStatus; limit: number; before?: { createdAt: string; seq: number; id: string } },
): Promise<DeliveryRow[]> {
  const where: SQL[] = [sql`d.tenant_id = ${q.tenantId}::uuid`, sql`d.subscription_id = ${q.subscriptionId}::uuid`];
  if (q.status) where.push(sql`d.status = ${q.status}`);
  if (q.before) where.push(sql`(d.created_at, d.event_seq, d.id) < (${q.before.createdAt}::timestamptz, ${q.before.seq}::bigint, ${q.before.id}::uuid)`);
  return db.rows<DeliveryRow>(sql`
    SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d WHERE ${sql.join(where, sql` AND `)}
    ORDER BY d.created_at DESC, d.event_seq DESC, d.id DESC LIMIT ${q.limit}`);
}

export async function findDelivery(db: Executor, tenantId: string, subscriptionId: string, id: string): Promise<DeliveryRow | undefined> {
  return db.one<DeliveryRow>(sql`
    SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d
    WHERE d.tenant_id = ${tenantId}::uuid AND d.subscription_id = ${subscriptionId}::uuid AND d.id = ${id}::uuid`);
}

/** A new delivery of the same event (same body, same event id), due now. */
export async function insertReplay(db: Executor, original: DeliveryRow): Promise<DeliveryRow> {
  return (await db.one<DeliveryRow>(sql`
    WITH d AS (
      INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, event_seq, event_type, customer_id, payload, replay_of)
      VALUES (${original.tenant_id}::uuid, ${original.subscription_id}::uuid, ${original.event_id}::uuid, ${original.event_seq},
              ${original.event_type}, ${original.customer_id}::uuid, ${JSON.stringify(original.payload)}::jsonb, ${original.id}::uuid)
      RETURNING *
    )
    SELECT ${DELIVERY_COLUMNS} FROM d`))!;
}

/** A delivery to claim: the row plus what sending needs from its subscription. */
export interface DueDelivery extends DeliveryRow {
  url: string;
  secret: string;
}

/**
 * Claims up to `limit` due deliveries: pending or failed, next_attempt_at passed, subscription
 * active, and no earlier open (pending/failed) delivery of the same customer to the same
 * subscription, so each customer's events arrive in order. Claiming moves next_attempt_at past the
 * lease, so another worker does not take the same row while it is being sent; if this process dies
 * mid-send the lease ends and the delivery is tried again (at least once).
 */
export async function claimDue(db: Executor, opts: { now: Date; limit: number; leaseMs: number }): Promise<DueDelivery[]> {
  const now = opts.now.toISOString();
  return db.transaction((tx) =>
    tx.rows<DueDelivery>(sql`
      WITH due AS (
        SELECT d.tenant_id, d.id FROM webhook_deliveries d
        JOIN webhook_subscriptions s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id AND s.active
        WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= ${now}::timestamptz
          AND NOT EXISTS (
            SELECT 1 FROM webhook_deliveries e
            WHERE d.customer_id IS NOT NULL
              AND e.tenant_id = d.tenant_id AND e.subscription_id = d.subscription_id AND e.customer_id = d.customer_id
              AND e.status IN ('pending', 'failed')
              AND (e.event_seq < d.event_seq OR (e.event_seq = d.event_seq AND (e.created_at, e.id) < (d.created_at, d.id)))
          )
        ORDER BY d.next_attempt_at, d.event_seq
        LIMIT ${opts.limit}
        FOR UPDATE OF d SKIP LOCKED
      ),
      claimed AS (
        UPDATE webhook_deliveries d
        SET next_attempt_at = ${now}::timestamptz + ${opts.leaseMs} * interval '1 millisecond'
        FROM due WHERE d.tenant_id = due.tenant_id AND d.id = due.id
        RETURNING d.*
      )
      SELECT ${DELIVERY_COLUMNS}, s.url, s.secret
      FROM claimed d JOIN webhook_subscriptions s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id
      ORDER BY d.event_seq`),
  );
}

export interface AttemptRecord {
  tenantId: string;
  id: string;
  status: DeliveryStatus;
  attemptedAt: Date;
  nextAttemptAt: Date;
  statusCode: number | null;
  error: string | null;
  ms: number;
}

export async function recordAttempt(db: Executor, r: AttemptRecord): Promise<void> {
  await db.run(sql`
    UPDATE webhook_deliveries SET
      status = ${r.status}, attempts = attempts + 1,
      last_attempt_at = ${r.attemptedAt.toISOString()}::timestamptz,
      next_attempt_at = ${r.nextAttemptAt.toISOString()}::timestamptz,
      last_status_code = ${r.statusCode}, last_error = ${r.error}, response_ms = ${r.ms}, updated_at = now()
    WHERE tenant_id = ${r.tenantId}::uuid AND id = ${r.id}::uuid`);
}

/** Records a one-off test delivery (already attempted) so it shows in the delivery list. */
export async function insertTestDelivery(
  db: Executor,
  v: { tenantId: string; subscriptionId: string; eventId: string; payload: Record<string, unknown>; status: DeliveryStatus; statusCode: number | null; error: string | null; ms: number },
): Promise<DeliveryRow> {
  return (await db.one<DeliveryRow>(sql`
    WITH d AS (
      INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, event_seq, event_type, customer_id, payload,
                                      status, attempts, last_attempt_at, last_status_code, last_error, response_ms)
      VALUES (${v.tenantId}::uuid, ${v.subscriptionId}::uuid, ${v.eventId}::uuid, 0, 'webhook.test', NULL, ${JSON.stringify(v.payload)}::jsonb,
              ${v.status}, 1, now(), ${v.statusCode}, ${v.error}, ${v.ms})
      RETURNING *
    )
    SELECT ${DELIVERY_COLUMNS} FROM d`))!;
}
