import type { Executor } from '../../db/database.js';
import { isDateText, isUuid, pageOf, readCursor } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import { insertActivities } from '../timeline/timeline.repository.js';
import * as repo from './interactions.repository.js';
import type { CreateInteractionInput, PatchInteractionInput } from './interactions.schemas.js';

export interface Actor {
  tenantId: string;
  actor: string;
  /** request.id when from HTTP, for the audit trail */
  requestId?: string | null;
}

const snapshot = ({ created_at: _c, updated_at: _u, ...row }: repo.InteractionRow) => row;

function audit(tx: Executor, who: Actor, action: string, id: string, before: repo.InteractionRow | null, after: repo.InteractionRow | null) {
  return recordAudit(tx, {
    tenantId: who.tenantId, actor: who.actor, requestId: who.requestId ?? null, action, entityType: 'interaction', entityId: id,
    before: before && snapshot(before), after: after && snapshot(after),
  });
}

const DAY_MS = 86_400_000;
const FOLLOW_UP_HORIZON_DAYS = 7;
// Dates outside this window are typing mistakes (year 20225, 1025) rather than real contacts.
const MIN_DATE_MS = Date.UTC(1900, 0, 1);
const MAX_DATE_MS = Date.UTC(2200, 0, 1);

function checkDate(field: string, value: string | null | undefined): void {
  if (value === null || value === undefined) return;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || ms < MIN_DATE_MS || ms >= MAX_DATE_MS) {
    throw new AppError('validation_failed', `${field} must be a date-time between 1900 and 2200`, {
      path: `body/${field}`,
      value,
    });
  }
}

function checkDates(input: { follow_up_at?: string | null; occurred_at?: string | null }): void {
  checkDate('follow_up_at', input.follow_up_at);
  checkDate('occurred_at', input.occurred_at);
}

function customerNotFound(customerId: string): AppError {
  return new AppError('customer_not_found', `customer ${customerId} was not found`, { id: customerId });
}

function interactionNotFound(id: string): AppError {
  return new AppError('interaction_not_found', `interaction ${id} was not found`, { id });
}

async function requireCustomer(db: Executor, tenantId: string, customerId: string): Promise<void> {
  if (!(await repo.findLiveCustomerId(db, tenantId, customerId))) throw customerNotFound(customerId);
}

function fieldsFromCreate(input: CreateInteractionInput): repo.InteractionFields {
  return {
    type: input.type,
    subject: input.subject,
    description: input.description ?? null,
    outcome: input.outcome ?? null,
    priority: input.priority ?? 'medium',
    status: input.status ?? 'pending',
    durationMinutes: input.duration_minutes ?? null,
    followUpAt: input.follow_up_at ?? null,
    occurredAt: input.occurred_at ?? null,
  };
}

function summaryOf(row: repo.InteractionRow): string {
  return `${row.type}: ${row.subject}`;
}

const iso = (v: Date | null) => (v === null ? null : v.toISOString());

/** Field-by-field differences between two versions of an interaction, for the timeline. */
function diff(before: repo.InteractionRow, after: repo.InteractionRow): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  const fields = ['type', 'subject', 'description', 'outcome', 'priority', 'status', 'duration_minutes'] as const;
  for (const f of fields) if (before[f] !== after[f]) out[f] = { from: before[f], to: after[f] };
  for (const f of ['follow_up_at', 'occurred_at'] as const) {
    const a = iso(before[f]);
    const b = iso(after[f]);
    if (a !== b) out[f] = { from: a, to: b };
  }
  return out;
}

/**
 * Logs an interaction with a customer: the row, the customer's last_contact_at and the timeline
 * entry in one transaction. Also callable from ingestion (`interaction.logged`) with a sourceId.
 */
export async function logInteraction(
  db: Executor,
  who: Actor,
  customerId: string,
  input: CreateInteractionInput,
  opts: { sourceId?: string | null } = {},
): Promise<repo.InteractionRow> {
  checkDates(input);
  return db.transaction(async (tx) => {
    await requireCustomer(tx, who.tenantId, customerId);
    const row = await repo.insertInteraction(tx, {
      tenantId: who.tenantId,
      customerId,
      fields: fieldsFromCreate(input),
      createdBy: who.actor,
      sourceId: opts.sourceId ?? null,
    });
    await repo.touchLastContact(tx, who.tenantId, customerId, row.occurred_at);
    await insertActivities(tx, who.tenantId, [
      {
        customerId,
        type: 'interaction.logged',
        occurredAt: row.occurred_at,
        summary: summaryOf(row),
        data: { interaction_id: row.id, type: row.type, subject: row.subject, priority: row.priority, status: row.status },
        sourceId: row.id,
        actor: who.actor,
      },
    ]);
    await audit(tx, who, 'interaction.create', row.id, null, row);
    return row;
  });
}

export async function getInteraction(db: Executor, tenantId: string, id: string): Promise<repo.InteractionRow> {
  const row = await repo.findInteraction(db, tenantId, id);
  if (!row) throw interactionNotFound(id);
  return row;
}

async function change(
  db: Executor,
  who: Actor,
  id: string,
  merge: (current: repo.InteractionRow) => repo.InteractionFields,
): Promise<repo.InteractionRow> {
  return db.transaction(async (tx) => {
    const before = await repo.findInteraction(tx, who.tenantId, id, { forUpdate: true });
    if (!before) throw interactionNotFound(id);
    const after = await repo.updateInteraction(tx, who.tenantId, id, merge(before));
    await repo.touchLastContact(tx, who.tenantId, after.customer_id, after.occurred_at);
    const changes = diff(before, after);
    if (Object.keys(changes).length > 0) {
      await insertActivities(tx, who.tenantId, [
        {
          customerId: after.customer_id,
          type: 'interaction.updated',
          occurredAt: after.updated_at,
          summary: summaryOf(after),
          data: { interaction_id: id, changes },
          sourceId: id,
          actor: who.actor,
        },
      ]);
      await audit(tx, who, 'interaction.update', id, before, after);
    }
    return after;
  });
}

/** PUT: every editable field is replaced; left-out fields return to their defaults, occurred_at is kept. */
export async function replaceInteraction(db: Executor, who: Actor, id: string, input: CreateInteractionInput) {
  checkDates(input);
  return change(db, who, id, () => fieldsFromCreate(input));
}

/** PATCH: only the fields sent change; null clears an optional field. */
export async function patchInteraction(db: Executor, who: Actor, id: string, input: PatchInteractionInput) {
  checkDates(input);
  return change(db, who, id, (cur) => ({
    type: input.type ?? cur.type,
    subject: input.subject ?? cur.subject,
    description: input.description !== undefined ? input.description : cur.description,
    outcome: input.outcome !== undefined ? input.outcome : cur.outcome,
    priority: input.priority ?? cur.priority,
    status: input.status ?? cur.status,
    durationMinutes: input.duration_minutes !== undefined ? input.duration_minutes : cur.duration_minutes,
    followUpAt: input.follow_up_at !== undefined ? input.follow_up_at : cur.follow_up_at,
    occurredAt: input.occurred_at ?? null,
  }));
}

/** Soft delete: the row stays (deleted_at) so the timeline keeps its reference. */
export async function deleteInteraction(db: Executor, who: Actor, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const row = await repo.findInteraction(tx, who.tenantId, id, { forUpdate: true });
    if (!row) throw interactionNotFound(id);
    await repo.softDeleteInteraction(tx, who.tenantId, id);
    await insertActivities(tx, who.tenantId, [
      {
        customerId: row.customer_id,
        type: 'interaction.deleted',
        occurredAt: new Date(),
        summary: summaryOf(row),
        data: { interaction_id: id, type: row.type, subject: row.subject },
        sourceId: id,
        actor: who.actor,
      },
    ]);
    await audit(tx, who, 'interaction.delete', id, row, null);
  });
}

export async function listInteractions(
  db: Executor,
  tenantId: string,
  customerId: string,
  q: { type?: string[]; status?: string[]; limit?: number; cursor?: string },
) {
  const limit = q.limit ?? 50;
  let after: { occurredAt: string; id: string } | undefined;
  if (q.cursor) {
    const [occurredAt, id] = readCursor(q.cursor, [isDateText, isUuid]) as [string, string];
    after = { occurredAt, id };
  }
  await requireCustomer(db, tenantId, customerId);
  const rows = await repo.listCustomerInteractions(db, {
    tenantId, customerId, types: q.type, statuses: q.status, limit: limit + 1, after,
  });
  return pageOf(rows, limit, (r) => r, (r) => [r.cursor_ts, r.id]);
}


export async function listFollowUps(
  db: Executor,
  tenantId: string,
  q: { due_before?: string; status?: string; priority?: string[]; customer_id?: string; limit?: number; cursor?: string },
) {
  const limit = q.limit ?? 50;
  if (q.due_before !== undefined) checkDate('due_before', q.due_before);
  const dueBefore = q.due_before ?? new Date(Date.now() + FOLLOW_UP_HORIZON_DAYS * DAY_MS).toISOString();
  let after: { followUpAt: string; id: string } | undefined;
  if (q.cursor) {
    const [followUpAt, id] = readCursor(q.cursor, [isDateText, isUuid]) as [string, string];
    after = { followUpAt, id };
  }
  const rows = await repo.listFollowUps(db, {
    tenantId,
    dueBefore,
    status: q.status ?? 'pending',
    priorities: q.priority,
    customerId: q.customer_id,
    limit: limit + 1,
    after,
  });
  const page = pageOf(
    rows,
    limit,
    (r) => ({ ...r, customer: { id: r.customer_id, name: r.customer_name, email: r.customer_email, phone: r.customer_phone } }),
    (r) => [r.cursor_ts, r.id],
  );
  return { ...page, due_before: new Date(dueBefore) };
}
