import { arr, sql, type Executor, type SQL } from '../../db/database.js';

// Tables other capabilities add in later migrations (imports, dedupe, marketing, workflows). The
// privacy code reads and scrubs them when they exist, so it works whichever of them are deployed.
export async function existingTables(db: Executor, names: readonly string[]): Promise<Set<string>> {
  const rows = await db.rows<{ name: string }>(sql`
    SELECT n.name FROM unnest(${arr(names)}::text[]) AS n(name) WHERE to_regclass(n.name) IS NOT NULL`);
  return new Set(rows.map((r) => r.name));
}

export async function hasColumn(db: Executor, table: string, column: string): Promise<boolean> {
  const row = await db.one<{ ok: boolean }>(sql`
    SELECT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = current_schema() AND table_name = ${table} AND column_name = ${column}) AS ok`);
  return row?.ok === true;
}

// ---------------------------------------------------------------------------------------------
// Right of access: everything held about one person, one query per section.

export interface ErasableCustomer {
  id: string;
  email: string | null;
  phone: string | null;
  external_id: string | null;
  erased_at: Date | null;
}

/** The customer row whatever its state (deleted, merged), locked when asked. */
export async function findAnyCustomer(
  db: Executor,
  tenantId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<ErasableCustomer | undefined> {
  return db.one<ErasableCustomer>(sql`
    SELECT id, email, phone, external_id, erased_at FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

/**
 * Not-yet-erased records merged into these customers (merge tombstones keep their identifiers):
 * the same person, so they are erased with the survivor. Locked.
 */
export async function lockMergedInto(tx: Executor, tenantId: string, ids: string[]): Promise<ErasableCustomer[]> {
  return tx.rows<ErasableCustomer>(sql`
    SELECT id, email, phone, external_id, erased_at FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND merged_into = ANY(${arr(ids)}::uuid[]) AND erased_at IS NULL
    ORDER BY id FOR UPDATE`);
}

const rowsOf = (db: Executor, query: SQL) => db.rows<Record<string, unknown>>(query);

/** The stored profile: every column except the derived search text. */
export async function exportProfile(db: Executor, tenantId: string, customerId: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.one<{ p: Record<string, unknown> }>(sql`
    SELECT to_jsonb(c) - 'search_text' - 'tenant_id' AS p FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ${customerId}::uuid`);
  return row?.p;
}

export interface ExportSections {
  orders: Record<string, unknown>[];
  order_items: Record<string, unknown>[];
  refunds: Record<string, unknown>[];
  attendance: Record<string, unknown>[];
  carts: Record<string, unknown>[];
  timeline: Record<string, unknown>[];
  interactions: Record<string, unknown>[];
  notes: Record<string, unknown>[];
  consent_events: Record<string, unknown>[];
  loyalty_ledger: Record<string, unknown>[];
  segments: Record<string, unknown>[];
  messages: Record<string, unknown>[];
  privacy_requests: Record<string, unknown>[];
}

export async function exportSections(db: Executor, tenantId: string, customerId: string): Promise<ExportSections> {
  const t = sql`${tenantId}::uuid`;
  const c = sql`${customerId}::uuid`;
  const hasMessages = (await existingTables(db, ['messages'])).has('messages');
  return {
    orders: await rowsOf(db, sql`
      SELECT id, status, total, refunded_amount, currency, placed_at, completed_at, cancelled_at, source, data
      FROM orders WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY placed_at, id`),
    order_items: await rowsOf(db, sql`
      SELECT i.order_id, i.line_no, i.event_id, e.name AS event_name, i.ticket_type, i.quantity, i.unit_price
      FROM order_items i
      JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id
      LEFT JOIN catalog_events e ON e.tenant_id = i.tenant_id AND e.id = i.event_id
      WHERE o.tenant_id = ${t} AND o.customer_id = ${c} ORDER BY i.order_id, i.line_no`),
    refunds: await rowsOf(db, sql`
      SELECT id, order_id, amount, reason, refunded_at FROM refunds
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY refunded_at, id`),
    attendance: await rowsOf(db, sql`
      SELECT a.event_id, e.name AS event_name, nullif(a.ticket_id, '') AS ticket_id, a.order_id, a.checked_in_at
      FROM attendance a LEFT JOIN catalog_events e ON e.tenant_id = a.tenant_id AND e.id = a.event_id
      WHERE a.tenant_id = ${t} AND a.customer_id = ${c} ORDER BY a.checked_in_at, a.event_id`),
    carts: await rowsOf(db, sql`
      SELECT id, status, items, total, currency, order_id, created_at, updated_at, checked_out_at
      FROM carts WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY created_at, id`),
    timeline: await rowsOf(db, sql`
      SELECT id, type, occurred_at, summary, data, source_id, actor FROM activities
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY occurred_at, id`),
    interactions: await rowsOf(db, sql`
      SELECT id, type, subject, description, outcome, priority, status, duration_minutes, follow_up_at, occurred_at,
             created_by, created_at, updated_at, deleted_at
      FROM interactions WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY occurred_at, id`),
    notes: await rowsOf(db, sql`
      SELECT id, body, pinned, created_by, created_at, updated_at FROM customer_notes
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY created_at, id`),
    consent_events: await rowsOf(db, sql`
      SELECT id, channel, purpose, granted, source, text_version, ip, occurred_at, recorded_by FROM consent_events
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY occurred_at, created_at, id`),
    loyalty_ledger: await rowsOf(db, sql`
      SELECT id, points, reason, ref, note, created_by, created_at FROM loyalty_ledger
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY created_at, id`),
    segments: await rowsOf(db, sql`
      SELECT m.segment_id, s.name, m.added_at FROM segment_members m
      JOIN segments s ON s.tenant_id = m.tenant_id AND s.id = m.segment_id
      WHERE m.tenant_id = ${t} AND m.customer_id = ${c} ORDER BY m.added_at, m.segment_id`),
    messages: hasMessages
      ? await rowsOf(db, sql`
        SELECT id, channel, to_address, source_kind, source_id, campaign_id, status, reason, subject, text,
               created_at, sent_at, delivered_at, opened_at, clicked_at, bounced_at, complained_at, unsubscribed_at
        FROM messages WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY created_at, id`)
      : [],
    privacy_requests: await rowsOf(db, sql`
      SELECT id, type, status, reason, requested_by, created_at, completed_at FROM privacy_requests
      WHERE tenant_id = ${t} AND customer_id = ${c} ORDER BY created_at, id`),
  };
}

// ---------------------------------------------------------------------------------------------
// Privacy requests

export async function insertPrivacyRequest(
  tx: Executor,
  r: { tenantId: string; type: 'access' | 'erasure'; customerId: string | null; status: 'pending' | 'completed'; reason: string | null; requestedBy: string; details?: unknown },
): Promise<{ id: string; created_at: Date; completed_at: Date | null }> {
  const row = await tx.one<{ id: string; created_at: Date; completed_at: Date | null }>(sql`
    INSERT INTO privacy_requests (tenant_id, type, customer_id, status, reason, requested_by, details, completed_at)
    VALUES (${r.tenantId}::uuid, ${r.type}, ${r.customerId}::uuid, ${r.status}, ${r.reason}, ${r.requestedBy},
            ${JSON.stringify(r.details ?? {})}::jsonb, CASE WHEN ${r.status} = 'completed' THEN now() END)
    RETURNING id, created_at, completed_at`);
  return row!;
}

export interface PrivacyRequestRow {
  id: string;
  type: 'access' | 'erasure';
  customer_id: string | null;
  status: string;
  reason: string | null;
  requested_by: string;
  details: Record<string, unknown>;
  created_at: Date;
  completed_at: Date | null;
  created_key: string;
}

export async function listPrivacyRequests(
  db: Executor,
  q: { tenantId: string; type?: string; customerId?: string; limit: number; before?: { createdAt: string; id: string } },
): Promise<PrivacyRequestRow[]> {
  const where: SQL[] = [sql`tenant_id = ${q.tenantId}::uuid`];
  if (q.type) where.push(sql`type = ${q.type}`);
  if (q.customerId) where.push(sql`customer_id = ${q.customerId}::uuid`);
  if (q.before) where.push(sql`(created_at, id) < (${q.before.createdAt}::timestamptz, ${q.before.id}::uuid)`);
  return db.rows<PrivacyRequestRow>(sql`
    SELECT id, type, customer_id, status, reason, requested_by, details, created_at, completed_at,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key
    FROM privacy_requests WHERE ${sql.join(where, sql` AND `)}
    ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`);
}

// ---------------------------------------------------------------------------------------------
// Erasure: set-based over a list of customers (one person from the API, a batch from retention).

const ERASED = '[erased]';

export interface ScrubCounts {
  customers: number;
  notes: number;
  activities: number;
  interactions: number;
  orders: number;
  loyalty_ledger: number;
  consent_events: number;
  outbox: number;
  webhook_deliveries: number;
  import_errors: number;
  customer_aliases: number;
  workflow_enrollments: number;
}

/**
 * Anonymises the customers' rows and everything that may quote them. Kept: ids, order totals,
 * items, refunds, check-ins, loyalty points, segment ids and metrics, so revenue and attendance
 * figures stay right. `needles` are the lower-cased e-mails and phones looked for in free-form rows
 * (import error cells). The caller holds the customers' row locks.
 */
export async function scrubCustomers(tx: Executor, tenantId: string, ids: string[], needles: string[]): Promise<ScrubCounts> {
  const t = sql`${tenantId}::uuid`;
  const inIds = sql`ANY(${arr(ids)}::uuid[])`;
  const tables = await existingTables(tx, ['import_errors', 'customer_aliases', 'workflow_enrollments']);
  const enrichment = (await hasColumn(tx, 'customers', 'enrichment')) ? sql`, enrichment = '{}'::jsonb` : sql``;
  const counts: ScrubCounts = {
    customers: await tx.run(sql`
      UPDATE customers SET external_id = NULL, email = NULL, phone = NULL, first_name = NULL, last_name = NULL,
        company_name = NULL, date_of_birth = NULL, gender = NULL, addresses = '[]'::jsonb, city = NULL, state = NULL,
        country = NULL, postal_code = NULL, source = NULL, tags = '{}', preferences = '{}'::jsonb, consent = '{}'::jsonb,
        custom_fields = '{}'::jsonb, status = 'inactive', deleted_at = coalesce(deleted_at, now()), erased_at = now(),
        updated_at = now() ${enrichment}
      WHERE tenant_id = ${t} AND id = ${inIds}`),
    notes: await tx.run(sql`
      UPDATE customer_notes SET body = ${ERASED}, updated_at = now() WHERE tenant_id = ${t} AND customer_id = ${inIds}`),
    activities: await tx.run(sql`
      UPDATE activities SET summary = NULL, data = '{}'::jsonb WHERE tenant_id = ${t} AND customer_id = ${inIds}`),
    interactions: await tx.run(sql`
      UPDATE interactions SET subject = ${ERASED}, description = NULL, outcome = NULL, updated_at = now()
      WHERE tenant_id = ${t} AND customer_id = ${inIds}`),
    orders: await tx.run(sql`
      UPDATE orders SET data = '{}'::jsonb WHERE tenant_id = ${t} AND customer_id = ${inIds} AND data <> '{}'::jsonb`),
    loyalty_ledger: await tx.run(sql`
      UPDATE loyalty_ledger SET note = NULL WHERE tenant_id = ${t} AND customer_id = ${inIds} AND note IS NOT NULL`),
    consent_events: await tx.run(sql`
      UPDATE consent_events SET ip = NULL WHERE tenant_id = ${t} AND customer_id = ${inIds} AND ip IS NOT NULL`),
    // Published events carry profiles (customer.created) and changes; undelivered ones go out scrubbed.
    outbox: await tx.run(sql`
      UPDATE outbox SET payload = jsonb_build_object('customer_id', customer_id, 'erased', true)
      WHERE tenant_id = ${t} AND customer_id = ${inIds}`),
    webhook_deliveries: await tx.run(sql`
      UPDATE webhook_deliveries SET payload = payload || jsonb_build_object('data', jsonb_build_object('customer_id', customer_id, 'erased', true))
      WHERE tenant_id = ${t} AND customer_id = ${inIds}`),
    import_errors: 0,
    customer_aliases: 0,
    workflow_enrollments: 0,
  };
  const found = needles.filter((n) => n.length >= 3);
  if (tables.has('import_errors') && found.length > 0) {
    counts.import_errors = await tx.run(sql`
      UPDATE import_errors SET raw = NULL, reason = ${ERASED}
      WHERE tenant_id = ${t}
        AND EXISTS (SELECT 1 FROM unnest(${arr(found)}::text[]) AS n(v)
                    WHERE strpos(lower(coalesce(raw::text, '') || ' ' || reason), n.v) > 0)`);
  }
  if (tables.has('customer_aliases')) {
    // identifiers of people merged into this one: they are this person's too
    counts.customer_aliases = await tx.run(sql`DELETE FROM customer_aliases WHERE tenant_id = ${t} AND customer_id = ${inIds}`);
  }
  if (tables.has('workflow_enrollments')) {
    counts.workflow_enrollments = await tx.run(sql`
      UPDATE workflow_enrollments SET context = '{}'::jsonb, last_error = NULL,
        status = CASE WHEN status = 'active' THEN 'exited' ELSE status END,
        exit_reason = CASE WHEN status = 'active' THEN 'erased' ELSE exit_reason END,
        finished_at = CASE WHEN status = 'active' THEN now() ELSE finished_at END, updated_at = now()
      WHERE tenant_id = ${t} AND customer_id = ${inIds}`);
  }
  return counts;
}

/** Note and interaction ids of the customers (their audit entries are redacted too). */
export async function relatedEntityIds(tx: Executor, tenantId: string, ids: string[]): Promise<string[]> {
  const rows = await tx.rows<{ id: string }>(sql`
    SELECT id::text AS id FROM customer_notes WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(ids)}::uuid[])
    UNION ALL
    SELECT id::text FROM interactions WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(ids)}::uuid[])`);
  return rows.map((r) => r.id);
}

/** Customers (of `ids`) that have message records. */
export async function customersWithMessages(tx: Executor, tenantId: string, ids: string[]): Promise<string[]> {
  if (!(await existingTables(tx, ['messages'])).has('messages')) return [];
  const rows = await tx.rows<{ customer_id: string }>(sql`
    SELECT DISTINCT customer_id FROM messages WHERE tenant_id = ${tenantId}::uuid AND customer_id = ANY(${arr(ids)}::uuid[])`);
  return rows.map((r) => r.customer_id);
}

// ---------------------------------------------------------------------------------------------
// Retention

/** Tenants with customers inactive since before `cutoff` and not erased yet. */
export async function tenantsWithInactive(db: Executor, cutoff: string): Promise<string[]> {
  const rows = await db.rows<{ tenant_id: string }>(sql`
    SELECT DISTINCT tenant_id FROM customers
    WHERE erased_at IS NULL AND merged_into IS NULL AND coalesce(last_activity_at, created_at) < ${cutoff}::timestamptz`);
  return rows.map((r) => r.tenant_id);
}

/**
 * The next inactive customers of a tenant, locked (SKIP LOCKED: a customer someone is changing
 * right now is not inactive; the next run takes it if it stays so).
 */
export async function lockInactiveCustomers(tx: Executor, tenantId: string, cutoff: string, limit: number): Promise<ErasableCustomer[]> {
  return tx.rows<ErasableCustomer>(sql`
    SELECT id, email, phone, external_id, erased_at FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND erased_at IS NULL AND merged_into IS NULL
      AND coalesce(last_activity_at, created_at) < ${cutoff}::timestamptz
    ORDER BY id LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`);
}

export async function insertRetentionRun(
  tx: Executor,
  r: { tenantId: string; inactiveYears: number; cutoff: string; erased: number; startedAt: Date },
): Promise<void> {
  await tx.run(sql`
    INSERT INTO retention_runs (tenant_id, inactive_years, cutoff, customers_erased, started_at)
    VALUES (${r.tenantId}::uuid, ${r.inactiveYears}, ${r.cutoff}::timestamptz, ${r.erased}, ${r.startedAt.toISOString()}::timestamptz)`);
}

export interface RetentionRunRow {
  id: string;
  inactive_years: number;
  cutoff: Date;
  customers_erased: number;
  started_at: Date;
  finished_at: Date;
}

export async function listRetentionRuns(db: Executor, tenantId: string, limit: number): Promise<RetentionRunRow[]> {
  return db.rows<RetentionRunRow>(sql`
    SELECT id, inactive_years, cutoff, customers_erased, started_at, finished_at FROM retention_runs
    WHERE tenant_id = ${tenantId}::uuid ORDER BY finished_at DESC, id DESC LIMIT ${limit}`);
}
