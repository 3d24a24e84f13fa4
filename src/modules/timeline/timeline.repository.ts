import { arr, sql, type Executor, type SQL } from '../../db/database.js';

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

/**
 * Writes many entries in one statement. The rows travel as one JSON document rather than seven
 * arrays: serializing JSON values into a PostgreSQL array literal (escaping every quote) cost more
 * than the insert itself on 1000-entry ingestion batches. An actor shared by every row (an
 * ingestion batch has one) is bound once instead of repeated in each row.
 */
export async function insertActivities(db: Executor, tenantId: string, rows: NewActivity[]): Promise<void> {
  if (rows.length === 0) return;
  await db.run(insertActivitiesSql(tenantId, rows));
}

/** The INSERT statement of insertActivities (at least one row), for callers that fold it into a bigger statement. */
export function insertActivitiesSql(tenantId: string, rows: readonly NewActivity[]): SQL {
  const actor = rows[0].actor ?? null;
  const shared = rows.every((r) => (r.actor ?? null) === actor);
  const payload = JSON.stringify(
    rows.map((r) => ({
      c: r.customerId,
      t: r.type,
      o: r.occurredAt instanceof Date ? r.occurredAt.toISOString() : r.occurredAt,
      s: r.summary ?? null,
      d: r.data ?? {},
      src: r.sourceId ?? null,
      ...(shared ? {} : { a: r.actor ?? null }),
    })),
  );
  return sql`
    INSERT INTO activities (tenant_id, customer_id, type, occurred_at, summary, data, source_id, actor)
    SELECT ${tenantId}::uuid, t.c, t.t, t.o, t.s, t.d, t.src, ${shared ? sql`${actor}::text` : sql`t.a`}
    FROM jsonb_to_recordset(${payload}::jsonb) AS t(c uuid, t text, o timestamptz, s text, d jsonb, src text, a text)`;
}

export interface ActivityRow {
  id: string;
  type: string;
  occurred_at: Date;
  summary: string | null;
  data: Record<string, unknown>;
  source_id: string | null;
  actor: string | null;
  /** occurred_at as exact text (microseconds) for the cursor */
  occurred_key: string;
}

export interface ActivityQuery {
  tenantId: string;
  customerId: string;
  /** Exact types to match. */
  types?: string[];
  /** Type prefixes ("order." for "order.*"), matched with LIKE. */
  prefixes?: string[];
  /** occurred_at < before */
  before?: string;
  /** occurred_at >= after */
  after?: string;
  limit: number;
  /** The last entry of the previous page. */
  cursor?: { occurredAt: string; id: string };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A customer's entries, newest first (occurred_at, id), read along activities_customer_idx. */
export async function listActivities(db: Executor, q: ActivityQuery): Promise<ActivityRow[]> {
  const where: SQL[] = [sql`a.tenant_id = ${q.tenantId}`, sql`a.customer_id = ${q.customerId}::uuid`];
  const typeMatch: SQL[] = [];
  if (q.types?.length) typeMatch.push(sql`a.type = ANY(${arr(q.types)}::text[])`);
  if (q.prefixes?.length) typeMatch.push(sql`a.type LIKE ANY(${arr(q.prefixes.map((p) => `${escapeLike(p)}%`))}::text[])`);
  if (typeMatch.length) where.push(sql`(${sql.join(typeMatch, sql` OR `)})`);
  if (q.before) where.push(sql`a.occurred_at < ${q.before}::timestamptz`);
  if (q.after) where.push(sql`a.occurred_at >= ${q.after}::timestamptz`);
  if (q.cursor) where.push(sql`(a.occurred_at, a.id) < (${q.cursor.occurredAt}::timestamptz, ${q.cursor.id}::uuid)`);
  return db.rows<ActivityRow>(sql`
    SELECT a.id, a.type, a.occurred_at, a.summary, a.data, a.source_id, a.actor,
           to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_key
    FROM activities a
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY a.occurred_at DESC, a.id DESC
    LIMIT ${q.limit}`);
}
