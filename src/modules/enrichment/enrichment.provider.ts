/**
 * External enrichment: a provider receives a customer's contact data and answers what it knows.
 * The HTTP adapter is off unless ENRICHMENT_URL is set; nothing here runs on the write path of
 * a customer (only POST /customers/{id}/enrich calls it), so a slow provider slows no ingestion.
 */

export interface ProviderInput {
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  company_name: string | null;
  country: string | null;
  city: string | null;
}

export interface EnrichmentProvider {
  readonly name: string;
  /** Facts about the customer (a JSON object), or null when the provider knows nothing. */
  enrich(input: ProviderInput): Promise<Record<string, unknown> | null>;
}

export class EnrichmentProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrichmentProviderError';
  }
}

/**
 * POSTs the contact data as JSON to the URL; 200 with a JSON object is the answer, 404 or 204
 * means "unknown", anything else (or a timeout) is an EnrichmentProviderError.
 */
export class HttpEnrichmentProvider implements EnrichmentProvider {
  readonly name = 'http';

  constructor(private readonly url: string, private readonly timeoutMs: number) {}

  async enrich(input: ProviderInput): Promise<Record<string, unknown> | null> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(input),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw new EnrichmentProviderError(`enrichment provider unreachable: ${(err as Error).message}`);
    }
    if (res.status === 404 || res.status === 204) return null;
    if (res.status !== 200) throw new EnrichmentProviderError(`enrichment provider answered ${res.status}`);
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      throw new EnrichmentProviderError('enrichment provider answered something that is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new EnrichmentProviderError('enrichment provider answered JSON that is not an object');
    }
    if (Buffer.byteLength(JSON.stringify(body)) > 16 * 1024) throw new EnrichmentProviderError('enrichment provider answer is larger than 16 KiB');
    return body as Record<string, unknown>;
  }
}
