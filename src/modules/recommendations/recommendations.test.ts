import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext, type TestTenant } from '../../test/helpers.js';
import { recommendEvents } from './recommendations.service.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

const DAY = 86_400_000;
const iso = (ms: number) => new Date(Date.now() + ms).toISOString();
let n = 0;

function api(t: TestTenant) {
  return {
    get: (url: string) => ctx.app.inject({ method: 'GET', url: `/api/crm${url}`, headers: t.headers }),
    post: (url: string, payload: object) => ctx.app.inject({ method: 'POST', url: `/api/crm${url}`, headers: t.headers, payload }),
  };
}

async function show(t: TestTenant, id: string, genres: string[], inDays: number, status = 'on_sale') {
  const r = await api(t).post('/catalog/events', { id, name: `Show ${id}`, genres, starts_at: iso(inDays * DAY), status });
  expect(r.statusCode).toBe(201);
}

async function events(t: TestTenant, list: object[]) {
  const r = await api(t).post('/events', { events: list });
  expect(r.json().rejected, JSON.stringify(r.json().results)).toBe(0);
  return r.json().results as { customer_id: string }[];
}

const buy = (ext: string, showIds: string[], daysAgo = 30) => ({
  id: `e${++n}`, type: 'order.completed', occurred_at: iso(-daysAgo * DAY), customer: { external_id: ext },
  data: { order_id: `o${n}`, total: 10 * showIds.length, items: showIds.map((id) => ({ event_id: id, quantity: 1, unit_price: 10 })) },
});
const checkIn = (ext: string, showId: string, daysAgo = 29) => ({
  id: `e${++n}`, type: 'ticket.checked_in', occurred_at: iso(-daysAgo * DAY), customer: { external_id: ext }, data: { event_id: showId },
});

describe('event recommendations', () => {
  it('ranks upcoming shows by genre affinity and co-attendance and leaves out what the customer bought', async () => {
    const t = await createTestTenant(ctx.db);
    await show(t, 'past-rock', ['rock'], -30);
    await show(t, 'past-jazz', ['jazz'], -60);
    await show(t, 'next-rock', ['rock'], 10);
    await show(t, 'next-pop', ['pop'], 5);
    await show(t, 'next-jazz', ['jazz'], 15);
    await show(t, 'next-bought', ['rock'], 20);
    await show(t, 'next-cancelled', ['rock'], 12, 'cancelled');
    const [me] = await events(t, [buy('me', ['past-rock', 'past-jazz', 'next-bought']), checkIn('me', 'past-rock')]);
    // peers who went to past-rock bought next-pop: co-attendance lifts it above jazz (genre weight 1 of 4)
    await events(t, [buy('p1', ['past-rock', 'next-pop']), buy('p2', ['past-rock', 'next-pop']), buy('p3', ['next-jazz'])]);

    const r = await api(t).get(`/customers/${me.customer_id}/recommendations?limit=10`);
    expect(r.statusCode).toBe(200);
    const data = r.json().data as { event_id: string; score: number; reasons: { genre_affinity: number; co_attendance: number; matched_genres: string[] } }[];
    expect(data.map((d) => d.event_id)).toEqual(['next-rock', 'next-pop', 'next-jazz']);
    // genre weights: rock = past-rock attended (2) + next-bought bought (1) = 3; jazz = past-jazz bought (1); total 4
    expect(data[0].reasons).toMatchObject({ genre_affinity: 0.75, co_attendance: 0, matched_genres: ['rock'] });
    expect(data[1].reasons).toMatchObject({ genre_affinity: 0, co_attendance: 1 });
    expect(data[2].reasons.genre_affinity).toBe(0.25);
    expect(data[0].score).toBeGreaterThan(data[1].score);

    expect((await api(t).get(`/customers/${me.customer_id}/recommendations?limit=1`)).json().data).toHaveLength(1);
    const fn = await recommendEvents(ctx.db, t.tenantId, me.customer_id, 2);
    expect(fn.map((x) => x.event_id)).toEqual(['next-rock', 'next-pop']);
  });

  it('a customer with no history gets the best-selling upcoming shows first', async () => {
    const t = await createTestTenant(ctx.db);
    await show(t, 'a', ['x'], 3);
    await show(t, 'b', ['y'], 4);
    await events(t, [buy('someone', ['b']), buy('other', ['b'])]);
    const [fresh] = await events(t, [{ id: `e${++n}`, type: 'user.registered', occurred_at: iso(0), customer: { external_id: 'new' }, data: {} }]);
    const data = (await api(t).get(`/customers/${fresh.customer_id}/recommendations`)).json().data as { event_id: string }[];
    expect(data.map((d) => d.event_id)).toEqual(['b', 'a']);
  });

  it('answers 404 for another tenant\'s customer and 400 for a bad limit', async () => {
    const t = await createTestTenant(ctx.db);
    const other = await createTestTenant(ctx.db);
    const [c] = await events(t, [buy('mine', [])]);
    const r = await api(other).get(`/customers/${c.customer_id}/recommendations`);
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe('customer_not_found');
    expect((await api(t).get(`/customers/${c.customer_id}/recommendations?limit=0`)).statusCode).toBe(400);
    expect((await api(t).get(`/customers/${c.customer_id}/recommendations?limit=51`)).statusCode).toBe(400);
  });
});
