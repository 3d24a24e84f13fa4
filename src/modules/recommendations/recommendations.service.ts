import type { Executor } from '../../db/database.js';
import { isUuid } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import * as repo from './recommendations.repository.js';

export interface Recommendation {
  event_id: string;
  name: string;
  genres: string[];
  venue: string | null;
  city: string | null;
  starts_at: Date;
  /** 0..1: GENRE_WEIGHT × genre affinity + CO_WEIGHT × co-attendance */
  score: number;
  reasons: { genre_affinity: number; co_attendance: number; co_attendees: number; matched_genres: string[]; tickets_sold: number };
}

// Genre taste is known for every customer with one show behind them; co-attendance needs a crowd,
// so it refines rather than leads.
const GENRE_WEIGHT = 0.6;
const CO_WEIGHT = 0.4;
const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Upcoming catalog events ranked for a customer by genre affinity (attendance and purchases) and
 * co-attendance, excluding shows they already hold tickets for. Also the `recommendations` of
 * message templates (the messaging module loads this function).
 */
export async function recommendEvents(exec: Executor, tenantId: string, customerId: string, limit = 5, now: Date = new Date()): Promise<Recommendation[]> {
  const rows = await repo.recommendedEvents(exec, {
    tenantId, customerId, limit: Math.max(1, Math.min(50, Math.floor(limit))), now, genreWeight: GENRE_WEIGHT, coWeight: CO_WEIGHT,
  });
  return rows.map((r) => ({
    event_id: r.event_id,
    name: r.name,
    genres: r.genres,
    venue: r.venue,
    city: r.city,
    starts_at: r.starts_at,
    score: round(GENRE_WEIGHT * r.genre_affinity + CO_WEIGHT * r.co_attendance),
    reasons: {
      genre_affinity: round(r.genre_affinity), co_attendance: round(r.co_attendance), co_attendees: r.co_attendees,
      matched_genres: r.matched_genres, tickets_sold: r.popularity,
    },
  }));
}

/** GET /customers/{id}/recommendations */
export async function recommendationsForCustomer(db: Executor, tenantId: string, customerId: string, limit?: number) {
  if (!isUuid(customerId) || !(await repo.customerIsLive(db, tenantId, customerId))) {
    throw new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
  }
  return { customer_id: customerId.toLowerCase(), data: await recommendEvents(db, tenantId, customerId, limit ?? 5) };
}
