import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, Page } from '../../lib/schemas.js';
import { CustomerPage, CustomerProfile } from '../customers/customers.schemas.js';
import * as s from './segments.schemas.js';
import * as service from './segments.service.js';
import * as reports from './segments.reports.service.js';

const tags = ['segments'];

export default async function segmentRoutes(app: CrmApp, { db }: AppDeps) {
  const ctx = (req: FastifyRequest): service.SegmentCtx => ({ db, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id });

  app.post('/segments', {
    schema: {
      tags, summary: 'Create a segment (dynamic with rules, or static); a dynamic one is calculated at once',
      description: 'type defaults to dynamic when rules are given, static otherwise. Invalid rules answer 400 invalid_rule with '
        + 'details.path naming the offending condition (e.g. conditions[1].conditions[0].value).',
      body: s.CreateSegmentBody, response: { 201: s.Segment, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createSegment(ctx(req), req.body)));

  app.get('/segments', {
    schema: {
      tags, summary: 'List segments by name, with customer_count',
      querystring: s.ListQuery, response: { 200: Page(s.Segment), ...errorResponses },
    },
  }, async (req) => service.listSegments(ctx(req), req.query));

  app.post('/segments/preview', {
    // reading what rules would match changes nothing
    config: { minRole: 'viewer' },
    schema: {
      tags, summary: 'Count and sample (up to 10, newest first) of the customers that rules match, without saving',
      body: s.PreviewBody,
      response: { 200: Type.Object({ count: Type.Integer(), sample: Type.Array(CustomerProfile) }), ...errorResponses },
    },
  }, async (req) => service.previewSegment(ctx(req), req.body.rules));

  app.get('/segments/:id', {
    schema: { tags, summary: 'One segment', params: s.SegmentParams, response: { 200: s.Segment, ...errorResponses } },
  }, async (req) => service.getSegment(ctx(req), req.params.id));

  app.put('/segments/:id', {
    schema: {
      tags, summary: 'Replace a segment\'s name, description, type, rules, auto_update; a dynamic one is recalculated',
      description: 'description, type, rules and auto_update keep their values when left out.',
      params: s.SegmentParams, body: s.UpdateSegmentBody, response: { 200: s.Segment, ...errorResponses },
    },
  }, async (req) => service.updateSegment(ctx(req), req.params.id, req.body));

  app.delete('/segments/:id', {
    schema: {
      tags, summary: 'Delete a segment (admins only); 409 segment_in_use while another segment\'s rules name it',
      params: s.SegmentParams, response: { 204: Type.Null(), ...errorResponses },
    },
  }, async (req, reply) => {
    await service.deleteSegment(ctx(req), req.params.id);
    return reply.status(204).send(null);
  });

  app.get('/segments/:id/customers', {
    schema: {
      tags, summary: 'The segment\'s members, newest member first (keyset pagination)',
      params: s.SegmentParams, querystring: s.ListQuery, response: { 200: CustomerPage, ...errorResponses },
    },
  }, async (req) => service.listMembers(ctx(req), req.params.id, req.query));

  app.post('/segments/:id/calculate', {
    schema: {
      tags, summary: 'Recalculate a dynamic segment now; answers how many entered and exited, and the total',
      params: s.SegmentParams, response: { 200: s.CalculateResponse, ...errorResponses },
    },
  }, async (req) => service.calculateSegment(ctx(req), req.params.id));

  app.post('/segments/:id/members', {
    schema: {
      tags, summary: 'Add customers to a static segment (all ids must be customers of this tenant)',
      params: s.SegmentParams, body: s.MembersBody, response: { 200: s.AddMembersResponse, ...errorResponses },
    },
  }, async (req) => service.addMembers(ctx(req), req.params.id, req.body.customer_ids));

  app.delete('/segments/:id/members', {
    // removing members edits a list; it deletes nothing
    config: { minRole: 'employee' },
    schema: {
      tags, summary: 'Remove customers from a static segment (ids that are not members are ignored)',
      params: s.SegmentParams, body: s.MembersBody, response: { 200: s.RemoveMembersResponse, ...errorResponses },
    },
  }, async (req) => service.removeMembers(ctx(req), req.params.id, req.body.customer_ids));

  app.get('/segments/:id/analytics', {
    schema: {
      tags, summary: 'Segment analytics: size at the end of each day, entries and exits per day, revenue and LTV of members, share of customers',
      description: 'The series is rebuilt from membership history over the last `days` tenant-local days (default 90, today included).',
      params: s.SegmentParams, querystring: s.AnalyticsQuery, response: { 200: s.SegmentAnalytics, ...errorResponses },
    },
  }, async (req) => reports.segmentAnalytics(ctx(req), req.params.id, req.query));

  app.get('/segments/:id/export', {
    // personal data of a segment's members: employees and admins (DESIGN §5 keeps full-database exports from employees;
    // a segment export is allowed to them), not viewers
    config: { minRole: 'employee' },
    schema: {
      tags, summary: 'The segment\'s members as CSV (UTF-8 with BOM, RFC 4180, spreadsheet formulas neutralized), streamed',
      description: 'Unknown columns answer 400 validation_failed with details.unknown and details.allowed.',
      params: s.SegmentParams, querystring: s.ExportQuery,
      produces: ['text/csv'],
      response: { 200: Type.String({ description: 'text/csv; charset=utf-8' }), ...errorResponses },
    },
  }, async (req, reply) => {
    const out = await reports.exportMembers(ctx(req), req.params.id, req.query);
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${out.fileName}"; filename*=UTF-8''${out.fileNameUtf8}`)
      .header('cache-control', 'no-store')
      // the declared 200 body is the CSV text; Fastify pipes a stream without serializing it
      .send(out.stream as unknown as string);
  });
}
