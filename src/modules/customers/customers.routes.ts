import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import * as s from './customers.schemas.js';
import * as service from './customers.service.js';

const tags = ['customers'];
const NoContent = Type.Null({ description: 'done' });

export default async function customerRoutes(app: CrmApp, { db, config }: AppDeps) {
  const ctx = (req: FastifyRequest): service.CustomerCtx => ({ db, config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id });

  app.get('/customers', {
    schema: {
      tags, summary: 'List and search customers (keyset pagination)',
      description: 'Deleted and merged customers are never listed. `search` matches every word as a fragment of name, e-mail, phone '
        + 'or company; a whole e-mail address matches that address, and a phone number in any format matches the stored '
        + 'E.164 number. `segment_id` lists the members of that segment '
        + '(404 segment_not_found when the tenant has no such segment).',
      querystring: s.ListCustomersQuery, response: { 200: s.CustomerPage, ...errorResponses },
    },
  }, async (req) => service.listCustomers(ctx(req), req.query));

  app.post('/customers', {
    schema: {
      tags, summary: 'Create a customer', body: s.CustomerInput,
      response: { 201: s.CustomerProfile, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createCustomer(ctx(req), req.body)));

  app.post('/customers/identify', {
    schema: {
      tags, summary: 'Find or create a customer by external_id, e-mail or phone (same resolution as ingestion)',
      description: 'Answers 200 with the existing customer or 201 with the new one.',
      body: s.IdentifyBody, response: { 200: s.IdentifyResponse, 201: s.IdentifyResponse, ...errorResponses },
    },
  }, async (req, reply) => {
    const result = await service.identifyCustomer(ctx(req), req.body);
    return reply.status(result.created ? 201 : 200).send(result);
  });

  app.get('/customers/:id', {
    schema: {
      tags, summary: 'A customer profile with metrics, tags, preferences and consent',
      description: 'A merged-away id answers the survivor\'s profile (its `id` is the survivor\'s). Unknown, deleted, malformed or '
        + 'another tenant\'s ids answer 404 customer_not_found.',
      params: s.CustomerParams, response: { 200: s.CustomerProfile, ...errorResponses },
    },
  }, async (req) => service.getCustomer(ctx(req), req.params.id));

  app.put('/customers/:id', {
    schema: {
      tags, summary: 'Replace a customer\'s editable fields',
      description: 'Fields not given take their defaults (null, [], {}, individual, active), except consent, which changes only when given.',
      params: s.CustomerParams, body: s.CustomerInput, response: { 200: s.CustomerProfile, ...errorResponses },
    },
  }, async (req) => service.updateCustomer(ctx(req), req.params.id, req.body, 'replace'));

  app.patch('/customers/:id', {
    schema: {
      tags, summary: 'Change some of a customer\'s fields (null clears a field)',
      params: s.CustomerParams, body: s.CustomerInput, response: { 200: s.CustomerProfile, ...errorResponses },
    },
  }, async (req) => service.updateCustomer(ctx(req), req.params.id, req.body, 'merge'));

  app.delete('/customers/:id', {
    schema: {
      tags, summary: 'Soft-delete a customer (admins only)',
      params: s.CustomerParams, response: { 204: NoContent, ...errorResponses },
    },
  }, async (req, reply) => {
    await service.deleteCustomer(ctx(req), req.params.id);
    return reply.status(204).send(null);
  });

  app.post('/customers/:id/tags', {
    schema: {
      tags, summary: 'Add tags (idempotent); answers the customer\'s tags',
      params: s.CustomerParams, body: s.TagsBody, response: { 200: s.TagsResponse, ...errorResponses },
    },
  }, async (req) => service.changeTags(ctx(req), req.params.id, req.body.tags, 'add'));

  app.delete('/customers/:id/tags', {
    // Removing a tag edits the profile; it does not delete a customer.
    config: { minRole: 'employee' },
    schema: {
      tags, summary: 'Remove tags, given in the body or as ?tags=a,b; answers the customer\'s tags',
      params: s.CustomerParams, querystring: s.TagsQuery, body: Type.Union([s.TagsBody, Type.Null()], { description: 'optional when ?tags= is given' }),
      response: { 200: s.TagsResponse, ...errorResponses },
    },
  }, async (req) => {
    const given = [...(req.body?.tags ?? []), ...service.splitTags(req.query.tags)];
    return service.changeTags(ctx(req), req.params.id, given, 'remove');
  });

  app.get('/customers/:id/notes', {
    schema: {
      tags, summary: 'A customer\'s notes: pinned first, then newest first',
      params: s.CustomerParams, querystring: s.NoteListQuery, response: { 200: s.NotePage, ...errorResponses },
    },
  }, async (req) => service.listNotes(ctx(req), req.params.id, req.query));

  app.post('/customers/:id/notes', {
    schema: {
      tags, summary: 'Add a note', params: s.CustomerParams, body: s.NoteInput,
      response: { 201: s.Note, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createNote(ctx(req), req.params.id, req.body)));

  app.get('/customers/:id/notes/:noteId', {
    schema: { tags, summary: 'One note', params: s.NoteParams, response: { 200: s.Note, ...errorResponses } },
  }, async (req) => service.getNote(ctx(req), req.params.id, req.params.noteId));

  app.put('/customers/:id/notes/:noteId', {
    schema: {
      tags, summary: 'Replace a note (pinned defaults to false)', params: s.NoteParams, body: s.NoteInput,
      response: { 200: s.Note, ...errorResponses },
    },
  }, async (req) => service.updateNote(ctx(req), req.params.id, req.params.noteId, req.body, 'replace'));

  app.patch('/customers/:id/notes/:noteId', {
    schema: {
      tags, summary: 'Change a note\'s text or pin', params: s.NoteParams, body: s.NotePatch,
      response: { 200: s.Note, ...errorResponses },
    },
  }, async (req) => service.updateNote(ctx(req), req.params.id, req.params.noteId, req.body, 'merge'));

  app.delete('/customers/:id/notes/:noteId', {
    schema: { tags, summary: 'Delete a note (admins only)', params: s.NoteParams, response: { 204: NoContent, ...errorResponses } },
  }, async (req, reply) => {
    await service.deleteNote(ctx(req), req.params.id, req.params.noteId);
    return reply.status(204).send(null);
  });

  app.get('/customers/:id/orders', {
    schema: {
      tags, summary: 'A customer\'s orders, newest first, with items and refunds',
      params: s.CustomerParams, querystring: s.HistoryQuery, response: { 200: s.OrderPage, ...errorResponses },
    },
  }, async (req) => service.listOrders(ctx(req), req.params.id, req.query));

  app.get('/customers/:id/attendance', {
    schema: {
      tags, summary: 'A customer\'s check-ins, newest first, with the show',
      params: s.CustomerParams, querystring: s.HistoryQuery, response: { 200: s.AttendancePage, ...errorResponses },
    },
  }, async (req) => service.listAttendance(ctx(req), req.params.id, req.query));
}
