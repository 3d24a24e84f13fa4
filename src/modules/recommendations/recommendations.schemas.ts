import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';

export const RecommendationsQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 5 })) },
  { additionalProperties: false },
);

export const Recommendation = Type.Object(
  {
    event_id: Type.String(),
    name: Type.String(),
    genres: Type.Array(Type.String()),
    venue: Nullable(Type.String()),
    city: Nullable(Type.String()),
    starts_at: DateTime,
    score: Type.Number({ description: '0..1: 0.6 × genre_affinity + 0.4 × co_attendance' }),
    reasons: Type.Object({
      genre_affinity: Type.Number({ description: 'share of the customer\'s genre weight (attended ×2, bought ×1, preferences ×1) the show carries' }),
      co_attendance: Type.Number({ description: 'share of customers who went to the same shows as this one that bought this show' }),
      co_attendees: Type.Integer(),
      matched_genres: Type.Array(Type.String()),
      tickets_sold: Type.Integer(),
    }),
  },
  { title: 'EventRecommendation' },
);

export const RecommendationList = Type.Object({ customer_id: Uuid, data: Type.Array(Recommendation) });
