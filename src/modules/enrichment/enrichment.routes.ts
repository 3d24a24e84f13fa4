import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { CustomerParams } from '../customers/customers.schemas.js';
import * as s from './enrichment.schemas.js';
import * as service from './enrichment.service.js';

const tags = ['enrichment'];

export default async function enrichmentRoutes(app: CrmApp, { db, config }: AppDeps) {
  const ctx = (req: FastifyRequest): service.EnrichCtx => ({
    db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id,
  });

  app.get('/customers/:id/enrichment', {
    schema: {
      tags, summary: 'A customer\'s derived facts (phone country and line type, free-mail, time zone, age, external provider)',
      params: CustomerParams, response: { 200: s.EnrichmentResponse, ...errorResponses },
    },
  }, async (req) => service.getEnrichment(ctx(req), req.params.id));

  app.post('/customers/:id/enrich', {
    schema: {
      tags, summary: 'Enrich a customer now: local facts, then the external provider when ENRICHMENT_URL is set',
      description: 'A failing provider does not fail the request: the local facts are stored and external_error says why.',
      params: CustomerParams, response: { 200: s.EnrichResponse, ...errorResponses },
    },
  }, async (req) => service.enrichCustomer(ctx(req), req.params.id));
}
