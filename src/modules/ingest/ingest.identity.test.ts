import { describe, expect, it } from 'vitest';
import type { IdentityCandidate } from './ingest.repository.js';
import { hashKey, identityLockKeys, planIdentities, type Identity } from './ingest.identity.js';

const idn = (p: Partial<Identity>): Identity => ({ externalId: null, email: null, phone: null, firstName: null, lastName: null, ...p });
const cand = (p: Partial<IdentityCandidate> & { id: string }, daysOld = 0): IdentityCandidate => ({
  external_id: null, email: null, phone: null, first_name: null, last_name: null,
  created_at: new Date(Date.UTC(2025, 0, 1) - daysOld * 86400000), ...p,
});

describe('planIdentities', () => {
  it('resolves external_id before e-mail before phone', () => {
    const c = [cand({ id: 'A', external_id: 'x1' }), cand({ id: 'B', email: 'b@x.ro' }), cand({ id: 'C', phone: '+40700000001' })];
    const plan = planIdentities(c, [
      idn({ externalId: 'x1', email: 'b@x.ro', phone: '+40700000001' }),
      idn({ email: 'b@x.ro', phone: '+40700000001' }),
      idn({ phone: '+40700000001' }),
    ]);
    expect(plan.refs).toEqual([{ existing: 'A' }, { existing: 'B' }, { existing: 'C' }]);
    expect(plan.newCustomers).toEqual([]);
  });

  it('takes the oldest of several customers sharing an e-mail or phone', () => {
    const c = [cand({ id: 'young', email: 'e@x.ro', phone: '+40700000002' }, 1), cand({ id: 'old', email: 'e@x.ro', phone: '+40700000002' }, 9)];
    expect(planIdentities(c, [idn({ email: 'e@x.ro' }), idn({ phone: '+40700000002' })]).refs).toEqual([{ existing: 'old' }, { existing: 'old' }]);
  });

  it('attaches missing identifiers once, and later identities match them', () => {
    const c = [cand({ id: 'A', email: 'a@x.ro' }), cand({ id: 'B', external_id: 'held' })];
    const plan = planIdentities(c, [
      idn({ externalId: 'new_ext', email: 'a@x.ro', phone: '+40700000003' }),
      idn({ phone: '+40700000003' }),
      idn({ externalId: 'new_ext' }),
      idn({ externalId: 'other_ext', email: 'a@x.ro' }),
    ]);
    expect(plan.refs).toEqual([{ existing: 'A' }, { existing: 'A' }, { existing: 'A' }, { existing: 'A' }]);
    expect(plan.attachments.get('A')).toEqual({ externalId: 'new_ext', email: null, phone: '+40700000003' });
  });

  it('groups unmatched identities linked by any identifier into one new customer', () => {
    const plan = planIdentities([], [
      idn({ phone: '+40700000004' }),
      idn({ email: 'n@x.ro', firstName: 'Ana' }),
      idn({ email: 'n@x.ro', phone: '+40700000004', externalId: 'u9' }),
      idn({ email: 'solo@x.ro' }),
    ]);
    expect(plan.newCustomers).toHaveLength(2);
    expect(plan.refs).toEqual([{ group: 0 }, { group: 0 }, { group: 0 }, { group: 1 }]);
    expect(plan.newCustomers[0]).toMatchObject({ externalId: 'u9', email: 'n@x.ro', phone: '+40700000004', firstName: 'Ana', members: [0, 1, 2] });
  });

  it('lock keys are stable, deduplicated and sorted', () => {
    const keys = identityLockKeys('t', { externalIds: ['a', 'a'], emails: ['a'], phones: ['+4071'] });
    expect(keys).toHaveLength(3);
    expect([...keys].sort((x, y) => Number(x) - Number(y))).toEqual(keys);
    expect(hashKey('t|x|a')).toBe(hashKey('t|x|a'));
    expect(hashKey('t|x|a')).not.toBe(hashKey('t|e|a'));
    expect(Number.isSafeInteger(hashKey('anything'))).toBe(true);
  });
});
