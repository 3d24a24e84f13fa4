import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, retryingFetch } from '../src/retry.js';

function scripted(statuses: Array<number | Error>, headers: Record<string, string> = {}) {
  const calls: Request[] = [];
  const fetch = (async (req: Request) => {
    calls.push(req);
    const next = statuses[Math.min(calls.length - 1, statuses.length - 1)];
    if (next instanceof Error) throw next;
    return new Response(JSON.stringify({ n: calls.length }), { status: next, headers });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

describe('retryingFetch', () => {
  it('honours Retry-After on 429 and re-sends the body', async () => {
    const { fetch, calls } = scripted([429, 200], { 'retry-after': '2' });
    const waits: number[] = [];
    const f = retryingFetch({ retries: 3, baseDelayMs: 10, maxDelayMs: 30_000, fetch, sleep: async (ms) => void waits.push(ms) });
    const res = await f(new Request('http://x/api', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }));
    expect(res.status).toBe(200);
    expect(waits).toEqual([2000]);
    expect(await Promise.all(calls.map((c) => c.text()))).toEqual(['{"a":1}', '{"a":1}']);
  });

  it('caps Retry-After at maxDelayMs', async () => {
    const { fetch } = scripted([503, 200], { 'retry-after': '3600' });
    const waits: number[] = [];
    const f = retryingFetch({ retries: 3, baseDelayMs: 10, maxDelayMs: 5000, fetch, sleep: async (ms) => void waits.push(ms) });
    expect((await f(new Request('http://x/'))).status).toBe(200);
    expect(waits).toEqual([5000]);
  });

  it('retries 502/503/504, never 400/404/409/500', async () => {
    for (const s of [502, 503, 504]) {
      const { fetch, calls } = scripted([s, 200]);
      const f = retryingFetch({ retries: 3, baseDelayMs: 1, maxDelayMs: 10, fetch, sleep: async () => undefined });
      expect((await f(new Request('http://x/'))).status).toBe(200);
      expect(calls).toHaveLength(2);
    }
    for (const s of [400, 404, 409, 500]) {
      const { fetch, calls } = scripted([s, 200]);
      const f = retryingFetch({ retries: 3, baseDelayMs: 1, maxDelayMs: 10, fetch, sleep: async () => undefined });
      expect((await f(new Request('http://x/'))).status).toBe(s);
      expect(calls).toHaveLength(1);
    }
  });

  it('backs off exponentially with jitter', async () => {
    const { fetch, calls } = scripted([503, 503, 503, 503]);
    const waits: number[] = [];
    const f = retryingFetch({ retries: 3, baseDelayMs: 100, maxDelayMs: 10_000, fetch, sleep: async (ms) => void waits.push(ms) });
    expect((await f(new Request('http://x/'))).status).toBe(503);
    expect(calls).toHaveLength(4);
    expect(waits).toHaveLength(3);
    waits.forEach((w, i) => expect(w).toBeLessThanOrEqual(100 * 2 ** i));
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(10, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(3, 100, 10_000, () => 0)).toBe(0);
  });

  it('a timed-out attempt is retried like a network error (real HTTP server that hangs once)', async () => {
    let attempts = 0;
    const server = http.createServer((req, res) => {
      attempts++;
      if (attempts === 1) return; // never answers
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const f = retryingFetch({ retries: 2, baseDelayMs: 1, maxDelayMs: 10, timeoutMs: 100, fetch: globalThis.fetch });
      const res = await f(new Request(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }));
      expect(res.status).toBe(200);
      expect(attempts).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('does not retry when the caller aborted', async () => {
    const { fetch, calls } = scripted([new TypeError('fetch failed')]);
    const ac = new AbortController();
    ac.abort();
    const f = retryingFetch({ retries: 3, baseDelayMs: 1, maxDelayMs: 10, fetch, sleep: async () => undefined });
    await expect(f(new Request('http://x/', { signal: ac.signal }))).rejects.toThrow();
    expect(calls).toHaveLength(1);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
  });
});
