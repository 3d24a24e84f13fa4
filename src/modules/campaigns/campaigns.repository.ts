import { arr, sql, type Executor, type SQL } from '../../db/database.js';

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'paused' | 'sent' | 'cancelled';

export interface AbTest {
  subjects: [string, string];
  split_percent: number;
  metric: 'open' | 'click';
  wait_hours: number;
}

export interface CampaignRow {
  id: string;
  tenant_id: string;
  name: string;
  channel: 'email' | 'sms';
  status: CampaignStatus;
  segment_ids: string[];
  exclude_segment_ids: string[];
  template_id: string | null;
  subject: string | null;
  preheader: string | null;
  content: string | null;
  content_format: 'mjml' | 'html' | 'text' | null;
  compiled_html: string | null;
  ab_test: AbTest | null;
  ab_winner: 'a' | 'b' | null;
  ab_decide_at: Date | null;
  send_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  audience_size: number | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

const COLUMNS = sql`id, tenant_id, name, channel, status, segment_ids, exclude_segment_ids, template_id, subject, preheader, content,
  content_format, compiled_html, ab_test, ab_winner, ab_decide_at, send_at, started_at, finished_at, audience_size, created_by,
  created_at, updated_at, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

export interface CampaignValues {
  name: string;
  channel: 'email' | 'sms';
  segmentIds: string[];
  excludeSegmentIds: string[];
  templateId: string | null;
  subject: string | null;
  preheader: string | null;
  content: string | null;
  contentFormat: 'mjml' | 'html' | 'text' | null;
  compiledHtml: string | null;
  abTest: AbTest | null;
}

export async function insertCampaign(db: Executor, tenantId: string, v: CampaignValues, createdBy: string): Promise<CampaignRow> {
  return (await db.one<CampaignRow>(sql`
    INSERT INTO campaigns (tenant_id, name, channel, segment_ids, exclude_segment_ids, template_id, subject, preheader, content,
      content_format, compiled_html, ab_test, created_by)
    VALUES (${tenantId}::uuid, ${v.name}, ${v.channel}, ${arr(v.segmentIds)}::uuid[], ${arr(v.excludeSegmentIds)}::uuid[],
      ${v.templateId}::uuid, ${v.subject}, ${v.preheader}, ${v.content}, ${v.contentFormat}, ${v.compiledHtml},
      ${v.abTest ? JSON.stringify(v.abTest) : null}::jsonb, ${createdBy})
    RETURNING ${COLUMNS}`))!;
}

export async function updateCampaign(db: Executor, tenantId: string, id: string, v: CampaignValues): Promise<CampaignRow> {
  return (await db.one<CampaignRow>(sql`
    UPDATE campaigns SET name = ${v.name}, channel = ${v.channel}, segment_ids = ${arr(v.segmentIds)}::uuid[],
      exclude_segment_ids = ${arr(v.excludeSegmentIds)}::uuid[], template_id = ${v.templateId}::uuid, subject = ${v.subject},
      preheader = ${v.preheader}, content = ${v.content}, content_format = ${v.contentFormat}, compiled_html = ${v.compiledHtml},
      ab_test = ${v.abTest ? JSON.stringify(v.abTest) : null}::jsonb, updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    RETURNING ${COLUMNS}`))!;
}

export async function findCampaign(db: Executor, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<CampaignRow | undefined> {
  return db.one<CampaignRow>(sql`
    SELECT ${COLUMNS} FROM campaigns WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

export async function listCampaigns(
  db: Executor,
  q: { tenantId: string; status?: string; limit: number; before?: { createdAt: string; id: string } },
): Promise<CampaignRow[]> {
  const where: SQL[] = [sql`tenant_id = ${q.tenantId}::uuid`];
  if (q.status) where.push(sql`status = ${q.status}`);
  if (q.before) where.push(sql`(created_at, id) < (${q.before.createdAt}::timestamptz, ${q.before.id}::uuid)`);
  return db.rows<CampaignRow>(sql`
    SELECT ${COLUMNS} FROM campaigns WHERE ${sql.join(where, sql` AND `)} ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`);
}

export async function setStatus(
  db: Executor,
  tenantId: string,
  id: string,
  v: { status: CampaignStatus; sendAt?: string | null; startedNow?: boolean; finishedNow?: boolean },
): Promise<CampaignRow> {
  return (await db.one<CampaignRow>(sql`
    UPDATE campaigns SET status = ${v.status}, updated_at = now()
      ${v.sendAt !== undefined ? sql`, send_at = ${v.sendAt}::timestamptz` : sql``}
      ${v.startedNow ? sql`, started_at = coalesce(started_at, now())` : sql``}
      ${v.finishedNow ? sql`, finished_at = now()` : sql``}
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
    RETURNING ${COLUMNS}`))!;
}

/** Scheduled campaigns whose time has come, moved to `sending` (answers them). */
export async function startDueCampaigns(db: Executor, now: Date): Promise<{ tenant_id: string; id: string }[]> {
  return db.rows(sql`
    UPDATE campaigns SET status = 'sending', started_at = coalesce(started_at, now()), updated_at = now()
    WHERE status = 'scheduled' AND send_at <= ${now.toISOString()}::timestamptz
    RETURNING tenant_id, id`);
}

/** Campaigns in `sending` (restart after a crash: the sweeper queues their jobs again). */
export async function sendingCampaigns(db: Executor): Promise<{ tenant_id: string; id: string }[]> {
  return db.rows(sql`SELECT tenant_id, id FROM campaigns WHERE status = 'sending' AND (lease_until IS NULL OR lease_until < now())`);
}

/** One send job at a time per campaign: takes the lease when free or expired. */
export async function takeLease(db: Executor, tenantId: string, id: string, leaseId: string, seconds: number): Promise<boolean> {
  return (await db.run(sql`
    UPDATE campaigns SET lease_id = ${leaseId}::uuid, lease_until = now() + make_interval(secs => ${seconds})
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid
      AND (lease_id IS NULL OR lease_until < now() OR lease_id = ${leaseId}::uuid)`)) > 0;
}

/** Extends a held lease and answers the campaign; undefined when the lease was lost to another run. */
export async function renewLease(db: Executor, tenantId: string, id: string, leaseId: string, seconds: number): Promise<CampaignRow | undefined> {
  return db.one<CampaignRow>(sql`
    UPDATE campaigns SET lease_until = now() + make_interval(secs => ${seconds})
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND lease_id = ${leaseId}::uuid
    RETURNING ${COLUMNS}`);
}

export async function releaseLease(db: Executor, tenantId: string, id: string, leaseId: string): Promise<void> {
  await db.run(sql`
    UPDATE campaigns SET lease_id = NULL, lease_until = NULL
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND lease_id = ${leaseId}::uuid`);
}

/**
 * Snapshots the audience and records its size in one statement: live members of any of the
 * segments, minus members of any exclusion segment. With an A/B test, a stable pseudo-random
 * `split_percent` of them get variant a or b (alternating); the rest wait for the winner (variant
 * NULL). Without one, no ranking (window sort) is done. A repeated snapshot (a crash before the
 * size was stored) adds nobody twice; the size counts the rows that were there and the new ones.
 */
export async function snapshotAudience(db: Executor, c: CampaignRow): Promise<number> {
  const split = c.ab_test?.split_percent ?? 0;
  const members = sql`
    SELECT ${c.segment_ids.length > 1 ? sql`DISTINCT` : sql``} sm.customer_id FROM segment_members sm
    JOIN customers cu ON cu.tenant_id = sm.tenant_id AND cu.id = sm.customer_id AND cu.deleted_at IS NULL AND cu.merged_into IS NULL
    WHERE sm.tenant_id = ${c.tenant_id}::uuid AND sm.segment_id = ANY(${arr(c.segment_ids)}::uuid[])
      ${c.exclude_segment_ids.length ? sql`AND NOT EXISTS (SELECT 1 FROM segment_members x WHERE x.tenant_id = sm.tenant_id AND x.customer_id = sm.customer_id
                      AND x.segment_id = ANY(${arr(c.exclude_segment_ids)}::uuid[]))` : sql``}`;
  const rows = split > 0
    ? sql`
      SELECT a.customer_id, CASE WHEN a.rn <= ceil(a.total * ${split}::numeric / 100) THEN CASE WHEN a.rn % 2 = 1 THEN 'a' ELSE 'b' END END AS variant
      FROM (
        SELECT m.customer_id, row_number() OVER (ORDER BY md5(m.customer_id::text || ${c.id}::text)) AS rn, count(*) OVER () AS total
        FROM (${members}) m
      ) a`
    : sql`SELECT m.customer_id, NULL::text AS variant FROM (${members}) m`;
  const row = await db.one<{ inserted: number }>(sql`
    WITH ins AS (
      INSERT INTO campaign_recipients (tenant_id, campaign_id, customer_id, variant)
      SELECT ${c.tenant_id}::uuid, ${c.id}::uuid, r.customer_id, r.variant FROM (${rows}) r
      -- in key order, the indexes are appended to instead of written at random (2–3× faster at 100k)
      ORDER BY r.customer_id
      ON CONFLICT DO NOTHING
      RETURNING 1
    ), n AS (SELECT count(*)::int AS inserted FROM ins)
    UPDATE campaigns SET audience_size = n.inserted
      + (SELECT count(*) FROM campaign_recipients WHERE tenant_id = ${c.tenant_id}::uuid AND campaign_id = ${c.id}::uuid)
    FROM n WHERE tenant_id = ${c.tenant_id}::uuid AND id = ${c.id}::uuid
    RETURNING n.inserted`);
  return row?.inserted ?? 0;
}

export interface RecipientRef {
  customer_id: string;
  variant: string | null;
}

/** The next recipients to hand to messaging: `queued` (or `sending` ones left by a crash when `recover`). */
export async function nextRecipients(
  db: Executor,
  c: { tenant_id: string; id: string },
  q: { status: 'queued' | 'sending'; testGroupOnly: boolean; limit: number; after?: string },
): Promise<RecipientRef[]> {
  return db.rows<RecipientRef>(sql`
    SELECT customer_id, variant FROM campaign_recipients
    WHERE tenant_id = ${c.tenant_id}::uuid AND campaign_id = ${c.id}::uuid AND status = ${q.status}
      ${q.testGroupOnly ? sql`AND variant IS NOT NULL` : sql``}
      ${q.after ? sql`AND customer_id > ${q.after}::uuid` : sql``}
    ORDER BY customer_id LIMIT ${q.limit}`);
}

/** Mirrors messaging's answers onto the recipients (sent ones are already written by messaging). */
export async function recordRecipientResults(
  db: Executor,
  c: { tenant_id: string; id: string },
  results: { customerId: string; status: string; reason: string | null; messageId: string | null; variant: string | null }[],
): Promise<void> {
  if (results.length === 0) return;
  const payload = JSON.stringify(results.map((r) => ({ c: r.customerId, s: r.status, r: r.reason, m: r.messageId, v: r.variant })));
  await db.run(sql`
    UPDATE campaign_recipients cr SET
      status = CASE WHEN cr.status IN ('queued', 'sending') THEN x.s ELSE cr.status END,
      reason = coalesce(x.r, cr.reason), message_id = coalesce(x.m, cr.message_id), variant = coalesce(cr.variant, x.v),
      sent_at = CASE WHEN x.s = 'sent' THEN coalesce(cr.sent_at, now()) ELSE cr.sent_at END
    FROM jsonb_to_recordset(${payload}::jsonb) AS x(c uuid, s text, r text, m uuid, v text)
    WHERE cr.tenant_id = ${c.tenant_id}::uuid AND cr.campaign_id = ${c.id}::uuid AND cr.customer_id = x.c`);
}

export async function countPending(db: Executor, c: { tenant_id: string; id: string }, testGroupOnly: boolean): Promise<number> {
  const row = await db.one<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM campaign_recipients
    WHERE tenant_id = ${c.tenant_id}::uuid AND campaign_id = ${c.id}::uuid AND status IN ('queued', 'sending')
      ${testGroupOnly ? sql`AND variant IS NOT NULL` : sql``}`);
  return row?.n ?? 0;
}

export async function setAbDecision(db: Executor, c: { tenant_id: string; id: string }, v: { decideAt?: string; winner?: 'a' | 'b' }): Promise<void> {
  await db.run(sql`
    UPDATE campaigns SET updated_at = now()
      ${v.decideAt ? sql`, ab_decide_at = ${v.decideAt}::timestamptz` : sql``}
      ${v.winner ? sql`, ab_winner = ${v.winner}` : sql``}
    WHERE tenant_id = ${c.tenant_id}::uuid AND id = ${c.id}::uuid`);
}

/** Unique opens or clicks per A/B variant among sent test recipients. */
export async function variantRates(db: Executor, c: { tenant_id: string; id: string }): Promise<{ variant: string; sent: number; opens: number; clicks: number }[]> {
  return db.rows(sql`
    SELECT variant, count(*) FILTER (WHERE sent_at IS NOT NULL)::int AS sent, count(opened_at)::int AS opens, count(clicked_at)::int AS clicks
    FROM campaign_recipients WHERE tenant_id = ${c.tenant_id}::uuid AND campaign_id = ${c.id}::uuid AND variant IN ('a', 'b')
      AND message_id IS NOT NULL
    GROUP BY variant`);
}

// ---------------------------------------------------------------------------------------------
// Stats

export interface StatsRow {
  variant: string | null;
  recipients: number;
  sent: number;
  delivered: number;
  bounced: number;
  opened: number;
  clicked: number;
  unsubscribed: number;
  suppressed: number;
  skipped: number;
  failed: number;
  pending: number;
}

export async function recipientStats(db: Executor, tenantId: string, campaignIds: readonly string[], byVariant: boolean): Promise<(StatsRow & { campaign_id: string })[]> {
  if (campaignIds.length === 0) return [];
  return db.rows(sql`
    SELECT campaign_id, ${byVariant ? sql`variant` : sql`NULL::text AS variant`},
      count(*)::int AS recipients,
      count(sent_at)::int AS sent,
      count(delivered_at)::int AS delivered,
      count(bounced_at)::int AS bounced,
      count(opened_at)::int AS opened,
      count(clicked_at)::int AS clicked,
      count(unsubscribed_at)::int AS unsubscribed,
      count(*) FILTER (WHERE status = 'suppressed')::int AS suppressed,
      count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
      count(*) FILTER (WHERE status = 'failed')::int AS failed,
      count(*) FILTER (WHERE status IN ('queued', 'sending'))::int AS pending
    FROM campaign_recipients WHERE tenant_id = ${tenantId}::uuid AND campaign_id = ANY(${arr([...campaignIds])}::uuid[])
    GROUP BY campaign_id${byVariant ? sql`, variant` : sql``}`);
}

/**
 * Conversions: completed orders a recipient placed within `days` after their first open or click
 * (the earliest engagement), per campaign (and variant).
 */
export async function conversionStats(
  db: Executor,
  tenantId: string,
  campaignIds: readonly string[],
  days: number,
  byVariant: boolean,
): Promise<{ campaign_id: string; variant: string | null; conversions: number; orders: number; revenue: number }[]> {
  if (campaignIds.length === 0) return [];
  return db.rows(sql`
    SELECT cr.campaign_id, ${byVariant ? sql`cr.variant` : sql`NULL::text AS variant`},
      count(DISTINCT cr.customer_id)::int AS conversions, count(o.id)::int AS orders, coalesce(sum(o.total - o.refunded_amount), 0)::numeric(14,2) AS revenue
    FROM campaign_recipients cr
    JOIN orders o ON o.tenant_id = cr.tenant_id AND o.customer_id = cr.customer_id AND o.status IN ('completed', 'refunded')
      AND o.placed_at >= least(cr.opened_at, cr.clicked_at)
      AND o.placed_at < least(cr.opened_at, cr.clicked_at) + make_interval(days => ${days})
    WHERE cr.tenant_id = ${tenantId}::uuid AND cr.campaign_id = ANY(${arr([...campaignIds])}::uuid[])
      AND (cr.opened_at IS NOT NULL OR cr.clicked_at IS NOT NULL)
    GROUP BY cr.campaign_id${byVariant ? sql`, cr.variant` : sql``}`);
}

/** Marks converted recipients (status and converted_at) so per-recipient records show it. */
export async function markConversions(db: Executor, tenantId: string, campaignId: string, days: number): Promise<void> {
  await db.run(sql`
    UPDATE campaign_recipients cr SET converted_at = x.at, status = CASE WHEN cr.status IN ('bounced', 'unsubscribed') THEN cr.status ELSE 'converted' END
    FROM (
      SELECT cr2.customer_id, min(o.placed_at) AS at FROM campaign_recipients cr2
      JOIN orders o ON o.tenant_id = cr2.tenant_id AND o.customer_id = cr2.customer_id AND o.status IN ('completed', 'refunded')
        AND o.placed_at >= least(cr2.opened_at, cr2.clicked_at) AND o.placed_at < least(cr2.opened_at, cr2.clicked_at) + make_interval(days => ${days})
      WHERE cr2.tenant_id = ${tenantId}::uuid AND cr2.campaign_id = ${campaignId}::uuid AND cr2.converted_at IS NULL
        AND (cr2.opened_at IS NOT NULL OR cr2.clicked_at IS NOT NULL)
      GROUP BY cr2.customer_id
    ) x
    WHERE cr.tenant_id = ${tenantId}::uuid AND cr.campaign_id = ${campaignId}::uuid AND cr.customer_id = x.customer_id`);
}

export async function linkStats(db: Executor, tenantId: string, campaignId: string): Promise<{ url: string; clicks: number; unique_clicks: number }[]> {
  return db.rows(sql`
    SELECT url, count(*)::int AS clicks, count(DISTINCT message_id)::int AS unique_clicks FROM message_events
    WHERE tenant_id = ${tenantId}::uuid AND campaign_id = ${campaignId}::uuid AND type = 'click'
    GROUP BY url ORDER BY count(*) DESC, url LIMIT 200`);
}

export async function timeline(
  db: Executor,
  tenantId: string,
  campaignId: string,
  interval: 'hour' | 'day',
): Promise<{ bucket: Date; sent: number; opens: number; clicks: number; bounces: number; unsubscribes: number }[]> {
  const unit = sql.raw(`'${interval}'`);
  return db.rows(sql`
    WITH ev AS (
      SELECT date_trunc(${unit}, sent_at) AS b, 'sent' AS t FROM messages
        WHERE tenant_id = ${tenantId}::uuid AND campaign_id = ${campaignId}::uuid AND sent_at IS NOT NULL
      UNION ALL
      SELECT date_trunc(${unit}, occurred_at), type FROM message_events
        WHERE tenant_id = ${tenantId}::uuid AND campaign_id = ${campaignId}::uuid
    )
    SELECT b AS bucket, count(*) FILTER (WHERE t = 'sent')::int AS sent, count(*) FILTER (WHERE t = 'open')::int AS opens,
      count(*) FILTER (WHERE t = 'click')::int AS clicks, count(*) FILTER (WHERE t = 'bounce')::int AS bounces,
      count(*) FILTER (WHERE t = 'unsubscribe')::int AS unsubscribes
    FROM ev GROUP BY b ORDER BY b`);
}

export interface RecipientRow {
  customer_id: string;
  variant: string | null;
  status: string;
  reason: string | null;
  message_id: string | null;
  queued_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  bounced_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  unsubscribed_at: Date | null;
  converted_at: Date | null;
}

export async function listRecipients(
  db: Executor,
  q: { tenantId: string; campaignId: string; status?: string; limit: number; after?: string },
): Promise<RecipientRow[]> {
  return db.rows(sql`
    SELECT customer_id, variant, status, reason, message_id, queued_at, sent_at, delivered_at, bounced_at, opened_at, clicked_at,
      unsubscribed_at, converted_at
    FROM campaign_recipients WHERE tenant_id = ${q.tenantId}::uuid AND campaign_id = ${q.campaignId}::uuid
      ${q.status ? sql`AND status = ${q.status}` : sql``} ${q.after ? sql`AND customer_id > ${q.after}::uuid` : sql``}
    ORDER BY customer_id LIMIT ${q.limit}`);
}
