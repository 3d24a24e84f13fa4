import crypto from 'node:crypto';
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './schema.js';
import { CrmApiError } from './errors.js';
import { retryingFetch, type RetryOptions } from './retry.js';

type JsonBody<T> = T extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type Ok<T> = T extends { responses: { 200: { content: { 'application/json': infer R } } } } ? R : never;

/** Who an event is about: at least one of external_id, email, phone. */
export interface CustomerIdentity {
  external_id?: string | null;
  email?: string | null;
  phone?: string | null;
  first_name?: string | null;
  last_name?: string | null;
}

/**
 * One event of the ingestion contract (`POST /api/crm/events`, README "Sending events"). The OpenAPI
 * document types `events` as `unknown[]` (the API validates each event on its own, so one bad event
 * does not fail the batch), hence this envelope is declared here, following the route's description.
 */
export interface TrackEvent {
  /** Idempotency key: the same id again is reported as `duplicate` and changes nothing. */
  id: string;
  /** order.created, order.completed, order.refunded, order.cancelled, user.registered, ticket.checked_in, cart.updated, cart.checked_out, customer.updated, interaction.logged, email.opened, email.clicked, custom.<name> */
  type: string;
  /** ISO 8601 timestamp. */
  occurred_at: string;
  customer: CustomerIdentity;
  data?: Record<string, unknown>;
}
/** The request body of POST /api/crm/events, as generated. */
export type IngestBody = JsonBody<paths['/api/crm/events']['post']>;
export type IngestResponse = Ok<paths['/api/crm/events']['post']>;
export type IngestResult = IngestResponse['results'][number];
export type IdentifyInput = JsonBody<paths['/api/crm/customers/identify']['post']>;
export type IdentifyResponse = Ok<paths['/api/crm/customers/identify']['post']>;
export type CustomerProfile = Ok<paths['/api/crm/customers/{id}']['get']>;
export type CustomerClv = Ok<paths['/api/crm/customers/{id}/clv']['get']>;
/** `as_of`, `time_unit`, `horizon` of GET /customers/{id}/clv. */
export type ClvQuery = NonNullable<paths['/api/crm/customers/{id}/clv']['get']['parameters']['query']>;
export type AddMembersResponse = Ok<paths['/api/crm/segments/{id}/members']['post']>;

/** The typed openapi-fetch client: every route of the API, typed from the generated `paths`. */
export type RawCrmClient = Client<paths>;

export const MAX_BATCH = 1000;

export interface CrmClientOptions {
  /** Where the service listens, e.g. `https://crm.internal:8084` (the `/api/crm` prefix is in the paths). */
  baseUrl: string;
  /** An API key (`Authorization: Bearer …`). */
  apiKey: string;
  /** Custom fetch (proxies, tests). Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Retries after the first attempt on 429/502/503/504 and network errors. Default 3. */
  retries?: number;
  /** Per-attempt timeout in ms (a timeout is retried like a network error). Default: none. */
  timeoutMs?: number;
  /** First backoff step in ms (doubles per attempt, full jitter). Default 250. */
  retryBaseDelayMs?: number;
  /** Cap of one wait, Retry-After included. Default 30 000. */
  retryMaxDelayMs?: number;
  onRetry?: RetryOptions['onRetry'];
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface TrackOptions {
  /** Batches sent at the same time. Default 1 (sequential, in order). */
  concurrency?: number;
}

export interface TrackActivityOptions {
  /** Idempotency key of the event (default: a new random id, so a repeated call records it twice). */
  id?: string;
  /** When it happened (default: now). */
  occurredAt?: Date | string;
}

export interface LifetimeValue {
  customer_id: string;
  /** `model`: the BG/NBD + Gamma-Gamma answer of GET /customers/{id}/clv; `profile`: the model could not answer (422), figures from the profile's metrics. */
  source: 'model' | 'profile';
  /** Spend so far (the model's historic_clv = spend up to as_of, or the profile's metrics.total_spend). */
  historic_clv: number;
  /** The profile's metrics.lifetime_value (spend of the last LTV_CALCULATION_PERIOD_DAYS); null when source = model. */
  lifetime_value: number | null;
  /** Predicted CLV over the horizon; null from the profile fallback or when the model has no prediction. */
  predicted_clv: number | null;
  p_alive: number | null;
  total_orders: number | null;
  total_spend: number | null;
  /** The model's full answer (source = model). */
  model: CustomerClv | null;
  /** Why the model did not answer (source = profile): the API's error code, e.g. not_enough_history. */
  fallback_reason: string | null;
}

export interface Tracker {
  /** Buffers one event; sends when the buffer reaches flushAt. */
  track(event: TrackEvent): void;
  /** Sends everything buffered now (waits for a flush already under way). */
  flush(): Promise<IngestResponse>;
  /** Stops the timer and flushes. */
  close(): Promise<IngestResponse>;
  /** Events waiting in the buffer. */
  readonly pending: number;
}

export interface TrackerOptions {
  /** Send when this many events are buffered. Default 500 (max 1000). */
  flushAt?: number;
  /** Send what is buffered at least this often. Default 1000 ms. */
  flushIntervalMs?: number;
  /** A background flush failed; its events are put back at the front of the buffer. Default: ignore. */
  onError?: (error: unknown) => void;
}

function emptyResult(): IngestResponse {
  return { accepted: 0, duplicates: 0, rejected: 0, results: [] };
}

function merge(into: IngestResponse, part: IngestResponse): IngestResponse {
  into.accepted += part.accepted;
  into.duplicates += part.duplicates;
  into.rejected += part.rejected;
  into.results.push(...part.results);
  return into;
}

/** Turns an openapi-fetch answer into its data, or throws CrmApiError. */
function unwrap<T>(res: { data?: T; error?: unknown; response: Response }): T {
  if (res.error !== undefined || !res.response.ok) throw CrmApiError.from(res.response.status, res.error, res.response.statusText);
  return res.data as T;
}

export interface CrmClient {
  /** The typed low-level client (openapi-fetch): `client.raw.GET('/api/crm/customers/{id}', { params: { path: { id } } })`. */
  readonly raw: RawCrmClient;
  /** Find or create a customer by external_id, then e-mail, then phone (same resolution as ingestion). */
  findOrCreate(input: IdentifyInput): Promise<CustomerProfile & { created: boolean }>;
  getCustomer(customerId: string): Promise<CustomerProfile>;
  /** Adds the customer to a static segment. */
  addToSegment(customerId: string, segmentId: string): Promise<AddMembersResponse>;
  /** Records a `custom.<type>` event on the customer's timeline. */
  trackActivity(customer: string | CustomerIdentity, type: string, data?: Record<string, unknown>, opts?: TrackActivityOptions): Promise<IngestResult>;
  /** CLV from the model; when it cannot answer (422 not_enough_history / clv_model_unavailable), the profile's metrics. */
  getLifetimeValue(customerId: string, query?: ClvQuery): Promise<LifetimeValue>;
  /** Sends any number of events in batches of ≤ 1000 and merges the per-event results (in input order). */
  track(events: TrackEvent[], opts?: TrackOptions): Promise<IngestResponse>;
  createTracker(opts?: TrackerOptions): Tracker;
}

export function createCrmClient(options: CrmClientOptions): CrmClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const fetchImpl = retryingFetch({
    retries: options.retries ?? 3,
    baseDelayMs: options.retryBaseDelayMs ?? 250,
    maxDelayMs: options.retryMaxDelayMs ?? 30_000,
    timeoutMs: options.timeoutMs,
    // Resolved per call, so a fetch patched after creation (mocks) is honoured.
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    onRetry: options.onRetry,
  });
  const raw = createClient<paths>({
    baseUrl,
    fetch: fetchImpl,
    headers: { ...options.headers, authorization: `Bearer ${options.apiKey}` },
  });

  async function getCustomer(customerId: string): Promise<CustomerProfile> {
    return unwrap(await raw.GET('/api/crm/customers/{id}', { params: { path: { id: customerId } } }));
  }

  async function sendBatch(events: TrackEvent[]): Promise<IngestResponse> {
    return unwrap(await raw.POST('/api/crm/events', { body: { events } }));
  }

  async function track(events: TrackEvent[], opts: TrackOptions = {}): Promise<IngestResponse> {
    const batches: TrackEvent[][] = [];
    for (let i = 0; i < events.length; i += MAX_BATCH) batches.push(events.slice(i, i + MAX_BATCH));
    const answers: IngestResponse[] = new Array(batches.length);
    const concurrency = Math.max(1, Math.min(opts.concurrency ?? 1, batches.length || 1));
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < batches.length) {
          const i = next++;
          answers[i] = await sendBatch(batches[i]);
        }
      }),
    );
    return answers.reduce(merge, emptyResult());
  }

  function createTracker(opts: TrackerOptions = {}): Tracker {
    const flushAt = Math.min(MAX_BATCH, Math.max(1, opts.flushAt ?? 500));
    let buffer: TrackEvent[] = [];
    let inFlight: Promise<IngestResponse> = Promise.resolve(emptyResult());
    let closed = false;

    const flush = (): Promise<IngestResponse> => {
      // Chained: flushes never overlap, so events leave in the order they were tracked.
      inFlight = inFlight.catch(() => emptyResult()).then(async () => {
        const out = emptyResult();
        while (buffer.length > 0) {
          const batch = buffer.slice(0, MAX_BATCH);
          buffer = buffer.slice(batch.length);
          try {
            merge(out, await sendBatch(batch));
          } catch (err) {
            buffer = batch.concat(buffer);
            throw err;
          }
        }
        return out;
      });
      return inFlight;
    };
    const background = () => {
      flush().catch((err) => opts.onError?.(err));
    };
    const timer = setInterval(() => {
      if (buffer.length > 0) background();
    }, opts.flushIntervalMs ?? 1000);
    timer.unref();

    return {
      track(event) {
        if (closed) throw new Error('tracker is closed');
        buffer.push(event);
        if (buffer.length >= flushAt) background();
      },
      flush,
      async close() {
        closed = true;
        clearInterval(timer);
        return flush();
      },
      get pending() {
        return buffer.length;
      },
    };
  }

  return {
    raw,
    getCustomer,
    track,
    createTracker,

    async findOrCreate(input) {
      const res = unwrap(await raw.POST('/api/crm/customers/identify', { body: input })) as IdentifyResponse;
      return { ...res.customer, created: res.created };
    },

    async addToSegment(customerId, segmentId) {
      return unwrap(await raw.POST('/api/crm/segments/{id}/members', {
        params: { path: { id: segmentId } },
        body: { customer_ids: [customerId] },
      }));
    },

    async trackActivity(customer, type, data = {}, opts = {}) {
      let identity: CustomerIdentity;
      if (typeof customer === 'string') {
        // Events name customers by identity, not by CRM id: look the profile up for one.
        const profile = await getCustomer(customer);
        if (profile.external_id) identity = { external_id: profile.external_id };
        else if (profile.email) identity = { email: profile.email };
        else if (profile.phone) identity = { phone: profile.phone };
        else {
          throw new CrmApiError({
            status: 422,
            code: 'customer_not_identifiable',
            message: `customer ${customer} has no external_id, email or phone to send an event for`,
          });
        }
      } else {
        identity = customer;
      }
      const name = type.startsWith('custom.') ? type : `custom.${type}`;
      const occurredAt = opts.occurredAt ?? new Date();
      const event: TrackEvent = {
        id: opts.id ?? `sdk_${crypto.randomUUID()}`,
        type: name,
        occurred_at: typeof occurredAt === 'string' ? occurredAt : occurredAt.toISOString(),
        customer: identity,
        data,
      };
      const res = await sendBatch([event]);
      const result = res.results[0];
      if (result.status === 'rejected') {
        throw new CrmApiError({ status: 400, code: result.code ?? 'event_rejected', message: result.reason ?? 'event rejected', details: result });
      }
      return result;
    },

    async getLifetimeValue(customerId, query) {
      const res = await raw.GET('/api/crm/customers/{id}/clv', { params: { path: { id: customerId }, query } });
      if (res.response.ok && res.data) {
        const clv = res.data;
        return {
          customer_id: customerId,
          source: 'model',
          historic_clv: clv.historic_clv,
          lifetime_value: null,
          predicted_clv: clv.predicted_clv,
          p_alive: clv.p_alive,
          total_orders: null,
          total_spend: null,
          model: clv,
          fallback_reason: null,
        };
      }
      const err = CrmApiError.from(res.response.status, res.error, res.response.statusText);
      if (err.status !== 422) throw err;
      // The model needs enough purchase history in the tenant (not_enough_history) or a fit that
      // converges (clv_model_unavailable); without it, answer what the profile knows.
      const profile = await getCustomer(customerId);
      return {
        customer_id: customerId,
        source: 'profile',
        historic_clv: profile.metrics.total_spend,
        lifetime_value: profile.metrics.lifetime_value,
        predicted_clv: null,
        p_alive: null,
        total_orders: profile.metrics.total_orders,
        total_spend: profile.metrics.total_spend,
        model: null,
        fallback_reason: err.code,
      };
    },
  };
}
