import { Type, type TSchema } from '@sinclair/typebox';

/** Shared TypeBox pieces used by every capability's schemas. */
export const Uuid = Type.String({ format: 'uuid' });
// Handlers may return Date objects; the response serializer writes them as ISO 8601 strings.
export const DateTime = Type.Unsafe<string | Date>({ type: 'string', format: 'date-time' });
/** Date-time accepted in requests (always text there). */
export const DateTimeInput = Type.String({ format: 'date-time' });
export const DateOnly = Type.String({ format: 'date', description: 'YYYY-MM-DD' });
export const Money = Type.Number({ minimum: 0, maximum: 999_999_999_999.99, description: 'amount in the tenant currency, two decimals' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable machine-readable code, e.g. customer_not_found' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { title: 'Error' },
);

export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 1000, description: 'next_cursor from the previous page' })),
};

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    data: Type.Array(item),
    next_cursor: Nullable(Type.String()),
  });

/** Standard error responses to add to a route's response map. */
export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
};
