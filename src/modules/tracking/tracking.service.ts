import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { normalizeEmail, normalizePhone } from '../../lib/contact.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { addSuppressions } from '../privacy/suppressions.repository.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import { insertActivities, type NewActivity } from '../timeline/timeline.repository.js';
import * as repo from './tracking.repository.js';
import { verifyToken, type TokenKind } from './tracking.tokens.js';

export interface TrackingCtx {
  db: Executor;
  config: Config;
}

async function messageOf(ctx: TrackingCtx, token: string, kind: TokenKind, url?: string): Promise<{ m: repo.TrackedMessage; url?: string }> {
  const payload = await verifyToken(ctx.db, ctx.config, token, kind, url);
  const m = payload?.m ? await repo.findTrackedMessage(ctx.db, payload.t, payload.m) : undefined;
  if (!payload || !m) throw new AppError('invalid_token', 'this link is not valid');
  return { m, url: payload.u };
}

function activity(m: repo.TrackedMessage, type: 'email.opened' | 'email.clicked', url?: string): NewActivity[] {
  if (!m.customer_id) return [];
  return [{
    customerId: m.customer_id,
    type,
    occurredAt: new Date(),
    summary: type === 'email.opened' ? 'Opened an e-mail' : `Clicked ${url} in an e-mail`,
    data: { message_id: m.id, campaign_id: m.campaign_id, ...(url ? { url } : {}) },
    actor: 'system',
  }];
}

/**
 * An open (the pixel). Every open is an event; the first open of a message is also an
 * `email.opened` timeline activity, which segment rules ("opened a campaign") read.
 * Invalid tokens are ignored: the pixel is answered either way.
 */
export async function trackOpen(ctx: TrackingCtx, token: string): Promise<void> {
  const payload = await verifyToken(ctx.db, ctx.config, token, 'open');
  const m = payload?.m ? await repo.findTrackedMessage(ctx.db, payload.t, payload.m) : undefined;
  if (!m) return;
  await ctx.db.transaction(async (tx) => {
    await repo.recordMessageEvent(tx, m, { type: 'open' });
    if (!m.opened_at) await insertActivities(tx, m.tenant_id, activity(m, 'email.opened'));
  });
}

/** A click: answers the URL signed into the token (never another one). */
export async function trackClick(ctx: TrackingCtx, token: string, signedUrl: string): Promise<string> {
  const { m, url } = await messageOf(ctx, token, 'click', signedUrl);
  if (!url || !/^https?:\/\//i.test(url)) throw new AppError('invalid_token', 'this link is not valid');
  await ctx.db.transaction(async (tx) => {
    await repo.recordMessageEvent(tx, m, { type: 'click', url });
    const acts = activity(m, 'email.clicked', url);
    if (!m.opened_at) acts.unshift(...activity(m, 'email.opened'));
    await insertActivities(tx, m.tenant_id, acts);
  });
  return url;
}

/** The unsubscribe page needs to know the link is good before showing the button. */
export async function checkUnsubscribeToken(ctx: TrackingCtx, token: string): Promise<{ channel: 'email' | 'sms'; alreadyDone: boolean }> {
  const { m } = await messageOf(ctx, token, 'unsubscribe');
  return { channel: m.channel, alreadyDone: false };
}

/**
 * Unsubscribe (the page's button and RFC 8058 one-click POST): withdraws the marketing consent of
 * the channel (consent ledger + profile + timeline), suppresses the address, marks the message and
 * campaign recipient. Idempotent.
 */
export async function unsubscribe(ctx: TrackingCtx, token: string, source = 'unsubscribe_link'): Promise<void> {
  const { m } = await messageOf(ctx, token, 'unsubscribe');
  await ctx.db.transaction(async (tx) => {
    await repo.recordMessageEvent(tx, m, { type: 'unsubscribe' });
    const changed = m.customer_id ? await repo.withdrawConsent(tx, m.tenant_id, [m.customer_id], m.channel, source) : [];
    if (m.to_address) await addSuppressions(tx, m.tenant_id, [{ channel: m.channel, value: m.to_address, reason: 'unsubscribed' }]);
    await insertActivities(tx, m.tenant_id, changed.map((id) => ({
      customerId: id, type: 'consent.changed', occurredAt: new Date(),
      summary: `${m.channel === 'email' ? 'E-mail' : 'SMS'} marketing consent withdrawn (unsubscribe link)`,
      data: { channel: m.channel, granted: false, source, message_id: m.id, campaign_id: m.campaign_id }, actor: 'system',
    })));
    await recordAudit(tx, {
      tenantId: m.tenant_id, actor: `recipient:${m.id}`, action: 'consent.unsubscribe', entityType: 'customer',
      entityId: m.customer_id, before: null, after: { channel: m.channel, message_id: m.id, campaign_id: m.campaign_id },
    });
    await consentWithdrawn(tx, m.tenant_id, changed, m.channel);
  });
}

async function inboundTenant(ctx: TrackingCtx, token: string): Promise<string> {
  const payload = await verifyToken(ctx.db, ctx.config, token, 'inbound');
  if (!payload) throw new AppError('unauthorized', 'the token in the URL is not valid');
  return payload.t;
}

const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT', 'DEZABONARE']);

/**
 * What every other consent change does too: `customer.updated` for subscribers, and the customers'
 * segment memberships re-evaluated at once (consent flags are segment fields).
 */
async function consentWithdrawn(tx: Executor, tenantId: string, customerIds: string[], channel: 'email' | 'sms'): Promise<void> {
  if (customerIds.length === 0) return;
  const flag = channel === 'email' ? 'marketing_email' : 'marketing_sms';
  await enqueueEvents(tx, tenantId, customerIds.map((id) => ({
    type: 'customer.updated' as const, customerId: id, payload: { customer_id: id, changes: { [`consent.${flag}`]: { from: true, to: false } } },
  })));
  await reevaluateCustomers(tx, tenantId, customerIds);
}

/** An SMS reply (Twilio's From/Body form). STOP words withdraw SMS consent and suppress the number. */
export async function smsInbound(ctx: TrackingCtx, token: string, from: string, body: string): Promise<{ stopped: boolean }> {
  const tenantId = await inboundTenant(ctx, token);
  const word = body.trim().toUpperCase().replace(/[^A-Z]/g, '');
  if (!STOP_WORDS.has(word)) return { stopped: false };
  const phone = normalizePhone(from, ctx.config.defaultPhoneRegion) ?? from.trim();
  await ctx.db.transaction(async (tx) => {
    const customers = await repo.findCustomersByPhone(tx, tenantId, phone);
    const changed = await repo.withdrawConsent(tx, tenantId, customers, 'sms', 'sms_stop');
    await addSuppressions(tx, tenantId, [{ channel: 'sms', value: phone, reason: 'unsubscribed' }]);
    await insertActivities(tx, tenantId, changed.map((id) => ({
      customerId: id, type: 'consent.changed', occurredAt: new Date(), summary: 'SMS marketing consent withdrawn (STOP reply)',
      data: { channel: 'sms', granted: false, source: 'sms_stop' }, actor: 'system',
    })));
    await recordAudit(tx, {
      tenantId, actor: 'provider:sms', action: 'consent.sms_stop', entityType: 'customer', entityId: customers[0] ?? null,
      before: null, after: { customers: customers.length },
    });
    await consentWithdrawn(tx, tenantId, changed, 'sms');
  });
  return { stopped: true };
}

/**
 * Bounces and complaints from the e-mail provider. A hard bounce or a complaint suppresses the
 * address (a complaint also withdraws consent); soft bounces are only recorded.
 */
export async function emailEvents(
  ctx: TrackingCtx,
  token: string,
  events: { type: 'bounce' | 'complaint' | 'delivered'; email?: string; message_id?: string; bounce_type?: 'hard' | 'soft'; occurred_at?: string; reason?: string }[],
): Promise<{ accepted: number; unmatched: number }> {
  const tenantId = await inboundTenant(ctx, token);
  const refs = events.map((e) => e.message_id?.trim().replace(/^<?/, '<').replace(/>?$/, '>')).filter((r): r is string => !!r);
  const raw = events.map((e) => e.message_id?.trim()).filter((r): r is string => !!r);
  const found = await repo.findMessagesByRef(ctx.db, tenantId, [...refs, ...raw]);
  let accepted = 0;
  let unmatched = 0;
  await ctx.db.transaction(async (tx) => {
    for (const e of events) {
      const id = e.message_id?.trim();
      const header = id ? `<${id.replace(/^<|>$/g, '')}>` : null;
      const msg = id ? found.find((f) => f.id === id || f.message_id_header === header || f.provider_id === id) : undefined;
      const email = normalizeEmail(e.email ?? msg?.to_address ?? null);
      if (!msg && !email) {
        unmatched++;
        continue;
      }
      accepted++;
      const at = e.occurred_at ? new Date(e.occurred_at) : new Date();
      if (msg) await repo.recordMessageEvent(tx, msg, { type: e.type, occurredAt: at, data: { bounce_type: e.bounce_type ?? null, reason: e.reason ?? null } });
      if (!email) continue;
      if (e.type === 'complaint' || (e.type === 'bounce' && e.bounce_type !== 'soft')) {
        await addSuppressions(tx, tenantId, [{ channel: 'email', value: email, reason: e.type === 'complaint' ? 'complaint' : 'hard_bounce' }]);
      }
      if (e.type === 'complaint') {
        const changed = await repo.withdrawConsent(tx, tenantId, await repo.findCustomersByEmail(tx, tenantId, email), 'email', 'complaint');
        await consentWithdrawn(tx, tenantId, changed, 'email');
      }
    }
    await recordAudit(tx, {
      tenantId, actor: 'provider:email', action: 'messaging.email_events', entityType: 'message', entityId: null,
      before: null, after: { accepted, unmatched },
    });
  });
  return { accepted, unmatched };
}
