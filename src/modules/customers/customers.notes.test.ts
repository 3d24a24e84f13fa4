import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../db/database.js';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';
import { client, expectError, readAll } from './customers.test-helpers.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

async function setup() {
  const t = await createTestTenant(ctx.db);
  const api = client(ctx, t.headers);
  const c = await api.create({ email: `notes-${Math.random().toString(36).slice(2)}@x.ro` });
  return { api, c, tenantId: t.tenantId };
}

describe('notes', () => {
  it('create, read, replace, patch and delete, each on the timeline', async () => {
    const { api, c } = await setup();
    const created = await api.post(`/customers/${c.id}/notes`, { body: '  Called about the festival pass.  ' });
    expect(created.statusCode, created.body).toBe(201);
    const note = created.json();
    expect(note).toEqual({
      id: expect.any(String), customer_id: c.id, body: 'Called about the festival pass.', pinned: false,
      created_by: expect.stringMatching(/^key:/), created_at: expect.any(String), updated_at: expect.any(String),
    });
    expect((await api.get(`/customers/${c.id}/notes/${note.id}`)).json()).toEqual(note);

    const patched = await api.patch(`/customers/${c.id}/notes/${note.id}`, { pinned: true });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ body: note.body, pinned: true });

    const replaced = await api.put(`/customers/${c.id}/notes/${note.id}`, { body: 'Bought the pass.' });
    expect(replaced.json()).toMatchObject({ body: 'Bought the pass.', pinned: false });

    // no change → no timeline entry
    expect((await api.patch(`/customers/${c.id}/notes/${note.id}`, { body: 'Bought the pass.' })).statusCode).toBe(200);

    const deleted = await api.del(`/customers/${c.id}/notes/${note.id}`);
    expect(deleted.statusCode).toBe(204);
    expectError(await api.get(`/customers/${c.id}/notes/${note.id}`), 404, 'note_not_found');
    expectError(await api.del(`/customers/${c.id}/notes/${note.id}`), 404, 'note_not_found');
    expect((await api.get(`/customers/${c.id}/notes`)).json().data).toEqual([]);

    const entries = (await api.get(`/customers/${c.id}/timeline?type=note.*`)).json().data;
    expect(entries.map((e: any) => e.type)).toEqual(['note.deleted', 'note.updated', 'note.updated', 'note.added']);
    expect(entries.every((e: any) => e.source_id === note.id && e.data.note_id === note.id)).toBe(true);
    expect(entries[1].data).toMatchObject({ fields: ['body', 'pinned'], pinned: false });
    expect(entries[2].data).toMatchObject({ fields: ['pinned'], pinned: true });
    expect(entries[3].data).toMatchObject({ excerpt: 'Called about the festival pass.' });
  });

  it('validates the body', async () => {
    const { api, c } = await setup();
    expectError(await api.post(`/customers/${c.id}/notes`, {}), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/notes`, { body: '' }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/notes`, { body: '   ' }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/notes`, { body: 'x'.repeat(10001) }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/notes`, { body: 'x', pinned: 'yes' }), 400, 'validation_failed');
    expectError(await api.post(`/customers/${c.id}/notes`, { body: 'x', author: 'me' }), 400, 'validation_failed');
    expect((await api.post(`/customers/${c.id}/notes`, { body: 'x'.repeat(10000) })).statusCode).toBe(201);
    const note = (await api.get(`/customers/${c.id}/notes`)).json().data[0];
    expectError(await api.put(`/customers/${c.id}/notes/${note.id}`, { pinned: true }), 400, 'validation_failed');
    expectError(await api.patch(`/customers/${c.id}/notes/${note.id}`, { body: '' }), 400, 'validation_failed');
    expectError(await api.get(`/customers/${c.id}/notes/not-a-uuid`), 404, 'note_not_found');
    expectError(await api.get('/customers/not-a-uuid/notes'), 404, 'customer_not_found');
    expectError(await api.post(`/customers/00000000-0000-4000-8000-000000000000/notes`, { body: 'x' }), 404, 'customer_not_found');
  });

  it('a note belongs to its customer: another customer\'s path answers 404', async () => {
    const { api, c } = await setup();
    const d = await api.create({ email: 'other-customer@x.ro' });
    const note = (await api.post(`/customers/${c.id}/notes`, { body: 'for c' })).json();
    expectError(await api.get(`/customers/${d.id}/notes/${note.id}`), 404, 'note_not_found');
    expectError(await api.patch(`/customers/${d.id}/notes/${note.id}`, { pinned: true }), 404, 'note_not_found');
    expectError(await api.del(`/customers/${d.id}/notes/${note.id}`), 404, 'note_not_found');
    expect((await api.get(`/customers/${c.id}/notes/${note.id}`)).json().pinned).toBe(false);
  });

  it('lists pinned first, then newest first, across pages', async () => {
    const { api, c, tenantId } = await setup();
    const made: { id: string; pinned: boolean; at: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const pinned = i % 4 === 1;
      const n = (await api.post(`/customers/${c.id}/notes`, { body: `note ${i}`, pinned })).json();
      // several notes share a created_at to exercise the id tie-breaker
      const at = `2025-02-0${1 + Math.floor(i / 3)}T09:00:00.000000Z`;
      await ctx.db.run(sql`UPDATE customer_notes SET created_at = ${at}::timestamptz WHERE tenant_id = ${tenantId} AND id = ${n.id}::uuid`);
      made.push({ id: n.id, pinned, at });
    }
    const want = [...made]
      .sort((a, b) => Number(b.pinned) - Number(a.pinned) || (a.at < b.at ? 1 : a.at > b.at ? -1 : 0) || (a.id < b.id ? 1 : -1))
      .map((n) => n.id);
    const { items, pages } = await readAll(api, `/customers/${c.id}/notes`, 5);
    expect(pages).toBe(3);
    expect(items.map((n) => n.id)).toEqual(want);
    expect(items.slice(0, 3).every((n) => n.pinned)).toBe(true);
    expectError(await api.get(`/customers/${c.id}/notes?cursor=abc`), 400, 'invalid_cursor');
  });
});
