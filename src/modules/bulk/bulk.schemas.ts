import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Uuid } from '../../lib/schemas.js';
import { ListCustomersQuery } from '../customers/customers.schemas.js';

const BulkFilter = Type.Omit(ListCustomersQuery, ['limit', 'cursor', 'sort'], {
  additionalProperties: false, description: 'the query parameters of GET /customers, as JSON',
});

export const BulkBody = Type.Object(
  {
    action: Type.Union(['tag', 'untag', 'add_to_segment', 'update_field', 'delete'].map((a) => Type.Literal(a)), {
      description: 'delete needs an admin key',
    }),
    params: Type.Optional(Type.Object(
      {
        tags: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 100, description: 'tag, untag' })),
        segment_id: Type.Optional(Type.String({ maxLength: 100, description: 'add_to_segment: a static segment' })),
        field: Type.Optional(Type.String({ maxLength: 80, description: 'update_field: status, city, state, country, postal_code, source, gender, company_name or custom.<key>' })),
        value: Type.Optional(Type.Unknown({ description: 'update_field: the new value; null clears it' })),
      },
      { additionalProperties: false },
    )),
    target: Type.Union([
      Type.Object({ ids: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 10000 }) }, { additionalProperties: false }),
      Type.Object({ segment_id: Uuid }, { additionalProperties: false }),
      Type.Object({ filter: BulkFilter }, { additionalProperties: false }),
    ], { description: 'customer ids, the members of a segment, or a customer-list filter' }),
  },
  { additionalProperties: false },
);

export const BulkOperation = Type.Object(
  {
    id: Uuid,
    action: Type.String(),
    status: Type.Union(['queued', 'running', 'completed', 'failed'].map((s) => Type.Literal(s))),
    params: Type.Object({}, { additionalProperties: true }),
    target: Type.Object({}, { additionalProperties: true }),
    total: Nullable(Type.Integer({ description: 'customers targeted; for a filter known once the run ends' })),
    processed: Type.Integer(),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    report: Type.Object({
      errors: Type.Array(Type.Object({ id: Nullable(Type.String()), code: Type.String(), message: Type.String() })),
      errors_truncated: Type.Optional(Type.Boolean()),
      error: Type.Optional(Type.String({ description: 'why the operation failed' })),
    }),
    created_by: Type.String(),
    created_at: DateTime,
    started_at: Nullable(DateTime),
    finished_at: Nullable(DateTime),
  },
  { title: 'BulkOperation' },
);

export const BulkAccepted = Type.Object({ id: Uuid, status: Type.String() });
export const BulkParams = Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false });
