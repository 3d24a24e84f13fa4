import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Database } from '../../db/database.js';
import { createTestTenant, openTestDatabase } from '../../test/helpers.js';
import { addSuppressions, findSuppressed } from '../privacy/suppressions.repository.js';
import { canonicalJson, recordAudit, recordAuditMany, sealAuditLog, verifyAuditChain } from './audit.service.js';

let db: Database;
beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db.close();
});

/** A tenant whose creation entries (tenant.create, api_key.create) are sealed: answers how many. */
async function freshTenant() {
  const t = await createTestTenant(db);
  const base = await sealAuditLog(db, t.tenantId);
  return { ...t, base };
}

// Tampering needs the append-only trigger out of the way, as a superuser could do it.
async function asSuperuser<T>(fn: (tx: Database) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.run(sql`SET LOCAL session_replication_role = replica`);
    return fn(tx as Database);
  });
}

describe('audit hash chain', () => {
  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  it('seals entries in order and verifies; a changed entry is reported', async () => {
    const t = await freshTenant();
    await db.transaction(async (tx) => {
      await recordAudit(tx, { tenantId: t.tenantId, actor: 'test', action: 'customer.update', entityType: 'customer', entityId: 'c1', before: { n: 1 }, after: { n: 2 } });
      await recordAuditMany(tx, [
        { tenantId: t.tenantId, actor: 'test', action: 'customer.create', entityType: 'customer', entityId: 'c2', after: { at: new Date('2025-01-01T00:00:00Z') } },
        { tenantId: t.tenantId, actor: 'test', action: 'customer.delete', entityType: 'customer', entityId: 'c3' },
      ]);
    });
    expect(await sealAuditLog(db, t.tenantId)).toBe(3);
    expect(await sealAuditLog(db, t.tenantId)).toBe(0);
    await recordAudit(db, { tenantId: t.tenantId, actor: 'test', action: 'x.y', entityType: 'x', entityId: null });
    const ok = await verifyAuditChain(db, t.tenantId);
    expect(ok).toMatchObject({ ok: true, checked: t.base + 4, unsealed: 0, head_chain_seq: t.base + 4, first_broken: null });

    const row = await db.one<{ after: unknown }>(sql`SELECT after FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND entity_id = 'c2'`);
    expect(row?.after).toEqual({ at: '2025-01-01T00:00:00.000Z' });

    await asSuperuser((tx) => tx.run(sql`UPDATE audit_log SET after = '{"n": 3}' WHERE tenant_id = ${t.tenantId}::uuid AND entity_id = 'c1'`));
    const bad = await verifyAuditChain(db, t.tenantId);
    expect(bad.ok).toBe(false);
    expect(bad.first_broken).toMatchObject({ chain_seq: t.base + 1, problem: 'hash_mismatch' });
  });

  it('a deleted entry, a deleted newest entry and a swap are reported', async () => {
    const t = await freshTenant();
    await recordAuditMany(db, [1, 2, 3, 4, 5].map((i) => ({ tenantId: t.tenantId, actor: 'test', action: 'a.b', entityType: 'n', entityId: String(i) })));
    expect((await verifyAuditChain(db, t.tenantId)).ok).toBe(true);

    await asSuperuser((tx) => tx.run(sql`DELETE FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND chain_seq = ${t.base + 5}`));
    expect((await verifyAuditChain(db, t.tenantId)).first_broken).toMatchObject({ chain_seq: t.base + 5, problem: 'missing_entry' });

    await asSuperuser((tx) => tx.run(sql`DELETE FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND chain_seq = ${t.base + 3}`));
    expect((await verifyAuditChain(db, t.tenantId)).first_broken).toMatchObject({ chain_seq: t.base + 3, problem: 'missing_entry' });

    const t2 = await freshTenant();
    await recordAuditMany(db, [1, 2, 3].map((i) => ({ tenantId: t2.tenantId, actor: 'test', action: 'a.b', entityType: 'n', entityId: String(i) })));
    await sealAuditLog(db, t2.tenantId);
    await asSuperuser(async (tx) => {
      const [a, b] = [t2.base + 2, t2.base + 3];
      await tx.run(sql`UPDATE audit_log SET chain_seq = -2 WHERE tenant_id = ${t2.tenantId}::uuid AND chain_seq = ${a}`);
      await tx.run(sql`UPDATE audit_log SET chain_seq = ${a} WHERE tenant_id = ${t2.tenantId}::uuid AND chain_seq = ${b}`);
      await tx.run(sql`UPDATE audit_log SET chain_seq = ${b} WHERE tenant_id = ${t2.tenantId}::uuid AND chain_seq = -2`);
    });
    expect((await verifyAuditChain(db, t2.tenantId)).first_broken).toMatchObject({ chain_seq: t2.base + 2, problem: 'hash_mismatch' });
  });

  it('the table is append-only: UPDATE and DELETE are rejected, sealing is not', async () => {
    const t = await freshTenant();
    await recordAudit(db, { tenantId: t.tenantId, actor: 'test', action: 'a.b', entityType: 'n', entityId: '1', after: { v: 1 } });
    await expect(db.run(sql`UPDATE audit_log SET after = '{}' WHERE tenant_id = ${t.tenantId}::uuid`)).rejects.toThrow(/append-only/);
    await expect(db.run(sql`DELETE FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid`)).rejects.toThrow(/append-only/);
    expect(await sealAuditLog(db, t.tenantId)).toBe(1);
    await expect(db.run(sql`UPDATE audit_log SET hash = 'x' WHERE tenant_id = ${t.tenantId}::uuid`)).rejects.toThrow(/append-only/);
    // a redaction that also changes the action is refused
    await expect(db.run(sql`UPDATE audit_log SET after = NULL, redacted_at = now(), action = 'z' WHERE tenant_id = ${t.tenantId}::uuid`)).rejects.toThrow(/append-only/);
    expect((await verifyAuditChain(db, t.tenantId)).ok).toBe(true);
  });

  it('concurrent writers and sealers give one gap-free chain', async () => {
    const t = await freshTenant();
    const writers = Array.from({ length: 8 }, (_, w) =>
      db.transaction(async (tx) => {
        for (let i = 0; i < 5; i++) await recordAudit(tx, { tenantId: t.tenantId, actor: `w${w}`, action: 'a.b', entityType: 'n', entityId: `${w}-${i}` });
      }));
    const sealers = Array.from({ length: 4 }, () => sealAuditLog(db, t.tenantId));
    await Promise.all([...writers, ...sealers]);
    const result = await verifyAuditChain(db, t.tenantId);
    expect(result).toMatchObject({ ok: true, checked: t.base + 40, unsealed: 0 });
  });
});

describe('suppressions', () => {
  it('stores hashes only and matches normalized addresses, per tenant', async () => {
    const t = await freshTenant();
    const other = await freshTenant();
    await addSuppressions(db, t.tenantId, [
      { channel: 'email', value: 'ion@exemplu.ro', reason: 'erased' },
      { channel: 'sms', value: '+40722123456', reason: 'unsubscribed' },
      { channel: 'email', value: 'ion@exemplu.ro', reason: 'manual' },
    ]);
    const rows = await db.rows<{ value_hash: string; reason: string }>(sql`SELECT value_hash, reason FROM suppressions WHERE tenant_id = ${t.tenantId}::uuid`);
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.value_hash))).toBe(true);
    expect(rows.map((r) => r.reason).sort()).toEqual(['erased', 'unsubscribed']);
    expect(await findSuppressed(db, t.tenantId, 'email', ['ion@exemplu.ro', 'ana@exemplu.ro', ' ION@exemplu.ro'])).toEqual(new Set(['ion@exemplu.ro', ' ION@exemplu.ro']));
    expect(await findSuppressed(db, t.tenantId, 'sms', ['+40722123456'])).toEqual(new Set(['+40722123456']));
    expect(await findSuppressed(db, t.tenantId, 'sms', ['ion@exemplu.ro'])).toEqual(new Set());
    expect(await findSuppressed(db, other.tenantId, 'email', ['ion@exemplu.ro'])).toEqual(new Set());
  });
});

describe('redaction (erasure)', () => {
  it('removes snapshots without breaking the chain; other changes are still caught', async () => {
    const t = await freshTenant();
    await recordAuditMany(db, [
      { tenantId: t.tenantId, actor: 'test', action: 'customer.create', entityType: 'customer', entityId: 'c1', after: { email: 'ana@exemplu.ro' } },
      { tenantId: t.tenantId, actor: 'test', action: 'note.create', entityType: 'note', entityId: 'n1', after: { body: 'call Ana at ANA@exemplu.ro' } },
      { tenantId: t.tenantId, actor: 'test', action: 'x.y', entityType: 'x', entityId: 'x1', after: { v: 1 } },
    ]);
    await sealAuditLog(db, t.tenantId);
    const { redactAuditEntries } = await import('./audit.repository.js');
    expect(await redactAuditEntries(db, t.tenantId, { entityIds: ['c1'], needles: ['ana@exemplu.ro'] })).toBe(2);
    const rows = await db.rows<{ entity_id: string; after: unknown; redacted_at: Date | null }>(sql`
      SELECT entity_id, after, redacted_at FROM audit_log WHERE tenant_id = ${t.tenantId}::uuid AND chain_seq > ${t.base} ORDER BY chain_seq`);
    expect(rows.map((r) => [r.entity_id, r.after === null, r.redacted_at !== null])).toEqual([['c1', true, true], ['n1', true, true], ['x1', false, false]]);
    expect((await verifyAuditChain(db, t.tenantId)).ok).toBe(true);
    await asSuperuser((tx) => tx.run(sql`UPDATE audit_log SET after = '{"v": 2}' WHERE tenant_id = ${t.tenantId}::uuid AND entity_id = 'x1'`));
    expect((await verifyAuditChain(db, t.tenantId)).first_broken).toMatchObject({ chain_seq: t.base + 3, problem: 'hash_mismatch' });
  });
});
