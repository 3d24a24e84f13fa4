import { arr, sql, type Executor, type SQL } from '../../db/database.js';
import type { CatalogStatus } from './catalog.schemas.js';

export interface CatalogEventRow {
  id: string;
  name: string;
  genres: string[];
  venue: string | null;
  city: string | null;
  starts_at: Date | null;
  ends_at: Date | null;
  status: CatalogStatus;
  tickets_sold: number;
  attendees: number;
  created_at: Date;
  updated_at: Date;
}

export interface CatalogEventFields {
  name: string;
  genres: string[];
  venue: string | null;
  city: string | null;
  startsAt: string | Date | null;
  endsAt: string | Date | null;
  status: CatalogStatus;
}

const ts = (v: string | Date | null) => (v instanceof Date ? v.toISOString() : v);

/** Columns of e plus the sales and check-in counts (index-backed: order_items_event_idx, attendance_event_idx). */
const SELECT_WITH_COUNTS = sql`
  e.id, e.name, e.genres, e.venue, e.city, e.starts_at, e.ends_at, e.status, e.created_at, e.updated_at,
  (SELECT coalesce(sum(oi.quantity), 0)::int
     FROM order_items oi JOIN orders o ON o.tenant_id = oi.tenant_id AND o.id = oi.order_id
    WHERE oi.tenant_id = e.tenant_id AND oi.event_id = e.id AND o.status = 'completed') AS tickets_sold,
  (SELECT count(*)::int FROM attendance a WHERE a.tenant_id = e.tenant_id AND a.event_id = e.id) AS attendees`;

/** Inserts a new event; answers undefined when the id is already taken in the tenant. */
export async function insertCatalogEvent(
  db: Executor,
  tenantId: string,
  id: string,
  f: CatalogEventFields,
): Promise<{ id: string } | undefined> {
  return db.one<{ id: string }>(sql`
    INSERT INTO catalog_events (tenant_id, id, name, genres, venue, city, starts_at, ends_at, status)
    VALUES (${tenantId}::uuid, ${id}, ${f.name}, ${arr(f.genres)}::text[], ${f.venue}, ${f.city},
            ${ts(f.startsAt)}::timestamptz, ${ts(f.endsAt)}::timestamptz, ${f.status})
    ON CONFLICT (tenant_id, id) DO NOTHING
    RETURNING id`);
}

export async function findCatalogEvent(db: Executor, tenantId: string, id: string): Promise<CatalogEventRow | undefined> {
  return db.one<CatalogEventRow>(sql`
    SELECT ${SELECT_WITH_COUNTS} FROM catalog_events e
    WHERE e.tenant_id = ${tenantId}::uuid AND e.id = ${id}`);
}

/** The event's own columns, locked for an update or delete. */
export async function lockCatalogEvent(db: Executor, tenantId: string, id: string): Promise<CatalogEventFields | undefined> {
  const row = await db.one<{ name: string; genres: string[]; venue: string | null; city: string | null; starts_at: Date | null; ends_at: Date | null; status: CatalogStatus }>(sql`
    SELECT name, genres, venue, city, starts_at, ends_at, status FROM catalog_events
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}
    FOR UPDATE`);
  if (!row) return undefined;
  return { name: row.name, genres: row.genres, venue: row.venue, city: row.city, startsAt: row.starts_at, endsAt: row.ends_at, status: row.status };
}

export async function updateCatalogEvent(db: Executor, tenantId: string, id: string, f: CatalogEventFields): Promise<void> {
  await db.run(sql`
    UPDATE catalog_events
    SET name = ${f.name}, genres = ${arr(f.genres)}::text[], venue = ${f.venue}, city = ${f.city},
        starts_at = ${ts(f.startsAt)}::timestamptz, ends_at = ${ts(f.endsAt)}::timestamptz, status = ${f.status},
        updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}`);
}

/** How many order items and check-ins name the event (a sold event is cancelled, never deleted). */
export async function countCatalogEventUsage(db: Executor, tenantId: string, id: string): Promise<{ order_items: number; attendance: number }> {
  const row = await db.one<{ order_items: number; attendance: number }>(sql`
    SELECT (SELECT count(*)::int FROM order_items WHERE tenant_id = ${tenantId}::uuid AND event_id = ${id}) AS order_items,
           (SELECT count(*)::int FROM attendance WHERE tenant_id = ${tenantId}::uuid AND event_id = ${id}) AS attendance`);
  return row!;
}

export async function deleteCatalogEvent(db: Executor, tenantId: string, id: string): Promise<boolean> {
  return (await db.run(sql`DELETE FROM catalog_events WHERE tenant_id = ${tenantId}::uuid AND id = ${id}`)) > 0;
}

export interface CatalogPageRow extends CatalogEventRow {
  cursor_ts: string | null;
}

/** Sorted by starts_at (undated events last), then id; `after` is the last row of the previous page. */
export async function listCatalogEvents(
  db: Executor,
  q: {
    tenantId: string;
    genres?: string[];
    city?: string;
    venue?: string;
    statuses?: string[];
    from?: string;
    to?: string;
    search?: string;
    limit: number;
    after?: { startsAt: string | null; id: string };
  },
): Promise<CatalogPageRow[]> {
  const where: SQL[] = [sql`e.tenant_id = ${q.tenantId}::uuid`];
  if (q.genres?.length) where.push(sql`e.genres && ${arr(q.genres)}::text[]`);
  if (q.city) where.push(sql`lower(e.city) = lower(${q.city})`);
  if (q.venue) where.push(sql`lower(e.venue) = lower(${q.venue})`);
  if (q.statuses?.length) where.push(sql`e.status = ANY(${arr(q.statuses)}::text[])`);
  if (q.from) where.push(sql`e.starts_at >= ${q.from}::timestamptz`);
  if (q.to) where.push(sql`e.starts_at <= ${q.to}::timestamptz`);
  if (q.search) where.push(sql`e.name ILIKE ${'%' + q.search.replace(/[\\%_]/g, (c) => '\\' + c) + '%'}`);
  if (q.after) {
    where.push(
      q.after.startsAt === null
        ? sql`(e.starts_at IS NULL AND e.id > ${q.after.id})`
        : sql`(e.starts_at > ${q.after.startsAt}::timestamptz OR e.starts_at IS NULL
               OR (e.starts_at = ${q.after.startsAt}::timestamptz AND e.id > ${q.after.id}))`,
    );
  }
  return db.rows<CatalogPageRow>(sql`
    SELECT ${SELECT_WITH_COUNTS},
           to_char(e.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts
    FROM catalog_events e
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY e.starts_at ASC NULLS LAST, e.id ASC
    LIMIT ${q.limit}`);
}

/**
 * For ingestion: makes sure every event an order names exists in the catalog (the name is the id
 * until someone edits it). Existing events are left as they are.
 */
export async function ensureCatalogEvents(
  db: Executor,
  tenantId: string,
  events: { id: string; name?: string | null }[],
): Promise<number> {
  if (events.length === 0) return 0;
  return db.run(sql`
    INSERT INTO catalog_events (tenant_id, id, name)
    SELECT ${tenantId}::uuid, t.id, coalesce(t.name, t.id)
    FROM unnest(${arr(events.map((e) => e.id))}::text[], ${arr(events.map((e) => e.name ?? null))}::text[]) AS t(id, name)
    ON CONFLICT (tenant_id, id) DO NOTHING`);
}
