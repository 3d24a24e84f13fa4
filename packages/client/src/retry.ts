/** Statuses worth another try: rate limited, or the server/gateway is temporarily unavailable. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export interface RetryOptions {
  /** Extra attempts after the first (0 = no retry). */
  retries: number;
  /** First backoff step; attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs · 2^n)] (full jitter). */
  baseDelayMs: number;
  /** Upper bound of one wait, including a server's Retry-After. */
  maxDelayMs: number;
  /** Per-attempt timeout until the response headers; a timed-out attempt counts as a network error (retried). */
  timeoutMs?: number;
  fetch: typeof globalThis.fetch;
  /** Test hook / logging: called before each wait. */
  onRetry?: (info: { attempt: number; delayMs: number; status?: number; error?: unknown; url: string }) => void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Retry-After as seconds or an HTTP date → milliseconds (null when absent or unreadable). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export function backoffDelay(attempt: number, base: number, max: number, random = Math.random): number {
  return Math.round(random() * Math.min(max, base * 2 ** attempt));
}

/**
 * A fetch that retries 429/502/503/504 answers and network errors (incl. per-attempt timeouts) with
 * exponential backoff and full jitter, honouring Retry-After. Other statuses (all other 4xx, 500) are
 * answered at once. An abort by the caller's own signal is never retried.
 */
export function retryingFetch(opts: RetryOptions): (input: Request) => Promise<Response> {
  const sleep = opts.sleep ?? defaultSleep;
  return async (input: Request) => {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= opts.retries;
      // One controller per attempt, following the caller's signal and the per-attempt timeout (a plain
      // timer: AbortSignal.timeout/any are weakly held in Node 20 and may never fire on a hung request).
      const controller = new AbortController();
      const onCallerAbort = () => controller.abort(input.signal.reason);
      if (input.signal.aborted) onCallerAbort();
      else input.signal.addEventListener('abort', onCallerAbort, { once: true });
      const timer = opts.timeoutMs
        ? setTimeout(() => controller.abort(new DOMException(`no response within ${opts.timeoutMs} ms`, 'TimeoutError')), opts.timeoutMs)
        : null;
      // Each attempt gets its own copy: a request body can be read only once.
      const request = new Request(input.clone(), { signal: controller.signal });
      let response: Response;
      try {
        response = await opts.fetch(request);
      } catch (error) {
        if (input.signal.aborted || last) throw error;
        const delayMs = backoffDelay(attempt, opts.baseDelayMs, opts.maxDelayMs);
        opts.onRetry?.({ attempt: attempt + 1, delayMs, error, url: input.url });
        await sleep(delayMs);
        continue;
      } finally {
        // The timeout covers the wait for the response headers, not the reading of the body.
        if (timer) clearTimeout(timer);
        input.signal.removeEventListener('abort', onCallerAbort);
      }
      if (!RETRYABLE_STATUSES.has(response.status) || last) return response;
      const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
      const delayMs = Math.min(opts.maxDelayMs, retryAfter ?? backoffDelay(attempt, opts.baseDelayMs, opts.maxDelayMs));
      // Free the connection before waiting.
      await response.body?.cancel().catch(() => undefined);
      opts.onRetry?.({ attempt: attempt + 1, delayMs, status: response.status, url: input.url });
      await sleep(delayMs);
    }
  };
}
