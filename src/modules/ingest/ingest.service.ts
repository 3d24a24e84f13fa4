import { randomUUID } from 'node:crypto';
import type { Config } from '../../config.js';
import { PG_FOREIGN_KEY_VIOLATION, pgErrorCode, type Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { normalizeEmail, normalizePhone } from '../../lib/contact.js';
import { roundMoney } from '../../lib/money.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import { enqueueEvents, type NewOutboxEvent } from '../outbox/outbox.repository.js';
import { recordAudit } from '../audit/audit.service.js';
import { insertConsentEvents, readConsents, type NewConsentEvent } from '../privacy/consent.repository.js';
import { findSuppressedByChannel } from '../privacy/suppressions.repository.js';
import { MAX_BATCH, type IngestResult, type IngestResultItem, type OrderItem, type RejectionCode } from './ingest.schemas.js';
import { newContactMemo, validateEvent, type ValidEvent } from './ingest.validation.js';
import * as repo from './ingest.repository.js';
import { identityLockKeys, lockKeysOf, planIdentities, type Identity, type IdentityPlan } from './ingest.identity.js';

export interface IngestContext {
  tenantId: string;
  config: Config;
  /** "key:<id>", "user:<id>" or "system": recorded on timeline entries and ledger rows. */
  actor: string;
  /** request.id when from HTTP, for the batch's audit entry */
  requestId?: string | null;
}

// ---------------------------------------------------------------------------------------------
// Identity (also used by POST /customers/identify)
// ---------------------------------------------------------------------------------------------

export interface IdentityInput {
  external_id?: string | null;
  email?: string | null;
  phone?: string | null;
  first_name?: string | null;
  last_name?: string | null;
}

const blank = (v: string | null | undefined): string | null => {
  if (v == null) return null;
  const t = v.trim();
  return t === '' ? null : t;
};

/**
 * Find-or-create customers by external_id, then e-mail, then phone, with the same resolution
 * as ingestion (advisory locks on every identifier, so concurrent callers never create the same
 * person twice). Answers one entry per input, in input order; inputs of one new person (linked
 * by any shared identifier) create one customer. Runs in the caller's transaction when there is one.
 */
export async function identifyCustomers(
  tx: Executor,
  ctx: { tenantId: string; config: Config; actor: string },
  inputs: IdentityInput[],
): Promise<{ customerId: string; created: boolean }[]> {
  const identities: Identity[] = inputs.map((input, i) => {
    const rawEmail = blank(input.email);
    const rawPhone = blank(input.phone);
    const email = rawEmail === null ? null : normalizeEmail(rawEmail);
    if (rawEmail !== null && email === null) {
      throw new AppError('invalid_email', `"${rawEmail}" is not a valid e-mail address`, { index: i });
    }
    const phone = rawPhone === null ? null : normalizePhone(rawPhone, ctx.config.defaultPhoneRegion);
    if (rawPhone !== null && phone === null) {
      throw new AppError('invalid_phone', `"${rawPhone}" is not a valid phone number`, { index: i });
    }
    const identity: Identity = {
      externalId: blank(input.external_id),
      email,
      phone,
      firstName: blank(input.first_name),
      lastName: blank(input.last_name),
    };
    if (!identity.externalId && !identity.email && !identity.phone) {
      throw new AppError('validation_failed', 'an identity needs at least one of external_id, email or phone', { index: i });
    }
    return identity;
  });
  if (identities.length === 0) return [];

  return tx.transaction(async (t) => {
    const resolved = await resolveIdentities(t, ctx.tenantId, identities);
    if (resolved.currency === null) throw new AppError('tenant_not_found', `tenant ${ctx.tenantId} was not found`);
    const plan = resolved.plan;
    const now = new Date();
    const created = await insertNewCustomers(t, ctx, plan, plan.newCustomers.map((_, g) => g), {
      sourceOf: () => 'api',
      createdAt: () => now,
    });
    const patches = new Map<string, repo.ProfilePatch>();
    addIdentityPatches(patches, plan, identities);
    await repo.updateCustomerProfiles(t, ctx.tenantId, [...patches.values()]);
    await insertActivities(t, ctx.tenantId, created);
    await enqueueEvents(t, ctx.tenantId, created.map(createdEvent));
    return plan.refs.map((ref) =>
      ref.existing !== undefined
        ? { customerId: ref.existing, created: false }
        : { customerId: plan.newCustomers[ref.group].id, created: true },
    );
  });
}

interface ResolvedIdentities {
  plan: IdentityPlan;
  currency: string | null;
  /** customers row-locked by the lookup */
  locked: Set<string>;
}

/**
 * Takes the advisory locks of every identifier (hashed, sorted: one lock order for everybody)
 * and answers the tenant's currency. Extra values (e.g. e-mails customer.updated sets) too.
 */
async function lockIdentities(
  tx: Executor,
  tenantId: string,
  identities: Identity[],
  extra: { emails: string[]; phones: string[] } = { emails: [], phones: [] },
): Promise<string | null> {
  const externalIds = new Set<string>();
  const emails = new Set<string>(extra.emails);
  const phones = new Set<string>(extra.phones);
  for (const idn of identities) {
    if (idn.externalId) externalIds.add(idn.externalId);
    if (idn.email) emails.add(idn.email);
    if (idn.phone) phones.add(idn.phone);
  }
  return repo.lockIdentityKeys(tx, tenantId, identityLockKeys(tenantId, { externalIds, emails, phones }));
}

/** Reads and row-locks the customers matching the identities and plans the resolution. */
async function planFor(tx: Executor, tenantId: string, identities: Identity[]): Promise<Omit<ResolvedIdentities, 'currency'>> {
  const uniq = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => x !== null))];
  const candidates = await repo.findIdentityCandidates(tx, tenantId, {
    externalIds: uniq(identities.map((i) => i.externalId)),
    emails: uniq(identities.map((i) => i.email)),
    phones: uniq(identities.map((i) => i.phone)),
  });
  return { plan: planIdentities(candidates, identities), locked: new Set(candidates.map((c) => c.id)) };
}

async function resolveIdentities(tx: Executor, tenantId: string, identities: Identity[]): Promise<ResolvedIdentities> {
  const currency = await lockIdentities(tx, tenantId, identities);
  return { currency, ...(await planFor(tx, tenantId, identities)) };
}

/**
 * Inserts the chosen new customers of a plan and answers their customer.created timeline entries.
 */
async function insertNewCustomers(
  tx: Executor,
  ctx: { tenantId: string; actor: string },
  plan: IdentityPlan,
  groups: number[],
  opts: { sourceOf: (group: number) => string; createdAt: (group: number) => Date; sourceIdOf?: (group: number) => string | null },
): Promise<NewActivity[]> {
  await repo.insertCustomers(
    tx,
    ctx.tenantId,
    groups.map((g) => {
      const nc = plan.newCustomers[g];
      return {
        id: nc.id, externalId: nc.externalId, email: nc.email, phone: nc.phone,
        firstName: nc.firstName, lastName: nc.lastName, source: opts.sourceOf(g),
      };
    }),
  );
  return groups.map((g) => {
    const nc = plan.newCustomers[g];
    const source = opts.sourceOf(g);
    return {
      customerId: nc.id,
      type: 'customer.created',
      occurredAt: opts.createdAt(g),
      summary: createdSummary(source),
      data: { source, external_id: nc.externalId, email: nc.email, phone: nc.phone },
      sourceId: opts.sourceIdOf?.(g) ?? null,
      actor: ctx.actor,
    };
  });
}

/**
 * The `changes` of a customer.updated event, as the API publishes them: { field: { from, to } } for the
 * fields that really changed; consent per channel (`consent.marketing_email`), without its timestamp.
 */
function profileChanges(before: Record<string, unknown>, after: Record<string, unknown>, fields: string[]) {
  const changes: Record<string, { from: unknown; to: unknown }> = {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  for (const f of fields) {
    if (f === 'consent') {
      const from = (before.consent ?? {}) as Record<string, unknown>;
      const to = (after.consent ?? {}) as Record<string, unknown>;
      for (const k of new Set([...Object.keys(from), ...Object.keys(to)])) {
        if (k !== 'updated_at' && !same(from[k], to[k])) changes[`consent.${k}`] = { from: from[k] ?? null, to: to[k] ?? null };
      }
    } else if (!same(before[f], after[f])) {
      changes[f] = { from: before[f] ?? null, to: after[f] ?? null };
    }
  }
  return changes;
}

/** Timeline summaries of what ingestion writes (the import bulk path writes the same entries). */
export const createdSummary = (source: string) => `Customer created (source: ${source})`;
export const registeredSummary = (source: unknown) => `Registered${source ? ` (source: ${String(source)})` : ''}`;
export const updatedSummary = (fields: string[]) => `Profile updated: ${fields.join(', ')}`;

/**
 * customer.created for a customer made by identity resolution (ingestion, identify): the identity
 * and source it was created with; the rest of the profile follows from later events.
 */
export function createdEvent(a: NewActivity): NewOutboxEvent {
  const d = a.data as { source: string; external_id: string | null; email: string | null; phone: string | null };
  return {
    type: 'customer.created',
    customerId: a.customerId,
    occurredAt: a.occurredAt,
    payload: { customer: { id: a.customerId, external_id: d.external_id, email: d.email, phone: d.phone, source: d.source } },
  };
}

/**
 * Adds a plan's identifier attachments and blank-name fills of existing customers to the
 * per-customer patches (written by one updateCustomerProfiles statement).
 */
function addIdentityPatches(patches: Map<string, repo.ProfilePatch>, plan: IdentityPlan, identities: Identity[]): void {
  const patchFor = (customerId: string): repo.ProfilePatch => {
    let p = patches.get(customerId);
    if (!p) {
      p = { customerId };
      patches.set(customerId, p);
    }
    return p;
  };
  for (const [customerId, a] of plan.attachments) {
    const p = patchFor(customerId);
    p.externalId = a.externalId;
    p.email = a.email;
    p.phone = a.phone;
  }
  plan.refs.forEach((ref, i) => {
    if (ref.existing === undefined) return;
    const idn = identities[i];
    if (!idn.firstName && !idn.lastName) return;
    const p = patchFor(ref.existing);
    p.fill ??= {};
    if (idn.firstName && p.fill.first_name === undefined) p.fill.first_name = idn.firstName;
    if (idn.lastName && p.fill.last_name === undefined) p.fill.last_name = idn.lastName;
  });
}

// ---------------------------------------------------------------------------------------------
// Ingestion
// ---------------------------------------------------------------------------------------------

type Result = IngestResultItem;

const round2 = (n: number) => roundMoney(n);
const fmt = (n: number) => round2(n).toFixed(2);
const ticketsOf = (items: OrderItem[] | null | undefined) => (items ? items.reduce((n, it) => n + it.quantity, 0) : null);
const sumItems = (items: OrderItem[]) => round2(items.reduce((s, it) => s + it.quantity * it.unit_price, 0));
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** Lifecycle rank: an event never moves an order back (order.created after order.completed). */
const RANK = { pending: 0, completed: 1, refunded: 1, cancelled: 3 } as const;

interface OrderState {
  id: string;
  customerId: string;
  isNew: boolean;
  rank: number;
  total: number;
  refunded: number;
  currency: string;
  placedAt: string;
  completedAt: string | null;
  cancelledAt: string | null;
  source: string | null;
  metadata: Record<string, unknown> | null;
  /** items to write (the latest event that carried items) */
  items: OrderItem[] | null;
  tickets: number | null;
  cancelledInBatch: boolean;
}

function statusOf(o: OrderState): repo.OrderStatus {
  if (o.rank >= RANK.cancelled) return 'cancelled';
  if (o.rank >= RANK.completed) return o.total > 0 && o.refunded >= o.total ? 'refunded' : 'completed';
  return 'pending';
}

interface CartState extends repo.CartWrite {
  itemsMs: number;
  tickets: number;
}

/**
 * Applies a batch of events (the HTTP route, the CLI demo and the queue consumer all call this):
 * validates each event, then in ONE transaction resolves identities, drops events applied before,
 * writes orders, refunds, check-ins, carts, interactions, profile changes, loyalty and the
 * timeline with a fixed number of set-based statements, and recomputes the affected customers'
 * metrics. Answers the per-event outcome in request order.
 */
export async function ingestEvents(db: Executor, ctx: IngestContext, events: unknown[]): Promise<IngestResult> {
  if (!Array.isArray(events) || events.length === 0) {
    throw new AppError('validation_failed', 'events must be a non-empty array');
  }
  if (events.length > MAX_BATCH) {
    throw new AppError('batch_too_large', `a batch holds at most ${MAX_BATCH} events, this one has ${events.length}`, {
      max: MAX_BATCH,
      count: events.length,
    });
  }
  const nowMs = Date.now();
  const results: Result[] = new Array(events.length);
  const valid: ValidEvent[] = [];
  const firstById = new Map<string, number>();
  const repeats: [number, number][] = [];
  const memo = newContactMemo();
  for (let i = 0; i < events.length; i++) {
    const v = validateEvent(events[i], i, { nowMs, phoneRegion: ctx.config.defaultPhoneRegion, memo });
    if (!v.ok) {
      results[i] = { id: v.rejection.id, status: 'rejected', code: v.rejection.code, reason: v.rejection.reason };
      continue;
    }
    const first = firstById.get(v.event.id);
    if (first !== undefined) {
      repeats.push([i, first]);
      continue;
    }
    firstById.set(v.event.id, i);
    valid.push(v.event);
  }

  if (valid.length > 0) {
    await ensureShows(db, ctx.tenantId, valid);
    const outcome = await db.transaction(async (tx) => {
      const applied = await applyBatch(tx, ctx, valid);
      await auditBatch(tx, ctx, valid, applied, events.length);
      return applied;
    });
    for (const [index, r] of outcome) results[index] = r;
  }
  // The same id twice in one batch: applied once; the repeat reports what happened to the first.
  for (const [i, first] of repeats) {
    const r = results[first];
    results[i] = r.status === 'rejected' ? { ...r } : { id: r.id, status: 'duplicate', ...(r.customer_id ? { customer_id: r.customer_id } : {}) };
  }

  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  for (const r of results) {
    if (r.status === 'accepted') accepted++;
    else if (r.status === 'duplicate') duplicates++;
    else rejected++;
  }
  return { accepted, duplicates, rejected, results };
}

/**
 * ONE audit entry per applied batch, not one per event: the events themselves are kept
 * (ingested_events, the timeline, orders), so per-event entries would double the write volume of
 * the hottest path for nothing the trail needs; the entry says who sent how much of what.
 * A batch that applied nothing (all duplicates or rejected) changed no data and writes none.
 */
async function auditBatch(tx: Executor, ctx: IngestContext, valid: ValidEvent[], outcome: Map<number, Result>, received: number): Promise<void> {
  const byType: Record<string, number> = {};
  let accepted = 0;
  let duplicates = 0;
  for (const e of valid) {
    const r = outcome.get(e.index);
    if (r?.status === 'accepted') {
      accepted++;
      byType[e.type] = (byType[e.type] ?? 0) + 1;
    } else if (r?.status === 'duplicate') duplicates++;
  }
  if (accepted === 0) return;
  await recordAudit(tx, {
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'events.ingest', entityType: 'event_batch', entityId: null,
    after: { received, accepted, duplicates, rejected: received - accepted - duplicates, by_type: byType },
  });
}

/**
 * An address on the suppression list (erased, unsubscribed, bounced, complained) gets no marketing
 * consent from a platform event: the platform may still hold a stale opt-in (or a re-registration
 * replays one), and only an explicit grant through the consent API may lift it. Idempotent, so a
 * retried transaction can run it again on the same events.
 */
export async function dropSuppressedConsent(tx: Executor, tenantId: string, events: ValidEvent[]): Promise<void> {
  const grants: { consent: Record<string, unknown>; email: string | null; phone: string | null }[] = [];
  for (const e of events) {
    if (e.type === 'user.registered' && e.data.consent) {
      grants.push({ consent: e.data.consent, email: e.identity.email, phone: e.identity.phone });
    } else if (e.type === 'customer.updated' && e.changes?.consent) {
      const email = typeof e.changes.email === 'string' ? e.changes.email : e.identity.email;
      const phone = typeof e.changes.phone === 'string' ? e.changes.phone : e.identity.phone;
      grants.push({ consent: e.changes.consent as Record<string, unknown>, email, phone });
    }
  }
  const emails = grants.filter((g) => g.consent.marketing_email === true && g.email).map((g) => g.email!);
  const phones = grants.filter((g) => g.consent.marketing_sms === true && g.phone).map((g) => g.phone!);
  if (emails.length === 0 && phones.length === 0) return;
  const bad = await findSuppressedByChannel(tx, tenantId, { email: emails, sms: phones });
  for (const g of grants) {
    if (g.consent.marketing_email === true && g.email && bad.email.has(g.email)) g.consent.marketing_email = false;
    if (g.consent.marketing_sms === true && g.phone && bad.sms.has(g.phone)) g.consent.marketing_sms = false;
  }
}

export const CONSENT_FLAGS = { marketing_email: 'email', marketing_sms: 'sms' } as const;

/** Ledger rows for the consent flags a batch really changed (before → after of customers.consent). */
export function consentLedgerRows(
  ids: string[],
  before: (id: string) => Record<string, unknown> | undefined,
  after: (id: string) => Record<string, unknown> | undefined,
  actor: string,
): NewConsentEvent[] {
  const rows: NewConsentEvent[] = [];
  for (const id of ids) {
    const from = before(id) ?? {};
    const to = after(id) ?? {};
    for (const [flag, channel] of Object.entries(CONSENT_FLAGS)) {
      // a first explicit refusal is a decision too (from: nothing recorded)
      if (typeof to[flag] === 'boolean' && from[flag] !== to[flag]) {
        rows.push({
          customerId: id, channel, purpose: 'marketing', granted: to[flag] as boolean, source: 'event',
          occurredAt: typeof to.updated_at === 'string' ? to.updated_at : null, recordedBy: actor,
        });
      }
    }
  }
  return rows;
}

/**
 * Makes sure every show the batch names (order and cart items, check-ins) is in the catalog, in
 * a short transaction of its own before the batch's: shows are reference data shared by every
 * customer, so creating them inside the batch transaction would make concurrent batches that
 * name the same new show wait for each other's commit (and deadlock). Nothing references the
 * catalog by foreign key, and the upsert is idempotent, so a batch that fails afterwards leaves
 * at most a show that exists a little early.
 */
async function ensureShows(db: Executor, tenantId: string, events: ValidEvent[]): Promise<void> {
  const shows = new Map<string, repo.CatalogRef>();
  const add = (it: { event_id: string; event_name?: string; genres?: string[]; venue?: string; city?: string; starts_at?: string }) => {
    const c = shows.get(it.event_id);
    if (!c) {
      shows.set(it.event_id, {
        id: it.event_id, name: it.event_name ?? null, genres: it.genres ?? null, venue: it.venue ?? null,
        city: it.city ?? null, startsAt: it.starts_at ? new Date(it.starts_at).toISOString() : null,
      });
      return;
    }
    c.name ??= it.event_name ?? null;
    c.genres ??= it.genres ?? null;
    c.venue ??= it.venue ?? null;
    c.city ??= it.city ?? null;
    c.startsAt ??= it.starts_at ? new Date(it.starts_at).toISOString() : null;
  };
  for (const e of events) {
    if (e.type === 'ticket.checked_in') add(e.data as { event_id: string; event_name?: string });
    else if (e.type === 'order.created' || e.type === 'order.completed' || e.type === 'cart.updated') {
      for (const it of (e.data.items ?? []) as OrderItem[]) add(it);
    }
  }
  if (shows.size === 0) return;
  // One statement is its own transaction: no BEGIN/COMMIT round trips. Deadlocks and
  // serialization failures are retried here as Database.transaction would; when the caller's
  // transaction holds this statement, the retry finds it aborted and the first error goes up to
  // the caller's own retry.
  let first: unknown;
  for (let attempt = 1; ; attempt++) {
    try {
      await repo.upsertCatalogEvents(db, tenantId, [...shows.values()]);
      return;
    } catch (err) {
      const code = pgErrorCode(err);
      if (code === PG_FOREIGN_KEY_VIOLATION) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`);
      if (code === PG_IN_FAILED_TRANSACTION && first !== undefined) throw first;
      if (attempt >= 4 || (code !== '40P01' && code !== '40001')) throw err;
      first ??= err;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20));
    }
  }
}

/** "current transaction is aborted, commands ignored until end of transaction block" */
const PG_IN_FAILED_TRANSACTION = '25P02';

/**
 * The transactional part of ingestEvents; reruns from the start when the database retries.
 *
 * Identity keys are advisory-locked so that concurrent batches never create one person twice.
 * Keys another batch holds (typically the customer whose events straddle two consecutive
 * batches) would make this batch wait for that one's commit before doing anything; instead the
 * events not linked to a contested key (by identifiers, order or cart) are applied first, then
 * the contested keys are locked, in sorted order, and the remaining events applied.
 */
async function applyBatch(tx: Executor, ctx: IngestContext, valid: ValidEvent[]): Promise<Map<number, Result>> {
  const { tenantId } = ctx;
  const keysOf = valid.map((e) => lockKeysOf(tenantId, e.identity, e.changes ?? {}));
  const all = [...new Set(keysOf.flat())].sort((a, b) => a - b).map(String);
  const { currency, acquired } = await repo.tryLockIdentityKeys(tx, tenantId, all);
  if (currency === null) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`);
  const out = new Map<number, Result>();
  if (acquired.length === all.length) {
    await applyPart(tx, ctx, valid, currency, out);
    return out;
  }

  const held = new Set(acquired);
  const contested = all.filter((k) => !held.has(k));
  // Union-find over events linked by an identity key, an order id or a cart id.
  const parent = valid.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  const firstWith = new Map<string, number>();
  const link = (key: string, i: number) => {
    const j = firstWith.get(key);
    if (j === undefined) firstWith.set(key, i);
    else parent[find(i)] = find(j);
  };
  valid.forEach((e, i) => {
    for (const k of keysOf[i]) link(`k${k}`, i);
    if (e.type.startsWith('order.')) link(`o${e.data.order_id}`, i);
    if (e.type.startsWith('cart.')) link(`c${e.data.cart_id}`, i);
  });
  const blocked = new Set<number>();
  valid.forEach((_, i) => {
    if (keysOf[i].some((k) => !held.has(String(k)))) blocked.add(find(i));
  });
  const now = valid.filter((_, i) => !blocked.has(find(i)));
  const later = valid.filter((_, i) => blocked.has(find(i)));
  if (now.length > 0) await applyPart(tx, ctx, now, currency, out);
  await repo.lockIdentityKeys(tx, tenantId, contested);
  await applyPart(tx, ctx, later, currency, out);
  return out;
}

/** Applies events whose identity keys this transaction holds. */
async function applyPart(tx: Executor, ctx: IngestContext, valid: ValidEvent[], currency: string, out: Map<number, Result>): Promise<void> {
  const { tenantId, config, actor } = ctx;
  const simRejected: string[] = [];
  const reject = (e: ValidEvent, code: RejectionCode, reason: string) => {
    out.set(e.index, { id: e.id, status: 'rejected', code, reason });
    simRejected.push(e.id);
  };

  const candidates: ValidEvent[] = [];
  for (const e of valid) {
    if (e.currency !== null && e.currency !== currency) {
      reject(e, 'currency_mismatch', `data.currency ${e.currency} is not the account currency ${currency}`);
    } else candidates.push(e);
  }
  if (candidates.length === 0) return;

  // 2. Identity resolution for the whole batch (customers row-locked in id order).
  const { plan, locked } = await planFor(tx, tenantId, candidates.map((e) => e.identity));
  const customerOf = (k: number) => {
    const ref = plan.refs[k];
    return ref.existing !== undefined ? ref.existing : plan.newCustomers[ref.group].id;
  };
  const newGroupById = new Map(plan.newCustomers.map((nc, g) => [nc.id, g]));

  // 3. Idempotency: record every event; the ids already recorded were applied before.
  const fresh = new Set(
    await repo.insertIngestedEvents(
      tx, tenantId, candidates.map((e, k) => ({ id: e.id, type: e.type, customerId: customerOf(k), occurredAt: e.occurredAt })),
    ),
  );
  const live: { e: ValidEvent; k: number }[] = [];
  const seen: string[] = [];
  candidates.forEach((e, k) => {
    if (fresh.has(e.id)) live.push({ e, k });
    else seen.push(e.id);
  });
  if (seen.length > 0) {
    const before = new Map((await repo.findIngestedEvents(tx, tenantId, seen)).map((r) => [r.id, r.customer_id]));
    for (const e of candidates) {
      if (fresh.has(e.id)) continue;
      const customerId = before.get(e.id);
      out.set(e.index, { id: e.id, status: 'duplicate', ...(customerId ? { customer_id: customerId } : {}) });
    }
  }
  if (live.length === 0) return;
  await dropSuppressedConsent(tx, tenantId, live.map((l) => l.e));

  // 4. Existing orders the batch names, row-locked; their customers too when not locked yet.
  const orderIds = new Set<string>();
  for (const { e } of live) if (e.type.startsWith('order.')) orderIds.add(e.data.order_id);
  const orderRows = await repo.findOrdersForUpdate(tx, tenantId, [...orderIds]);
  const unlocked = [...new Set(orderRows.map((o) => o.customer_id))].filter((id) => !locked.has(id));
  await repo.lockCustomers(tx, tenantId, unlocked);

  const orders = new Map<string, OrderState>();
  for (const o of orderRows) {
    orders.set(o.id, {
      id: o.id, customerId: o.customer_id, isNew: false, rank: RANK[o.status], total: o.total, refunded: o.refunded_amount,
      currency: o.currency, placedAt: o.placed_at.toISOString(), completedAt: o.completed_at?.toISOString() ?? null,
      cancelledAt: o.cancelled_at?.toISOString() ?? null, source: null, metadata: null, items: null, tickets: null,
      cancelledInBatch: false,
    });
  }

  // 5. Apply the events in time order, in memory; this decides refunds and unknown orders.
  const order = [...live].sort((a, b) => a.e.occurredMs - b.e.occurredMs || a.e.index - b.e.index);
  const touchedOrders = new Set<string>();
  const refunds: repo.RefundWrite[] = [];
  const attendance: repo.AttendanceWrite[] = [];
  const carts = new Map<string, CartState>();
  const interactions: repo.InteractionWrite[] = [];
  const patches = new Map<string, repo.ProfilePatch>();
  const activities: NewActivity[] = [];
  const accepted: { e: ValidEvent; k: number; customerId: string }[] = [];
  const reassigned: { id: string; customerId: string }[] = [];

  const patchOf = (customerId: string) => {
    let p = patches.get(customerId);
    if (!p) {
      p = { customerId };
      patches.set(customerId, p);
    }
    return p;
  };
  for (const { e, k } of order) {
    const d = e.data;
    let customerId = customerOf(k);
    let summary: string;
    let data: Record<string, unknown> = d;

    switch (e.type) {
      case 'order.created':
      case 'order.completed':
      case 'order.cancelled': {
        let o = orders.get(d.order_id);
        if (!o) {
          const items: OrderItem[] | null = d.items ?? null;
          o = {
            id: d.order_id, customerId, isNew: true, rank: RANK.pending,
            total: d.total ?? (items ? sumItems(items) : 0), refunded: 0, currency,
            placedAt: e.occurredAt, completedAt: null, cancelledAt: null, source: null, metadata: null,
            items: null, tickets: null, cancelledInBatch: false,
          };
          orders.set(o.id, o);
        } else if (d.total !== undefined) o.total = d.total;
        else if (d.items && o.total === 0) o.total = sumItems(d.items);
        if (d.items) {
          o.items = d.items;
          o.tickets = ticketsOf(d.items);
        }
        if (e.occurredAt < o.placedAt) o.placedAt = e.occurredAt;
        if (d.source) o.source ??= d.source;
        if (d.metadata) o.metadata = { ...o.metadata, ...d.metadata };
        if (e.type === 'order.completed') {
          o.rank = Math.max(o.rank, RANK.completed);
          o.completedAt ??= e.occurredAt;
        } else if (e.type === 'order.cancelled') {
          o.rank = RANK.cancelled;
          o.cancelledAt ??= e.occurredAt;
          o.cancelledInBatch = true;
        }
        touchedOrders.add(o.id);
        customerId = o.customerId;
        const tickets = o.tickets !== null ? `, ${plural(o.tickets, 'ticket', 'tickets')}` : '';
        summary =
          e.type === 'order.cancelled'
            ? `Order ${o.id} cancelled${d.reason ? ` (${d.reason})` : ''}`
            : `Order ${o.id} ${e.type === 'order.created' ? 'placed' : 'completed'}: ${fmt(o.total)} ${currency}${tickets}`;
        data = {
          order_id: o.id, total: o.total, currency, ...(o.tickets !== null ? { tickets: o.tickets } : {}),
          ...(d.items ? { event_ids: [...new Set((d.items as OrderItem[]).map((it) => it.event_id))] } : {}),
          ...(d.reason ? { reason: d.reason } : {}),
        };
        break;
      }
      case 'order.refunded': {
        const o = orders.get(d.order_id);
        if (!o) {
          reject(e, 'order_not_found', `order ${d.order_id} is not known; send its order.created or order.completed first`);
          continue;
        }
        const remaining = round2(o.total - o.refunded);
        if (remaining <= 0) {
          reject(e, 'refund_exceeds_total', `order ${o.id} has nothing left to refund (total ${fmt(o.total)}, refunded ${fmt(o.refunded)})`);
          continue;
        }
        const amount: number = d.amount ?? remaining;
        if (amount > remaining + 0.001) {
          reject(e, 'refund_exceeds_total', `refund of ${fmt(amount)} exceeds what is left of order ${o.id} (${fmt(remaining)} of ${fmt(o.total)})`);
          continue;
        }
        o.refunded = round2(o.refunded + amount);
        touchedOrders.add(o.id);
        customerId = o.customerId;
        refunds.push({ id: e.id, orderId: o.id, customerId, amount, reason: d.reason ?? null, refundedAt: e.occurredAt });
        const full = o.refunded >= o.total;
        summary = `Order ${o.id} ${full ? 'fully ' : 'partially '}refunded: ${fmt(amount)} ${currency}`;
        data = { order_id: o.id, amount, currency, refunded_total: o.refunded, full, ...(d.reason ? { reason: d.reason } : {}) };
        break;
      }
      case 'ticket.checked_in': {
        const at = d.checked_in_at ? new Date(d.checked_in_at).toISOString() : e.occurredAt;
        attendance.push({ customerId, eventId: d.event_id, ticketId: d.ticket_id ?? '', orderId: d.order_id ?? null, checkedInAt: at });
        summary = `Checked in at ${d.event_name ?? d.event_id}${d.ticket_id ? ` (ticket ${d.ticket_id})` : ''}`;
        data = { event_id: d.event_id, ticket_id: d.ticket_id ?? null, order_id: d.order_id ?? null, checked_in_at: at };
        break;
      }
      case 'cart.updated':
      case 'cart.checked_out': {
        let c = carts.get(d.cart_id);
        if (!c) {
          c = {
            id: d.cart_id, customerId, items: null, total: null, currency, itemsAt: null, itemsMs: -Infinity, tickets: 0,
            createdAt: e.occurredAt, updatedAt: e.occurredAt, checkedOutAt: null, orderId: null,
          };
          carts.set(c.id, c);
        }
        customerId = c.customerId;
        if (e.occurredAt > c.updatedAt) c.updatedAt = e.occurredAt;
        if (e.occurredAt < c.createdAt) c.createdAt = e.occurredAt;
        if (e.type === 'cart.updated') {
          const items = d.items as OrderItem[];
          const total = d.total ?? sumItems(items);
          if (e.occurredMs >= c.itemsMs) {
            c.items = items;
            c.total = total;
            c.itemsAt = e.occurredAt;
            c.itemsMs = e.occurredMs;
            c.tickets = ticketsOf(items) ?? 0;
          }
          summary = `Cart ${c.id} updated: ${plural(ticketsOf(items) ?? 0, 'ticket', 'tickets')}, ${fmt(total)} ${currency}`;
          data = { cart_id: c.id, total, currency, tickets: ticketsOf(items), event_ids: [...new Set(items.map((it) => it.event_id))] };
        } else {
          c.checkedOutAt ??= e.occurredAt;
          if (d.order_id) c.orderId = d.order_id;
          summary = `Cart ${c.id} checked out${d.order_id ? ` (order ${d.order_id})` : ''}`;
          data = { cart_id: c.id, order_id: d.order_id ?? null };
        }
        break;
      }
      case 'user.registered': {
        const p = patchOf(customerId);
        const fill = (p.fill ??= {});
        for (const f of ['source', 'date_of_birth', 'gender', 'city', 'state', 'country', 'postal_code', 'company_name']) {
          if (d[f] !== undefined && fill[f] === undefined) fill[f] = d[f];
        }
        if (d.consent && fill.consent === undefined) fill.consent = { ...d.consent, updated_at: e.occurredAt };
        if (d.preferences) fill.preferences = { ...d.preferences, ...(fill.preferences as object | undefined) };
        summary = registeredSummary(d.source);
        break;
      }
      case 'customer.updated': {
        const p = patchOf(customerId);
        const set = (p.set ??= {});
        const changes = e.changes!;
        for (const [f, v] of Object.entries(changes)) {
          if (f === 'consent') set.consent = { ...(set.consent as object | undefined), ...(v as object), updated_at: e.occurredAt };
          else if (f === 'preferences' || f === 'custom_fields') set[f] = { ...(set[f] as object | undefined), ...(v as object) };
          else set[f] = v;
        }
        summary = updatedSummary(Object.keys(changes));
        data = { changes };
        break;
      }
      case 'interaction.logged': {
        const id = randomUUID();
        const status = d.status ?? (d.follow_up_at ? 'pending' : 'completed');
        interactions.push({
          id, customerId, type: d.type, subject: d.subject, description: d.description ?? null, outcome: d.outcome ?? null,
          priority: d.priority ?? 'medium', status, durationMinutes: d.duration_minutes ?? null,
          followUpAt: d.follow_up_at ? new Date(d.follow_up_at).toISOString() : null, occurredAt: e.occurredAt, sourceId: e.id,
        });
        const p = patchOf(customerId);
        if (!p.lastContactAt || e.occurredAt > (p.lastContactAt as string)) p.lastContactAt = e.occurredAt;
        summary = `${d.type}: ${d.subject}`;
        data = { interaction_id: id, type: d.type, subject: d.subject, priority: d.priority ?? 'medium', status, outcome: d.outcome ?? null };
        break;
      }
      case 'email.opened':
        summary = `Opened an e-mail${d.campaign_id ? ` of campaign ${d.campaign_id}` : ''}`;
        break;
      case 'email.clicked':
        summary = `Clicked ${d.url ?? 'a link'} in an e-mail${d.campaign_id ? ` of campaign ${d.campaign_id}` : ''}`;
        break;
      default:
        summary = `Custom event ${e.type.slice('custom.'.length)}`;
    }

    const p = patchOf(customerId);
    if (!p.lastActivityAt || e.occurredAt > (p.lastActivityAt as string)) p.lastActivityAt = e.occurredAt;
    accepted.push({ e, k, customerId });
    out.set(e.index, { id: e.id, status: 'accepted', customer_id: customerId });
    activities.push({ customerId, type: e.type, occurredAt: e.occurredAt, summary, data, sourceId: e.id, actor });
  }
  // 6. Events the rules rejected are not recorded (so a corrected resend applies); events of an
  //    order of another customer are recorded against that customer.
  for (const a of accepted) if (a.customerId !== customerOf(a.k)) reassigned.push({ id: a.e.id, customerId: a.customerId });
  await repo.fixIngestedEvents(tx, tenantId, { remove: simRejected.filter((id) => fresh.has(id)), reassign: reassigned });
  if (accepted.length === 0) return;

  // 7. New customers (only those some accepted event belongs to).
  const firstOf = new Map<string, { e: ValidEvent }>();
  const sourceOf = new Map<string, string>();
  for (const a of accepted) {
    if (!newGroupById.has(a.customerId)) continue;
    const f = firstOf.get(a.customerId);
    if (!f || a.e.occurredMs < f.e.occurredMs) firstOf.set(a.customerId, { e: a.e });
    if (a.e.type === 'user.registered' && a.e.data.source && !sourceOf.has(a.customerId)) sourceOf.set(a.customerId, a.e.data.source);
  }
  const newIndexes = [...firstOf.keys()].map((id) => newGroupById.get(id)!);
  const idOf = (g: number) => plan.newCustomers[g].id;
  activities.push(
    ...(await insertNewCustomers(tx, ctx, plan, newIndexes, {
      sourceOf: (g) => sourceOf.get(idOf(g)) ?? 'ingest',
      createdAt: (g) => new Date(firstOf.get(idOf(g))!.e.occurredAt),
      sourceIdOf: (g) => firstOf.get(idOf(g))!.e.id,
    })),
  );
  addIdentityPatches(patches, plan, candidates.map((e) => e.identity));

  // 8. Orders, items, refunds, check-ins, carts, interactions.

  const orderWrites = (o: OrderState): repo.OrderWrite => ({
    id: o.id, customerId: o.customerId, status: statusOf(o), total: o.total, refundedAmount: o.refunded, currency: o.currency,
    placedAt: o.placedAt, completedAt: o.completedAt, cancelledAt: o.cancelledAt, source: o.source, data: o.metadata,
  });
  const touched = [...touchedOrders].map((id) => orders.get(id)!);
  const newOrders = touched.filter((o) => o.isNew);
  const inserted = await repo.writeOrders(tx, tenantId, newOrders.map(orderWrites), touched.filter((o) => !o.isNew).map(orderWrites));
  if (inserted < newOrders.length) throw repo.concurrentWriteError('order');
  await repo.writeOrderItems(tx, tenantId, touched.filter((o) => o.items).map((o) => ({ orderId: o.id, existed: !o.isNew, items: o.items! })));
  await repo.insertRefunds(tx, tenantId, refunds);
  await repo.insertAttendance(tx, tenantId, attendance);
  const cartRows = [...carts.values()].map(({ itemsMs: _m, tickets: _t, ...c }) => c);
  if ((await repo.upsertCarts(tx, tenantId, cartRows)) < cartRows.length) throw repo.concurrentWriteError('cart');
  await repo.insertInteractions(tx, tenantId, actor, interactions);

  // 9. Loyalty: earn on completion, take back on refunds and cancellations, then tiers.
  const orderCustomers = [...new Set(touched.map((o) => o.customerId))];
  if (touched.length > 0) {
    const rate = config.loyaltyPointsPerUnit;
    const changed = new Set([
      ...(await repo.earnOrderPoints(
        tx, tenantId,
        // completed or refunded as written by writeOrders above
        touched.filter((o) => o.rank === RANK.completed).map((o) => ({ id: o.id, customerId: o.customerId, total: o.total })),
        rate, actor,
      )),
      ...(await repo.reverseRefundPoints(tx, tenantId, refunds.map((r) => ({ id: r.id, orderId: r.orderId, amount: r.amount })), rate, actor)),
      ...(await repo.reverseCancelledPoints(
        tx, tenantId, touched.filter((o) => o.cancelledInBatch && o.rank === RANK.cancelled).map((o) => o.id), actor,
      )),
    ]);
    // points and tiers are recomputed from the ledger by the profile update (step 10)
    for (const id of changed) patchOf(id).loyalty = true;
  }

  // 10. Profiles (identifiers, fills, overwrites, activity times), for the customers whose
  //     orders or attendance changed the metrics from the base tables, and for those with new
  //     ledger entries points and tier: one UPDATE, so one new row version per customer.
  for (const id of orderCustomers) patchOf(id).metrics = true;
  for (const a of attendance) patchOf(a.customerId).metrics = true;
  // customer.updated events overwrite fields: read them before and after to publish what changed
  const overwritten = [...patches.values()].filter((p) => p.set && Object.keys(p.set).length > 0);
  const overwrittenIds = overwritten.map((p) => p.customerId);
  // consent changes also go to the consent ledger: compare the consent of the customers an event
  // names it for (registrations fill it) before and after; overwritten profiles are read anyway
  const consentIds = [...patches.values()].filter((p) => p.set?.consent !== undefined || p.fill?.consent !== undefined).map((p) => p.customerId);
  const consentOnly = consentIds.filter((id) => !patches.get(id)!.set || Object.keys(patches.get(id)!.set!).length === 0);
  const before = await repo.readProfiles(tx, tenantId, overwrittenIds);
  const consentBefore = await readConsents(tx, tenantId, consentOnly);
  const tierChanges = await repo.updateCustomerProfiles(tx, tenantId, [...patches.values()], { ltvDays: config.ltvCalculationPeriodDays });
  const after = await repo.readProfiles(tx, tenantId, overwrittenIds);
  const consentAfter = await readConsents(tx, tenantId, consentOnly);
  await insertConsentEvents(tx, tenantId, consentLedgerRows(
    consentIds,
    (id) => (consentBefore.get(id) ?? before.get(id)?.consent) as Record<string, unknown> | undefined,
    (id) => (consentAfter.get(id) ?? after.get(id)?.consent) as Record<string, unknown> | undefined,
    actor,
  ));
  const updatedEvents: NewOutboxEvent[] = [];
  for (const p of overwritten) {
    const changes = profileChanges(before.get(p.customerId) ?? {}, after.get(p.customerId) ?? {}, Object.keys(p.set!));
    if (Object.keys(changes).length > 0) {
      updatedEvents.push({ type: 'customer.updated', customerId: p.customerId, payload: { customer_id: p.customerId, changes } });
    }
  }
  for (const c of tierChanges) {
    activities.push({
      customerId: c.customer_id,
      type: 'loyalty.tier_changed',
      occurredAt: (patches.get(c.customer_id)?.lastActivityAt as string | undefined) ?? new Date(),
      summary: `Loyalty tier changed from ${c.old_tier ?? 'none'} to ${c.new_tier ?? 'none'}`,
      data: { from: c.old_tier, to: c.new_tier, points: c.points, points_earned: c.points_earned },
      actor,
    });
  }

  // 11. Timeline: every accepted event, new customers, tier changes; and the published events.
  await insertActivities(tx, tenantId, activities);
  await enqueueEvents(tx, tenantId, [
    ...activities.filter((a) => a.type === 'customer.created').map(createdEvent),
    ...updatedEvents,
    ...tierChanges.map((c) => ({
      type: 'customer.tier_changed' as const,
      customerId: c.customer_id,
      payload: { customer_id: c.customer_id, old_tier: c.old_tier, new_tier: c.new_tier, points_earned: c.points_earned, cause: 'orders' },
    })),
  ]);
  return;
}

// ---------------------------------------------------------------------------------------------
// Scheduled work
// ---------------------------------------------------------------------------------------------

/** Marks open carts untouched for CART_ABANDON_MINUTES as abandoned (all tenants, or one). */
export async function markAbandonedCarts(db: Executor, opts: { config: Config; tenantId?: string | null }): Promise<number> {
  return db.transaction((tx) => repo.markAbandonedCarts(tx, { abandonMinutes: opts.config.cartAbandonMinutes, tenantId: opts.tenantId }));
}

/** Recomputes lifetime_value for every customer with purchases: the window slides every day. */
export async function refreshLifetimeValues(db: Executor, opts: { config: Config; tenantId?: string | null }): Promise<number> {
  return db.transaction((tx) => repo.refreshLifetimeValues(tx, { ltvDays: opts.config.ltvCalculationPeriodDays, tenantId: opts.tenantId }));
}
