import { arr, sql, type Executor, type SQL } from '../../db/database.js';

export type ConsentChannel = 'email' | 'sms' | 'phone' | 'push';
export type ConsentPurpose = 'marketing' | 'transactional' | 'profiling';

export interface NewConsentEvent {
  customerId: string;
  channel: ConsentChannel;
  purpose: ConsentPurpose;
  granted: boolean;
  /** "api", "event:user.registered", "import", "unsubscribe_link", ... */
  source: string;
  textVersion?: string | null;
  ip?: string | null;
  /** Defaults to now. */
  occurredAt?: string | Date | null;
  recordedBy?: string | null;
}

export interface ConsentEventRow {
  id: string;
  customer_id: string;
  channel: ConsentChannel;
  purpose: ConsentPurpose;
  granted: boolean;
  source: string;
  text_version: string | null;
  ip: string | null;
  occurred_at: Date;
  recorded_by: string | null;
  created_at: Date;
}

const CHUNK = 5_000;

/** Appends ledger rows (set-based: a batch of ingested events writes its consent changes at once). */
export async function insertConsentEvents(tx: Executor, tenantId: string, events: readonly NewConsentEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += CHUNK) await tx.run(insertConsentEventsSql(tenantId, events.slice(i, i + CHUNK)));
}

/** The INSERT statement of insertConsentEvents for a slice of rows, for callers that fold it into a bigger statement. */
export function insertConsentEventsSql(tenantId: string, events: readonly NewConsentEvent[]): SQL {
  const payload = JSON.stringify(events.map((e) => ({
    c: e.customerId, ch: e.channel, p: e.purpose, g: e.granted, s: e.source, t: e.textVersion ?? null, ip: e.ip ?? null,
    o: e.occurredAt instanceof Date ? e.occurredAt.toISOString() : (e.occurredAt ?? null), r: e.recordedBy ?? null,
  })));
  return sql`
    INSERT INTO consent_events (tenant_id, customer_id, channel, purpose, granted, source, text_version, ip, occurred_at, recorded_by)
    SELECT ${tenantId}::uuid, e.c, e.ch, e.p, e.g, e.s, e.t, e.ip, coalesce(e.o, now()), e.r
    FROM jsonb_to_recordset(${payload}::jsonb)
      AS e(c uuid, ch text, p text, g boolean, s text, t text, ip text, o timestamptz, r text)`;
}

/** A customer's ledger, newest first. */
export async function listConsentEvents(db: Executor, tenantId: string, customerId: string, limit = 1000): Promise<ConsentEventRow[]> {
  return db.rows<ConsentEventRow>(sql`
    SELECT id, customer_id, channel, purpose, granted, source, text_version, ip, occurred_at, recorded_by, created_at
    FROM consent_events
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid
    ORDER BY occurred_at DESC, created_at DESC, id DESC
    LIMIT ${limit}`);
}

/** The latest decision per channel and purpose (by occurred_at, then recording order). */
export async function currentConsent(db: Executor, tenantId: string, customerId: string): Promise<ConsentEventRow[]> {
  return db.rows<ConsentEventRow>(sql`
    SELECT DISTINCT ON (channel, purpose)
      id, customer_id, channel, purpose, granted, source, text_version, ip, occurred_at, recorded_by, created_at
    FROM consent_events
    WHERE tenant_id = ${tenantId}::uuid AND customer_id = ${customerId}::uuid
    ORDER BY channel, purpose, occurred_at DESC, created_at DESC, id DESC`);
}

/** Writes the customer's consent flags (customers.consent), which sending and segments read. */
export async function mergeCustomerConsent(tx: Executor, tenantId: string, customerId: string, flags: Record<string, unknown>): Promise<void> {
  await tx.run(sql`
    UPDATE customers SET consent = consent || ${JSON.stringify(flags)}::jsonb, updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid`);
}

/** customers.consent of these customers (ingestion compares it before and after a batch). */
export async function readConsents(tx: Executor, tenantId: string, customerIds: string[]): Promise<Map<string, Record<string, unknown>>> {
  if (customerIds.length === 0) return new Map();
  const rows = await tx.rows<{ id: string; consent: Record<string, unknown> }>(sql`
    SELECT c.id, c.consent
    FROM unnest(${arr([...new Set(customerIds)])}::uuid[]) AS u(id)
    -- one primary-key probe per id, whatever the statistics (a table never analyzed gets a scan for = ANY)
    CROSS JOIN LATERAL (SELECT c.id, c.consent FROM customers c WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id OFFSET 0) c`);
  return new Map(rows.map((r) => [r.id, r.consent]));
}
