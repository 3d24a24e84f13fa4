import { Type, type Static } from '@sinclair/typebox';
import { DateOnly, DateTime, DateTimeInput, Nullable, Page, PageQuery, Uuid } from '../../lib/schemas.js';

export const Activity = Type.Object(
  {
    id: Uuid,
    type: Type.String({ description: 'e.g. order.completed, ticket.checked_in, note.added, profile.updated, consent.changed' }),
    occurred_at: DateTime,
    summary: Nullable(Type.String()),
    data: Type.Object({}, { additionalProperties: true }),
    source_id: Nullable(Type.String({ description: 'the ingested event, note, interaction… the entry comes from' })),
    actor: Nullable(Type.String({ description: '"key:<id>", "user:<id>" or "system"' })),
  },
  { title: 'TimelineEntry' },
);

export const TimelineQuery = Type.Object(
  {
    type: Type.Optional(Type.String({
      maxLength: 1000,
      description: 'comma-separated types; a value ending in ".*" matches a prefix, e.g. "order.*,note.added"',
    })),
    before: Type.Optional(Type.Union([DateOnly, DateTimeInput], { description: 'entries strictly before this time (a date means midnight UTC)' })),
    after: Type.Optional(Type.Union([DateOnly, DateTimeInput], { description: 'entries at or after this time (a date means midnight UTC)' })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type TimelineQuery = Static<typeof TimelineQuery>;

export const TimelinePage = Page(Activity);
