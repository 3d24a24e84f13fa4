import type { Executor } from '../../db/database.js';
import type { MembershipChange } from '../segments/segments.repository.js';
import * as repo from './automation.repository.js';
import type { TriggerType } from './automation.schemas.js';

/**
 * Trigger detection. Event-driven triggers enroll from ingestion (`enrollFromIngest`, one
 * INSERT … SELECT per batch) and from segment membership changes (`enrollFromSegmentChanges`, in
 * the transaction that changes membership); time-based triggers come from `scanTimeTriggers`,
 * which a scheduled job runs (every few minutes: carts idle for N minutes must not wait a day).
 * Every path ends in repo.insertEnrollments, where the re-entry policy and the occurrence keys
 * make a repeated detection harmless.
 */

export const EVENT_TRIGGERS = ['purchase', 'signup', 'post_event', 'custom'] as const;
export const SCAN_TRIGGERS = ['birthday', 'anniversary', 'inactivity', 'cart_abandoned', 'event_day'] as const;

interface AcceptedEvent {
  id: string;
  type: string;
  customerId: string;
  data: Record<string, unknown>;
  occurredAt: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The accepted events of a batch, with the customer ingestion resolved for each. */
function acceptedEvents(events: readonly unknown[], results: readonly { status: string; customer_id?: string }[]): AcceptedEvent[] {
  const out: AcceptedEvent[] = [];
  results.forEach((r, i) => {
    const e = events[i];
    if (r.status !== 'accepted' || !r.customer_id || !isObj(e) || typeof e.type !== 'string') return;
    out.push({ id: String(e.id), type: e.type, customerId: r.customer_id, data: isObj(e.data) ? e.data : {}, occurredAt: String(e.occurred_at) });
  });
  return out;
}

function triggerOf(e: AcceptedEvent): TriggerType | null {
  if (e.type === 'order.completed') return 'purchase';
  if (e.type === 'user.registered') return 'signup';
  if (e.type === 'ticket.checked_in') return 'post_event';
  if (e.type.startsWith('custom.')) return 'custom';
  return null;
}

function orderTotal(data: Record<string, unknown>): number | null {
  if (typeof data.total === 'number') return data.total;
  if (!Array.isArray(data.items)) return null;
  return data.items.reduce((sum: number, it) => sum + (isObj(it) ? Number(it.quantity ?? 0) * Number(it.unit_price ?? 0) : 0), 0);
}

/**
 * After a batch is applied: enrolls customers in purchase / signup / post_event / custom workflows,
 * and ends the abandoned-cart runs of customers who bought. Answers the enrollments made.
 */
export async function enrollFromIngest(
  db: Executor,
  tenantId: string,
  events: readonly unknown[],
  results: readonly { status: string; customer_id?: string }[],
  opts: { now?: Date } = {},
): Promise<repo.EnrolledRow[]> {
  const now = opts.now ?? new Date();
  const accepted = acceptedEvents(events, results);
  const buyers = [...new Set(accepted.filter((e) => e.type === 'order.completed' || e.type === 'cart.checked_out').map((e) => e.customerId))];
  if (buyers.length) {
    await repo.exitEnrollments(db, { tenantId, customerIds: buyers, triggerTypes: ['cart_abandoned'], reason: 'purchased', now });
  }
  const triggered = accepted.map((e) => ({ e, trigger: triggerOf(e) })).filter((x): x is { e: AcceptedEvent; trigger: TriggerType } => x.trigger !== null);
  if (triggered.length === 0) return [];
  const workflows = await repo.activeWorkflowsByTrigger(db, tenantId, [...new Set(triggered.map((t) => t.trigger))]);
  if (workflows.length === 0) return [];

  const needsFirst = workflows.some((w) => w.trigger_type === 'purchase' && w.trigger_config.first_only === true);
  const firstTimers = needsFirst
    ? await repo.firstTimeBuyers(db, tenantId, triggered.filter((t) => t.trigger === 'purchase').map((t) => t.e.customerId))
    : new Set<string>();
  const showIds = [...new Set(triggered.filter((t) => t.trigger === 'post_event').map((t) => String(t.e.data.event_id)))];
  const shows = await repo.catalogInfo(db, tenantId, showIds);

  const candidates: repo.EnrollCandidate[] = [];
  for (const { e, trigger } of triggered) {
    for (const w of workflows) {
      if (w.trigger_type !== trigger) continue;
      const cfg = w.trigger_config;
      let key: string;
      let context: Record<string, unknown>;
      switch (trigger) {
        case 'purchase': {
          const total = orderTotal(e.data);
          if (typeof cfg.min_total === 'number' && (total ?? 0) < cfg.min_total) continue;
          if (cfg.first_only === true && !firstTimers.has(e.customerId)) continue;
          key = `order:${String(e.data.order_id)}`;
          const items = Array.isArray(e.data.items) ? e.data.items.filter(isObj) : [];
          context = { event_type: e.type, order_id: e.data.order_id, total, currency: e.data.currency ?? null, event_ids: items.map((i) => i.event_id).filter(Boolean) };
          break;
        }
        case 'signup':
          key = 'signup';
          context = { event_type: e.type, source: e.data.source ?? null };
          break;
        case 'post_event': {
          const showId = String(e.data.event_id);
          const show = shows.get(showId);
          key = `attended:${showId}`;
          context = { event_type: e.type, event_id: showId, event_name: show?.name ?? e.data.event_name ?? null, genres: show?.genres ?? [] };
          break;
        }
        case 'custom':
          if (typeof cfg.event === 'string' && cfg.event !== e.type) continue;
          key = `event:${e.id}`;
          context = { event_type: e.type, data: e.data };
          break;
        default:
          continue;
      }
      candidates.push({ workflowId: w.id, customerId: e.customerId, triggerKey: key, context });
    }
  }
  return repo.insertEnrollments(db, tenantId, candidates, now);
}

/** Segment entered / exited workflows, in the transaction that changed membership. */
export async function enrollFromSegmentChanges(tx: Executor, tenantId: string, changes: readonly MembershipChange[], opts: { now?: Date } = {}): Promise<repo.EnrolledRow[]> {
  if (changes.length === 0) return [];
  const workflows = await repo.activeWorkflowsByTrigger(tx, tenantId, ['segment_entered', 'segment_exited']);
  if (workflows.length === 0) return [];
  const candidates: repo.EnrollCandidate[] = [];
  for (const w of workflows) {
    const want = w.trigger_type === 'segment_entered' ? 'entered' : 'exited';
    for (const c of changes) {
      if (c.change !== want || c.segmentId !== w.trigger_config.segment_id) continue;
      candidates.push({ workflowId: w.id, customerId: c.customerId, triggerKey: null, context: { segment_id: c.segmentId, segment_name: c.segmentName, change: c.change } });
    }
  }
  return repo.insertEnrollments(tx, tenantId, candidates, opts.now ?? new Date());
}

/**
 * The scheduled scan of time-based triggers (birthday, anniversary, inactivity, cart idle, days
 * around a show), for every tenant or one. Idempotent: each occurrence has its key.
 */
export async function scanTimeTriggers(
  db: Executor,
  opts: { now?: Date; tenantId?: string; types?: readonly string[] } = {},
): Promise<{ workflows: number; enrolled: number }> {
  const now = opts.now ?? new Date();
  const workflows = await repo.activeScanWorkflows(db, opts.types ?? SCAN_TRIGGERS, opts.tenantId);
  let enrolled = 0;
  const failed: unknown[] = [];
  for (const w of workflows) {
    try {
      enrolled += await scanWorkflow(db, w, now);
    } catch (err) {
      failed.push(err);
    }
  }
  // one broken workflow does not hold up the others; the job still fails so it is seen and retried
  if (failed.length) throw new AggregateError(failed, `workflow trigger scan failed for ${failed.length} workflow(s)`);
  return { workflows: workflows.length, enrolled };
}

async function scanWorkflow(db: Executor, w: repo.WorkflowRow & { timezone: string }, now: Date): Promise<number> {
  const c = w.trigger_config;
  const q = { tenantId: w.tenant_id, timezone: w.timezone, now };
  let scan;
  switch (w.trigger_type) {
    case 'birthday': scan = repo.scanBirthdays({ ...q, daysBefore: Number(c.days_before ?? 0) }); break;
    case 'anniversary': scan = repo.scanAnniversaries({ ...q, daysBefore: Number(c.days_before ?? 0), of: c.of === 'signup' ? 'signup' : 'first_purchase' }); break;
    case 'inactivity': scan = repo.scanInactive({ ...q, days: Number(c.days) }); break;
    case 'cart_abandoned': scan = repo.scanAbandonedCarts({ ...q, idleMinutes: Number(c.idle_minutes ?? 60) }); break;
    case 'event_day': scan = repo.scanEventDay({ ...q, daysOffset: Number(c.days_offset ?? 0) }); break;
    default: return 0;
  }
  const hits = await repo.scanHits(db, w.tenant_id, w.id, scan);
  const rows = await repo.insertEnrollments(
    db, w.tenant_id,
    hits.map((h) => ({ workflowId: w.id, customerId: h.customer_id, triggerKey: h.trigger_key, context: h.context })),
    now,
  );
  // After a bulk enrollment the planner's statistics still describe a small table, and the next scan's
  // anti-join would plan as a nested loop over it (seconds instead of milliseconds): refresh them.
  if (rows.length >= ANALYZE_AFTER) await repo.analyzeEnrollments(db);
  return rows.length;
}

const ANALYZE_AFTER = 1_000;
