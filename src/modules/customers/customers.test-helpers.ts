import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { TestContext } from '../../test/helpers.js';

type Headers = { authorization: string };

/** Thin wrapper over app.inject for the customer API tests. */
export function client(ctx: TestContext, headers: Headers) {
  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    ctx.app.inject({ method, url: `/api/crm${url}`, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  return {
    get: (url: string) => call('GET', url),
    post: (url: string, body?: unknown) => call('POST', url, body ?? {}),
    put: (url: string, body: unknown) => call('PUT', url, body),
    patch: (url: string, body: unknown) => call('PATCH', url, body),
    del: (url: string, body?: unknown) => call('DELETE', url, body),
    /** Creates a customer and answers its profile (fails the test on a non-201). */
    async create(body: Record<string, unknown>) {
      const res = await call('POST', '/customers', body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json();
    },
  };
}
export type Client = ReturnType<typeof client>;

export function expectError(res: LightMyRequestResponse, status: number, code?: string) {
  expect(res.statusCode, res.body).toBe(status);
  if (code) expect(res.json().error.code).toBe(code);
}

/** Follows next_cursor until the end; answers every page's items. */
export async function readAll(api: Client, url: string, limit: number): Promise<{ items: any[]; pages: number }> {
  const items: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const res = await api.get(`${url}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.data.length).toBeLessThanOrEqual(limit);
    if (body.next_cursor) expect(body.data.length).toBe(limit);
    items.push(...body.data);
    cursor = body.next_cursor;
    pages++;
    if (pages > 1000) throw new Error('pagination does not end');
  } while (cursor);
  return { items, pages };
}
