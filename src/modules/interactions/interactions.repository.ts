import { arr, sql, type Executor, type SQL } from '../../db/database.js';
import type { InteractionPriority, InteractionStatus, InteractionType } from './interactions.schemas.js';

export interface InteractionRow {
  id: string;
  customer_id: string;
  type: InteractionType;
  subject: string;
  description: string | null;
  outcome: string | null;
  priority: InteractionPriority;
  status: InteractionStatus;
  duration_minutes: number | null;
  follow_up_at: Date | null;
  occurred_at: Date;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The editable fields, all resolved (the service applies defaults and merges patches). */
export interface InteractionFields {
  type: InteractionType;
  subject: string;
  description: string | null;
  outcome: string | null;
  priority: InteractionPriority;
  status: InteractionStatus;
  durationMinutes: number | null;
  followUpAt: string | Date | null;
  /** null = now() */
  occurredAt: string | Date | null;
}

const COLUMNS = sql.raw(`i.id, i.customer_id, i.type, i.subject, i.description, i.outcome, i.priority, i.status,
  i.duration_minutes, i.follow_up_at, i.occurred_at, i.created_by, i.created_at, i.updated_at`);

/**
 * Timestamps in cursors keep PostgreSQL's microseconds (a JavaScript Date would round them to
 * milliseconds and make keyset pagination skip or repeat rows).
 */
const cursorTs = (column: SQL) => sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const ts = (v: string | Date | null) => (v instanceof Date ? v.toISOString() : v);

/** A customer that interactions may be attached to: in the tenant, not deleted, not merged away. */
export async function findLiveCustomerId(db: Executor, tenantId: string, customerId: string): Promise<string | undefined> {
  const row = await db.one<{ id: string }>(sql`
    SELECT id FROM customers
    WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid AND deleted_at IS NULL AND merged_into IS NULL`);
  return row?.id;
}

export async function insertInteraction(
  db: Executor,
  input: { tenantId: string; customerId: string; fields: InteractionFields; createdBy: string | null; sourceId?: string | null },
): Promise<InteractionRow> {
  const f = input.fields;
  const row = await db.one<InteractionRow>(sql`
    INSERT INTO interactions AS i (tenant_id, customer_id, type, subject, description, outcome, priority, status,
                                   duration_minutes, follow_up_at, occurred_at, created_by, source_id)
    VALUES (${input.tenantId}::uuid, ${input.customerId}::uuid, ${f.type}, ${f.subject}, ${f.description}, ${f.outcome},
            ${f.priority}, ${f.status}, ${f.durationMinutes}, ${ts(f.followUpAt)}::timestamptz,
            coalesce(${ts(f.occurredAt)}::timestamptz, now()), ${input.createdBy}, ${input.sourceId ?? null})
    RETURNING ${COLUMNS}`);
  return row!;
}

/** A live interaction (not deleted, its customer live), optionally locked for an update. */
export async function findInteraction(
  db: Executor,
  tenantId: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<InteractionRow | undefined> {
  return db.one<InteractionRow>(sql`
    SELECT ${COLUMNS}
    FROM interactions i
    JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
    WHERE i.tenant_id = ${tenantId}::uuid AND i.id = ${id}::uuid AND i.deleted_at IS NULL
      AND c.deleted_at IS NULL AND c.merged_into IS NULL
    ${opts.forUpdate ? sql`FOR UPDATE OF i` : sql``}`);
}

export async function updateInteraction(db: Executor, tenantId: string, id: string, f: InteractionFields): Promise<InteractionRow> {
  const row = await db.one<InteractionRow>(sql`
    UPDATE interactions i
    SET type = ${f.type}, subject = ${f.subject}, description = ${f.description}, outcome = ${f.outcome},
        priority = ${f.priority}, status = ${f.status}, duration_minutes = ${f.durationMinutes},
        follow_up_at = ${ts(f.followUpAt)}::timestamptz,
        occurred_at = coalesce(${ts(f.occurredAt)}::timestamptz, i.occurred_at), updated_at = now()
    WHERE i.tenant_id = ${tenantId}::uuid AND i.id = ${id}::uuid AND i.deleted_at IS NULL
    RETURNING ${COLUMNS}`);
  return row!;
}

export async function softDeleteInteraction(db: Executor, tenantId: string, id: string): Promise<boolean> {
  const n = await db.run(sql`
    UPDATE interactions SET deleted_at = now(), updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND deleted_at IS NULL`);
  return n > 0;
}

/** last_contact_at only moves forward: it is the latest contact, whichever interaction it came from. */
export async function touchLastContact(db: Executor, tenantId: string, customerId: string, at: Date): Promise<void> {
  await db.run(sql`
    UPDATE customers SET last_contact_at = greatest(last_contact_at, ${at.toISOString()}::timestamptz)
    WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid
      AND last_contact_at IS DISTINCT FROM greatest(last_contact_at, ${at.toISOString()}::timestamptz)`);
}

export interface InteractionPageRow extends InteractionRow {
  cursor_ts: string;
}

/** Newest first; `after` is the (occurred_at, id) of the last row of the previous page. */
export async function listCustomerInteractions(
  db: Executor,
  q: {
    tenantId: string;
    customerId: string;
    types?: string[];
    statuses?: string[];
    limit: number;
    after?: { occurredAt: string; id: string };
  },
): Promise<InteractionPageRow[]> {
  const where: SQL[] = [
    sql`i.tenant_id = ${q.tenantId}::uuid`,
    sql`i.customer_id = ${q.customerId}::uuid`,
    sql`i.deleted_at IS NULL`,
  ];
  if (q.types?.length) where.push(sql`i.type = ANY(${arr(q.types)}::text[])`);
  if (q.statuses?.length) where.push(sql`i.status = ANY(${arr(q.statuses)}::text[])`);
  if (q.after) where.push(sql`(i.occurred_at, i.id) < (${q.after.occurredAt}::timestamptz, ${q.after.id}::uuid)`);
  return db.rows<InteractionPageRow>(sql`
    SELECT ${COLUMNS}, ${cursorTs(sql`i.occurred_at`)} AS cursor_ts
    FROM interactions i
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY i.occurred_at DESC, i.id DESC
    LIMIT ${q.limit}`);
}

export interface FollowUpRow extends InteractionRow {
  cursor_ts: string;
  customer_name: string | null;
  customer_email: string | null;
  customer_phone: string | null;
  overdue: boolean;
}

/**
 * Follow-ups due by `dueBefore`, soonest first. For pending ones (the usual question) the status is
 * written as a literal so the planner can use the partial index interactions_follow_up_idx.
 */
export async function listFollowUps(
  db: Executor,
  q: {
    tenantId: string;
    dueBefore: string;
    status: string;
    priorities?: string[];
    customerId?: string;
    limit: number;
    after?: { followUpAt: string; id: string };
  },
): Promise<FollowUpRow[]> {
  const where: SQL[] = [
    sql`i.tenant_id = ${q.tenantId}::uuid`,
    q.status === 'pending' ? sql`i.status = 'pending'` : sql`i.status = ${q.status}`,
    sql`i.follow_up_at IS NOT NULL`,
    sql`i.deleted_at IS NULL`,
    sql`i.follow_up_at <= ${q.dueBefore}::timestamptz`,
  ];
  if (q.priorities?.length) where.push(sql`i.priority = ANY(${arr(q.priorities)}::text[])`);
  if (q.customerId) where.push(sql`i.customer_id = ${q.customerId}::uuid`);
  if (q.after) where.push(sql`(i.follow_up_at, i.id) > (${q.after.followUpAt}::timestamptz, ${q.after.id}::uuid)`);
  return db.rows<FollowUpRow>(sql`
    SELECT ${COLUMNS}, ${cursorTs(sql`i.follow_up_at`)} AS cursor_ts,
           coalesce(nullif(btrim(concat_ws(' ', c.first_name, c.last_name)), ''), c.company_name, c.email, c.phone) AS customer_name,
           c.email AS customer_email, c.phone AS customer_phone,
           (i.status = 'pending' AND i.follow_up_at < now()) AS overdue
    FROM interactions i
    JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
    WHERE ${sql.join(where, sql` AND `)} AND c.deleted_at IS NULL AND c.merged_into IS NULL
    ORDER BY i.follow_up_at, i.id
    LIMIT ${q.limit}`);
}
