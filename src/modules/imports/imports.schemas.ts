import { Type, type Static } from '@sinclair/typebox';
import { DateTime, Nullable } from '../../lib/schemas.js';
import { DELIMITERS, ENCODINGS } from './imports.reader.js';

export const ImportQuery = Type.Object(
  {
    type: Type.Union([Type.Literal('customers'), Type.Literal('orders')], { description: 'what the rows are' }),
    dry_run: Type.Optional(Type.Boolean({ description: 'validate and count only; may also be sent as a form field' })),
    encoding: Type.Optional(Type.Union(ENCODINGS.map((e) => Type.Literal(e)), { description: 'CSV encoding (default: detected: BOM, UTF-8, else Windows-1250)' })),
    delimiter: Type.Optional(Type.Union(DELIMITERS.map((d) => Type.Literal(d)), { description: 'CSV delimiter (default: detected from the header)' })),
  },
  { additionalProperties: false },
);
export type ImportQuery = Static<typeof ImportQuery>;

/** The multipart form (documentation: the body is read as a stream, not validated as JSON). */
export const ImportForm = Type.Object({
  file: Type.String({ format: 'binary', description: 'the CSV or XLSX file (field `file`)' }),
  mapping: Type.Optional(Type.String({ description: 'JSON object: column header → field (null ignores the column), e.g. {"Adresa e-mail": "email"}' })),
  dry_run: Type.Optional(Type.String({ description: 'true: validate and count only' })),
});

export const Mapping = Type.Record(Type.String(), Nullable(Type.String()));

export const ImportAccepted = Type.Object({
  id: Type.String({ format: 'uuid' }),
  status: Type.String({ description: 'queued' }),
});

export const ImportStatus = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.Union([Type.Literal('customers'), Type.Literal('orders')]),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]),
  dry_run: Type.Boolean(),
  file_name: Nullable(Type.String()),
  format: Type.Union([Type.Literal('csv'), Type.Literal('xlsx')]),
  encoding: Nullable(Type.String()),
  delimiter: Nullable(Type.String()),
  mapping: Type.Record(Type.String(), Nullable(Type.String()), { description: 'column header → field it was read as (null: ignored)' }),
  ignored_columns: Type.Array(Type.String()),
  total_rows: Type.Integer({ description: 'data rows in the file (known once the scan is done)' }),
  processed_rows: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  unchanged: Type.Integer({ description: 'rows applied before (an order imported again)' }),
  rejected: Type.Integer(),
  errors_url: Nullable(Type.String({ description: 'CSV of the rejected rows with the reason' })),
  error: Nullable(Type.Object({ code: Type.String(), message: Type.String() }, { description: 'why the whole file failed (nothing was written)' })),
  created_at: DateTime,
  started_at: Nullable(DateTime),
  finished_at: Nullable(DateTime),
});
