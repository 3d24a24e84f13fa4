import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { readConsents } from '../privacy/consent.repository.js';
import { findIdentityCandidates, lockCustomers, readProfiles } from './ingest.repository.js';
import { ingestEvents } from './ingest.service.js';

/**
 * The look-ups of ingestion by key (one index probe per value): the same rows and semantics as the
 * `= ANY(…) OR …` queries they replaced — live customers only, merged-away identifiers through
 * customer_aliases, row order by id.
 */

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

describe('identity look-up', () => {
  it('finds live customers by external id, e-mail and phone, and survivors by their aliases', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db, 'Other tenant');
    const reg = (id: string, customer: Record<string, unknown>) => ({
      id, type: 'user.registered', occurred_at: '2026-01-01T10:00:00Z', customer, data: { source: 'shop' },
    });
    const res = await ingestEvents(ctx.db, { tenantId: t.tenantId, config: ctx.config, actor: 'test' }, [
      reg('l1', { external_id: 'x-1', first_name: 'Ana' }),
      reg('l2', { email: 'bob@exemplu.ro' }),
      reg('l3', { phone: '+40722000003' }),
      reg('l4', { email: 'deleted@exemplu.ro' }),
      reg('l5', { email: 'merged@exemplu.ro', phone: '+40722000005' }),
      reg('l6', { email: 'nobody-asks@exemplu.ro' }),
    ]);
    expect(res.accepted).toBe(6);
    const ids = res.results.map((r) => r.customer_id!);
    const [ana, bob, phone, deleted, merged] = ids;
    // the same identifiers in another tenant are not found
    await ingestEvents(ctx.db, { tenantId: other.tenantId, config: ctx.config, actor: 'test' }, [reg('o1', { external_id: 'x-1', email: 'bob@exemplu.ro' })]);

    await ctx.db.run(sql`UPDATE customers SET deleted_at = now() WHERE tenant_id = ${t.tenantId}::uuid AND id = ${deleted}::uuid`);
    // what a merge leaves: the merged record points at the survivor, its identifiers are aliases of it
    await ctx.db.run(sql`UPDATE customers SET merged_into = ${bob}::uuid WHERE tenant_id = ${t.tenantId}::uuid AND id = ${merged}::uuid`);
    await ctx.db.run(sql`
      INSERT INTO customer_aliases (tenant_id, kind, value, customer_id, merged_from)
      VALUES (${t.tenantId}::uuid, 'email', 'merged@exemplu.ro', ${bob}::uuid, ${merged}::uuid),
             (${t.tenantId}::uuid, 'phone', '+40722000005', ${bob}::uuid, ${merged}::uuid)`);

    const found = await ctx.db.transaction((tx) => findIdentityCandidates(tx, t.tenantId, {
      externalIds: ['x-1', 'x-unknown'],
      emails: ['bob@exemplu.ro', 'deleted@exemplu.ro', 'merged@exemplu.ro', 'bob@exemplu.ro'],
      phones: ['+40722000003', '+40722000005'],
    }));
    expect(found.map((c) => c.id)).toEqual([ana, bob, phone].sort());
    const byId = new Map(found.map((c) => [c.id, c]));
    expect(byId.get(ana)).toMatchObject({ external_id: 'x-1', first_name: 'Ana' });
    expect(byId.get(ana)!.aliases).toBeUndefined();
    expect(byId.get(bob)!.aliases).toEqual([{ kind: 'email', value: 'merged@exemplu.ro' }, { kind: 'phone', value: '+40722000005' }]);
    expect(byId.get(phone)).toMatchObject({ phone: '+40722000003' });
    expect(byId.get(bob)!.created_at).toBeInstanceOf(Date);

    expect(await ctx.db.transaction((tx) => findIdentityCandidates(tx, t.tenantId, { externalIds: [], emails: [], phones: [] }))).toEqual([]);
    expect(await ctx.db.transaction((tx) => findIdentityCandidates(tx, t.tenantId, { externalIds: [], emails: ['deleted@exemplu.ro'], phones: [] }))).toEqual([]);

    // the id look-ups answer each asked customer once, whatever the duplicates or the order given
    const profiles = await readProfiles(ctx.db, t.tenantId, [phone, ana, ana]);
    expect([...profiles.keys()].sort()).toEqual([ana, phone].sort());
    expect(profiles.get(ana)).toMatchObject({ id: ana, external_id: 'x-1', first_name: 'Ana' });
    expect(profiles.get(ana)).not.toHaveProperty('search_text');
    const consents = await readConsents(ctx.db, t.tenantId, [bob, bob, ana]);
    expect([...consents.keys()].sort()).toEqual([ana, bob].sort());
    expect(consents.get(bob)).toEqual({});
    await ctx.db.transaction((tx) => lockCustomers(tx, t.tenantId, [phone, ana, phone.toUpperCase()]));
  });
});
