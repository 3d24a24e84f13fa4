import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { encodeCursor } from '../../lib/cursor.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, readAll, type Client } from './customers.test-helpers.js';

/**
 * 25 customers with known sort keys, including ties (same created_at, spend, last purchase, name),
 * microsecond-apart created_at values, customers without a last purchase and without a name.
 */
interface Fixture {
  id: string;
  i: number;
  first: string | null;
  last: string | null;
  company: string | null;
  email: string;
  phone: string | null;
  status: string;
  type: string;
  city: string;
  country: string;
  tier: string;
  tags: string[];
  created: string; // exact, microseconds
  spend: number;
  ltv: number;
  lastPurchase: string | null;
}

const LAST = ['Popescu', 'Ionescu', 'Dumitru', 'Stan', 'Gheorghe', 'Rusu', 'Munteanu', 'Matei', 'Ciobanu', 'Ababei', 'Toma', 'Zamfir'];
const FIRST = ['Ion', 'Maria', 'Andrei', 'Elena', 'Mihai', 'Ioana', 'Vlad', 'Ana'];
const CITIES = ['Cluj-Napoca', 'Iasi', 'Bucuresti', 'Timisoara'];

let ctx: TestContext;
let api: Client;
let other: Client;
let fx: Fixture[];

function pad(n: number, width: number) {
  return String(n).padStart(width, '0');
}

beforeAll(async () => {
  ctx = await createTestApp();
  const t = await createTestTenant(ctx.db);
  api = client(ctx, t.headers);
  other = client(ctx, (await createTestTenant(ctx.db)).headers);
  fx = [];
  for (let i = 0; i < 25; i++) {
    const nameless = i % 8 === 7;
    const business = i % 5 === 0;
    // i = 2 and i = 14 share a name (a tie on the name key).
    const f: Omit<Fixture, 'id'> = {
      i,
      first: nameless ? null : i === 14 ? 'Andrei' : FIRST[i % FIRST.length],
      last: nameless ? null : LAST[i % LAST.length],
      company: business ? `Firma ${String.fromCharCode(65 + i)} SRL` : null,
      email: `client${pad(i, 2)}@list.test`,
      phone: i < 5 ? `0722 123 4${pad(i, 2)}` : null,
      status: ['active', 'inactive', 'prospect'][i % 3],
      type: business ? 'business' : 'individual',
      city: CITIES[i % 4],
      country: i % 2 === 0 ? 'RO' : 'HU',
      tier: i % 4 === 0 ? 'gold' : 'bronze',
      tags: ['list', ...(i % 2 === 0 ? ['even'] : []), ...(i % 3 === 0 ? ['three'] : [])],
      // groups of 4 per minute; within a group µs 0,1,2,1 → ties and sub-millisecond order
      created: `2025-03-01T10:${pad(Math.floor(i / 4), 2)}:00.000${pad(i % 4 === 3 ? 1 : i % 4, 3)}Z`,
      spend: (i % 6) * 10 + (i % 6 === 5 ? 0.25 : 0),
      ltv: ((i * 3) % 7) * 25,
      lastPurchase: i % 5 === 0 ? null : `2025-0${1 + (i % 7 > 5 ? 5 : i % 7)}-10T18:30:00.000000Z`,
    };
    const body: Record<string, unknown> = {
      email: f.email, status: f.status, customer_type: f.type, city: f.city, country: f.country, tags: f.tags,
    };
    if (f.first) body.first_name = f.first;
    if (f.last) body.last_name = f.last;
    if (f.company) body.company_name = f.company;
    if (f.phone) body.phone = f.phone;
    const c = await api.create(body);
    await ctx.db.run(sql`
      UPDATE customers SET created_at = ${f.created}::timestamptz, total_spend = ${f.spend}, lifetime_value = ${f.ltv},
        last_purchase = ${f.lastPurchase}::timestamptz, loyalty_tier = ${f.tier}
      WHERE tenant_id = ${t.tenantId} AND id = ${c.id}::uuid`);
    fx.push({ ...f, id: c.id });
  }
  // Never listed: a deleted and a merged customer matching everything.
  const gone = await api.create({ email: 'client99@list.test', first_name: 'Ion', tags: ['list', 'even', 'three'], country: 'RO' });
  await api.del(`/customers/${gone.id}`);
  const merged = await api.create({ email: 'client98@list.test', first_name: 'Ion', tags: ['list', 'even', 'three'], country: 'RO' });
  await ctx.db.run(sql`UPDATE customers SET merged_into = ${fx[0].id}::uuid WHERE tenant_id = ${t.tenantId} AND id = ${merged.id}::uuid`);
  // Another tenant's look-alike.
  await other.create({ email: 'client00@list.test', first_name: 'Ion', last_name: 'Popescu', tags: ['list'] });
});
afterAll(async () => ctx.close());

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

function nameKey(f: Fixture): string | null {
  const key = `${f.last ?? ''} ${f.first ?? ''} ${f.company ?? ''}`.toLowerCase().trim();
  return key === '' ? null : key;
}

/** Expected order: key then id, in the direction; NULL keys last in both directions, by id. */
function expected(rows: Fixture[], key: (f: Fixture) => string | number | null, desc: boolean): string[] {
  const dir = desc ? -1 : 1;
  return [...rows]
    .sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (ka === null || kb === null) {
        if (ka === null && kb === null) return dir * cmp(a.id, b.id);
        return ka === null ? 1 : -1;
      }
      return dir * cmp(ka, kb) || dir * cmp(a.id, b.id);
    })
    .map((f) => f.id);
}

const ids = (items: any[]) => items.map((c) => c.id);

describe('sorting and keyset pagination', () => {
  const keys: Record<string, (f: Fixture) => string | number | null> = {
    created_at: (f) => f.created,
    last_purchase: (f) => f.lastPurchase,
    total_spend: (f) => f.spend,
    lifetime_value: (f) => f.ltv,
    name: nameKey,
  };

  for (const [field, key] of Object.entries(keys)) {
    for (const desc of [false, true]) {
      const sort = `${desc ? '-' : ''}${field}`;
      it(`sort=${sort}: every customer once, in order, across pages of 7`, async () => {
        const want = expected(fx, key, desc);
        const { items, pages } = await readAll(api, `/customers?sort=${sort}`, 7);
        expect(pages).toBe(4);
        expect(ids(items)).toEqual(want);
        // One page of everything gives the same order.
        expect(ids((await api.get(`/customers?sort=${sort}&limit=500`)).json().data)).toEqual(want);
      });
    }
  }

  it('defaults to -created_at and 50 per page', async () => {
    const res = await api.get('/customers');
    expect(res.json().next_cursor).toBeNull();
    expect(ids(res.json().data)).toEqual(expected(fx, keys.created_at, true));
  });

  it('ties on the key are broken by id and never lose or repeat a row at a page edge', async () => {
    for (const limit of [1, 2, 3, 5]) {
      for (const sort of ['total_spend', '-last_purchase', 'name', '-created_at']) {
        const field = sort.replace('-', '');
        const { items } = await readAll(api, `/customers?sort=${sort}`, limit);
        expect(ids(items), `${sort} limit ${limit}`).toEqual(expected(fx, keys[field], sort.startsWith('-')));
      }
    }
  });

  it('paginates filtered listings too', async () => {
    const { items } = await readAll(api, '/customers?tags=even&sort=-total_spend', 3);
    expect(ids(items)).toEqual(expected(fx.filter((f) => f.tags.includes('even')), keys.total_spend, true));
  });

  it('rejects a cursor from another sort, a forged cursor and a bad limit', async () => {
    const first = (await api.get('/customers?sort=total_spend&limit=2')).json();
    expect(first.next_cursor).toEqual(expect.any(String));
    expectError(await api.get(`/customers?sort=-created_at&cursor=${first.next_cursor}`), 400, 'invalid_cursor');
    expectError(await api.get('/customers?cursor=garbage'), 400, 'invalid_cursor');
    const forged = encodeCursor(['total_spend', "1; DROP TABLE customers", fx[0].id]);
    expectError(await api.get(`/customers?sort=total_spend&cursor=${forged}`), 400, 'invalid_cursor');
    const nullKey = encodeCursor(['total_spend', null, fx[0].id]);
    expectError(await api.get(`/customers?sort=total_spend&cursor=${nullKey}`), 400, 'invalid_cursor');
    expectError(await api.get('/customers?limit=0'), 400, 'validation_failed');
    expectError(await api.get('/customers?limit=501'), 400, 'validation_failed');
    expectError(await api.get('/customers?sort=email'), 400, 'validation_failed');
  });
});

describe('filters', () => {
  async function list(query: string): Promise<string[]> {
    const res = await api.get(`/customers?${query}&limit=500&sort=created_at`);
    expect(res.statusCode, res.body).toBe(200);
    return ids(res.json().data);
  }
  const want = (pred: (f: Fixture) => boolean) => expected(fx.filter(pred), (f) => f.created, false);

  it('search matches name fragments, e-mail, phone in another format and company', async () => {
    expect(await list('search=popes')).toEqual(want((f) => f.last === 'Popescu'));
    expect(await list('search=POPESCU')).toEqual(want((f) => f.last === 'Popescu'));
    // every word, in any order
    expect(await list('search=dumitru%20andrei')).toEqual(want((f) => f.last === 'Dumitru' && f.first === 'Andrei'));
    expect(await list('search=dumitru%20andrei').then((r) => r.length)).toBe(2);
    expect(await list('search=client07@list.test')).toEqual(want((f) => f.i === 7));
    expect(await list('search=%20CLIENT07@List.Test%20')).toEqual(want((f) => f.i === 7));
    expect(await list('search=client7@list.test')).toEqual([]);
    expect(await list('search=t07@list')).toEqual(want((f) => f.i === 7));
    expect(await list('search=client1')).toEqual(want((f) => f.i >= 10 && f.i <= 19));
    // stored +40722123403; searched in national format with spaces, and as a fragment
    expect(await list(`search=${encodeURIComponent('0722 123 403')}`)).toEqual(want((f) => f.i === 3));
    expect(await list(`search=${encodeURIComponent('+40 722 123 403')}`)).toEqual(want((f) => f.i === 3));
    expect(await list('search=123403')).toEqual(want((f) => f.i === 3));
    expect(await list('search=firma%20k')).toEqual(want((f) => f.i === 10));
    expect(await list('search=srl')).toEqual(want((f) => f.company !== null));
    expect(await list('search=nobody-here')).toEqual([]);
  });

  it('search treats LIKE wildcards literally', async () => {
    expect(await list('search=%25')).toEqual([]);
    expect(await list('search=client_0')).toEqual([]);
    expect(await list(`search=${encodeURIComponent('\\')}`)).toEqual([]);
  });

  it('tags: customers having all of them', async () => {
    expect(await list('tags=even')).toEqual(want((f) => f.tags.includes('even')));
    expect(await list('tags=even,three')).toEqual(want((f) => f.tags.includes('even') && f.tags.includes('three')));
    expect(await list('tags=EVEN,%20three%20')).toEqual(want((f) => f.tags.includes('even') && f.tags.includes('three')));
    expect(await list('tags=missing')).toEqual([]);
  });

  it('min_ltv, last_purchase_after (inclusive) and last_purchase_before (exclusive)', async () => {
    expect(await list('min_ltv=100')).toEqual(want((f) => f.ltv >= 100));
    expect(await list('min_ltv=0')).toEqual(want(() => true));
    expect(await list('last_purchase_after=2025-04-01')).toEqual(want((f) => f.lastPurchase !== null && f.lastPurchase >= '2025-04-01'));
    expect(await list('last_purchase_after=2025-03-10T18:30:00Z')).toEqual(
      want((f) => f.lastPurchase !== null && f.lastPurchase >= '2025-03-10T18:30:00'),
    );
    expect(await list('last_purchase_before=2025-04-01')).toEqual(want((f) => f.lastPurchase !== null && f.lastPurchase < '2025-04-01'));
    expect(await list('last_purchase_after=2025-03-10T18:30:00Z&last_purchase_before=2025-04-01')).toEqual(
      want((f) => f.lastPurchase !== null && f.lastPurchase >= '2025-03-10T18:30:00' && f.lastPurchase < '2025-04-01'),
    );
    expectError(await api.get('/customers?last_purchase_before=soon'), 400, 'validation_failed');
  });

  it('status, customer_type, city, country, loyalty_tier', async () => {
    expect(await list('status=prospect')).toEqual(want((f) => f.status === 'prospect'));
    expect(await list('customer_type=business')).toEqual(want((f) => f.type === 'business'));
    expect(await list('city=Iasi')).toEqual(want((f) => f.city === 'Iasi'));
    expect(await list('country=hu')).toEqual(want((f) => f.country === 'HU'));
    expect(await list('loyalty_tier=gold')).toEqual(want((f) => f.tier === 'gold'));
    expect(await list('status=active&country=RO&loyalty_tier=gold')).toEqual(
      want((f) => f.status === 'active' && f.country === 'RO' && f.tier === 'gold'),
    );
    expectError(await api.get('/customers?status=vip'), 400, 'validation_failed');
    expectError(await api.get('/customers?customer_type=x'), 400, 'validation_failed');
    expectError(await api.get('/customers?min_ltv=abc'), 400, 'validation_failed');
    expectError(await api.get('/customers?created_after=yesterday'), 400, 'validation_failed');
  });

  it('created_after (inclusive) and created_before (exclusive)', async () => {
    expect(await list('created_after=2025-03-01T10:02:00Z')).toEqual(want((f) => f.created >= '2025-03-01T10:02:00'));
    expect(await list('created_before=2025-03-01T10:02:00Z')).toEqual(want((f) => f.created < '2025-03-01T10:02:00'));
    expect(await list('created_after=2025-03-01T10:01:00Z&created_before=2025-03-01T10:03:00Z')).toEqual(
      want((f) => f.created >= '2025-03-01T10:01:00' && f.created < '2025-03-01T10:03:00'),
    );
    expect(await list('created_after=2025-03-02')).toEqual([]);
    expect(await list('created_before=2025-03-01')).toEqual([]);
  });

  it('combines search, filters and sort', async () => {
    const res = await api.get('/customers?search=list.test&tags=three&country=RO&sort=-lifetime_value&limit=500');
    expect(ids(res.json().data)).toEqual(
      expected(fx.filter((f) => f.tags.includes('three') && f.country === 'RO'), (f) => f.ltv, true),
    );
  });

  it('segment_id lists the segment\'s members only, with the other filters, sorts and pages', async () => {
    const seg = await api.post('/segments', { name: 'List test members', type: 'static' });
    expect(seg.statusCode, seg.body).toBe(201);
    const members = fx.filter((f) => f.i % 3 === 0);
    const added = await api.post(`/segments/${seg.json().id}/members`, { customer_ids: members.map((f) => f.id) });
    expect(added.json().added).toBe(members.length);
    const { items } = await readAll(api, `/customers?segment_id=${seg.json().id}&sort=-total_spend`, 3);
    expect(ids(items)).toEqual(expected(members, (f) => f.spend, true));
    expect(items.every((c: any) => c.segments.includes('List test members'))).toBe(true);
    const ro = await api.get(`/customers?segment_id=${seg.json().id}&country=RO&limit=500`);
    expect(new Set(ids(ro.json().data))).toEqual(new Set(members.filter((f) => f.country === 'RO').map((f) => f.id)));
    // unknown, another tenant's, or malformed segment ids
    expectError(await api.get('/customers?segment_id=00000000-0000-4000-8000-000000000000'), 404, 'segment_not_found');
    expectError(await other.get(`/customers?segment_id=${seg.json().id}`), 404, 'segment_not_found');
    expectError(await api.get('/customers?segment_id=nope'), 400, 'validation_failed');
  });

  it('never lists deleted or merged customers, nor another tenant\'s', async () => {
    const all = await list('tags=list');
    expect(all).toHaveLength(25);
    expect(new Set(all)).toEqual(new Set(fx.map((f) => f.id)));
    const otherList = (await other.get('/customers?search=client')).json().data;
    expect(otherList).toHaveLength(1);
    expect(fx.map((f) => f.id)).not.toContain(otherList[0].id);
  });
});
