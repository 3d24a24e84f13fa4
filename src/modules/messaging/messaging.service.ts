import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { normalizeEmail } from '../../lib/contact.js';
import { AppError } from '../../lib/errors.js';
import { addSuppressions, findSuppressed } from '../privacy/suppressions.repository.js';
import { recommendEvents } from '../recommendations/recommendations.service.js';
import { compileCached, customerForTemplate, mentions, requireTemplate, type TemplateSource } from '../templates/templates.service.js';
import { renderCompiled, escapeHtml, type CompiledTemplate, type RenderedContent } from '../templates/templates.engine.js';
import { findContextCustomers, findTenantInfo, type ContextCustomerRow } from '../templates/templates.repository.js';
import { MessageTokens, tenantKey } from '../tracking/tracking.tokens.js';
import * as repo from './messaging.repository.js';
import { quietHoursDeferral, smsSegments, TransportError, transportsFor, type Transports } from './messaging.transport.js';

/**
 * Delivery of one message or a batch, from any source (campaign, workflow, test, transactional).
 *
 * Exactly-once guarantee (what the code really promises):
 * - A message is identified by (tenant, idempotency key). The first delivery inserts its row; any
 *   later delivery with the same key answers that row's outcome and sends nothing.
 * - The row is committed as `sending` (with a lease) BEFORE the transport is called, and marked
 *   `sent` after the transport accepted it. If the process dies in between, the row stays
 *   `sending`; when the lease runs out (LEASE_SECONDS) the message is sent again with the SAME
 *   Message-ID header (SMS: same provider request body). So: never two different messages for one
 *   key; at most one extra copy of the same message after a crash in that window, which a
 *   receiver can drop by Message-ID. A connection that breaks mid-send is treated the same way.
 */

export const LEASE_SECONDS = 300;
const MAX_ATTEMPTS = 8;

/**
 * A batch's CPU work (rendering, handing messages to the transport) runs in slices of this many
 * messages with a turn of the event loop between them: one long synchronous stretch would leave
 * every pooled SMTP connection waiting for its server's reply to be read.
 */
const YIELD_EVERY = 25;
/** Messages of one sendRows call handed to the transport at once (a pool of 5 needs far fewer). */
const SEND_WINDOW = 50;
/** Resolves after a turn of the event loop (pending I/O callbacks run first). */
const yieldToIo = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface MessagingDeps {
  db: Executor;
  config: Config;
  /** Defaults to the configured SMTP/Twilio (or local) transports. */
  transports?: Transports;
  now?: () => Date;
}

export type SourceKind = repo.SourceKind;

export type DeliverContent =
  | { templateId: string }
  | { subject?: string; preheader?: string; html?: string; text?: string; mjml?: string };

export interface DeliverInput {
  tenantId: string;
  /** The recipient; null only for test sends to an explicit `to`. */
  customerId: string | null;
  channel: 'email' | 'sms';
  content: DeliverContent;
  source: { kind: SourceKind; id: string; stepId?: string };
  /** Unique per tenant: a second delivery with the same key sends nothing and answers the first outcome. */
  idempotencyKey: string;
  extraContext?: Record<string, unknown>;
  /** Explicit address (test sends); otherwise the customer's e-mail or phone. */
  to?: string;
  campaignId?: string | null;
  variant?: string | null;
  /**
   * Where the content can be had again (a kind registered with registerContentSource). With a
   * transport that really sends, the rendered body is then not stored: a resend renders it again
   * for the same message id (same links, same Message-ID). Large campaigns write far less.
   */
  contentRef?: ContentRef;
}

export interface ContentRef {
  kind: string;
  [key: string]: unknown;
}

type ContentSource = (db: Executor, tenantId: string, ref: ContentRef) => Promise<DeliverContent>;
const contentSources = new Map<string, ContentSource>();

/** Lets a module (campaigns) say how to get the content of a ContentRef of its kind. */
export function registerContentSource(kind: string, source: ContentSource): void {
  contentSources.set(kind, source);
}

export interface DeliverResult {
  status: 'sent' | 'queued' | 'suppressed' | 'skipped' | 'failed';
  reason?: string;
  messageId?: string;
}

const MARKETING: ReadonlySet<SourceKind> = new Set(['campaign', 'workflow']);

/** Sends one message (see the guarantee above). Expected refusals are results, not errors. */
export async function deliverMessage(deps: MessagingDeps, input: DeliverInput): Promise<DeliverResult> {
  return (await deliverMany(deps, [input]))[0];
}

interface Resolved {
  src: TemplateSource & { compiledHtml?: string | null };
  /** Compiled once per content of a batch (not looked up by hash for every recipient). */
  compiled?: Promise<CompiledTemplate>;
  recommendations?: boolean;
}

async function resolveContent(db: Executor, tenantId: string, channel: 'email' | 'sms', content: DeliverContent): Promise<Resolved> {
  if ('templateId' in content) {
    const t = await requireTemplate(db, tenantId, content.templateId);
    if (t.channel !== channel) throw new AppError('validation_failed', `template ${t.id} is an ${t.channel} template, not ${channel}`, { field: 'template_id' });
    return { src: { channel: t.channel, subject: t.subject, preheader: t.preheader, format: t.format, body: t.body, compiledHtml: t.compiled_html } };
  }
  const format = content.mjml !== undefined ? 'mjml' : content.html !== undefined ? 'html' : 'text';
  const body = content.mjml ?? content.html ?? content.text;
  if (body === undefined) throw new AppError('validation_failed', 'content needs html, mjml or text', { field: 'content' });
  return { src: { channel, subject: content.subject ?? null, preheader: content.preheader ?? null, format, body } };
}

function fromDomain(from: string): string {
  const m = /@([^>\s]+)>?\s*$/.exec(from);
  return m ? m[1] : 'localhost';
}

const HREF_RE = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi;
const decodeAttr = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");

// One pattern per set of tracked URLs (a campaign's links are the same for every recipient), longest
// first, so the text part is rewritten in one pass and a URL that starts another is not cut out of it.
const linkPatterns = new Map<string, RegExp>();
function linkPattern(urls: readonly string[]): RegExp {
  const key = urls.join('\n');
  let re = linkPatterns.get(key);
  if (!re) {
    re = new RegExp([...urls].sort((a, b) => b.length - a.length).map((u) => u.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    if (linkPatterns.size >= 100) linkPatterns.delete(linkPatterns.keys().next().value!);
    linkPatterns.set(key, re);
  }
  return re;
}

/** Click tracking on every http(s) link (not on our own tracking links), and the open pixel. */
export function addTracking(content: RenderedContent, tokens: MessageTokens, ownBase: string): { html: string | null; text: string } {
  let text = content.text;
  if (!content.html) return { html: null, text };
  const own = `${ownBase}/api/crm/track/`;
  const replaced = new Map<string, string>();
  let html = content.html.replace(HREF_RE, (whole, lead: string, quote: string, raw: string) => {
    const url = decodeAttr(raw);
    if (url.startsWith(own)) return whole;
    let tracked = replaced.get(url);
    if (tracked === undefined) {
      tracked = tokens.clickUrl(url);
      replaced.set(url, tracked);
    }
    return `${lead}${quote}${escapeHtml(tracked)}${quote}`;
  });
  if (replaced.size) text = text.replace(linkPattern([...replaced.keys()]), (url) => replaced.get(url)!);
  const pixel = `<img src="${escapeHtml(tokens.openUrl())}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px" />`;
  const end = html.search(/<\/body>/i);
  html = end >= 0 ? html.slice(0, end) + pixel + html.slice(end) : html + pixel;
  return { html, text };
}

interface Prepared {
  input: DeliverInput;
  row: repo.NewMessage;
}

/**
 * The batch form of deliverMessage (one tenant per call): checks, renders and records the whole
 * batch with a few set-based statements, then sends the messages through the pooled transport.
 * Answers one result per input, in order. `onRecorded` is called once every message of the batch
 * is committed (as `sending` or with its refusal), just before the sends start: a caller that
 * overlaps batches can start preparing the next one then.
 */
export async function deliverMany(deps: MessagingDeps, inputs: readonly DeliverInput[], opts: { onRecorded?: () => void } = {}): Promise<DeliverResult[]> {
  if (inputs.length === 0) {
    opts.onRecorded?.();
    return [];
  }
  const tenantId = inputs[0].tenantId;
  if (inputs.some((i) => i.tenantId !== tenantId)) throw new Error('deliverMany takes the inputs of one tenant');
  const { db } = deps;
  const now = deps.now?.() ?? new Date();
  const results = new Map<string, DeliverResult>();

  // 1. Keys seen before answer their first outcome; `sending` rows whose lease ran out are resent.
  const keys = [...new Set(inputs.map((i) => i.idempotencyKey))];
  const existing = new Map((await repo.findByKeys(db, tenantId, keys)).map((r) => [r.idempotency_key, r]));
  const retry: string[] = [];
  for (const [key, r] of existing) {
    if (r.status === 'sending' && r.lease_expired) retry.push(key);
    else results.set(key, resultOf(r.status, r.reason, r.id));
  }
  let toResend: repo.MessageRow[] = [];
  if (retry.length) toResend = await repo.claimForResend(db, { tenantId, keys: retry, limit: retry.length, leaseSeconds: LEASE_SECONDS });

  const seen = new Set<string>();
  const fresh = inputs.filter((i) => {
    if (existing.has(i.idempotencyKey) || seen.has(i.idempotencyKey)) return false;
    seen.add(i.idempotencyKey);
    return true;
  });
  const toSend: repo.MessageRow[] = [];
  if (fresh.length) {
    const prepared = await prepare(deps, tenantId, fresh, now);
    const inserted = await repo.insertMessages(db, tenantId, prepared.map((p) => (p.row.contentRef && p.row.transport !== 'local' ? { ...p.row, html: null, text: null } : p.row)), LEASE_SECONDS);
    for (const p of prepared) {
      const key = p.input.idempotencyKey;
      if (!inserted.has(key)) {
        results.set(key, { status: 'queued', reason: 'in_progress' }); // a concurrent delivery of the same key won
        continue;
      }
      if (p.row.status === 'sending') toSend.push(asRow(tenantId, p.row));
      else results.set(key, resultOf(p.row.status, p.row.reason, p.row.id));
    }
  }
  opts.onRecorded?.();

  // resent and fresh rows go out together; a retried key another worker claimed answers in_progress below
  const rows = [...toResend, ...toSend];
  const keyOf = new Map(rows.map((r) => [r.id, r.idempotency_key]));
  for (const o of await sendRows(deps, rows)) results.set(keyOf.get(o.id)!, resultOf(o.status, o.error ?? null, o.id));
  return inputs.map((i) => results.get(i.idempotencyKey) ?? { status: 'queued', reason: 'in_progress' });
}

function resultOf(status: repo.MessageStatus, reason: string | null, id: string): DeliverResult {
  const s: DeliverResult['status'] = status === 'sending' ? 'queued' : status;
  return { status: s, ...(reason ? { reason } : {}), messageId: id };
}

function asRow(tenantId: string, r: repo.NewMessage): repo.MessageRow {
  return {
    id: r.id, tenant_id: tenantId, idempotency_key: r.idempotencyKey, channel: r.channel, customer_id: r.customerId, to_address: r.to,
    source_kind: r.sourceKind, source_id: r.sourceId, source_step: r.sourceStep, campaign_id: r.campaignId, variant: r.variant,
    status: r.status, reason: r.reason, message_id_header: r.messageIdHeader, provider_id: null, transport: r.transport,
    subject: r.subject, html: r.html, text: r.text, headers: r.headers, sms_segments: r.smsSegments, sms_encoding: r.smsEncoding,
    send_after: null, attempts: 1, last_error: null, content_ref: r.contentRef, created_at: new Date(), sent_at: null, delivered_at: null, opened_at: null,
    clicked_at: null, bounced_at: null, complained_at: null, unsubscribed_at: null, created_key: '',
  };
}

/** Checks every input and renders the ones that go out; answers the rows to insert. */
async function prepare(deps: MessagingDeps, tenantId: string, inputs: readonly DeliverInput[], now: Date): Promise<Prepared[]> {
  const { db, config } = deps;
  const m = config.marketing;
  const transports = deps.transports ?? transportsFor(config);
  const customerIds = [...new Set(inputs.map((i) => i.customerId).filter((c): c is string => c !== null && isUuid(c)))];
  const [customerRows, tenant, key] = await Promise.all([
    findContextCustomers(db, tenantId, customerIds),
    findTenantInfo(db, tenantId),
    tenantKey(db, config, tenantId),
  ]);
  if (!tenant) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`, { id: tenantId });
  const customers = new Map(customerRows.map((c) => [c.id, c]));

  const addressOf = (i: DeliverInput, c: ContextCustomerRow | undefined): string | null => {
    if (i.to !== undefined) return i.channel === 'email' ? normalizeEmail(i.to) : i.to.trim() || null;
    if (!c) return null;
    return i.channel === 'email' ? normalizeEmail(c.email) : c.phone;
  };
  const addresses = inputs.map((i) => addressOf(i, i.customerId ? customers.get(i.customerId) : undefined));
  const [suppressedEmail, suppressedSms] = await Promise.all([
    findSuppressed(db, tenantId, 'email', addresses.filter((a, n): a is string => a !== null && inputs[n].channel === 'email')),
    findSuppressed(db, tenantId, 'sms', addresses.filter((a, n): a is string => a !== null && inputs[n].channel === 'sms')),
  ]);
  const capped = new Map<string, number>();
  if (m.frequencyCap) {
    const marketingCustomers = inputs.filter((i) => MARKETING.has(i.source.kind) && i.customerId).map((i) => i.customerId!);
    for (const [c, n] of await repo.countRecentMarketing(db, tenantId, [...new Set(marketingCustomers)], new Date(now.getTime() - m.frequencyCap.windowMs))) capped.set(c, n);
  }

  const contents = new Map<DeliverContent, Resolved>();
  const out: Prepared[] = [];
  const base = (i: DeliverInput, id: string, to: string | null): repo.NewMessage => ({
    id, idempotencyKey: i.idempotencyKey, channel: i.channel, customerId: i.customerId && isUuid(i.customerId) ? i.customerId : null, to,
    sourceKind: i.source.kind, sourceId: i.source.id, sourceStep: i.source.stepId ?? null, campaignId: i.campaignId ?? null,
    variant: i.variant ?? null, status: 'skipped', reason: null, messageIdHeader: null,
    transport: i.channel === 'email' ? transports.email.kind : transports.sms.kind, subject: null, html: null, text: null, headers: {},
    smsSegments: null, smsEncoding: null, sendAfter: null, contentRef: null,
  });
  const env: RenderEnv = { db, config, tenantId, key, tenantName: tenant.name };

  for (let n = 0; n < inputs.length; n++) {
    if (n % YIELD_EVERY === YIELD_EVERY - 1) await yieldToIo();
    const i = inputs[n];
    const id = crypto.randomUUID();
    const c = i.customerId ? customers.get(i.customerId) : undefined;
    const to = addresses[n];
    const row = base(i, id, to);
    const refuse = (status: 'skipped' | 'suppressed', reason: string) => out.push({ input: i, row: { ...row, status, reason } });
    const marketing = MARKETING.has(i.source.kind);
    if (i.customerId !== null && !c) { refuse('skipped', 'customer_not_found'); continue; }
    if (c?.deleted_at) { refuse('skipped', 'customer_deleted'); continue; }
    if (c?.merged_into) { refuse('skipped', 'customer_merged'); continue; }
    if (!to) { refuse('skipped', i.channel === 'email' ? 'no_email' : 'no_phone'); continue; }
    if (marketing && c) {
      const consent = i.channel === 'email' ? c.consent?.marketing_email : c.consent?.marketing_sms;
      if (consent !== true) { refuse('suppressed', 'no_consent'); continue; }
    }
    if ((i.channel === 'email' ? suppressedEmail : suppressedSms).has(to)) { refuse('suppressed', 'suppressed'); continue; }
    if (marketing && c && m.frequencyCap) {
      const sent = capped.get(c.id) ?? 0;
      if (sent >= m.frequencyCap.count) { refuse('skipped', 'frequency_cap'); continue; }
      capped.set(c.id, sent + 1);
    }

    let body: RenderedMessage;
    try {
      // keyed by the content object: a campaign batch shares one object per variant
      let resolved = contents.get(i.content);
      if (!resolved) {
        resolved = await resolveContent(db, tenantId, i.channel, i.content);
        contents.set(i.content, resolved);
      }
      body = await renderMessage(env, { id, channel: i.channel, sourceKind: i.source.kind, campaignId: i.campaignId ?? null, to, extraContext: i.extraContext }, c, resolved);
    } catch (err) {
      if (err instanceof AppError) {
        out.push({ input: i, row: { ...row, status: 'failed', reason: `${err.code}: ${err.message}` } });
        continue;
      }
      throw err;
    }
    const deferral = i.channel === 'sms' ? quietHoursDeferral(now, tenant.timezone, m.smsQuietHours) : null;
    out.push({
      input: i,
      row: {
        ...row, ...body, status: deferral ? 'queued' : 'sending', reason: deferral ? 'quiet_hours' : null, sendAfter: deferral?.toISOString() ?? null,
        contentRef: i.contentRef ? { ref: i.contentRef, extraContext: i.extraContext ?? null } : null,
      },
    });
  }
  return out;
}

interface RenderEnv {
  db: Executor;
  config: Config;
  tenantId: string;
  key: Buffer;
  tenantName: string;
}

interface RenderedMessage {
  subject: string | null;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  messageIdHeader: string | null;
  smsSegments: number | null;
  smsEncoding: string | null;
}

/** Renders one message for its recipient: Liquid, tracking links, pixel, List-Unsubscribe. Deterministic for a message id. */
async function renderMessage(
  env: RenderEnv,
  i: { id: string; channel: 'email' | 'sms'; sourceKind: SourceKind; campaignId: string | null; to: string; extraContext?: Record<string, unknown> | null },
  c: ContextCustomerRow | undefined,
  resolved: Resolved,
): Promise<RenderedMessage> {
  const m = env.config.marketing;
  const tokens = new MessageTokens(env.key, m.publicUrl, env.tenantId, i.id);
  const unsubscribeUrl = tokens.unsubscribeUrl();
  const person = c ? customerForTemplate(c) : { customer: { email: i.channel === 'email' ? i.to : null, phone: i.channel === 'sms' ? i.to : null }, metrics: {} };
  const context = {
    ...person,
    recommendations: c && (resolved.recommendations ??= mentions(resolved.src, 'recommendations')) ? await recommendationsFor(env.db, env.tenantId, c.id) : [],
    unsubscribe_url: unsubscribeUrl,
    tenant: { name: env.tenantName },
    message: { id: i.id },
    ...(i.extraContext ?? {}),
  };
  resolved.compiled ??= compileCached(resolved.src);
  const rendered = await renderCompiled(await resolved.compiled, context);
  if (i.channel === 'sms') {
    const seg = smsSegments(rendered.text);
    return { subject: null, html: null, text: rendered.text, headers: {}, messageIdHeader: null, smsSegments: seg.segments, smsEncoding: seg.encoding };
  }
  const marketing = MARKETING.has(i.sourceKind);
  const tracked = i.sourceKind === 'transactional' ? { html: rendered.html, text: rendered.text } : addTracking(rendered, tokens, m.publicUrl);
  const headers: Record<string, string> = {};
  if (marketing) {
    const targets = [`<${unsubscribeUrl}>`];
    if (m.unsubscribeMailto) targets.push(`<mailto:${m.unsubscribeMailto}?subject=unsubscribe-${i.id}>`);
    headers['List-Unsubscribe'] = targets.join(', ');
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  if (i.campaignId) headers['X-Campaign-Id'] = i.campaignId;
  return {
    subject: rendered.subject ?? '', html: tracked.html, text: tracked.text, headers,
    messageIdHeader: `<${i.id}@${fromDomain(m.emailFrom)}>`, smsSegments: null, smsEncoding: null,
  };
}

/** Rows recorded without their body (see ContentRef) get it rendered again before a resend. */
async function fillBodies(deps: MessagingDeps, rows: repo.MessageRow[]): Promise<void> {
  const bare = rows.filter((r) => r.html === null && r.text === null && r.content_ref);
  for (const r of bare) {
    const ref = r.content_ref!;
    const source = contentSources.get(ref.ref.kind);
    if (!source) continue;
    const [c] = r.customer_id ? await findContextCustomers(deps.db, r.tenant_id, [r.customer_id]) : [];
    const tenant = await findTenantInfo(deps.db, r.tenant_id);
    const key = await tenantKey(deps.db, deps.config, r.tenant_id);
    const resolved = await resolveContent(deps.db, r.tenant_id, r.channel, await source(deps.db, r.tenant_id, ref.ref));
    const body = await renderMessage(
      { db: deps.db, config: deps.config, tenantId: r.tenant_id, key, tenantName: tenant?.name ?? '' },
      { id: r.id, channel: r.channel, sourceKind: r.source_kind, campaignId: r.campaign_id, to: r.to_address ?? '', extraContext: ref.extraContext },
      c, resolved,
    );
    Object.assign(r, { subject: body.subject, html: body.html, text: body.text, headers: body.headers });
  }
}

async function recommendationsFor(db: Executor, tenantId: string, customerId: string): Promise<unknown[]> {
  return recommendEvents(db, tenantId, customerId, 3);
}

/** Renders content for one customer as it would be sent, without recording or sending (previews). */
export async function renderForCustomer(
  deps: MessagingDeps,
  q: { tenantId: string; customerId: string; channel: 'email' | 'sms'; content: DeliverContent; extraContext?: Record<string, unknown> },
): Promise<RenderedContent> {
  const [c] = await findContextCustomers(deps.db, q.tenantId, [q.customerId]);
  if (!c || c.deleted_at || c.merged_into) throw new AppError('customer_not_found', `customer ${q.customerId} was not found`, { id: q.customerId });
  const tenant = await findTenantInfo(deps.db, q.tenantId);
  const resolved = await resolveContent(deps.db, q.tenantId, q.channel, q.content);
  const tokens = new MessageTokens(await tenantKey(deps.db, deps.config, q.tenantId), deps.config.marketing.publicUrl, q.tenantId, crypto.randomUUID());
  return renderCompiled(await compileCached(resolved.src), {
    ...customerForTemplate(c),
    recommendations: mentions(resolved.src, 'recommendations') ? await recommendationsFor(deps.db, q.tenantId, c.id) : [],
    unsubscribe_url: tokens.unsubscribeUrl(),
    tenant: { name: tenant?.name ?? '' },
    ...(q.extraContext ?? {}),
  });
}

/** Sends rows already recorded as `sending` and records every outcome (one statement). */
async function sendRows(deps: MessagingDeps, rows: readonly repo.MessageRow[]): Promise<repo.Outcome[]> {
  if (rows.length === 0) return [];
  await fillBodies(deps, rows as repo.MessageRow[]);
  const transports = deps.transports ?? transportsFor(deps.config);
  const from = deps.config.marketing.emailFrom;
  const bounced: { tenantId: string; channel: 'email' | 'sms'; value: string }[] = [];
  const sendOne = async (r: repo.MessageRow): Promise<repo.Outcome & { tenantId: string }> => {
    if (r.attempts > MAX_ATTEMPTS) return { tenantId: r.tenant_id, id: r.id, status: 'failed', error: `gave up after ${MAX_ATTEMPTS} attempts: ${r.last_error ?? ''}` };
    try {
      const { providerId } = r.channel === 'email'
        ? await transports.email.send({
          from, to: r.to_address!, subject: r.subject ?? '', html: r.html, text: r.text ?? '', messageId: r.message_id_header!, headers: r.headers,
        })
        : await transports.sms.send({ to: r.to_address!, body: r.text ?? '' });
      return { tenantId: r.tenant_id, id: r.id, status: 'sent', providerId };
    } catch (err) {
      const e = err instanceof TransportError ? err : new TransportError((err as Error).message, 'unknown');
      if (e.kind === 'permanent') {
        if (r.channel === 'email' && e.responseCode !== undefined && e.responseCode >= 550 && e.responseCode <= 553) {
          bounced.push({ tenantId: r.tenant_id, channel: 'email', value: r.to_address! });
        }
        return { tenantId: r.tenant_id, id: r.id, status: 'failed', error: e.message.slice(0, 500) };
      }
      const backoff = e.kind === 'transient' ? Math.min(3600, 30 * 2 ** r.attempts) * 1000 : 0;
      return {
        tenantId: r.tenant_id, id: r.id, status: e.kind === 'transient' ? 'queued' : 'sending',
        error: e.message.slice(0, 500), retryAt: new Date(Date.now() + backoff).toISOString(),
      };
    }
  };
  // Handing a message to the transport builds it (the whole MIME text): at most SEND_WINDOW of a
  // call's messages are with the transport at once, the next one built when one is done, so the
  // built messages do not pile up in the pool's queue (memory, garbage) and the building is spread
  // between the connections' replies. Overlapping batches each keep their window filled.
  const outcomes: (repo.Outcome & { tenantId: string })[] = new Array(rows.length);
  let next = 0;
  const lane = async () => {
    while (next < rows.length) {
      const n = next++;
      outcomes[n] = await sendOne(rows[n]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SEND_WINDOW, rows.length) }, lane));
  const byTenant = new Map<string, repo.Outcome[]>();
  for (const o of outcomes) {
    const list = byTenant.get(o.tenantId);
    if (list) list.push(o);
    else byTenant.set(o.tenantId, [o]);
  }
  for (const [tenantId, list] of byTenant) {
    const hard = bounced.filter((b) => b.tenantId === tenantId);
    // one statement is atomic on its own; a transaction only when suppressions go with it
    if (hard.length === 0) await repo.recordOutcomes(deps.db, tenantId, list);
    else {
      await deps.db.transaction(async (tx) => {
        await repo.recordOutcomes(tx, tenantId, list);
        await addSuppressions(tx, tenantId, hard.map((b) => ({ channel: b.channel, value: b.value, reason: 'hard_bounce' as const })));
      });
    }
  }
  return outcomes;
}

/**
 * Sends what is due: messages deferred by quiet hours or a temporary refusal, and `sending' rows
 * whose lease ran out (a crash or a broken connection). Run by the worker every few seconds.
 */
export async function processPendingMessages(deps: MessagingDeps, limit = 500): Promise<number> {
  const rows = await repo.claimForResend(deps.db, { limit, leaseSeconds: LEASE_SECONDS });
  await sendRows(deps, rows);
  return rows.length;
}

// ---------------------------------------------------------------------------------------------
// Reading the message log (GET /messages)

export interface MessageOut {
  id: string;
  channel: 'email' | 'sms';
  customer_id: string | null;
  to: string | null;
  status: repo.MessageStatus;
  reason: string | null;
  source: { kind: SourceKind; id: string; step_id: string | null };
  campaign_id: string | null;
  variant: string | null;
  transport: string | null;
  message_id_header: string | null;
  provider_id: string | null;
  subject: string | null;
  sms_segments: number | null;
  sms_encoding: string | null;
  send_after: Date | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  sent_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  bounced_at: Date | null;
  complained_at: Date | null;
  unsubscribed_at: Date | null;
}

export interface MessageDetail extends MessageOut {
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
}

const toOut = (r: repo.MessageRow): MessageOut => ({
  id: r.id, channel: r.channel, customer_id: r.customer_id, to: r.to_address, status: r.status, reason: r.reason,
  source: { kind: r.source_kind, id: r.source_id, step_id: r.source_step }, campaign_id: r.campaign_id, variant: r.variant,
  transport: r.transport, message_id_header: r.message_id_header, provider_id: r.provider_id, subject: r.subject,
  sms_segments: r.sms_segments, sms_encoding: r.sms_encoding, send_after: r.send_after, attempts: r.attempts, last_error: r.last_error,
  created_at: r.created_at, sent_at: r.sent_at, opened_at: r.opened_at, clicked_at: r.clicked_at, bounced_at: r.bounced_at,
  complained_at: r.complained_at, unsubscribed_at: r.unsubscribed_at,
});

export async function listMessages(
  ctx: { db: Executor; tenantId: string },
  q: { limit?: number; cursor?: string; channel?: 'email' | 'sms'; status?: repo.MessageStatus; customer_id?: string; campaign_id?: string },
): Promise<Page<MessageOut>> {
  const limit = q.limit ?? 50;
  let before: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listMessages(ctx.db, {
    tenantId: ctx.tenantId, channel: q.channel, status: q.status, customerId: q.customer_id, campaignId: q.campaign_id, limit: limit + 1, before,
  });
  return pageOf(rows, limit, toOut, (r) => [r.created_key, r.id]);
}

export async function getMessage(ctx: { db: Executor; tenantId: string }, id: string): Promise<MessageDetail> {
  const r = isUuid(id) ? await repo.findMessage(ctx.db, ctx.tenantId, id) : undefined;
  if (!r) throw new AppError('message_not_found', `message ${id} was not found`, { id });
  return { ...toOut(r), html: r.html, text: r.text, headers: r.headers };
}
