import crypto from 'node:crypto';
import type { Executor } from '../../db/database.js';
import { isDateText, pageOf, readCursor } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit, type AuditCtx } from '../audit/audit.service.js';
import * as repo from './catalog.repository.js';
import type {
  CreateCatalogEventInput,
  ListCatalogEventsQueryInput,
  PatchCatalogEventInput,
  ReplaceCatalogEventInput,
} from './catalog.schemas.js';

const MIN_DATE_MS = Date.UTC(1900, 0, 1);
const MAX_DATE_MS = Date.UTC(2200, 0, 1);
const ID_RE = /^[A-Za-z0-9_.:-]{1,100}$/;

function notFound(id: string): AppError {
  return new AppError('catalog_event_not_found', `catalog event ${id} was not found`, { id });
}

export function newCatalogEventId(): string {
  return `ev_${crypto.randomBytes(9).toString('hex')}`;
}

/** Genres are compared lower-cased everywhere, so they are stored that way, once each. */
export function normalizeGenres(genres: readonly string[]): string[] {
  const out: string[] = [];
  for (const g of genres) {
    const v = g.trim().toLowerCase();
    if (!v) throw new AppError('validation_failed', 'a genre must not be blank', { path: 'body/genres' });
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

const blankToNull = (v: string | null | undefined) => {
  const t = v?.trim();
  return t ? t : null;
};

function checkFields(f: repo.CatalogEventFields): repo.CatalogEventFields {
  const name = f.name.trim();
  if (!name) throw new AppError('validation_failed', 'name must not be blank', { path: 'body/name' });
  const ms = { starts_at: f.startsAt, ends_at: f.endsAt };
  for (const [field, v] of Object.entries(ms)) {
    if (v === null) continue;
    const t = v instanceof Date ? v.getTime() : Date.parse(v);
    if (Number.isNaN(t) || t < MIN_DATE_MS || t >= MAX_DATE_MS) {
      throw new AppError('validation_failed', `${field} must be a date-time between 1900 and 2200`, { path: `body/${field}` });
    }
  }
  if (f.startsAt !== null && f.endsAt !== null && new Date(f.endsAt).getTime() < new Date(f.startsAt).getTime()) {
    throw new AppError('validation_failed', 'ends_at must not be before starts_at', {
      path: 'body/ends_at',
      starts_at: f.startsAt,
      ends_at: f.endsAt,
    });
  }
  return { ...f, name };
}

function fieldsFrom(input: ReplaceCatalogEventInput): repo.CatalogEventFields {
  return checkFields({
    name: input.name,
    genres: normalizeGenres(input.genres ?? []),
    venue: blankToNull(input.venue),
    city: blankToNull(input.city),
    startsAt: input.starts_at ?? null,
    endsAt: input.ends_at ?? null,
    status: input.status ?? 'scheduled',
  });
}

export async function getCatalogEvent(db: Executor, tenantId: string, id: string): Promise<repo.CatalogEventRow> {
  const row = await repo.findCatalogEvent(db, tenantId, id);
  if (!row) throw notFound(id);
  return row;
}

/** Who changed the catalog (routes, CLI); without it the change is attributed to "system". */
function audit(tx: Executor, tenantId: string, who: AuditCtx | undefined, action: string, id: string, before: unknown, after: unknown) {
  return recordAudit(tx, {
    tenantId, actor: who?.actor ?? 'system', requestId: who?.requestId ?? null, action, entityType: 'catalog_event', entityId: id, before, after,
  });
}

export async function createCatalogEvent(db: Executor, tenantId: string, input: CreateCatalogEventInput, who?: AuditCtx) {
  const fields = fieldsFrom(input);
  const id = input.id ?? newCatalogEventId();
  if (!ID_RE.test(id)) throw new AppError('validation_failed', 'id may hold only letters, digits, _ . : -', { path: 'body/id' });
  return db.transaction(async (tx) => {
    const inserted = await repo.insertCatalogEvent(tx, tenantId, id, fields);
    if (!inserted) throw new AppError('catalog_event_exists', `catalog event ${id} already exists`, { id });
    const row = (await repo.findCatalogEvent(tx, tenantId, id))!;
    await audit(tx, tenantId, who, 'catalog_event.create', id, null, row);
    return row;
  });
}

async function change(
  db: Executor,
  tenantId: string,
  id: string,
  merge: (current: repo.CatalogEventFields) => repo.CatalogEventFields,
  who?: AuditCtx,
) {
  return db.transaction(async (tx) => {
    const current = await repo.lockCatalogEvent(tx, tenantId, id);
    if (!current) throw notFound(id);
    const before = await repo.findCatalogEvent(tx, tenantId, id);
    await repo.updateCatalogEvent(tx, tenantId, id, checkFields(merge(current)));
    const row = (await repo.findCatalogEvent(tx, tenantId, id))!;
    await audit(tx, tenantId, who, 'catalog_event.update', id, before, row);
    return row;
  });
}

export async function replaceCatalogEvent(db: Executor, tenantId: string, id: string, input: ReplaceCatalogEventInput, who?: AuditCtx) {
  const fields = fieldsFrom(input);
  return change(db, tenantId, id, () => fields, who);
}

export async function patchCatalogEvent(db: Executor, tenantId: string, id: string, input: PatchCatalogEventInput, who?: AuditCtx) {
  const genres = input.genres !== undefined ? normalizeGenres(input.genres) : undefined;
  return change(db, tenantId, id, (cur) => ({
    name: input.name ?? cur.name,
    genres: genres ?? cur.genres,
    venue: input.venue !== undefined ? blankToNull(input.venue) : cur.venue,
    city: input.city !== undefined ? blankToNull(input.city) : cur.city,
    startsAt: input.starts_at !== undefined ? input.starts_at : cur.startsAt,
    endsAt: input.ends_at !== undefined ? input.ends_at : cur.endsAt,
    status: input.status ?? cur.status,
  }), who);
}

/** Only events nobody bought or attended can be deleted; the others are cancelled with status. */
export async function deleteCatalogEvent(db: Executor, tenantId: string, id: string, who?: AuditCtx): Promise<void> {
  await db.transaction(async (tx) => {
    if (!(await repo.lockCatalogEvent(tx, tenantId, id))) throw notFound(id);
    const before = await repo.findCatalogEvent(tx, tenantId, id);
    const usage = await repo.countCatalogEventUsage(tx, tenantId, id);
    if (usage.order_items > 0 || usage.attendance > 0) {
      throw new AppError(
        'catalog_event_in_use',
        `catalog event ${id} has orders or check-ins; set its status to cancelled instead of deleting it`,
        { id, ...usage },
      );
    }
    await repo.deleteCatalogEvent(tx, tenantId, id);
    await audit(tx, tenantId, who, 'catalog_event.delete', id, before, null);
  });
}

export async function listCatalogEvents(db: Executor, tenantId: string, q: ListCatalogEventsQueryInput) {
  const limit = q.limit ?? 50;
  let after: { startsAt: string | null; id: string } | undefined;
  if (q.cursor) {
    const [startsAt, id] = readCursor(q.cursor, [(v) => v === null || isDateText(v), (v) => typeof v === 'string' && ID_RE.test(v)]);
    after = { startsAt: startsAt as string | null, id: id as string };
  }
  for (const [field, v] of [['from', q.from], ['to', q.to]] as const) {
    if (v === undefined) continue;
    const t = Date.parse(v);
    if (Number.isNaN(t) || t < MIN_DATE_MS || t >= MAX_DATE_MS) {
      throw new AppError('validation_failed', `${field} must be a date-time between 1900 and 2200`, { path: `querystring/${field}` });
    }
  }
  const rows = await repo.listCatalogEvents(db, {
    tenantId,
    genres: q.genre?.map((g) => g.trim().toLowerCase()),
    city: q.city,
    venue: q.venue,
    statuses: q.status,
    from: q.from,
    to: q.to,
    search: q.search,
    limit: limit + 1,
    after,
  });
  return pageOf(rows, limit, (r) => r, (r) => [r.cursor_ts, r.id]);
}
