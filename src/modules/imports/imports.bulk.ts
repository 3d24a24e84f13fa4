import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import type { Database, Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { recordAuditSql } from '../audit/audit.service.js';
import { identityLockKeys, type Identity } from '../ingest/ingest.identity.js';
import { findIngestedEvents, insertIngestedEventsSql, lockIdentityKeys } from '../ingest/ingest.repository.js';
import { MAX_BATCH } from '../ingest/ingest.schemas.js';
import { newContactMemo, validateEvent, type ContactMemo, type ValidEvent } from '../ingest/ingest.validation.js';
import { enqueueEventsSql, type NewOutboxEvent } from '../outbox/outbox.repository.js';
import { insertConsentEventsSql, type NewConsentEvent } from '../privacy/consent.repository.js';
import { insertActivitiesSql, type NewActivity } from '../timeline/timeline.repository.js';
import { afterIngestion } from '../ingest/ingest.pipeline.js';
import { consentLedgerRows, createdEvent, createdSummary, dropSuppressedConsent, registeredSummary, updatedSummary } from '../ingest/ingest.service.js';
import * as repo from './imports.repository.js';

/**
 * The bulk path of customer imports: rows of people not known yet (no live customer or alias with the
 * row's external id, e-mail or phone, no earlier row of the file with one of them) are written with a
 * handful of set-based statements per chunk instead of going through ingestion event by event.
 *
 * What is written is EXACTLY what ingesting the row's events (`user.registered`, plus `customer.updated`
 * for customer_type/status) writes: the customer row (profile as the registration's fill and the
 * update's overwrite leave it, in one row version instead of two), `ingested_events` rows (idempotency:
 * a resumed import finds them), the timeline entries (the events and customer.created), the consent
 * ledger rows, the outbox events (customer.created, customer.updated when the type or status differs
 * from the defaults), one `events.ingest` audit entry per chunk; after the commit the same follow-ups as
 * `ingestAndSegment` (segment re-evaluation, duplicate-detection and score queues; no workflow
 * enrollment, as for every import). The events are validated by the ingestion's own validator.
 *
 * Each chunk takes the ingestion's advisory locks on its identifiers and looks the identifiers up again
 * under them: a row that a concurrent writer (API, another import) made known since the batch looked is
 * handed back, as is any row the bulk path cannot mirror exactly (a rejected event, an identifier shared
 * with an earlier row after normalization, events it does not model, events already applied): the caller
 * sends those through ingestion.
 */

/**
 * Rows per transaction: up to 3 advisory locks per row (the ingestion's, one per identifier); two lanes of
 * MAX_BATCH / 2 rows hold at most 3,000 of the server's shared lock table (64 × max_connections by default).
 */
export const BULK_CHUNK = MAX_BATCH / 2;
/** Chunks written concurrently (2 fill a 2-core machine, as the ingestion lanes of imports do). */
export const BULK_LANES = 2;

/** Profile fields user.registered fills (the rest of a row needs customer.updated; the only profile data keys the bulk path models). */
export const REGISTRATION_FIELDS = ['date_of_birth', 'gender', 'city', 'state', 'country', 'postal_code', 'company_name'] as const;
const REGISTRATION_KEYS = new Set<string>(['source', 'consent', ...REGISTRATION_FIELDS]);
/** Fields customer.updated may overwrite on the bulk path, with the column defaults they overwrite. */
const SET_DEFAULTS: Record<string, string> = { customer_type: 'individual', status: 'active' };

export interface BulkRow {
  /** the caller's index of the row */
  row: number;
  /** the row's raw ingestion events: user.registered, optionally a customer.updated */
  events: Record<string, unknown>[];
}

interface Prepared {
  row: number;
  id: string;
  events: ValidEvent[];
  identity: Identity;
}

export interface BulkDeps {
  db: Database;
  config: Config;
  log?: Pick<FastifyBaseLogger, 'error'>;
}

/**
 * A time-ordered UUID (version 7: 48-bit milliseconds, then random bits): new customers of an import
 * land at the right edge of the (tenant_id, id) primary key and of the indexes keyed by customer
 * (timeline, consent ledger) instead of at random pages of them.
 */
export function uuidv7(): string {
  const b = randomBytes(16);
  b.writeUIntBE(Date.now(), 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Validates the rows' events and keeps those the bulk path writes exactly; the others are left out (the
 * caller sends every row not applied through ingestion).
 * `taken`: the identifiers of the rows kept so far (called chunk by chunk, in file order).
 */
function prepare(config: Config, rows: BulkRow[], taken: Set<string>, memo: ContactMemo): Prepared[] {
  const nowMs = Date.now();
  const ready: Prepared[] = [];
  for (const r of rows) {
    const events: ValidEvent[] = [];
    for (const raw of r.events) {
      const v = validateEvent(raw, events.length, { nowMs, phoneRegion: config.defaultPhoneRegion, memo });
      if (!v.ok) break;
      events.push(v.event);
    }
    const [reg, upd, ...more] = events;
    const modelled = events.length === r.events.length && more.length === 0 && reg?.type === 'user.registered'
      && Object.keys(reg.data).every((k) => REGISTRATION_KEYS.has(k))
      && (upd === undefined || (upd.type === 'customer.updated' && Object.keys(upd.changes ?? {}).every((k) => Object.hasOwn(SET_DEFAULTS, k))
        && upd.identity.externalId === reg.identity.externalId && upd.identity.email === reg.identity.email && upd.identity.phone === reg.identity.phone));
    if (!modelled) continue;
    const idn = reg.identity;
    const keys = [idn.externalId && `x|${idn.externalId}`, idn.email && `e|${idn.email}`, idn.phone && `p|${idn.phone}`].filter((k): k is string => !!k);
    // one person per row here: a later row naming the same person (after normalization) updates it through ingestion
    if (keys.some((k) => taken.has(k))) continue;
    for (const k of keys) taken.add(k);
    ready.push({ row: r.row, id: uuidv7(), events, identity: idn });
  }
  return ready;
}

const str = (v: unknown): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : String(v));

/** Raised when some of a chunk's events were applied before: the chunk reruns, looking them up first. */
class AppliedBefore extends Error {}

interface ChunkResult {
  applied: Prepared[];
  /** rows of people a live customer (or alias) has the identifier of: updates, not registrations */
  known: number[];
}

/**
 * One chunk in one transaction; answers the rows written and the rows of people known by now (the rest go
 * through ingestion). `checkApplied`: look the events up in ingested_events first (after a chunk found some
 * there); otherwise their insert tells.
 */
async function writeChunk(tx: Executor, ctx: { tenantId: string; actor: string }, chunk: Prepared[], checkApplied: boolean): Promise<ChunkResult> {
  const { tenantId, actor } = ctx;
  const values = (pick: (i: Identity) => string | null) => chunk.map((p) => pick(p.identity)).filter((v): v is string => v !== null);
  const keys = { externalIds: values((i) => i.externalId), emails: values((i) => i.email), phones: values((i) => i.phone) };
  // The chunk's commit does not wait for its WAL to reach the disk (SET LOCAL synchronous_commit = off, with
  // the locks): the batch's progress is recorded afterwards in a transaction that does wait, and its flush
  // covers the chunks' WAL written before it; after a server crash either the batch is recorded with its
  // chunks, or the job reruns the batch (its rows found by identity or in ingested_events).
  const currency = await lockIdentityKeys(tx, tenantId, identityLockKeys(tenantId, keys), { commitWithoutFlush: true });
  if (currency === null) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`);
  // under the locks: known now (a concurrent writer), or applied before (a resumed import)?
  const found = await repo.matchIdentities(tx, tenantId, keys);
  const seen = checkApplied
    ? new Set((await findIngestedEvents(tx, tenantId, chunk.flatMap((p) => p.events.map((e) => e.id)))).map((r) => r.id))
    : new Set<string>();
  const rows: Prepared[] = [];
  const knownRows: number[] = [];
  for (const p of chunk) {
    const i = p.identity;
    if ((i.externalId && found.externalIds.has(i.externalId)) || (i.email && found.emails.has(i.email)) || (i.phone && found.phones.has(i.phone))) {
      knownRows.push(p.row);
    } else if (!p.events.some((e) => seen.has(e.id))) rows.push(p);
  }
  if (rows.length === 0) return { applied: [], known: knownRows };

  // as ingestion: no marketing consent from an event for a suppressed address (the import withheld such
  // grants already; this closes the window between that check and the write)
  await dropSuppressedConsent(tx, tenantId, rows.map((p) => p.events[0]));

  const events = rows.flatMap((p) => p.events.map((e) => ({ id: e.id, type: e.type, customerId: p.id, occurredAt: e.occurredAt })));

  const customers: repo.ImportedCustomer[] = [];
  const activities: NewActivity[] = [];
  const created: NewActivity[] = [];
  const ledger: NewConsentEvent[] = [];
  const updated: NewOutboxEvent[] = [];
  const byType: Record<string, number> = {};
  for (const p of rows) {
    const [reg, upd] = p.events;
    const d = reg.data;
    const source: string = d.source ?? 'ingest';
    const consent = d.consent ? { ...d.consent, updated_at: reg.occurredAt } : null;
    const set = upd?.changes ?? {};
    const first = p.events.reduce((a, e) => (e.occurredMs < a.occurredMs ? e : a));
    const last = p.events.reduce((a, e) => (e.occurredAt > a.occurredAt ? e : a));
    customers.push({
      id: p.id, externalId: p.identity.externalId, email: p.identity.email, phone: p.identity.phone,
      firstName: p.identity.firstName, lastName: p.identity.lastName,
      companyName: str(d.company_name), gender: str(d.gender), city: str(d.city), state: str(d.state), country: str(d.country),
      postalCode: str(d.postal_code), dateOfBirth: str(d.date_of_birth), source,
      customerType: str(set.customer_type), status: str(set.status), consent, lastActivityAt: last.occurredAt,
    });
    for (const e of p.events) {
      byType[e.type] = (byType[e.type] ?? 0) + 1;
      activities.push(e === reg
        ? { customerId: p.id, type: e.type, occurredAt: e.occurredAt, summary: registeredSummary(d.source), data: d, sourceId: e.id, actor }
        : { customerId: p.id, type: e.type, occurredAt: e.occurredAt, summary: updatedSummary(Object.keys(set)), data: { changes: set }, sourceId: e.id, actor });
    }
    created.push({
      customerId: p.id, type: 'customer.created', occurredAt: new Date(first.occurredAt), summary: createdSummary(source),
      data: { source, external_id: p.identity.externalId, email: p.identity.email, phone: p.identity.phone }, sourceId: first.id, actor,
    });
    // a new customer: every flag the registration sets is a change (from: nothing recorded)
    if (consent) ledger.push(...consentLedgerRows([p.id], () => undefined, () => consent, actor));
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const [f, v] of Object.entries(set)) {
      const to = v ?? SET_DEFAULTS[f];
      if (to !== SET_DEFAULTS[f]) changes[f] = { from: SET_DEFAULTS[f], to };
    }
    if (Object.keys(changes).length > 0) updated.push({ type: 'customer.updated', customerId: p.id, payload: { customer_id: p.id, changes } });
  }

  const outbox: NewOutboxEvent[] = [
    ...created.map(createdEvent),
    ...updated,
  ];
  // Every row of the chunk in one statement (the same INSERTs ingestion runs one by one). Applied before (a
  // resumed import whose customer was deleted or merged since, a concurrent run of the same import): fewer
  // new idempotency rows than events; the chunk rolls back and reruns with the look-up, which hands those
  // rows to ingestion (duplicates there).
  const fresh = await repo.writeNewCustomers(tx, tenantId, {
    ingested: insertIngestedEventsSql(tenantId, events),
    customers,
    rest: [
      insertActivitiesSql(tenantId, [...activities, ...created]),
      ...(ledger.length > 0 ? [insertConsentEventsSql(tenantId, ledger)] : []),
      enqueueEventsSql(tenantId, outbox),
      recordAuditSql({
        tenantId, actor, requestId: null, action: 'events.ingest', entityType: 'event_batch', entityId: null,
        after: { received: events.length, accepted: events.length, duplicates: 0, rejected: 0, by_type: byType },
      }),
    ],
  });
  if (fresh < events.length) throw new AppliedBefore();
  return { applied: rows, known: knownRows };
}

/**
 * Writes the rows of new people (see above) chunk by chunk; answers the rows written (one new customer
 * each) and the rows of people a live customer turned out to have an identifier of. Every other row is
 * left to the caller to send through ingestion.
 */
export async function applyNewCustomers(
  deps: BulkDeps,
  ctx: { tenantId: string; actor: string },
  rows: BulkRow[],
  /** contacts the caller normalized already (raw → normalized), as ingestion's validation memoizes them */
  memo: ContactMemo = newContactMemo(),
): Promise<{ applied: number[]; known: number[] }> {
  const { db } = deps;
  const applied: Prepared[] = [];
  const known: number[] = [];
  const taken = new Set<string>();
  let next = 0;
  let failed = false;
  // BULK_LANES chunks in flight on their own connections: the rows are key-disjoint (no lock waits
  // between them), and one chunk's validation in Node overlaps the other's statements in PostgreSQL.
  // Chunks are prepared in file order (prepare is synchronous), so `taken` keeps the earlier row.
  const lane = async () => {
    while (!failed && next * BULK_CHUNK < rows.length) {
      const raw = rows.slice(next * BULK_CHUNK, (next + 1) * BULK_CHUNK);
      next++;
      const ready = prepare(deps.config, raw, taken, memo);
      if (ready.length === 0) continue;
      const r = await db.transaction((tx) => writeChunk(tx, ctx, ready, false))
        .catch((err: unknown) => (err instanceof AppliedBefore ? db.transaction((tx) => writeChunk(tx, ctx, ready, true)) : Promise.reject(err)))
        .catch((err: unknown) => {
          failed = true;
          throw err;
        });
      applied.push(...r.applied);
      known.push(...r.known);
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: BULK_LANES }, lane));
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  const ids = applied.map((p) => p.id);
  if (ids.length > 0) {
    await afterIngestion(db, ctx.tenantId, ids, deps.log);
  }
  return { applied: applied.map((p) => p.row), known };
}
