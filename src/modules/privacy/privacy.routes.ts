import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { CustomerParams } from '../customers/customers.schemas.js';
import * as s from './privacy.schemas.js';
import * as service from './privacy.service.js';

const tags = ['privacy'];

export default async function privacyRoutes(app: CrmApp, { db, config }: AppDeps) {
  const ctx = (req: FastifyRequest): service.PrivacyCtx => ({ db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id });

  app.get('/customers/:id/consent', {
    schema: {
      tags, summary: 'Current consent state (what sending and segments read) and the consent ledger',
      params: CustomerParams, response: { 200: s.ConsentResponse, ...errorResponses },
    },
  }, async (req) => service.getConsent(ctx(req), req.params.id));

  app.post('/customers/:id/consent', {
    schema: {
      tags, summary: 'Record a consent decision (appended to the ledger; the current state follows the latest decision)',
      params: CustomerParams, body: s.ConsentBody, response: { 201: s.ConsentResponse, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.recordConsent(ctx(req), req.params.id, req.body, req.ip)));

  app.get('/customers/:id/export', {
    // one person's data, on their request: employees handle these; bulk exports stay admin-only
    config: { minRole: 'employee' },
    schema: {
      tags, summary: 'Right of access: everything held about the customer, as JSON or (?format=zip) a ZIP of CSV files',
      description: 'Every call is recorded as an access request and in the audit trail.',
      params: CustomerParams, querystring: s.ExportQuery,
      response: { 200: s.CustomerExport, ...errorResponses },
    },
  }, async (req, reply) => {
    const format = req.query.format ?? 'json';
    const data = await service.exportCustomer(ctx(req), req.params.id, format);
    if (format === 'json') return data;
    reply.header('content-type', 'application/zip');
    reply.header('content-disposition', `attachment; filename="customer-${req.params.id}.zip"`);
    // the declared 200 body is the JSON form; Fastify pipes a stream without serializing it
    return reply.send(service.exportZip(data) as unknown as service.CustomerExport);
  });

  app.post('/customers/:id/erase', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Right to erasure: irreversible anonymisation of the customer (admins only)',
      description: 'Profile and free text are removed everywhere (timeline, notes, interactions, messages, import errors, audit snapshots); '
        + 'order totals stay so revenue figures hold; the e-mail and phone go on the suppression list (as hashes); '
        + 'customer.deleted is published with erased: true.',
      params: CustomerParams, body: s.EraseBody, response: { 200: s.ErasureResponse, ...errorResponses },
    },
  }, async (req) => service.eraseCustomer(ctx(req), req.params.id, req.body));

  app.get('/privacy/requests', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Access and erasure requests, newest first',
      querystring: s.PrivacyRequestsQuery, response: { 200: s.PrivacyRequestPage, ...errorResponses },
    },
  }, async (req) => service.listPrivacyRequests(ctx(req), req.query));

  app.get('/privacy/retention-runs', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'Runs of the retention job (RETENTION_INACTIVE_YEARS), newest first', response: { 200: s.RetentionRuns, ...errorResponses } },
  }, async (req) => service.listRetentionRuns(ctx(req)));
}
