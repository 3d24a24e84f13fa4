import { sql, type Executor } from '../../db/database.js';

export interface RecommendationRow {
  event_id: string;
  name: string;
  genres: string[];
  venue: string | null;
  city: string | null;
  starts_at: Date;
  genre_affinity: number;
  co_attendance: number;
  co_attendees: number;
  popularity: number;
  matched_genres: string[];
}

/**
 * Upcoming shows the customer holds no ticket for, scored in one statement by
 * - genre affinity: the share of the customer's genre weight (shows attended count 2, shows
 *   bought 1, declared preferences.genres 1) that the show's genres carry, 0..1;
 * - co-attendance: of the other customers who went to or bought the same shows as this one,
 *   the share who bought this show ("people who went to X also went to Y"), 0..1;
 * ties broken by tickets sold, then the earliest date.
 */
export async function recommendedEvents(
  db: Executor,
  q: { tenantId: string; customerId: string; limit: number; now: Date; genreWeight: number; coWeight: number },
): Promise<RecommendationRow[]> {
  const t = sql`${q.tenantId}::uuid`;
  const c = sql`${q.customerId}::uuid`;
  return db.rows<RecommendationRow>(sql`
    WITH attended AS (
      SELECT DISTINCT a.event_id FROM attendance a WHERE a.tenant_id = ${t} AND a.customer_id = ${c}
    ), bought AS (
      SELECT DISTINCT oi.event_id FROM orders o
      JOIN order_items oi ON oi.tenant_id = o.tenant_id AND oi.order_id = o.id
      WHERE o.tenant_id = ${t} AND o.customer_id = ${c} AND o.status IN ('pending', 'completed') AND oi.event_id IS NOT NULL
    ), mine AS (
      SELECT event_id FROM attended UNION SELECT event_id FROM bought
    ), weights AS (
      SELECT g AS genre, sum(w)::float8 AS weight FROM (
        SELECT lower(unnest(ev.genres)) AS g, CASE WHEN ev.id IN (SELECT event_id FROM attended) THEN 2 ELSE 1 END AS w
        FROM catalog_events ev WHERE ev.tenant_id = ${t} AND ev.id IN (SELECT event_id FROM mine)
        UNION ALL
        SELECT lower(p.g), 1 FROM customers cu,
          jsonb_array_elements_text(CASE WHEN jsonb_typeof(cu.preferences -> 'genres') = 'array' THEN cu.preferences -> 'genres' ELSE '[]'::jsonb END) AS p(g)
        WHERE cu.tenant_id = ${t} AND cu.id = ${c}
      ) x GROUP BY g
    ), total AS (
      SELECT coalesce(sum(weight), 0) AS w FROM weights
    ), candidates AS (
      SELECT ev.id, ev.name, ev.genres, ev.venue, ev.city, ev.starts_at FROM catalog_events ev
      WHERE ev.tenant_id = ${t} AND ev.starts_at > ${q.now.toISOString()}::timestamptz AND ev.status IN ('scheduled', 'on_sale')
        AND ev.id NOT IN (SELECT event_id FROM mine)
    ), peers AS (
      SELECT DISTINCT x.customer_id FROM (
        SELECT a.customer_id, a.event_id FROM attendance a WHERE a.tenant_id = ${t}
        UNION ALL
        SELECT o.customer_id, oi.event_id FROM orders o JOIN order_items oi ON oi.tenant_id = o.tenant_id AND oi.order_id = o.id
        WHERE o.tenant_id = ${t} AND o.status = 'completed'
      ) x
      WHERE x.event_id IN (SELECT event_id FROM mine) AND x.customer_id <> ${c}
    ), sales AS (
      SELECT oi.event_id, o.customer_id, oi.quantity FROM orders o
      JOIN order_items oi ON oi.tenant_id = o.tenant_id AND oi.order_id = o.id
      WHERE o.tenant_id = ${t} AND o.status = 'completed' AND oi.event_id IN (SELECT id FROM candidates)
    ), co AS (
      SELECT s.event_id, count(DISTINCT s.customer_id)::int AS n FROM sales s
      WHERE s.customer_id IN (SELECT customer_id FROM peers) GROUP BY s.event_id
    ), pop AS (
      SELECT event_id, sum(quantity)::int AS n FROM sales GROUP BY event_id
    ), scored AS (
      SELECT cand.*,
        CASE WHEN (SELECT w FROM total) > 0
             THEN coalesce((SELECT sum(wg.weight) FROM weights wg WHERE wg.genre = ANY(cand.genres)), 0) / (SELECT w FROM total)
             ELSE 0 END AS genre_affinity,
        CASE WHEN (SELECT count(*) FROM peers) > 0
             THEN coalesce(co.n, 0)::float8 / (SELECT count(*) FROM peers) ELSE 0 END AS co_attendance,
        coalesce(co.n, 0) AS co_attendees,
        coalesce(pop.n, 0) AS popularity,
        ARRAY(SELECT wg.genre FROM weights wg WHERE wg.genre = ANY(cand.genres) ORDER BY wg.weight DESC, wg.genre) AS matched_genres
      FROM candidates cand
      LEFT JOIN co ON co.event_id = cand.id
      LEFT JOIN pop ON pop.event_id = cand.id
    )
    SELECT id AS event_id, name, genres, venue, city, starts_at, genre_affinity, co_attendance, co_attendees, popularity, matched_genres
    FROM scored
    ORDER BY ${q.genreWeight}::float8 * genre_affinity + ${q.coWeight}::float8 * co_attendance DESC, popularity DESC, starts_at, id
    LIMIT ${q.limit}`);
}

export async function customerIsLive(db: Executor, tenantId: string, customerId: string): Promise<boolean> {
  const row = await db.one(sql`
    SELECT 1 FROM customers WHERE tenant_id = ${tenantId}::uuid AND id = ${customerId}::uuid AND deleted_at IS NULL AND merged_into IS NULL`);
  return !!row;
}
