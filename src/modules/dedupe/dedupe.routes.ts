import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { CustomerParams } from '../customers/customers.schemas.js';
import * as s from './dedupe.schemas.js';
import * as service from './dedupe.service.js';
import { mergeCustomers } from './merge.service.js';

const tags = ['duplicates'];

export default async function dedupeRoutes(app: CrmApp, deps: AppDeps) {
  const { db, config } = deps;
  const ctx = (req: FastifyRequest): service.DedupeCtx => ({
    db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id,
  });
  const jobDeps = (req: FastifyRequest): service.JobDeps => ({ db, config, jobs: deps.jobs, log: req.log });

  app.get('/duplicates/settings', {
    schema: { tags, summary: 'Duplicate detection settings of the tenant', response: { 200: s.DedupeSettingsResponse, ...errorResponses } },
  }, async (req) => service.getSettings(ctx(req)));

  app.put('/duplicates/settings', {
    // auto-merge changes customers without a person looking: an admin decision
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Replace the duplicate detection settings (keys not given take their defaults; admins only)',
      body: s.DedupeSettings, response: { 200: s.DedupeSettingsResponse, ...errorResponses },
    },
  }, async (req) => service.putSettings(ctx(req), req.body));

  app.get('/duplicates', {
    schema: {
      tags, summary: 'Candidate duplicate pairs, best score first (keyset pagination)',
      querystring: s.DuplicateListQuery, response: { 200: s.DuplicatePage, ...errorResponses },
    },
  }, async (req) => service.listDuplicates(ctx(req), req.query));

  app.post('/duplicates/scan', {
    schema: {
      tags, summary: 'Start a full duplicate scan of the tenant (a job); poll GET /duplicates/scans/{id}',
      response: { 202: s.Scan, ...errorResponses },
    },
  }, async (req, reply) => reply.status(202).send(await service.startScan(ctx(req), jobDeps(req))));

  app.get('/duplicates/scans/:id', {
    schema: { tags, summary: 'A duplicate scan\'s status', params: s.IdParam, response: { 200: s.Scan, ...errorResponses } },
  }, async (req) => service.getScan(ctx(req), req.params.id));

  app.get('/duplicates/:id', {
    schema: { tags, summary: 'One candidate pair', params: s.IdParam, response: { 200: s.Duplicate, ...errorResponses } },
  }, async (req) => service.getDuplicate(ctx(req), req.params.id));

  app.post('/duplicates/:id/dismiss', {
    schema: {
      tags, summary: 'Mark a pair as not the same person (later scans keep it dismissed)',
      params: s.IdParam, response: { 200: s.Duplicate, ...errorResponses },
    },
  }, async (req) => service.dismissDuplicate(ctx(req), req.params.id));

  app.post('/customers/:id/merge', {
    schema: {
      tags: ['customers', ...tags],
      summary: 'Merge duplicates into this customer (the survivor), atomically',
      description: 'Chosen `fields` come from the named record; otherwise the survivor\'s value, or the first merged record\'s when the '
        + 'survivor has none. Tags, addresses, notes, preferences and custom fields are combined; consent is the most restrictive '
        + '(an explicit "no" beats a "yes"). Orders, check-ins, timeline, interactions, carts, loyalty ledger, consent ledger and '
        + 'segment memberships move to the survivor; metrics and loyalty are recomputed. Merged records stay as tombstones: '
        + 'GET /customers/{merged id} answers the survivor, and their external ids, e-mails and phones resolve to the survivor '
        + 'in ingestion. `dry_run` answers the resulting profile and changes nothing. Errors: 400 invalid_merge (itself, '
        + 'duplicates, a field naming another record), 404 customer_not_found (unknown, deleted, another tenant\'s), '
        + '409 customer_already_merged.',
      params: CustomerParams, body: s.MergeBody, response: { 200: s.MergeResponse, ...errorResponses },
    },
  }, async (req) => mergeCustomers({ db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id }, req.params.id, req.body));
}
