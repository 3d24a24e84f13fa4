import crypto from 'node:crypto';
import { arr, sql, type Executor } from '../../db/database.js';
import { normalizeEmail } from '../../lib/contact.js';

export type SuppressionChannel = 'email' | 'sms';
export type SuppressionReason = 'unsubscribed' | 'hard_bounce' | 'complaint' | 'erased' | 'manual';

export interface SuppressionEntry {
  channel: SuppressionChannel;
  /** Normalized e-mail (trimmed, lower-case) or E.164 phone. */
  value: string;
  reason: SuppressionReason;
}

/**
 * The stored key of an address: hex SHA-256 of its normalized form. Only the hash is kept, so an
 * erased person's address is not readable from the list, yet a later import or event with the same
 * address is still recognized. E-mails are normalized again here (idempotent) so a caller that
 * passes "Ion@X.ro" still matches; phones must already be E.164 (their normalization needs the
 * tenant's default region).
 */
export function suppressionHash(channel: SuppressionChannel, value: string): string {
  const normalized = channel === 'email' ? (normalizeEmail(value) ?? value.trim().toLowerCase()) : value.trim();
  return crypto.createHash('sha256').update(normalized).digest('hex');
}

/** Adds addresses to the tenant's suppression list; an address already listed keeps its first reason. */
export async function addSuppressions(exec: Executor, tenantId: string, entries: readonly SuppressionEntry[]): Promise<number> {
  const valid = entries.filter((e) => e.value && e.value.trim());
  if (valid.length === 0) return 0;
  return exec.run(sql`
    INSERT INTO suppressions (tenant_id, channel, value_hash, reason)
    SELECT ${tenantId}::uuid, s.channel, s.value_hash, s.reason
    FROM unnest(${arr(valid.map((e) => e.channel))}::text[], ${arr(valid.map((e) => suppressionHash(e.channel, e.value)))}::text[],
                ${arr(valid.map((e) => e.reason))}::text[]) AS s(channel, value_hash, reason)
    ON CONFLICT (tenant_id, channel, value_hash) DO NOTHING`);
}

/** Which of `values` (normalized addresses) are suppressed on `channel`; answers the given values. */
export async function findSuppressed(
  exec: Executor,
  tenantId: string,
  channel: SuppressionChannel,
  values: readonly string[],
): Promise<Set<string>> {
  const found = await findSuppressedByChannel(exec, tenantId, { email: channel === 'email' ? values : [], sms: channel === 'sms' ? values : [] });
  return found[channel];
}

/** Which of the given values (normalized addresses) are suppressed, per channel, in one round trip. */
export async function findSuppressedByChannel(
  exec: Executor,
  tenantId: string,
  values: { email: readonly string[]; sms: readonly string[] },
): Promise<{ email: Set<string>; sms: Set<string> }> {
  const out = { email: new Set<string>(), sms: new Set<string>() };
  const byKey = new Map<string, { channel: SuppressionChannel; values: string[] }>();
  for (const channel of ['email', 'sms'] as const) {
    for (const v of new Set(values[channel].filter((x) => typeof x === 'string' && x.length > 0))) {
      const key = `${channel}|${suppressionHash(channel, v)}`;
      const entry = byKey.get(key);
      if (entry) entry.values.push(v);
      else byKey.set(key, { channel, values: [v] });
    }
  }
  if (byKey.size === 0) return out;
  const keys = [...byKey.keys()].map((k) => k.split('|') as [SuppressionChannel, string]);
  const rows = await exec.rows<{ channel: SuppressionChannel; value_hash: string }>(sql`
    SELECT s.channel, s.value_hash
    FROM unnest(${arr(keys.map((k) => k[0]))}::text[], ${arr(keys.map((k) => k[1]))}::text[]) AS k(channel, value_hash)
    JOIN suppressions s ON s.tenant_id = ${tenantId}::uuid AND s.channel = k.channel AND s.value_hash = k.value_hash`);
  for (const r of rows) for (const v of byKey.get(`${r.channel}|${r.value_hash}`)?.values ?? []) out[r.channel].add(v);
  return out;
}

/** Removes addresses listed for one of `reasons` (a person grants consent again). */
export async function removeSuppressions(
  exec: Executor,
  tenantId: string,
  channel: SuppressionChannel,
  values: readonly string[],
  reasons: readonly SuppressionReason[],
): Promise<number> {
  if (values.length === 0 || reasons.length === 0) return 0;
  return exec.run(sql`
    DELETE FROM suppressions
    WHERE tenant_id = ${tenantId}::uuid AND channel = ${channel} AND reason = ANY(${arr(reasons)}::text[])
      AND value_hash = ANY(${arr(values.map((v) => suppressionHash(channel, v)))}::text[])`);
}
