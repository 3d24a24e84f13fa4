/** An error answer of the CRM API: `{ error: { code, message, details } }` with its HTTP status. */
export class CrmApiError extends Error {
  override readonly name = 'CrmApiError';
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(init: { status: number; code: string; message: string; details?: unknown }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? null;
  }

  /** Builds the error from a parsed error body (or anything else the server answered). */
  static from(status: number, body: unknown, fallbackMessage?: string): CrmApiError {
    const err = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    if (err && typeof err.code === 'string') {
      return new CrmApiError({
        status,
        code: err.code,
        message: typeof err.message === 'string' ? err.message : err.code,
        details: err.details,
      });
    }
    return new CrmApiError({
      status,
      code: status >= 500 ? 'server_error' : 'http_error',
      message: fallbackMessage ?? `HTTP ${status}`,
      details: body ?? null,
    });
  }
}

/** `parseWebhook` could not verify the signature (wrong secret, modified body, stale timestamp, bad header). */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
}
