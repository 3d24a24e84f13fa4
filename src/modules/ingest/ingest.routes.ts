import type { AppDeps, CrmApp } from '../../app.js';
import { ErrorResponse } from '../../lib/schemas.js';
import { EVENT_TYPES, IngestBody, IngestResponse, MAX_BATCH, REJECTION_CODES } from './ingest.schemas.js';
import { ingestAndSegment } from './ingest.pipeline.js';

export default async function ingestRoutes(app: CrmApp, { db, config }: AppDeps) {
  app.post('/events', {
    schema: {
      tags: ['ingest'],
      summary: `Ingest a batch of 1 to ${MAX_BATCH} platform events`,
      description:
        'Idempotent by event id (the same id twice is applied once and reported as `duplicate`). Each event is ' +
        'validated on its own; a bad one is `rejected` with a `code` and a `reason` while the others are applied. ' +
        `Types: ${EVENT_TYPES.join(', ')}, custom.<name>. Rejection codes: ${REJECTION_CODES.join(', ')}. ` +
        `More than ${MAX_BATCH} events: 400 batch_too_large and nothing is applied.`,
      body: IngestBody,
      response: { 200: IngestResponse, 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 413: ErrorResponse },
    },
  }, async (req) => ingestAndSegment(db, { tenantId: req.auth.tenantId, config, actor: req.auth.actor, requestId: req.id, log: req.log }, req.body.events));
}
