import { AppError } from './errors.js';

/** Opaque pagination cursors: base64url JSON of the last row's sort key. */
export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string, length: number): unknown[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(values) && values.length === length) return values;
  } catch {
    // fall through to the error below
  }
  throw new AppError('invalid_cursor', 'cursor is not valid for this listing');
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID_RE.test(value);
/** A timestamp as the listings put it in cursors: microsecond precision, UTC. */
const EXACT_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
export const isExactTs = (v: unknown): v is string => typeof v === 'string' && EXACT_TS.test(v);
export const isDateText = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
export const isText = (v: unknown): v is string => typeof v === 'string' && v.length <= 1000;

/** Decodes a cursor and checks every value's shape, so nothing malformed reaches SQL. */
export function readCursor(cursor: string, checks: ((v: unknown) => boolean)[]): unknown[] {
  const values = decodeCursor(cursor, checks.length);
  if (!checks.every((check, i) => check(values[i]))) {
    throw new AppError('invalid_cursor', 'cursor is not valid for this listing');
  }
  return values;
}

/** Rows fetched with limit + 1: the extra row only says whether there is a next page. */
export function pageOf<R, T>(rows: R[], limit: number, map: (row: R) => T, cursorOf: (row: R) => unknown[]): Page<T> {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return { data: page.map(map), next_cursor: more ? encodeCursor(cursorOf(page[page.length - 1])) : null };
}
