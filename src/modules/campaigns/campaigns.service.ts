import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit, type AuditCtx } from '../audit/audit.service.js';
import { deliverMany, registerContentSource, type DeliverContent, type DeliverInput, type DeliverResult } from '../messaging/messaging.service.js';
import type { Transports } from '../messaging/messaging.transport.js';
import { enqueueEvents } from '../outbox/outbox.repository.js';
import { existingSegmentIds } from '../segments/segments.repository.js';
import { compileTemplate } from '../templates/templates.engine.js';
import { requireTemplate } from '../templates/templates.service.js';
import * as repo from './campaigns.repository.js';
import type { CampaignBody, CampaignStatsQuery } from './campaigns.schemas.js';

export const SEND_JOB = 'campaigns.send';

export interface CampaignsCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  audit: AuditCtx;
  jobs?: JobQueue;
}

/** A campaign as the API answers it: the stored row without its tenant, compiled HTML and paging key. */
export type CampaignOut = Omit<repo.CampaignRow, 'tenant_id' | 'compiled_html' | 'created_key'>;

const toOut = ({ tenant_id: _t, compiled_html: _h, created_key: _k, ...out }: repo.CampaignRow): CampaignOut => out;

const auditView = (r: repo.CampaignRow) => ({
  name: r.name, channel: r.channel, status: r.status, segment_ids: r.segment_ids, exclude_segment_ids: r.exclude_segment_ids,
  template_id: r.template_id, subject: r.subject, ab_test: r.ab_test, send_at: r.send_at,
});

const conflict = (c: repo.CampaignRow, action: string) =>
  new AppError('campaign_state_conflict', `cannot ${action} a campaign that is ${c.status}`, { id: c.id, status: c.status });

async function requireCampaign(db: Executor, tenantId: string, id: string, forUpdate = false): Promise<repo.CampaignRow> {
  const row = isUuid(id) ? await repo.findCampaign(db, tenantId, id, { forUpdate }) : undefined;
  if (!row) throw new AppError('campaign_not_found', `campaign ${id} was not found`, { id });
  return row;
}

/** Validates a create/replace body into column values (segments, template and content checked). */
async function validated(db: Executor, tenantId: string, b: CampaignBody): Promise<repo.CampaignValues> {
  const channel = b.channel ?? 'email';
  const segmentIds = [...new Set([...(b.segment_id ? [b.segment_id] : []), ...(b.segment_ids ?? [])])];
  const excludeIds = [...new Set(b.exclude_segment_ids ?? [])];
  if (segmentIds.length === 0) throw new AppError('validation_failed', 'a campaign needs segment_id or segment_ids', { field: 'segment_ids' });
  const known = new Set(await existingSegmentIds(db, tenantId, [...segmentIds, ...excludeIds]));
  const missing = [...segmentIds, ...excludeIds].filter((s) => !known.has(s));
  if (missing.length) throw new AppError('segment_not_found', `segment ${missing[0]} was not found`, { id: missing[0], missing });
  const name = b.name.trim();
  if (!name) throw new AppError('validation_failed', 'name must not be blank', { field: 'name' });

  if ((b.template_id ? 1 : 0) + (b.content !== undefined ? 1 : 0) !== 1) {
    throw new AppError('validation_failed', 'give exactly one of content or template_id', { field: 'content' });
  }
  let subject = b.subject?.trim() || null;
  let compiledHtml: string | null = null;
  let contentFormat: repo.CampaignValues['contentFormat'] = null;
  if (b.template_id) {
    const t = await requireTemplate(db, tenantId, b.template_id);
    if (t.channel !== channel) throw new AppError('validation_failed', `template ${t.id} is an ${t.channel} template`, { field: 'template_id' });
    subject ??= t.subject;
  } else {
    contentFormat = b.content_format ?? (channel === 'sms' ? 'text' : /^\s*<mjml[\s>]/i.test(b.content!) ? 'mjml' : 'html');
    const compiled = await compileTemplate({ channel, subject: subject ?? (channel === 'sms' ? null : ''), preheader: b.preheader ?? null, format: contentFormat, body: b.content! })
      .catch((err: unknown) => {
        // a missing subject is reported below with the campaign's own wording
        if (err instanceof AppError && (err.details as { field?: string })?.field === 'subject' && !subject) return null;
        throw err;
      });
    compiledHtml = compiled?.compiledHtml ?? null;
  }
  if (channel === 'email' && !subject && !b.ab_test) throw new AppError('validation_failed', 'an e-mail campaign needs a subject', { field: 'subject' });
  if (b.ab_test) {
    if (channel !== 'email') throw new AppError('validation_failed', 'A/B subject tests are for e-mail campaigns', { field: 'ab_test' });
    for (const s of b.ab_test.subjects) await compileTemplate({ channel, subject: s, format: 'text', body: 'x' });
    subject ??= b.ab_test.subjects[0];
  }
  return {
    name, channel, segmentIds, excludeSegmentIds: excludeIds, templateId: b.template_id ?? null, subject, preheader: b.preheader ?? null,
    content: b.content ?? null, contentFormat, compiledHtml,
    abTest: b.ab_test ? { subjects: [b.ab_test.subjects[0], b.ab_test.subjects[1]], split_percent: b.ab_test.split_percent ?? 20, metric: b.ab_test.metric ?? 'open', wait_hours: b.ab_test.wait_hours ?? 4 } : null,
  };
}

export async function createCampaign(ctx: CampaignsCtx, body: CampaignBody): Promise<CampaignOut> {
  const values = await validated(ctx.db, ctx.tenantId, body);
  return ctx.db.transaction(async (tx) => {
    let row = await repo.insertCampaign(tx, ctx.tenantId, values, ctx.audit.actor);
    if (body.send_at) row = await repo.setStatus(tx, ctx.tenantId, row.id, { status: 'scheduled', sendAt: body.send_at });
    await audit(tx, ctx, 'campaign.create', row, null);
    return toOut(row);
  });
}

async function audit(tx: Executor, ctx: CampaignsCtx, action: string, after: repo.CampaignRow, before: repo.CampaignRow | null) {
  await recordAudit(tx, {
    tenantId: ctx.tenantId, actor: ctx.audit.actor, requestId: ctx.audit.requestId, action, entityType: 'campaign',
    entityId: after.id, before: before ? auditView(before) : null, after: auditView(after),
  });
}

export async function updateCampaign(ctx: CampaignsCtx, id: string, body: CampaignBody): Promise<CampaignOut> {
  const values = await validated(ctx.db, ctx.tenantId, body);
  return ctx.db.transaction(async (tx) => {
    const current = await requireCampaign(tx, ctx.tenantId, id, true);
    if (current.status !== 'draft' && current.status !== 'scheduled') throw conflict(current, 'change');
    let row = await repo.updateCampaign(tx, ctx.tenantId, current.id, values);
    if (body.send_at !== undefined) row = await repo.setStatus(tx, ctx.tenantId, row.id, { status: body.send_at ? 'scheduled' : 'draft', sendAt: body.send_at ?? null });
    await audit(tx, ctx, 'campaign.update', row, current);
    return toOut(row);
  });
}

export async function getCampaign(ctx: Pick<CampaignsCtx, 'db' | 'tenantId'>, id: string): Promise<CampaignOut> {
  return toOut(await requireCampaign(ctx.db, ctx.tenantId, id));
}

export async function listCampaigns(ctx: Pick<CampaignsCtx, 'db' | 'tenantId'>, q: { limit?: number; cursor?: string; status?: repo.CampaignStatus }): Promise<Page<CampaignOut>> {
  const limit = q.limit ?? 50;
  let before: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, cid] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { createdAt: createdAt as string, id: cid as string };
  }
  const rows = await repo.listCampaigns(ctx.db, { tenantId: ctx.tenantId, status: q.status, limit: limit + 1, before });
  return pageOf(rows, limit, toOut, (r) => [r.created_key, r.id]);
}

async function transition(
  ctx: CampaignsCtx,
  id: string,
  action: string,
  allowed: repo.CampaignStatus[],
  next: (c: repo.CampaignRow) => { status: repo.CampaignStatus; sendAt?: string | null; startedNow?: boolean },
): Promise<repo.CampaignRow> {
  return ctx.db.transaction(async (tx) => {
    const current = await requireCampaign(tx, ctx.tenantId, id, true);
    if (!allowed.includes(current.status)) throw conflict(current, action);
    const row = await repo.setStatus(tx, ctx.tenantId, current.id, next(current));
    await audit(tx, ctx, `campaign.${action}`, row, current);
    return row;
  });
}

/** Queues the send job of a campaign (one at a time per campaign), now or after `startAfter` seconds. */
export async function queueCampaignSend(jobs: JobQueue, tenantId: string, campaignId: string, startAfter?: number): Promise<void> {
  await jobs.send(SEND_JOB, { tenant_id: tenantId, campaign_id: campaignId }, {
    singletonKey: campaignId, retryLimit: 5, retryDelay: 30, ...(startAfter ? { startAfter } : {}),
  });
}

async function queueSend(ctx: CampaignsCtx, row: repo.CampaignRow): Promise<void> {
  if (ctx.jobs) await queueCampaignSend(ctx.jobs, row.tenant_id, row.id);
}

export async function scheduleCampaign(ctx: CampaignsCtx, id: string, sendAt: string): Promise<CampaignOut> {
  return toOut(await transition(ctx, id, 'schedule', ['draft', 'scheduled'], () => ({ status: 'scheduled', sendAt })));
}

/** Starts sending now (the job snapshots the audience and sends in batches). */
export async function sendCampaign(ctx: CampaignsCtx, id: string): Promise<CampaignOut> {
  const row = await transition(ctx, id, 'send', ['draft', 'scheduled'], () => ({ status: 'sending', startedNow: true }));
  await queueSend(ctx, row);
  return toOut(row);
}

export async function pauseCampaign(ctx: CampaignsCtx, id: string): Promise<CampaignOut> {
  return toOut(await transition(ctx, id, 'pause', ['scheduled', 'sending'], () => ({ status: 'paused' })));
}

export async function resumeCampaign(ctx: CampaignsCtx, id: string): Promise<CampaignOut> {
  const row = await transition(ctx, id, 'resume', ['paused'], (c) => (c.started_at || !c.send_at ? { status: 'sending', startedNow: true } : { status: 'scheduled' }));
  if (row.status === 'sending') await queueSend(ctx, row);
  return toOut(row);
}

export async function cancelCampaign(ctx: CampaignsCtx, id: string): Promise<CampaignOut> {
  return toOut(await transition(ctx, id, 'cancel', ['draft', 'scheduled', 'sending', 'paused'], () => ({ status: 'cancelled' })));
}

/** The content a recipient gets: the template's or the campaign's own, with the variant's subject. */
async function contentFor(db: Executor, c: repo.CampaignRow, variant: string | null): Promise<DeliverContent> {
  const subject = (variant === 'a' || variant === 'b') && c.ab_test ? c.ab_test.subjects[variant === 'a' ? 0 : 1] : c.subject;
  if (c.template_id) {
    const t = await requireTemplate(db, c.tenant_id, c.template_id);
    if (c.channel === 'sms') return { text: t.body };
    const body = t.format === 'mjml' ? { mjml: t.body } : t.format === 'html' ? { html: t.body } : { text: t.body };
    return { subject: subject ?? t.subject ?? '', preheader: c.preheader ?? t.preheader ?? undefined, ...body };
  }
  if (c.channel === 'sms') return { text: c.content! };
  const body = c.content_format === 'mjml' ? { mjml: c.content! } : c.content_format === 'text' ? { text: c.content! } : { html: c.content! };
  return { subject: subject ?? '', preheader: c.preheader ?? undefined, ...body };
}

// A campaign message whose body was not stored is rendered again from its campaign and variant.
registerContentSource('campaign', async (db, tenantId, ref) => {
  const c = await requireCampaign(db, tenantId, String(ref.campaignId));
  return contentFor(db, c, typeof ref.variant === 'string' ? ref.variant : null);
});

/** Sends the campaign to the given addresses now (not recorded as recipients; subject marked [Test]). */
export async function sendTest(ctx: CampaignsCtx, id: string, emails: string[], deps: { transports?: Transports } = {}): Promise<DeliverResult[]> {
  const c = await requireCampaign(ctx.db, ctx.tenantId, id);
  if (c.channel !== 'email') throw new AppError('validation_failed', 'test sends by e-mail are for e-mail campaigns', { field: 'emails' });
  const content = await contentFor(ctx.db, c, c.ab_test ? 'a' : null);
  if ('subject' in content) content.subject = `[Test] ${content.subject ?? ''}`;
  const run = crypto.randomUUID();
  const results = await deliverMany({ db: ctx.db, config: ctx.config, transports: deps.transports }, emails.map((to, n) => ({
    tenantId: ctx.tenantId, customerId: null, channel: 'email' as const, content, to,
    source: { kind: 'test' as const, id: c.id }, idempotencyKey: `campaign-test:${c.id}:${run}:${n}`, extraContext: { campaign: { id: c.id, name: c.name } },
  })));
  await recordAudit(ctx.db, {
    tenantId: ctx.tenantId, actor: ctx.audit.actor, requestId: ctx.audit.requestId, action: 'campaign.test', entityType: 'campaign',
    entityId: c.id, before: null, after: { recipients: emails.length },
  });
  return results;
}

// ---------------------------------------------------------------------------------------------
// The send job

export interface SendDeps {
  db: Executor;
  config: Config;
  transports?: Transports;
  now?: () => Date;
}

export type RunResult =
  | { state: 'finished'; sent: number }
  | { state: 'waiting'; sent: number; until: Date; reason: string }
  | { state: 'interrupted'; sent: number; reason: string }
  | { state: 'stopped' | 'busy'; sent: number };

const LEASE_SECONDS = 120;
/** Batches between their claim and their recorded outcomes… */
const IN_FLIGHT = 4;
/** …of which at most this many are being checked, rendered and recorded (the others are on the wire). */
const PREPARING = 2;
/** The first batches are 1/8, 1/4 and 1/2 of the batch size: the first messages leave sooner. */
const RAMP = 3;

/**
 * One run of a campaign's send: snapshot the audience (once), then batches of recipients through
 * deliverMany. Resumable: recipients are the unit of progress and every message's idempotency key
 * is campaign + customer, so a run after a crash (or a pause) continues where the last one stopped
 * and never sends a recipient a second message. One run at a time (lease on the campaign row).
 */
export async function runCampaignSend(deps: SendDeps, tenantId: string, campaignId: string): Promise<RunResult> {
  const { db } = deps;
  const now = () => deps.now?.() ?? new Date();
  const leaseId = crypto.randomUUID();
  if (!(await repo.takeLease(db, tenantId, campaignId, leaseId, LEASE_SECONDS))) return { state: 'busy', sent: 0 };
  let sent = 0;
  try {
    let c = await repo.findCampaign(db, tenantId, campaignId);
    if (!c || c.status !== 'sending') return { state: 'stopped', sent };
    if (c.audience_size === null) {
      await repo.snapshotAudience(db, c);
      c = (await repo.findCampaign(db, tenantId, campaignId))!;
    }
    const batch = deps.config.marketing.campaignBatchSize;

    // Batches overlap: while earlier batches' messages are on the wire (the transport keeps every
    // pooled connection busy with them), the next ones are checked, rendered and recorded, so the
    // pool never waits for the database. At most PREPARING batches compete for the database and
    // the CPU at once (the oldest one's messages go out first), at most IN_FLIGHT are held in
    // memory: memory does not grow with the audience, which is read in keyset pages.
    const pass = async (status: 'queued' | 'sending', testGroupOnly: boolean): Promise<RunResult | null> => {
      let after: string | undefined;
      // set by the batches' callbacks as well as by the loop
      const end: { stop: RunResult | null; failure: { error: unknown } | null } = { stop: null, failure: null };
      let preparing = 0;
      const active = new Set<Promise<void>>();
      let signal: (() => void) | null = null;
      const changed = () => new Promise<void>((resolve) => (signal = resolve));
      const notify = () => {
        signal?.();
        signal = null;
      };
      const runBatch = async (cur: repo.CampaignRow, refs: repo.RecipientRef[], onRecorded: () => void): Promise<RunResult | null> => {
        const contents = new Map<string | null, DeliverContent>();
        const inputs: DeliverInput[] = [];
        for (const r of refs) {
          const variant = r.variant ?? (cur.ab_test ? cur.ab_winner : null);
          if (!contents.has(variant)) contents.set(variant, await contentFor(db, cur, variant));
          inputs.push({
            tenantId, customerId: r.customer_id, channel: cur.channel, content: contents.get(variant)!,
            source: { kind: 'campaign', id: cur.id }, idempotencyKey: `campaign:${cur.id}:${r.customer_id}`,
            campaignId: cur.id, variant, extraContext: { campaign: { id: cur.id, name: cur.name } },
            contentRef: { kind: 'campaign', campaignId: cur.id, variant },
          });
        }
        const results = await deliverMany({ db, config: deps.config, transports: deps.transports, now: deps.now }, inputs, { onRecorded });
        // sent and failed recipients were updated with their messages (recordOutcomes)
        await repo.recordRecipientResults(db, cur, results.flatMap((res, n) => (res.status === 'sent' || res.status === 'failed' ? [] : [{
          customerId: refs[n].customer_id,
          status: res.status === 'queued' ? 'sending' : res.status,
          reason: res.reason ?? null,
          messageId: res.messageId ?? null,
          variant: inputs[n].variant ?? null,
        }])));
        sent += results.filter((r) => r.status === 'sent').length;
        const troubled = results.find((r) => r.status === 'queued' && r.reason !== 'quiet_hours');
        return troubled ? { state: 'interrupted', sent, reason: troubled.reason ?? 'transport_unavailable' } : null;
      };
      for (let n = 0; ; n++) {
        while ((preparing >= PREPARING || active.size >= IN_FLIGHT) && !end.stop && !end.failure) await changed();
        if (end.stop || end.failure) break;
        // one statement extends the lease and reads the status (a pause or cancel stops the run)
        const fresh = await repo.renewLease(db, tenantId, campaignId, leaseId, LEASE_SECONDS);
        if (!fresh || fresh.status !== 'sending') {
          end.stop = { state: fresh ? 'stopped' : 'busy', sent };
          break;
        }
        c = fresh;
        const limit = n < RAMP ? Math.max(1, Math.ceil(batch / 2 ** (RAMP - n))) : batch;
        const refs = await repo.nextRecipients(db, c, { status, testGroupOnly, limit, after });
        if (refs.length === 0) break;
        after = refs[refs.length - 1].customer_id;
        preparing++;
        let recorded = false;
        const onRecorded = () => {
          if (recorded) return;
          recorded = true;
          preparing--;
          notify();
        };
        const done: Promise<void> = runBatch(c, refs, onRecorded).then(
          (r) => {
            if (r && !end.stop) end.stop = r;
          },
          (error: unknown) => {
            end.failure ??= { error };
          },
        ).finally(() => {
          onRecorded();
          active.delete(done);
          notify();
        });
        active.add(done);
      }
      await Promise.all(active);
      if (end.failure) throw end.failure.error;
      if (end.stop) return { ...end.stop, sent };
      return null;
    };

    const abOpen = () => c!.ab_test !== null && c!.ab_winner === null;
    // Recipients an earlier run handed over without an outcome (crash, broken connection) first.
    const recovered = (await pass('sending', false)) ?? (await pass('queued', abOpen()));
    if (recovered) return recovered;
    if (abOpen()) {
      if ((await repo.countPending(db, c, true)) > 0) return { state: 'waiting', sent, until: new Date(now().getTime() + 30_000), reason: 'ab_test_pending' };
      const decideAt = c.ab_decide_at ?? new Date(now().getTime() + c.ab_test!.wait_hours * 3_600_000);
      if (!c.ab_decide_at) await repo.setAbDecision(db, c, { decideAt: decideAt.toISOString() });
      if (now() < decideAt) return { state: 'waiting', sent, until: decideAt, reason: 'ab_test_wait' };
      const rates = await repo.variantRates(db, c);
      const rate = (v: string) => {
        const r = rates.find((x) => x.variant === v);
        if (!r || r.sent === 0) return 0;
        return (c!.ab_test!.metric === 'click' ? r.clicks : r.opens) / r.sent;
      };
      const winner = rate('b') > rate('a') ? 'b' : 'a';
      await repo.setAbDecision(db, c, { winner });
      c = { ...c, ab_winner: winner };
      const rest = await pass('queued', false);
      if (rest) return rest;
    }
    if ((await repo.countPending(db, c, false)) > 0) return { state: 'waiting', sent, until: new Date(now().getTime() + 30_000), reason: 'messages_pending' };
    await finish(db, c);
    return { state: 'finished', sent };
  } finally {
    await repo.releaseLease(db, tenantId, campaignId, leaseId);
  }
}

async function finish(db: Executor, c: repo.CampaignRow): Promise<void> {
  const [stats] = await repo.recipientStats(db, c.tenant_id, [c.id], false);
  await db.transaction(async (tx) => {
    const row = await repo.findCampaign(tx, c.tenant_id, c.id, { forUpdate: true });
    if (!row || row.status !== 'sending') return;
    const done = await repo.setStatus(tx, c.tenant_id, c.id, { status: 'sent', finishedNow: true });
    await enqueueEvents(tx, c.tenant_id, [{
      type: 'campaign.sent',
      payload: {
        campaign_id: c.id, name: c.name, channel: c.channel, recipients: stats?.recipients ?? 0, sent: stats?.sent ?? 0,
        suppressed: stats?.suppressed ?? 0, skipped: stats?.skipped ?? 0, failed: stats?.failed ?? 0, ab_winner: c.ab_winner,
        finished_at: done.finished_at,
      },
    }]);
    await recordAudit(tx, {
      tenantId: c.tenant_id, actor: `job:${SEND_JOB}`, action: 'campaign.sent', entityType: 'campaign', entityId: c.id,
      before: { status: 'sending' }, after: { status: 'sent', sent: stats?.sent ?? 0 },
    });
  });
}

/** Starts scheduled campaigns that are due and answers the campaigns that need a send job. */
export async function startDue(db: Executor, now = new Date()): Promise<{ tenant_id: string; id: string }[]> {
  await repo.startDueCampaigns(db, now);
  return repo.sendingCampaigns(db);
}

// ---------------------------------------------------------------------------------------------
// Stats

export async function campaignStats(ctx: Pick<CampaignsCtx, 'db' | 'tenantId' | 'config'>, id: string, q: CampaignStatsQuery) {
  const c = await requireCampaign(ctx.db, ctx.tenantId, id);
  const days = ctx.config.marketing.attributionWindowDays;
  await repo.markConversions(ctx.db, ctx.tenantId, c.id, days);
  const [totals] = await repo.recipientStats(ctx.db, ctx.tenantId, [c.id], false);
  const [conv] = await repo.conversionStats(ctx.db, ctx.tenantId, [c.id], days, false);
  const variants = c.ab_test ? await repo.recipientStats(ctx.db, ctx.tenantId, [c.id], true) : [];
  const variantConv = c.ab_test ? await repo.conversionStats(ctx.db, ctx.tenantId, [c.id], days, true) : [];
  return {
    campaign_id: c.id,
    name: c.name,
    status: c.status,
    ...figures(totals, conv),
    attribution_window_days: days,
    links: await repo.linkStats(ctx.db, ctx.tenantId, c.id),
    variants: variants.filter((v) => v.variant !== null).map((v) => ({
      variant: v.variant!, subject: c.ab_test!.subjects[v.variant === 'a' ? 0 : 1], winner: c.ab_winner === v.variant,
      ...figures(v, variantConv.find((x) => x.variant === v.variant)),
    })),
    over_time: (await repo.timeline(ctx.db, ctx.tenantId, c.id, q.interval ?? 'hour')).map((b) => ({ ...b, bucket: b.bucket })),
  };
}

function figures(s: repo.StatsRow | undefined, conv: { conversions: number; orders: number; revenue: number } | undefined) {
  const sent = s?.sent ?? 0;
  const delivered = Math.max(0, sent - (s?.bounced ?? 0));
  const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10000) / 10000 : 0);
  return {
    recipients: s?.recipients ?? 0,
    sent,
    delivered,
    bounces: s?.bounced ?? 0,
    unique_opens: s?.opened ?? 0,
    unique_clicks: s?.clicked ?? 0,
    open_rate: ratio(s?.opened ?? 0, delivered),
    ctr: ratio(s?.clicked ?? 0, delivered),
    click_to_open_rate: ratio(s?.clicked ?? 0, s?.opened ?? 0),
    unsubscribes: s?.unsubscribed ?? 0,
    suppressed: s?.suppressed ?? 0,
    skipped: s?.skipped ?? 0,
    failed: s?.failed ?? 0,
    pending: s?.pending ?? 0,
    conversions: conv?.conversions ?? 0,
    revenue: Number(conv?.revenue ?? 0),
  };
}

export async function allCampaignStats(ctx: Pick<CampaignsCtx, 'db' | 'tenantId' | 'config'>, q: { limit?: number; status?: repo.CampaignStatus }) {
  const rows = await repo.listCampaigns(ctx.db, { tenantId: ctx.tenantId, status: q.status, limit: q.limit ?? 50 });
  const ids = rows.map((r) => r.id);
  const days = ctx.config.marketing.attributionWindowDays;
  const stats = await repo.recipientStats(ctx.db, ctx.tenantId, ids, false);
  const conv = await repo.conversionStats(ctx.db, ctx.tenantId, ids, days, false);
  const data = rows.map((r) => ({
    campaign_id: r.id, name: r.name, channel: r.channel, status: r.status, finished_at: r.finished_at,
    ...figures(stats.find((s) => s.campaign_id === r.id), conv.find((x) => x.campaign_id === r.id)),
  }));
  const sum = (k: 'sent' | 'delivered' | 'unique_opens' | 'unique_clicks' | 'unsubscribes' | 'bounces' | 'conversions' | 'revenue') =>
    data.reduce((a, d) => a + d[k], 0);
  const delivered = sum('delivered');
  return {
    totals: {
      campaigns: data.length, sent: sum('sent'), delivered, bounces: sum('bounces'), unique_opens: sum('unique_opens'),
      unique_clicks: sum('unique_clicks'), unsubscribes: sum('unsubscribes'), conversions: sum('conversions'),
      revenue: Math.round(sum('revenue') * 100) / 100,
      open_rate: delivered ? Math.round((sum('unique_opens') / delivered) * 10000) / 10000 : 0,
      ctr: delivered ? Math.round((sum('unique_clicks') / delivered) * 10000) / 10000 : 0,
    },
    data,
  };
}

export async function listRecipients(ctx: Pick<CampaignsCtx, 'db' | 'tenantId'>, id: string, q: { limit?: number; cursor?: string; status?: string }) {
  const c = await requireCampaign(ctx.db, ctx.tenantId, id);
  const limit = q.limit ?? 100;
  const after = q.cursor ? (readCursor(q.cursor, [isUuid])[0] as string) : undefined;
  const rows = await repo.listRecipients(ctx.db, { tenantId: ctx.tenantId, campaignId: c.id, status: q.status, limit: limit + 1, after });
  return pageOf(rows, limit, (r) => r, (r) => [r.customer_id]);
}
