import { AppError } from '../../lib/errors.js';
import { isUuid, pageOf, readCursor, requireCustomer, toTimestamp, type CustomerCtx } from '../customers/customers.service.js';
import { listActivities, type ActivityRow } from './timeline.repository.js';
import type { TimelineQuery } from './timeline.schemas.js';

const TYPE_RE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?$/i;

/** "order.*, note.added" → prefixes ["order."] and types ["note.added"]; "*" alone means every type. */
export function parseTypeFilter(text: string | undefined): { types: string[]; prefixes: string[] } {
  const types: string[] = [];
  const prefixes: string[] = [];
  for (const raw of (text ?? '').split(',')) {
    const value = raw.trim();
    if (!value) continue;
    if (value === '*') return { types: [], prefixes: [] };
    if (!TYPE_RE.test(value)) {
      throw new AppError('validation_failed', `"${value}" is not an activity type or a prefix such as order.*`, { field: 'type' });
    }
    if (value.endsWith('.*')) prefixes.push(value.slice(0, -1));
    else types.push(value);
  }
  return { types, prefixes };
}

const toEntry = ({ occurred_key: _k, ...entry }: ActivityRow) => entry;

/** A customer's timeline, newest first, with type/time filters and keyset pagination. */
export async function listTimeline(ctx: CustomerCtx, customerId: string, q: TimelineQuery) {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  const limit = q.limit ?? 50;
  const { types, prefixes } = parseTypeFilter(q.type);
  let cursor: { occurredAt: string; id: string } | undefined;
  if (q.cursor) {
    const [occurredAt, id] = readCursor(q.cursor, [
      (v) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(v),
      isUuid,
    ]);
    cursor = { occurredAt: occurredAt as string, id: id as string };
  }
  const rows = await listActivities(ctx.db, {
    tenantId: ctx.tenantId,
    customerId: customer.id,
    types,
    prefixes,
    before: toTimestamp(q.before),
    after: toTimestamp(q.after),
    limit: limit + 1,
    cursor,
  });
  return pageOf(rows, limit, toEntry, (r) => [r.occurred_key, r.id]);
}
