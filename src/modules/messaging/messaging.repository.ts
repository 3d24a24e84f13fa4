import { arr, sql, type Executor, type SQL } from '../../db/database.js';

/** How to render a message again when its body was not stored. */
export interface StoredContentRef {
  ref: { kind: string; [key: string]: unknown };
  extraContext: Record<string, unknown> | null;
}

export type MessageStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'suppressed' | 'skipped';
export type SourceKind = 'campaign' | 'workflow' | 'test' | 'transactional';

export interface MessageRow {
  id: string;
  tenant_id: string;
  idempotency_key: string;
  channel: 'email' | 'sms';
  customer_id: string | null;
  to_address: string | null;
  source_kind: SourceKind;
  source_id: string;
  source_step: string | null;
  campaign_id: string | null;
  variant: string | null;
  status: MessageStatus;
  reason: string | null;
  message_id_header: string | null;
  provider_id: string | null;
  transport: string | null;
  subject: string | null;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  sms_segments: number | null;
  sms_encoding: string | null;
  send_after: Date | null;
  attempts: number;
  last_error: string | null;
  content_ref: StoredContentRef | null;
  created_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  bounced_at: Date | null;
  complained_at: Date | null;
  unsubscribed_at: Date | null;
  created_key: string;
}

const COLUMNS = sql`m.id, m.tenant_id, m.idempotency_key, m.channel, m.customer_id, m.to_address, m.source_kind, m.source_id, m.source_step,
  m.campaign_id, m.variant, m.status, m.reason, m.message_id_header, m.provider_id, m.transport, m.subject, m.html, m.text, m.headers,
  m.sms_segments, m.sms_encoding, m.send_after, m.attempts, m.last_error, m.content_ref, m.created_at, m.sent_at, m.delivered_at, m.opened_at,
  m.clicked_at, m.bounced_at, m.complained_at, m.unsubscribed_at,
  to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

/** Light columns (no bodies) for decisions. */
export interface MessageStateRow {
  id: string;
  idempotency_key: string;
  status: MessageStatus;
  reason: string | null;
  lease_expired: boolean;
}

export async function findByKeys(db: Executor, tenantId: string, keys: readonly string[]): Promise<MessageStateRow[]> {
  if (keys.length === 0) return [];
  return db.rows<MessageStateRow>(sql`
    SELECT id, idempotency_key, status, reason, coalesce(lease_until < now(), true) AS lease_expired
    FROM messages WHERE tenant_id = ${tenantId}::uuid AND idempotency_key = ANY(${arr([...keys])}::text[])`);
}

export interface NewMessage {
  id: string;
  idempotencyKey: string;
  channel: 'email' | 'sms';
  customerId: string | null;
  to: string | null;
  sourceKind: SourceKind;
  sourceId: string;
  sourceStep: string | null;
  campaignId: string | null;
  variant: string | null;
  status: MessageStatus;
  reason: string | null;
  messageIdHeader: string | null;
  transport: string;
  subject: string | null;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  smsSegments: number | null;
  smsEncoding: string | null;
  sendAfter: string | null;
  contentRef: StoredContentRef | null;
}

/**
 * Inserts the rows of a batch in one statement; a row whose idempotency key exists is left alone.
 * Rows in `sending` get a lease: until it runs out nobody else sends them. Answers the inserted keys.
 */
export async function insertMessages(db: Executor, tenantId: string, rows: readonly NewMessage[], leaseSeconds: number): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const payload = JSON.stringify(rows.map((r) => ({
    id: r.id, k: r.idempotencyKey, ch: r.channel, c: r.customerId, to: r.to, sk: r.sourceKind, si: r.sourceId, ss: r.sourceStep,
    cp: r.campaignId, v: r.variant, st: r.status, re: r.reason, mh: r.messageIdHeader, tr: r.transport, su: r.subject, h: r.html,
    tx: r.text, hd: r.headers, sg: r.smsSegments, se: r.smsEncoding, sa: r.sendAfter, cr: r.contentRef,
  })));
  const inserted = await db.rows<{ idempotency_key: string }>(sql`
    INSERT INTO messages (tenant_id, id, idempotency_key, channel, customer_id, to_address, source_kind, source_id, source_step,
      campaign_id, variant, status, reason, message_id_header, transport, subject, html, text, headers, sms_segments, sms_encoding,
      send_after, content_ref, lease_until, attempts)
    SELECT ${tenantId}::uuid, r.id, r.k, r.ch, r.c, r."to", r.sk, r.si, r.ss, r.cp, r.v, r.st, r.re, r.mh, r.tr, r.su, r.h, r.tx,
      coalesce(r.hd, '{}'::jsonb), r.sg, r.se, r.sa, r.cr,
      CASE WHEN r.st = 'sending' THEN now() + make_interval(secs => ${leaseSeconds}) END,
      CASE WHEN r.st = 'sending' THEN 1 ELSE 0 END
    FROM jsonb_to_recordset(${payload}::jsonb) AS r(id uuid, k text, ch text, c uuid, "to" text, sk text, si text, ss text, cp uuid,
      v text, st text, re text, mh text, tr text, su text, h text, tx text, hd jsonb, sg int, se text, sa timestamptz, cr jsonb)
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING idempotency_key`);
  return new Set(inserted.map((r) => r.idempotency_key));
}

/** Full rows of messages to (re)send: `sending` with an expired lease, or `queued` and due. Takes a new lease. */
export async function claimForResend(
  db: Executor,
  q: { tenantId?: string; keys?: readonly string[]; limit: number; leaseSeconds: number },
): Promise<MessageRow[]> {
  const where: SQL[] = [sql`((m.status = 'sending' AND m.lease_until < now()) OR (m.status = 'queued' AND coalesce(m.send_after, now()) <= now()))`];
  if (q.tenantId) where.push(sql`m.tenant_id = ${q.tenantId}::uuid`);
  if (q.keys) where.push(sql`m.idempotency_key = ANY(${arr([...q.keys])}::text[])`);
  return db.rows<MessageRow>(sql`
    WITH due AS (
      SELECT m.tenant_id, m.id FROM messages m
      WHERE ${sql.join(where, sql` AND `)}
      ORDER BY coalesce(m.send_after, m.lease_until) LIMIT ${q.limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE messages m SET status = 'sending', lease_until = now() + make_interval(secs => ${q.leaseSeconds}), attempts = m.attempts + 1
    FROM due WHERE m.tenant_id = due.tenant_id AND m.id = due.id
    RETURNING ${COLUMNS}`);
}

export interface Outcome {
  id: string;
  status: 'sent' | 'failed' | 'queued' | 'sending';
  providerId?: string | null;
  error?: string | null;
  /** queued: when to try again */
  retryAt?: string | null;
}

/**
 * Records the outcome of sends in one statement, and mirrors it onto campaign recipients.
 * `sending` outcomes (unknown: the connection broke) keep the row for a resend with the same
 * Message-ID once `retryAt` passes.
 */
export async function recordOutcomes(db: Executor, tenantId: string, outcomes: readonly Outcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const payload = JSON.stringify(outcomes.map((o) => ({ id: o.id, st: o.status, p: o.providerId ?? null, e: o.error ?? null, r: o.retryAt ?? null })));
  await db.run(sql`
    WITH o AS (
      SELECT * FROM jsonb_to_recordset(${payload}::jsonb) AS o(id uuid, st text, p text, e text, r timestamptz)
    ), m AS (
      UPDATE messages m SET status = o.st,
        provider_id = coalesce(o.p, m.provider_id),
        last_error = CASE WHEN o.st = 'sent' THEN NULL ELSE o.e END,
        reason = CASE WHEN o.st = 'failed' THEN coalesce(o.e, m.reason) ELSE m.reason END,
        sent_at = CASE WHEN o.st = 'sent' THEN now() ELSE m.sent_at END,
        send_after = CASE WHEN o.st = 'queued' THEN o.r ELSE m.send_after END,
        lease_until = CASE WHEN o.st = 'sending' THEN coalesce(o.r, now()) ELSE NULL END
      FROM o WHERE m.tenant_id = ${tenantId}::uuid AND m.id = o.id
      RETURNING m.id, m.campaign_id, m.customer_id, m.status, m.reason, m.variant
    )
    -- joined on the primary key only (a status condition here made the planner hash every pending
    -- recipient of the tenant for each batch); the CASEs leave recipients that moved on alone
    UPDATE campaign_recipients cr SET
      status = CASE WHEN cr.status NOT IN ('queued', 'sending') THEN cr.status
                    WHEN m.status = 'sent' THEN 'sent' WHEN m.status = 'failed' THEN 'failed' ELSE cr.status END,
      reason = CASE WHEN m.status = 'failed' AND cr.status IN ('queued', 'sending') THEN m.reason ELSE cr.reason END,
      sent_at = CASE WHEN m.status = 'sent' THEN coalesce(cr.sent_at, now()) ELSE cr.sent_at END,
      message_id = m.id,
      variant = coalesce(cr.variant, m.variant)
    FROM m WHERE cr.tenant_id = ${tenantId}::uuid AND cr.campaign_id = m.campaign_id AND cr.customer_id = m.customer_id`);
}

/** Marketing messages per customer since `since` (sent, or on their way). */
export async function countRecentMarketing(db: Executor, tenantId: string, customerIds: readonly string[], since: Date): Promise<Map<string, number>> {
  if (customerIds.length === 0) return new Map();
  const rows = await db.rows<{ customer_id: string; n: number }>(sql`
    SELECT customer_id, count(*)::int AS n FROM messages
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr([...customerIds])}::uuid[])
      AND source_kind IN ('campaign', 'workflow') AND status IN ('sent', 'sending', 'queued')
      AND coalesce(sent_at, created_at) >= ${since.toISOString()}::timestamptz
    GROUP BY customer_id`);
  return new Map(rows.map((r) => [r.customer_id, r.n]));
}

export async function findMessage(db: Executor, tenantId: string, id: string): Promise<MessageRow | undefined> {
  return db.one<MessageRow>(sql`SELECT ${COLUMNS} FROM messages m WHERE m.tenant_id = ${tenantId}::uuid AND m.id = ${id}::uuid`);
}

export async function listMessages(
  db: Executor,
  q: { tenantId: string; channel?: string; status?: string; customerId?: string; campaignId?: string; limit: number; before?: { createdAt: string; id: string } },
): Promise<MessageRow[]> {
  const where: SQL[] = [sql`m.tenant_id = ${q.tenantId}::uuid`];
  if (q.channel) where.push(sql`m.channel = ${q.channel}`);
  if (q.status) where.push(sql`m.status = ${q.status}`);
  if (q.customerId) where.push(sql`m.customer_id = ${q.customerId}::uuid`);
  if (q.campaignId) where.push(sql`m.campaign_id = ${q.campaignId}::uuid`);
  if (q.before) where.push(sql`(m.created_at, m.id) < (${q.before.createdAt}::timestamptz, ${q.before.id}::uuid)`);
  return db.rows<MessageRow>(sql`
    SELECT ${COLUMNS} FROM messages m WHERE ${sql.join(where, sql` AND `)}
    ORDER BY m.created_at DESC, m.id DESC LIMIT ${q.limit}`);
}

/**
 * Erasure: the person's messages keep their status and timestamps (campaign figures stay right)
 * but lose the address and every rendered word, which may quote the person's data.
 */
export async function anonymizeCustomerMessages(exec: Executor, tenantId: string, customerId: string): Promise<number> {
  const n = await exec.run(sql`
    UPDATE messages SET to_address = NULL, subject = NULL, html = NULL, text = NULL, headers = '{}'::jsonb, last_error = NULL, content_ref = NULL,
      reason = CASE WHEN status IN ('queued', 'sending') THEN 'erased' ELSE reason END,
      status = CASE WHEN status IN ('queued', 'sending') THEN 'skipped' ELSE status END
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid`);
  await exec.run(sql`
    UPDATE message_events SET data = '{}'::jsonb WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid`);
  return n;
}
