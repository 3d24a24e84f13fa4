export {
  createCrmClient,
  MAX_BATCH,
  type CrmClient,
  type CrmClientOptions,
  type RawCrmClient,
  type TrackEvent,
  type TrackOptions,
  type TrackActivityOptions,
  type IngestBody,
  type IngestResponse,
  type IngestResult,
  type IdentifyInput,
  type IdentifyResponse,
  type CustomerProfile,
  type CustomerClv,
  type ClvQuery,
  type CustomerIdentity,
  type AddMembersResponse,
  type LifetimeValue,
  type Tracker,
  type TrackerOptions,
} from './client.js';
export { CrmApiError, WebhookVerificationError } from './errors.js';
export { verifyWebhook, parseWebhook, type WebhookEvent, type WebhookEventType, type WebhookEnvelope, type VerifyOptions } from './webhooks.js';
export { RETRYABLE_STATUSES, parseRetryAfter } from './retry.js';
export type { paths, components, operations } from './schema.js';
