import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import * as s from './bulk.schemas.js';
import * as service from './bulk.service.js';

const tags = ['bulk'];

export default async function bulkRoutes(app: CrmApp, deps: AppDeps) {
  const { db, config } = deps;
  const ctx = (req: FastifyRequest): service.BulkCtx => ({
    db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, role: req.auth.role, requestId: req.id,
  });

  app.post('/bulk', {
    schema: {
      tags, summary: 'Start a bulk operation on many customers (a job); poll GET /bulk/{id}',
      description: 'Actions: tag / untag (params.tags), add_to_segment (params.segment_id of a static segment), update_field '
        + '(params.field, params.value), delete (admins only). Target: {"ids": [...]}, {"segment_id"} or {"filter": {…the '
        + 'query parameters of GET /customers…}}. Customers are changed in batches of 500, each batch with its timeline '
        + 'entries, customer.updated/deleted events, audit entries and segment re-evaluation.',
      body: s.BulkBody, response: { 202: s.BulkAccepted, ...errorResponses },
    },
  }, async (req, reply) => {
    const op = await service.createBulk(ctx(req), req.body as service.BulkInput, { db, config, jobs: deps.jobs, log: req.log });
    return reply.status(202).send({ id: op.id, status: op.status });
  });

  app.get('/bulk/:id', {
    schema: {
      tags, summary: 'A bulk operation: status, counts and the per-customer error report',
      params: s.BulkParams, response: { 200: s.BulkOperation, ...errorResponses },
    },
  }, async (req) => service.getBulk(ctx(req), req.params.id));
}
