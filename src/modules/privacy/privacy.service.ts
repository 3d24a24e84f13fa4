import { PassThrough, type Readable } from 'node:stream';
import { ZipArchive } from 'archiver';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { csvRow, UTF8_BOM, type CsvValue } from '../../lib/csv.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit, recordAuditMany } from '../audit/audit.service.js';
import { redactAuditEntries } from '../audit/audit.repository.js';
import { requireCustomer } from '../customers/customers.service.js';
import { anonymizeCustomerMessages } from '../messaging/messaging.repository.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { insertActivities } from '../timeline/timeline.repository.js';
import * as consentRepo from './consent.repository.js';
import type { ConsentChannel, ConsentPurpose } from './consent.repository.js';
import * as repo from './privacy.repository.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import { addSuppressions, removeSuppressions } from './suppressions.repository.js';

/** Who is asking, for which tenant, on which database. */
export interface PrivacyCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  /** "key:<id>", "user:<id>", "cli", "job:<name>" */
  actor: string;
  requestId?: string | null;
}

const customerNotFound = (id: string) => new AppError('customer_not_found', `customer ${id} was not found`, { id });

// ---------------------------------------------------------------------------------------------
// Consent ledger

/**
 * The key of a consent flag in customers.consent: `marketing_email` and `marketing_sms` are what
 * segments (consent.marketing_email) and sending read; the other channel/purpose pairs follow the
 * same `<purpose>_<channel>` pattern.
 */
export const consentFlag = (purpose: ConsentPurpose, channel: ConsentChannel) => `${purpose}_${channel}`;

const toEvent = (r: consentRepo.ConsentEventRow) => ({
  id: r.id,
  channel: r.channel,
  purpose: r.purpose,
  granted: r.granted,
  source: r.source,
  text_version: r.text_version,
  ip: r.ip,
  occurred_at: r.occurred_at,
  recorded_by: r.recorded_by,
});

export interface ConsentState {
  marketing_email: boolean;
  marketing_sms: boolean;
  updated_at: string | null;
  [flag: string]: boolean | string | null;
}

export async function getConsent(ctx: PrivacyCtx, customerId: string) {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, customerId);
  const [current, ledger] = [
    await consentRepo.currentConsent(ctx.db, ctx.tenantId, customer.id),
    await consentRepo.listConsentEvents(ctx.db, ctx.tenantId, customer.id),
  ];
  const flags = (customer.consent ?? {}) as Record<string, boolean | string | null | undefined>;
  return {
    customer_id: customer.id,
    // what sending and segments read; no recorded consent is no consent
    state: {
      ...flags,
      marketing_email: flags.marketing_email === true,
      marketing_sms: flags.marketing_sms === true,
      updated_at: typeof flags.updated_at === 'string' ? flags.updated_at : null,
    } as ConsentState,
    current: current.map(toEvent),
    ledger: ledger.map(toEvent),
  };
}

export interface ConsentInput {
  channel: ConsentChannel;
  purpose: ConsentPurpose;
  granted: boolean;
  source?: string;
  text_version?: string | null;
  ip?: string | null;
  occurred_at?: string;
}

/**
 * Appends a decision to the ledger and brings customers.consent to the latest decision per
 * channel and purpose (a decision dated before the latest one is recorded but changes nothing).
 * An explicit marketing grant lifts an `unsubscribed` or `erased` suppression of the customer's
 * address; bounces and complaints stay.
 */
export async function recordConsent(ctx: PrivacyCtx, customerId: string, input: ConsentInput, requestIp?: string | null) {
  if (input.occurred_at !== undefined) {
    const at = Date.parse(input.occurred_at);
    if (Number.isNaN(at) || at > Date.now() + 5 * 60_000 || at < Date.UTC(1990, 0, 1)) {
      throw new AppError('validation_failed', 'occurred_at must be a date-time between 1990 and now', { field: 'occurred_at' });
    }
  }
  await ctx.db.transaction(async (tx) => {
    const customer = await requireCustomer(tx, ctx.tenantId, customerId, { forUpdate: true });
    await consentRepo.insertConsentEvents(tx, ctx.tenantId, [{
      customerId: customer.id, channel: input.channel, purpose: input.purpose, granted: input.granted,
      source: input.source?.trim() || 'api', textVersion: input.text_version ?? null, ip: input.ip ?? requestIp ?? null,
      occurredAt: input.occurred_at ?? null, recordedBy: ctx.actor,
    }]);
    const latest = (await consentRepo.currentConsent(tx, ctx.tenantId, customer.id))
      .find((r) => r.channel === input.channel && r.purpose === input.purpose)!;
    const flag = consentFlag(input.purpose, input.channel);
    const from = (customer.consent as Record<string, unknown> | null)?.[flag] === true;
    const changed = from !== latest.granted;
    if (changed) {
      await consentRepo.mergeCustomerConsent(tx, ctx.tenantId, customer.id, { [flag]: latest.granted, updated_at: new Date().toISOString() });
      await insertActivities(tx, ctx.tenantId, [{
        customerId: customer.id, type: 'consent.changed', occurredAt: new Date(),
        summary: `${input.purpose} consent for ${input.channel} ${latest.granted ? 'granted' : 'withdrawn'}`,
        data: { channel: input.channel, purpose: input.purpose, granted: latest.granted, source: latest.source }, actor: ctx.actor,
      }]);
      await enqueueEvents(tx, ctx.tenantId, [{
        type: 'customer.updated', customerId: customer.id,
        payload: { customer_id: customer.id, changes: { [`consent.${flag}`]: { from, to: latest.granted } } },
      }]);
    }
    if (latest.granted && input.purpose === 'marketing') {
      if (input.channel === 'email' && customer.email) await removeSuppressions(tx, ctx.tenantId, 'email', [customer.email], ['unsubscribed', 'erased']);
      if (input.channel === 'sms' && customer.phone) await removeSuppressions(tx, ctx.tenantId, 'sms', [customer.phone], ['unsubscribed', 'erased']);
    }
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'consent.record', entityType: 'customer',
      entityId: customer.id, before: { [flag]: from },
      after: { [flag]: latest.granted, channel: input.channel, purpose: input.purpose, granted: input.granted, source: input.source ?? 'api' },
    });
    // consent flags are segment fields: membership follows at once
    if (changed) await reevaluateCustomers(tx, ctx.tenantId, [customer.id]);
  });
  return getConsent(ctx, customerId);
}

// ---------------------------------------------------------------------------------------------
// Right of access

export interface CustomerExport extends repo.ExportSections {
  exported_at: string;
  customer: Record<string, unknown>;
}

/** Everything held about one person; the access is recorded (privacy request + audit entry). */
export async function exportCustomer(ctx: PrivacyCtx, customerId: string, format: 'json' | 'zip' = 'json'): Promise<CustomerExport> {
  if (!isUuid(customerId)) throw customerNotFound(customerId);
  return ctx.db.transaction(async (tx) => {
    const profile = await repo.exportProfile(tx, ctx.tenantId, customerId);
    if (!profile) throw customerNotFound(customerId);
    const sections = await repo.exportSections(tx, ctx.tenantId, customerId);
    const request = await repo.insertPrivacyRequest(tx, {
      tenantId: ctx.tenantId, type: 'access', customerId, status: 'completed', reason: null, requestedBy: ctx.actor, details: { format },
    });
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'customer.export', entityType: 'customer',
      entityId: customerId, after: { format, privacy_request_id: request.id },
    });
    return { exported_at: new Date().toISOString(), customer: profile, ...sections };
  });
}

const cell = (v: unknown): CsvValue => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return v as CsvValue;
};

function toCsv(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  let out = UTF8_BOM + csvRow(columns);
  for (const r of rows) out += csvRow(columns.map((c) => cell(r[c])));
  return out;
}

/**
 * The export as a ZIP of CSV files, one per section (profile.csv holds field,value pairs), plus
 * the same data as export.json. Cells are neutralized against spreadsheet formulas.
 */
export function exportZip(data: CustomerExport): Readable {
  const zip = new ZipArchive({ zlib: { level: 6 } });
  const out = new PassThrough();
  zip.on('error', (err: Error) => out.destroy(err));
  zip.pipe(out);
  zip.append(toCsv(Object.entries(data.customer).map(([field, value]) => ({ field, value }))), { name: 'profile.csv' });
  const { exported_at: _e, customer: _c, ...sections } = data;
  for (const [name, rows] of Object.entries(sections)) zip.append(toCsv(rows as Record<string, unknown>[]), { name: `${name}.csv` });
  zip.append(JSON.stringify(data, null, 2), { name: 'export.json' });
  void zip.finalize();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Right to erasure

export interface ErasureResult {
  customer_id: string;
  privacy_request_id: string;
  erased_at: Date;
  scrubbed: repo.ScrubCounts & { messages: number; audit_entries: number; suppressions: number };
}

/**
 * The one erasure path (API and retention): anonymises the locked customers and everything that
 * quotes them, suppresses their addresses, publishes customer.deleted (erased: true) and writes
 * one audit entry each, without the personal data. Set-based over the batch.
 */
async function eraseLocked(
  tx: Executor,
  ctx: Omit<PrivacyCtx, 'db' | 'config'>,
  customers: repo.ErasableCustomer[],
  opts: { reason: string | null; source: 'request' | 'retention' },
): Promise<ErasureResult['scrubbed']> {
  const ids = customers.map((c) => c.id);
  const needles = [...new Set(customers.flatMap((c) => [c.email, c.phone, c.external_id]).filter((v): v is string => !!v && v.length >= 6).map((v) => v.toLowerCase()))];
  const related = await repo.relatedEntityIds(tx, ctx.tenantId, ids);
  const counts = await repo.scrubCustomers(tx, ctx.tenantId, ids, needles);
  let messages = 0;
  for (const id of await repo.customersWithMessages(tx, ctx.tenantId, ids)) messages += await anonymizeCustomerMessages(tx, ctx.tenantId, id);
  // before this erasure's own entries are written, which must keep their (PII-free) content
  const auditEntries = await redactAuditEntries(tx, ctx.tenantId, { entityIds: [...ids, ...related], needles });
  const suppressions = await addSuppressions(tx, ctx.tenantId, [
    ...customers.filter((c) => c.email).map((c) => ({ channel: 'email' as const, value: c.email!, reason: 'erased' as const })),
    ...customers.filter((c) => c.phone).map((c) => ({ channel: 'sms' as const, value: c.phone!, reason: 'erased' as const })),
  ]);
  const now = new Date();
  await insertActivities(tx, ctx.tenantId, ids.map((id) => ({
    customerId: id, type: 'customer.erased', occurredAt: now, summary: 'Personal data erased', data: { source: opts.source }, actor: ctx.actor,
  })));
  await enqueueEvents(tx, ctx.tenantId, ids.map((id) => ({ type: 'customer.deleted' as const, customerId: id, payload: { customer_id: id, erased: true } })));
  // erased people are no longer live: they leave their dynamic segments now, not at the next scheduled refresh
  await reevaluateCustomers(tx, ctx.tenantId, ids);
  const scrubbed = { ...counts, messages, audit_entries: auditEntries, suppressions };
  await recordAuditMany(tx, ids.map((id) => ({
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'customer.erase', entityType: 'customer', entityId: id,
    after: { source: opts.source, reason: opts.reason, scrubbed_with: ids.length },
  })));
  return scrubbed;
}

/** POST /customers/{id}/erase: irreversible; the body must say confirm: true. */
export async function eraseCustomer(ctx: PrivacyCtx, customerId: string, input: { confirm: boolean; reason?: string | null }): Promise<ErasureResult> {
  if (input.confirm !== true) {
    throw new AppError('validation_failed', 'erasure is irreversible: send "confirm": true', { field: 'confirm' });
  }
  if (!isUuid(customerId)) throw customerNotFound(customerId);
  const reason = input.reason?.trim() || null;
  return ctx.db.transaction(async (tx) => {
    const customer = await repo.findAnyCustomer(tx, ctx.tenantId, customerId, { forUpdate: true });
    if (!customer) throw customerNotFound(customerId);
    if (customer.erased_at) {
      throw new AppError('customer_erased', `customer ${customerId} was erased on ${customer.erased_at.toISOString()}`, { id: customerId });
    }
    const tombstones = await repo.lockMergedInto(tx, ctx.tenantId, [customer.id]);
    const scrubbed = await eraseLocked(tx, ctx, [customer, ...tombstones], { reason, source: 'request' });
    const request = await repo.insertPrivacyRequest(tx, {
      tenantId: ctx.tenantId, type: 'erasure', customerId, status: 'completed', reason, requestedBy: ctx.actor, details: { scrubbed },
    });
    return { customer_id: customerId, privacy_request_id: request.id, erased_at: request.completed_at!, scrubbed };
  });
}

export async function listPrivacyRequests(
  ctx: Pick<PrivacyCtx, 'db' | 'tenantId'>,
  q: { type?: 'access' | 'erasure'; customer_id?: string; limit?: number; cursor?: string },
): Promise<Page<Omit<repo.PrivacyRequestRow, 'created_key'>>> {
  const limit = q.limit ?? 50;
  let before: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listPrivacyRequests(ctx.db, { tenantId: ctx.tenantId, type: q.type, customerId: q.customer_id, limit: limit + 1, before });
  return pageOf(rows, limit, ({ created_key: _k, ...r }) => r, (r) => [r.created_key, r.id]);
}

// ---------------------------------------------------------------------------------------------
// Retention

const RETENTION_BATCH = 200;

export interface RetentionResult {
  inactive_years: number;
  cutoff: string;
  tenants: { tenant_id: string; customers_erased: number }[];
}

/**
 * Anonymises customers with no activity (last_activity_at, else created_at) for `inactiveYears`,
 * through the erasure path, in batches of RETENTION_BATCH customers per transaction; one
 * retention_runs row per tenant visited. 0 years = off.
 */
export async function runRetention(
  db: Executor,
  opts: { inactiveYears: number; tenantId?: string; now?: Date; actor?: string },
): Promise<RetentionResult> {
  const years = opts.inactiveYears;
  const now = opts.now ?? new Date();
  const cutoffDate = new Date(now);
  cutoffDate.setUTCFullYear(cutoffDate.getUTCFullYear() - years);
  const cutoff = cutoffDate.toISOString();
  if (years <= 0) return { inactive_years: years, cutoff, tenants: [] };
  const actor = opts.actor ?? 'job:privacy.retention';
  const tenants = opts.tenantId ? [opts.tenantId] : await repo.tenantsWithInactive(db, cutoff);
  const out: RetentionResult['tenants'] = [];
  for (const tenantId of tenants) {
    const startedAt = new Date();
    let erased = 0;
    for (;;) {
      const n = await db.transaction(async (tx) => {
        const batch = await repo.lockInactiveCustomers(tx, tenantId, cutoff, RETENTION_BATCH);
        if (batch.length === 0) return 0;
        const tombstones = await repo.lockMergedInto(tx, tenantId, batch.map((c) => c.id));
        await eraseLocked(tx, { tenantId, actor }, [...batch, ...tombstones], { reason: `inactive for ${years} years`, source: 'retention' });
        return batch.length;
      });
      erased += n;
      if (n < RETENTION_BATCH) break;
    }
    await db.transaction(async (tx) => {
      await repo.insertRetentionRun(tx, { tenantId, inactiveYears: years, cutoff, erased, startedAt });
      await recordAudit(tx, {
        tenantId, actor, action: 'retention.run', entityType: 'retention_run', entityId: null,
        after: { inactive_years: years, cutoff, customers_erased: erased },
      });
    });
    out.push({ tenant_id: tenantId, customers_erased: erased });
  }
  return { inactive_years: years, cutoff, tenants: out };
}

export async function listRetentionRuns(ctx: Pick<PrivacyCtx, 'db' | 'tenantId'>, limit = 50) {
  return { data: await repo.listRetentionRuns(ctx.db, ctx.tenantId, limit) };
}
