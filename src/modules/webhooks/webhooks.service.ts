import crypto from 'node:crypto';
import net from 'node:net';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { newToken } from '../../lib/secrets.js';
import { recordAudit } from '../audit/audit.service.js';
import { patternProblem, TEST_EVENT_TYPE } from '../outbox/outbox.events.js';
import { DeliveryRefused, postWebhook, resolveHost, signatureHeader, urlProblem, type AttemptResult } from './webhooks.delivery.js';
import * as repo from './webhooks.repository.js';
import type { CreateWebhookBody, DeliveryListQuery, UpdateWebhookBody } from './webhooks.schemas.js';

export interface WebhookCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  /** Who changes subscriptions, for the audit trail ("system" when absent). */
  actor?: string;
  requestId?: string | null;
}

// Secrets never enter the audit trail: the snapshot is the API's view (a hint of the secret).
function audit(tx: Executor, ctx: WebhookCtx, action: string, id: string, before: unknown, after: unknown, entityType = 'webhook') {
  return recordAudit(tx, {
    tenantId: ctx.tenantId, actor: ctx.actor ?? 'system', requestId: ctx.requestId ?? null, action, entityType, entityId: id, before, after,
  });
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

export interface Webhook {
  id: string;
  url: string;
  event_types: string[];
  active: boolean;
  description: string | null;
  /** The last characters of the secret, to tell secrets apart; the secret itself is shown once. */
  secret_hint: string;
  created_at: Date;
  updated_at: Date;
}

function toWebhook(row: repo.SubscriptionRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    event_types: row.event_types,
    active: row.active,
    description: row.description,
    secret_hint: `…${row.secret.slice(-4)}`,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const invalid = (field: string, message: string, extra: Record<string, unknown> = {}) =>
  new AppError('validation_failed', message, { field, ...extra });

/**
 * Scheme and shape, and (unless private networks are allowed) that the host does not resolve to a
 * private address now. A host that does not resolve yet is accepted: deliveries check again each time.
 */
async function checkUrl(url: string, config: Config): Promise<string> {
  const problem = urlProblem(url, config.webhookAllowPrivateNetworks);
  if (problem) throw invalid('url', problem);
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (!config.webhookAllowPrivateNetworks && !net.isIP(host)) {
    try {
      await resolveHost(host, false);
    } catch (err) {
      if (err instanceof DeliveryRefused) throw invalid('url', `url refused: ${err.message}`);
    }
  }
  return parsed.toString();
}

function checkEventTypes(patterns: string[]): string[] {
  const problems = patterns.map(patternProblem).filter((p): p is string => p !== null);
  if (problems.length) {
    throw invalid('event_types', `invalid event type patterns: ${problems.join('; ')}`, { problems });
  }
  return [...new Set(patterns)];
}

function cleanDescription(d: string | null | undefined): string | null | undefined {
  if (d === undefined) return undefined;
  return d?.trim() || null;
}

const newSecret = () => newToken('whsec_');

async function requireSubscription(ctx: WebhookCtx, id: string): Promise<repo.SubscriptionRow> {
  const row = isUuid(id) ? await repo.findSubscription(ctx.db, ctx.tenantId, id) : undefined;
  if (!row) throw new AppError('webhook_not_found', `webhook ${id} was not found`, { id });
  return row;
}

/** Creates a subscription; the answer carries the signing secret, shown this once. */
export async function createWebhook(ctx: WebhookCtx, input: CreateWebhookBody): Promise<Webhook & { secret: string }> {
  const url = await checkUrl(input.url, ctx.config);
  const eventTypes = checkEventTypes(input.event_types);
  const secret = input.secret ?? newSecret();
  const row = await ctx.db.transaction(async (tx) => {
    const created = await repo.insertSubscription(tx, {
      tenantId: ctx.tenantId, url, eventTypes, secret, active: input.active ?? true, description: cleanDescription(input.description) ?? null,
    });
    await audit(tx, ctx, 'webhook.create', created.id, null, toWebhook(created));
    return created;
  });
  return { ...toWebhook(row), secret };
}

export async function getWebhook(ctx: WebhookCtx, id: string): Promise<Webhook> {
  return toWebhook(await requireSubscription(ctx, id));
}

export async function listWebhooks(ctx: WebhookCtx, q: { limit?: number; cursor?: string }): Promise<Page<Webhook>> {
  const limit = q.limit ?? 50;
  let after: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    after = { createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listSubscriptions(ctx.db, { tenantId: ctx.tenantId, limit: limit + 1, after });
  return pageOf(rows, limit, toWebhook, (r) => [r.created_key, r.id]);
}

/** PATCH: the given fields only. */
export async function updateWebhook(ctx: WebhookCtx, id: string, input: UpdateWebhookBody): Promise<Webhook> {
  const current = await requireSubscription(ctx, id);
  const url = input.url === undefined ? undefined : await checkUrl(input.url, ctx.config);
  const eventTypes = input.event_types === undefined ? undefined : checkEventTypes(input.event_types);
  return ctx.db.transaction(async (tx) => {
    const row = await repo.updateSubscription(tx, ctx.tenantId, current.id, {
      url, eventTypes, active: input.active, description: cleanDescription(input.description),
    });
    if (!row) throw new AppError('webhook_not_found', `webhook ${id} was not found`, { id });
    await audit(tx, ctx, 'webhook.update', row.id, toWebhook(current), toWebhook(row));
    return toWebhook(row);
  });
}

export async function deleteWebhook(ctx: WebhookCtx, id: string): Promise<void> {
  const row = await requireSubscription(ctx, id);
  await ctx.db.transaction(async (tx) => {
    await repo.deleteSubscription(tx, ctx.tenantId, row.id);
    await audit(tx, ctx, 'webhook.delete', row.id, toWebhook(row), null);
  });
}

/** A new secret; the old one stops signing at once. */
export async function rotateSecret(ctx: WebhookCtx, id: string): Promise<Webhook & { secret: string }> {
  const current = await requireSubscription(ctx, id);
  const secret = newSecret();
  const row = await ctx.db.transaction(async (tx) => {
    const updated = await repo.updateSubscription(tx, ctx.tenantId, current.id, { secret });
    if (!updated) throw new AppError('webhook_not_found', `webhook ${id} was not found`, { id });
    await audit(tx, ctx, 'webhook.rotate_secret', updated.id, { secret_hint: toWebhook(current).secret_hint }, { secret_hint: toWebhook(updated).secret_hint });
    return updated;
  });
  return { ...toWebhook(row), secret };
}

// ---------------------------------------------------------------------------------------------
// Deliveries (API)

export interface Delivery {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  customer_id: string | null;
  status: repo.DeliveryStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  response_ms: number | null;
  replay_of: string | null;
  payload: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

function toDelivery(row: repo.DeliveryRow): Delivery {
  const open = row.status === 'pending' || row.status === 'failed';
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    event_id: row.event_id,
    event_type: row.event_type,
    customer_id: row.customer_id,
    status: row.status,
    attempts: row.attempts,
    next_attempt_at: open ? row.next_attempt_at : null,
    last_attempt_at: row.last_attempt_at,
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    response_ms: row.response_ms,
    replay_of: row.replay_of,
    payload: row.payload,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export async function listDeliveries(ctx: WebhookCtx, subscriptionId: string, q: DeliveryListQuery): Promise<Page<Delivery>> {
  const sub = await requireSubscription(ctx, subscriptionId);
  const limit = q.limit ?? 50;
  let before: { createdAt: string; seq: number; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, seq, id] = readCursor(q.cursor, [isExactTs, Number.isSafeInteger, isUuid]);
    before = { createdAt: createdAt as string, seq: seq as number, id: id as string };
  }
  const rows = await repo.listDeliveries(ctx.db, { tenantId: ctx.tenantId, subscriptionId: sub.id, status: q.status, limit: limit + 1, before });
  return pageOf(rows, limit, toDelivery, (r) => [r.created_key, r.event_seq, r.id]);
}

async function requireDelivery(ctx: WebhookCtx, subscriptionId: string, deliveryId: string): Promise<repo.DeliveryRow> {
  const sub = await requireSubscription(ctx, subscriptionId);
  const row = isUuid(deliveryId) ? await repo.findDelivery(ctx.db, ctx.tenantId, sub.id, deliveryId) : undefined;
  if (!row) throw new AppError('webhook_delivery_not_found', `delivery ${deliveryId} was not found`, { id: deliveryId });
  return row;
}

export async function getDelivery(ctx: WebhookCtx, subscriptionId: string, deliveryId: string): Promise<Delivery> {
  return toDelivery(await requireDelivery(ctx, subscriptionId, deliveryId));
}

/**
 * Queues the same event (same body and event id, so subscribers can deduplicate) again as a new
 * delivery, due now; the original keeps its history.
 */
export async function replayDelivery(ctx: WebhookCtx, subscriptionId: string, deliveryId: string): Promise<Delivery> {
  const original = await requireDelivery(ctx, subscriptionId, deliveryId);
  if (original.event_type === TEST_EVENT_TYPE) {
    throw new AppError('invalid_request', 'test deliveries cannot be replayed; send a new test instead', { id: deliveryId });
  }
  return ctx.db.transaction(async (tx) => {
    const row = await repo.insertReplay(tx, original);
    await audit(tx, ctx, 'webhook_delivery.replay', row.id, null, { replay_of: original.id, subscription_id: subscriptionId, event_id: original.event_id }, 'webhook_delivery');
    return toDelivery(row);
  });
}

/** Sends a webhook.test event now (even to an inactive subscription) and records the attempt. */
export async function sendTest(ctx: WebhookCtx, subscriptionId: string): Promise<Delivery> {
  const sub = await requireSubscription(ctx, subscriptionId);
  const eventId = crypto.randomUUID();
  const payload = {
    id: eventId,
    type: TEST_EVENT_TYPE,
    occurred_at: new Date().toISOString(),
    tenant_id: ctx.tenantId,
    data: { subscription_id: sub.id, message: 'This is a test event from Encore CRM.' },
  };
  const deliveryId = crypto.randomUUID();
  const result = await attempt(ctx.config, { id: deliveryId, url: sub.url, secret: sub.secret, eventType: TEST_EVENT_TYPE, payload });
  const row = await repo.insertTestDelivery(ctx.db, {
    tenantId: ctx.tenantId, subscriptionId: sub.id, eventId, payload,
    status: result.ok ? 'succeeded' : 'failed', statusCode: result.statusCode, error: result.error, ms: result.ms,
  });
  return toDelivery(row);
}

// ---------------------------------------------------------------------------------------------
// Sending (worker)

const BASE_DELAY_MS = 30_000;
const MAX_DELAY_MS = 60 * 60_000;

/**
 * Wait before the next try after `attempts` failed tries: 30 s, 1 min, 2 min, … capped at 1 h,
 * each spread by ±20 % so a subscriber coming back is not hit by every retry at the same moment.
 */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Signs with the wall clock (subscribers check the timestamp's freshness) and POSTs once. */
async function attempt(
  config: Config,
  d: { id: string; url: string; secret: string; eventType: string; payload: Record<string, unknown> },
): Promise<AttemptResult> {
  const now = new Date();
  // The envelope's keys in a readable order (jsonb stores keys sorted by length).
  const { id, type, occurred_at, tenant_id, data, ...rest } = d.payload;
  const body = JSON.stringify({ id, type, occurred_at, tenant_id, data, ...rest });
  return postWebhook({
    url: d.url,
    body,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'EncoreCRM-Webhooks/1',
      'X-CRM-Event': d.eventType,
      'X-CRM-Delivery': d.id,
      'X-CRM-Signature': signatureHeader(d.secret, body, Math.floor(now.getTime() / 1000)),
    },
    timeoutMs: config.webhookTimeoutMs,
    allowPrivate: config.webhookAllowPrivateNetworks,
  });
}

export interface DeliverOptions {
  config: Config;
  /** Clock for due times and backoff (tests move it forward). */
  now?: () => Date;
  random?: () => number;
  /** Deliveries sent at once (default 25). */
  batchSize?: number;
  /** Stop claiming new rounds after this long (default 3 s; a round in flight still ends within the timeout),
   *  so a run, and a graceful shutdown waiting for it, stays short; the next tick continues. */
  budgetMs?: number;
}

export interface DeliverResult {
  attempted: number;
  succeeded: number;
  failed: number;
  dead: number;
}

/**
 * Sends due deliveries round by round: each round claims what is due (at most one open delivery
 * per customer and subscription, the earliest), sends them in parallel and records the outcome.
 * A customer's next event becomes due in the following round once the earlier one succeeded.
 */
export async function deliverDue(db: Executor, opts: DeliverOptions): Promise<DeliverResult> {
  const now = opts.now ?? (() => new Date());
  const random = opts.random ?? Math.random;
  const started = Date.now();
  const budget = opts.budgetMs ?? 3_000;
  const result: DeliverResult = { attempted: 0, succeeded: 0, failed: 0, dead: 0 };
  const maxAttempts = opts.config.webhookMaxAttempts;
  while (Date.now() - started < budget) {
    const claimed = await repo.claimDue(db, {
      now: now(), limit: opts.batchSize ?? 25, leaseMs: opts.config.webhookTimeoutMs + 30_000,
    });
    if (claimed.length === 0) break;
    await Promise.all(claimed.map(async (d) => {
      const at = now();
      const r = await attempt(opts.config, { id: d.id, url: d.url, secret: d.secret, eventType: d.event_type, payload: d.payload });
      const tries = d.attempts + 1;
      const status: repo.DeliveryStatus = r.ok ? 'succeeded' : tries >= maxAttempts ? 'dead' : 'failed';
      await repo.recordAttempt(db, {
        tenantId: d.tenant_id, id: d.id, status, attemptedAt: at,
        nextAttemptAt: status === 'failed' ? new Date(at.getTime() + retryDelayMs(tries, random)) : at,
        statusCode: r.statusCode, error: r.error, ms: r.ms,
      });
      result.attempted++;
      result[status === 'succeeded' ? 'succeeded' : status === 'dead' ? 'dead' : 'failed']++;
    }));
  }
  return result;
}
