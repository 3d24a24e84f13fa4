/**
 * Expected failures carry a stable code; the HTTP status comes from one table (STATUS_BY_CODE),
 * and one error handler (app.ts) answers { error: { code, message, details } }.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const STATUS_BY_CODE = {
  validation_failed: 400,
  invalid_json: 400,
  invalid_email: 400,
  invalid_phone: 400,
  invalid_cursor: 400,
  invalid_request: 400,
  batch_too_large: 400,
  invalid_rule: 400,
  template_invalid: 400,
  invalid_token: 404,
  template_not_found: 404,
  campaign_not_found: 404,
  message_not_found: 404,
  template_exists: 409,
  template_in_use: 409,
  campaign_state_conflict: 409,
  no_recipients: 422,
  template_render_failed: 422,
  import_file_invalid: 400,
  invalid_merge: 400,
  invalid_workflow: 400,
  unauthorized: 401,
  invalid_credentials: 401,
  forbidden: 403,
  not_found: 404,
  customer_not_found: 404,
  duplicate_not_found: 404,
  dedupe_scan_not_found: 404,
  bulk_operation_not_found: 404,
  note_not_found: 404,
  segment_not_found: 404,
  workflow_not_found: 404,
  workflow_template_not_found: 404,
  interaction_not_found: 404,
  catalog_event_not_found: 404,
  api_key_not_found: 404,
  tenant_not_found: 404,
  user_not_found: 404,
  webhook_not_found: 404,
  webhook_delivery_not_found: 404,
  import_not_found: 404,
  route_not_found: 404,
  conflict: 409,
  customer_erased: 409,
  customer_conflict: 409,
  customer_already_merged: 409,
  catalog_event_exists: 409,
  catalog_event_in_use: 409,
  user_exists: 409,
  last_admin: 409,
  loyalty_tier_conflict: 409,
  insufficient_points: 409,
  segment_exists: 409,
  segment_in_use: 409,
  workflow_inactive: 409,
  workflow_not_triggerable: 409,
  not_enough_history: 422,
  clv_model_unavailable: 422,
  import_header_unmappable: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  database_locked: 503,
  not_ready: 503,
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

export function statusFor(code: ErrorCode): number {
  return STATUS_BY_CODE[code];
}

export const notFound = (code: ErrorCode & `${string}not_found`, what: string, id: string) =>
  new AppError(code, `${what} ${id} was not found`, { id });
