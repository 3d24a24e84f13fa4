import { Type, type Static } from '@sinclair/typebox';
import { DateTime, DateTimeInput, Nullable, PageQuery } from '../../lib/schemas.js';

export const CATALOG_STATUSES = ['scheduled', 'on_sale', 'sold_out', 'cancelled', 'completed'] as const;
export type CatalogStatus = (typeof CATALOG_STATUSES)[number];

export const CatalogEventId = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9_.:-]{1,100}$',
  description: "the platform's event id (e.g. ev_9): letters, digits, _ . : -",
});

export const CatalogStatusSchema = Type.Union(CATALOG_STATUSES.map((s) => Type.Literal(s)));

const Name = Type.String({ minLength: 1, maxLength: 300 });
const Genres = Type.Array(Type.String({ minLength: 1, maxLength: 50 }), {
  maxItems: 20,
  description: 'stored lower-cased, without duplicates',
});
const Place = Type.String({ maxLength: 200 });

export const CatalogEvent = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    genres: Type.Array(Type.String()),
    venue: Nullable(Type.String()),
    city: Nullable(Type.String()),
    starts_at: Nullable(DateTime),
    ends_at: Nullable(DateTime),
    status: CatalogStatusSchema,
    tickets_sold: Type.Integer({ description: 'tickets in completed orders' }),
    attendees: Type.Integer({ description: 'tickets checked in' }),
    created_at: DateTime,
    updated_at: DateTime,
  },
  { title: 'CatalogEvent' },
);

const editable = {
  name: Name,
  genres: Type.Optional(Genres),
  venue: Type.Optional(Nullable(Place)),
  city: Type.Optional(Nullable(Place)),
  starts_at: Type.Optional(Nullable(DateTimeInput)),
  ends_at: Type.Optional(Nullable(DateTimeInput)),
  status: Type.Optional(CatalogStatusSchema),
};

export const CreateCatalogEventBody = Type.Object(
  { id: Type.Optional(CatalogEventId), ...editable },
  { additionalProperties: false },
);
export type CreateCatalogEventInput = Static<typeof CreateCatalogEventBody>;

/** PUT replaces every field; left-out ones go back to their defaults. */
export const ReplaceCatalogEventBody = Type.Object(editable, { additionalProperties: false });
export type ReplaceCatalogEventInput = Static<typeof ReplaceCatalogEventBody>;

export const PatchCatalogEventBody = Type.Object(
  {
    name: Type.Optional(Name),
    genres: Type.Optional(Genres),
    venue: Type.Optional(Nullable(Place)),
    city: Type.Optional(Nullable(Place)),
    starts_at: Type.Optional(Nullable(DateTimeInput)),
    ends_at: Type.Optional(Nullable(DateTimeInput)),
    status: Type.Optional(CatalogStatusSchema),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchCatalogEventInput = Static<typeof PatchCatalogEventBody>;

export const CatalogEventParams = Type.Object({ id: CatalogEventId }, { additionalProperties: false });

export const ListCatalogEventsQuery = Type.Object(
  {
    genre: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 20, description: 'any of these genres' })),
    city: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'exact, case-insensitive' })),
    venue: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'exact, case-insensitive' })),
    status: Type.Optional(Type.Array(CatalogStatusSchema, { maxItems: 5 })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'starts_at at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'starts_at at or before' })),
    search: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'part of the name' })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type ListCatalogEventsQueryInput = Static<typeof ListCatalogEventsQuery>;
