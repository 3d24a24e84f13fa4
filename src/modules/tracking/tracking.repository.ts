import { arr, sql, type Executor } from '../../db/database.js';

/** The tenant's random token key, created on first use (two racing creators agree on the first). */
export async function getOrCreateTrackingKey(db: Executor, tenantId: string, candidate: string): Promise<string> {
  await db.run(sql`
    INSERT INTO marketing_keys (tenant_id, tracking_secret) VALUES (${tenantId}::uuid, ${candidate})
    ON CONFLICT (tenant_id) DO NOTHING`);
  const row = await db.one<{ tracking_secret: string }>(sql`
    SELECT tracking_secret FROM marketing_keys WHERE tenant_id = ${tenantId}::uuid`);
  return row!.tracking_secret;
}

export async function tenantExists(db: Executor, tenantId: string): Promise<boolean> {
  return (await db.one(sql`SELECT 1 FROM tenants WHERE id = ${tenantId}::uuid`)) !== undefined;
}

export interface TrackedMessage {
  id: string;
  tenant_id: string;
  channel: 'email' | 'sms';
  customer_id: string | null;
  campaign_id: string | null;
  variant: string | null;
  to_address: string | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  message_id_header: string | null;
  provider_id: string | null;
}

export async function findTrackedMessage(db: Executor, tenantId: string, id: string): Promise<TrackedMessage | undefined> {
  return db.one<TrackedMessage>(sql`
    SELECT id, tenant_id, channel, customer_id, campaign_id, variant, to_address, opened_at, clicked_at, message_id_header, provider_id
    FROM messages WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
}

export async function findMessagesByRef(db: Executor, tenantId: string, refs: readonly string[]): Promise<TrackedMessage[]> {
  if (refs.length === 0) return [];
  const uuids = refs.filter((r) => /^[0-9a-f-]{36}$/i.test(r));
  return db.rows<TrackedMessage>(sql`
    SELECT id, tenant_id, channel, customer_id, campaign_id, variant, to_address, opened_at, clicked_at, message_id_header, provider_id
    FROM messages WHERE tenant_id = ${tenantId}::uuid
      AND (id = ANY(${arr(uuids)}::uuid[]) OR message_id_header = ANY(${arr([...refs])}::text[]) OR provider_id = ANY(${arr([...refs])}::text[]))`);
}

export type TrackEvent = 'delivered' | 'open' | 'click' | 'bounce' | 'complaint' | 'unsubscribe';

const MESSAGE_COLUMN: Record<TrackEvent, string> = {
  delivered: 'delivered_at', open: 'opened_at', click: 'clicked_at', bounce: 'bounced_at', complaint: 'complained_at', unsubscribe: 'unsubscribed_at',
};

// Recipient statuses that move forward only; bounced and unsubscribed replace any of them.
const PROGRESS = ['queued', 'sending', 'sent', 'delivered', 'opened', 'clicked', 'converted'];
const RECIPIENT_STATUS: Record<TrackEvent, string | null> = {
  delivered: 'delivered', open: 'opened', click: 'clicked', bounce: 'bounced', complaint: null, unsubscribe: 'unsubscribed',
};

/**
 * Records one event of a message: the event row, the first-time timestamp on the message and on
 * its campaign recipient (a click also counts as an open: images may be blocked).
 */
export async function recordMessageEvent(
  tx: Executor,
  m: TrackedMessage,
  e: { type: TrackEvent; url?: string | null; occurredAt?: Date; data?: Record<string, unknown> },
): Promise<void> {
  const at = (e.occurredAt ?? new Date()).toISOString();
  await tx.run(sql`
    INSERT INTO message_events (tenant_id, message_id, campaign_id, customer_id, variant, type, url, occurred_at, data)
    VALUES (${m.tenant_id}::uuid, ${m.id}::uuid, ${m.campaign_id}::uuid, ${m.customer_id}::uuid, ${m.variant}, ${e.type}, ${e.url ?? null},
      ${at}::timestamptz, ${JSON.stringify(e.data ?? {})}::jsonb)`);
  const col = sql.raw(MESSAGE_COLUMN[e.type]);
  const alsoOpen = e.type === 'click' ? sql`, opened_at = coalesce(opened_at, ${at}::timestamptz)` : sql``;
  await tx.run(sql`
    UPDATE messages SET ${col} = coalesce(${col}, ${at}::timestamptz)${alsoOpen}
    WHERE tenant_id = ${m.tenant_id}::uuid AND id = ${m.id}::uuid`);
  if (!m.campaign_id || !m.customer_id) return;
  const status = RECIPIENT_STATUS[e.type];
  const rcol = e.type === 'complaint' ? null : sql.raw(MESSAGE_COLUMN[e.type]);
  const sets = [] as ReturnType<typeof sql>[];
  if (rcol) sets.push(sql`${rcol} = coalesce(cr.${rcol}, ${at}::timestamptz)`);
  if (e.type === 'click') sets.push(sql`opened_at = coalesce(cr.opened_at, ${at}::timestamptz)`);
  if (status === 'bounced' || status === 'unsubscribed') sets.push(sql`status = ${status}`);
  else if (status) {
    sets.push(sql`status = CASE WHEN coalesce(array_position(${arr(PROGRESS)}::text[], cr.status), 0) < array_position(${arr(PROGRESS)}::text[], ${status}::text)
      AND cr.status NOT IN ('bounced', 'unsubscribed') THEN ${status} ELSE cr.status END`);
  }
  if (sets.length === 0) return;
  await tx.run(sql`
    UPDATE campaign_recipients cr SET ${sql.join(sets, sql`, `)}
    WHERE cr.tenant_id = ${m.tenant_id}::uuid AND cr.campaign_id = ${m.campaign_id}::uuid AND cr.customer_id = ${m.customer_id}::uuid`);
}

/** Withdraws marketing consent on a channel (the unsubscribe link, STOP); answers the previous state. */
export async function withdrawConsent(
  tx: Executor,
  tenantId: string,
  customerIds: readonly string[],
  channel: 'email' | 'sms',
  source: string,
): Promise<string[]> {
  if (customerIds.length === 0) return [];
  const flag = channel === 'email' ? 'marketing_email' : 'marketing_sms';
  const changed = await tx.rows<{ id: string }>(sql`
    UPDATE customers SET consent = consent || jsonb_build_object(${flag}::text, false, 'updated_at', to_jsonb(now())), updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ANY(${arr([...customerIds])}::uuid[])
      AND coalesce(consent -> ${flag}::text, 'false'::jsonb) <> 'false'::jsonb
    RETURNING id`);
  if (changed.length === 0) return [];
  await tx.run(sql`
    INSERT INTO consent_events (tenant_id, customer_id, channel, purpose, granted, source, recorded_by)
    SELECT ${tenantId}::uuid, c, ${channel}, 'marketing', false, ${source}, 'system'
    FROM unnest(${arr(changed.map((r) => r.id))}::uuid[]) AS c`);
  return changed.map((r) => r.id);
}

export async function findCustomersByPhone(db: Executor, tenantId: string, phone: string): Promise<string[]> {
  const rows = await db.rows<{ id: string }>(sql`
    SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND phone = ${phone} AND deleted_at IS NULL AND merged_into IS NULL`);
  return rows.map((r) => r.id);
}

export async function findCustomersByEmail(db: Executor, tenantId: string, email: string): Promise<string[]> {
  const rows = await db.rows<{ id: string }>(sql`
    SELECT id FROM customers WHERE tenant_id = ${tenantId}::uuid AND email = ${email} AND deleted_at IS NULL AND merged_into IS NULL`);
  return rows.map((r) => r.id);
}
