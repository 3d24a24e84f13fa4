import { Type, type Static } from '@sinclair/typebox';
import { ListCustomersQuery } from '../customers/customers.schemas.js';
import { Uuid } from '../../lib/schemas.js';

const DateOrDateTime = Type.Union([Type.String({ format: 'date' }), Type.String({ format: 'date-time' })]);
const Format = Type.Union([Type.Literal('csv'), Type.Literal('xlsx')], { default: 'csv', description: 'csv (UTF-8 with BOM, RFC 4180) or xlsx' });
const Columns = Type.String({ maxLength: 2000, description: 'comma-separated column names, in order (unknown → 400 with the allowed list)' });

const { sort: _sort, limit: _limit, cursor: _cursor, ...customerFilterProps } = ListCustomersQuery.properties;

export const CustomerExportQuery = Type.Object(
  { format: Type.Optional(Format), columns: Type.Optional(Columns), ...customerFilterProps },
  { additionalProperties: false },
);
export type CustomerExportQuery = Static<typeof CustomerExportQuery>;

export const OrderExportQuery = Type.Object(
  {
    format: Type.Optional(Format),
    columns: Type.Optional(Columns),
    segment_id: Type.Optional(Uuid),
    status: Type.Optional(Type.Union(['pending', 'completed', 'refunded', 'cancelled'].map((s) => Type.Literal(s)))),
    placed_after: Type.Optional(DateOrDateTime),
    placed_before: Type.Optional(DateOrDateTime),
  },
  { additionalProperties: false },
);
export type OrderExportQuery = Static<typeof OrderExportQuery>;
