import crypto from 'node:crypto';
import type { Executor, SQL } from '../../db/database.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import * as repo from './audit.repository.js';

export interface AuditEntryInput {
  tenantId: string;
  /** request.auth.actor ("key:<id>"/"user:<id>"), or "cli", "job:<name>", "system" */
  actor: string;
  /** verb-ish, dotted: "customer.update", "import.create", "campaign.send" */
  action: string;
  /** "customer", "segment", "campaign", ... */
  entityType: string;
  entityId?: string | null;
  /** JSON-serialisable snapshot or null */
  before?: unknown;
  after?: unknown;
  /** request.id when from HTTP */
  requestId?: string | null;
}

/** Who made a change, as services pass it down from routes, the CLI or jobs. */
export interface AuditCtx {
  actor: string;
  requestId?: string | null;
}

// JSON.stringify turns Dates into ISO strings and drops undefined, which is what the jsonb column
// keeps; doing it here makes the stored value independent of the driver's serialization.
const toJson = (v: unknown): unknown => (v === undefined || v === null ? null : JSON.parse(JSON.stringify(v)));

const toInsert = (e: AuditEntryInput): repo.AuditInsert => ({
  tenantId: e.tenantId,
  actor: e.actor,
  action: e.action,
  entityType: e.entityType,
  entityId: e.entityId ?? null,
  before: toJson(e.before),
  after: toJson(e.after),
  requestId: e.requestId ?? null,
});

/** The INSERT statement of recordAudit, for callers that fold it into a bigger statement (same transaction rule). */
export function recordAuditSql(entry: AuditEntryInput): SQL {
  return repo.insertAuditEntriesSql([toInsert(entry)]);
}

/** Writes one audit entry; call it with the transaction that makes the change. */
export async function recordAudit(exec: Executor, entry: AuditEntryInput): Promise<void> {
  await repo.insertAuditEntries(exec, [toInsert(entry)]);
}

export async function recordAuditMany(exec: Executor, entries: readonly AuditEntryInput[]): Promise<void> {
  if (entries.length === 0) return;
  await repo.insertAuditEntries(exec, entries.map(toInsert));
}

// ---------------------------------------------------------------------------------------------
// Hash chain

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** The chain starts from this value for every tenant. */
const GENESIS = '0'.repeat(64);

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

/** Digest of a before/after snapshot: what the chain covers, so snapshots can be redacted later. */
export const snapshotDigest = (value: unknown): string => sha256(canonicalJson(value ?? null));

function linkHash(prevHash: string, row: repo.AuditChainRow, chainSeq: number, digests: { before: string; after: string }): string {
  const entry = {
    tenant_id: row.tenant_id,
    id: row.id,
    chain_seq: chainSeq,
    actor: row.actor,
    action: row.action,
    entity_type: row.entity_type,
    entity_id: row.entity_id,
    before_digest: digests.before,
    after_digest: digests.after,
    request_id: row.request_id,
    created_at: row.created_at,
  };
  return crypto.createHash('sha256').update(prevHash).update(canonicalJson(entry)).digest('hex');
}

const SEAL_BATCH = 1_000;

/**
 * Chains the committed, unsealed entries of a tenant (or of every tenant): each gets the next
 * chain_seq and hash = sha256(prev_hash || canonical_json(entry)). A per-tenant advisory lock
 * makes concurrent sealers take turns; entries still uncommitted are invisible and get sealed by a
 * later run, so the chain order is the order of sealing, not of insertion. Answers how many
 * entries were sealed.
 */
export async function sealAuditLog(db: Executor, tenantId?: string): Promise<number> {
  const tenants = tenantId ? [tenantId] : await repo.tenantsWithUnsealed(db);
  let total = 0;
  for (const t of tenants) {
    // entries committed later with a lower seq are left to the next run
    let afterSeq = 0;
    for (;;) {
      const n = await db.transaction(async (tx) => {
        await repo.lockTenantChain(tx, t);
        const rows = await repo.findUnsealed(tx, t, afterSeq, SEAL_BATCH);
        if (rows.length === 0) return 0;
        afterSeq = Number(rows[rows.length - 1].seq);
        const head = await repo.findChainHead(tx, t);
        let seq = head?.chain_seq ?? 0;
        let prev = head?.hash ?? GENESIS;
        const sealed = rows.map((row) => {
          seq += 1;
          const digests = { before: snapshotDigest(row.before), after: snapshotDigest(row.after) };
          prev = linkHash(prev, row, seq, digests);
          return { id: row.id, chainSeq: seq, hash: prev, beforeDigest: digests.before, afterDigest: digests.after };
        });
        await repo.sealEntries(tx, t, sealed);
        return rows.length;
      });
      total += n;
      if (n < SEAL_BATCH) break;
    }
  }
  return total;
}

export type ChainProblem = 'hash_mismatch' | 'missing_entry' | 'head_mismatch';

export interface VerifyResult {
  ok: boolean;
  /** Entries whose links were checked. */
  checked: number;
  /** Entries not sealed yet (written after the seal that started this check). */
  unsealed: number;
  head_chain_seq: number | null;
  /** The first broken link, when the chain is broken. */
  first_broken: null | {
    chain_seq: number;
    entry_id: string | null;
    problem: ChainProblem;
    message: string;
  };
}

const VERIFY_BATCH = 2_000;

/**
 * Recomputes the chain of a tenant from the start. A changed entry (or a reordering: chain_seq is
 * part of the hashed text) gives a hash that does not match; a deleted entry leaves a gap in
 * chain_seq; deleted newest entries leave the head pointing past the end.
 */
export async function verifyAuditChain(db: Executor, tenantId: string): Promise<VerifyResult> {
  await sealAuditLog(db, tenantId);
  const head = await repo.findChainHead(db, tenantId);
  let prev = GENESIS;
  let expected = 1;
  let checked = 0;
  const broken = (chainSeq: number, entryId: string | null, problem: ChainProblem, message: string): VerifyResult['first_broken'] =>
    ({ chain_seq: chainSeq, entry_id: entryId, problem, message });
  let firstBroken: VerifyResult['first_broken'] = null;

  outer: for (;;) {
    const rows = await repo.findSealed(db, tenantId, expected - 1, VERIFY_BATCH);
    for (const row of rows) {
      const chainSeq = Number(row.chain_seq);
      if (chainSeq !== expected) {
        firstBroken = broken(expected, null, 'missing_entry', `entry ${expected} of the chain is missing (next present: ${chainSeq})`);
        break outer;
      }
      // A redacted entry lost its snapshots on purpose (erasure); the others must match their digests.
      if (!row.redacted_at && (snapshotDigest(row.before) !== row.before_digest || snapshotDigest(row.after) !== row.after_digest)) {
        firstBroken = broken(chainSeq, row.id, 'hash_mismatch', `entry ${chainSeq} (${row.id}): its before/after snapshot was changed`);
        break outer;
      }
      const hash = linkHash(prev, row, chainSeq, { before: row.before_digest ?? '', after: row.after_digest ?? '' });
      if (hash !== row.hash) {
        firstBroken = broken(chainSeq, row.id, 'hash_mismatch', `entry ${chainSeq} (${row.id}) does not match its hash: changed, reordered or its predecessor was altered`);
        break outer;
      }
      prev = hash;
      expected += 1;
      checked += 1;
    }
    if (rows.length < VERIFY_BATCH) break;
  }

  if (!firstBroken && head) {
    if (head.chain_seq !== expected - 1) {
      firstBroken = head.chain_seq > expected - 1
        ? broken(expected, null, 'missing_entry', `the chain ends at ${expected - 1} but ${head.chain_seq} entries were sealed: newest entries deleted`)
        : broken(head.chain_seq, null, 'head_mismatch', `the chain continues past its recorded head ${head.chain_seq}`);
    } else if (head.hash !== prev) {
      firstBroken = broken(head.chain_seq, null, 'head_mismatch', `the last entry's hash does not match the recorded head`);
    }
  } else if (!firstBroken && !head && checked > 0) {
    firstBroken = broken(1, null, 'head_mismatch', 'sealed entries exist but the chain head is missing');
  }

  return {
    ok: firstBroken === null,
    checked,
    unsealed: await repo.countUnsealed(db, tenantId),
    head_chain_seq: head?.chain_seq ?? null,
    first_broken: firstBroken,
  };
}

// ---------------------------------------------------------------------------------------------
// Listing

/** An entry as GET /audit answers it (redacted_at is set when an erasure removed before/after). */
export type AuditEntry = Omit<repo.AuditListRow, 'created_key'>;

export interface AuditListQuery {
  actor?: string;
  action?: string;
  entity_type?: string;
  entity_id?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

const toEntry = ({ created_key: _k, ...r }: repo.AuditListRow): AuditEntry => ({ ...r, before: r.before ?? null, after: r.after ?? null });

function checkDate(field: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new AppError('validation_failed', `${field} is not a date-time`, { field });
  return new Date(t).toISOString();
}

/** Newest first. Seals first, so the entries listed carry their chain position. */
export async function listAudit(db: Executor, tenantId: string, q: AuditListQuery): Promise<Page<AuditEntry>> {
  const limit = q.limit ?? 50;
  const from = checkDate('from', q.from);
  const to = checkDate('to', q.to);
  let before: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { createdAt: createdAt as string, id: id as string };
  }
  await sealAuditLog(db, tenantId);
  const rows = await repo.listAuditEntries(db, {
    tenantId, actor: q.actor, action: q.action, entityType: q.entity_type, entityId: q.entity_id, from, to, limit: limit + 1, before,
  });
  return pageOf(rows, limit, toEntry, (r) => [r.created_key, r.id]);
}
