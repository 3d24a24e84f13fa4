import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams, Page } from '../../lib/schemas.js';
import * as schemas from './interactions.schemas.js';
import * as service from './interactions.service.js';

const tags = ['interactions'];

export default async function interactionRoutes(app: CrmApp, { db }: AppDeps) {
  app.get('/customers/:id/interactions', {
    schema: {
      tags, summary: "A customer's interactions, newest first",
      params: schemas.CustomerIdParams, querystring: schemas.ListInteractionsQuery,
      response: { 200: Page(schemas.Interaction), ...errorResponses },
    },
  }, async (req) => service.listInteractions(db, req.auth.tenantId, req.params.id, req.query));

  app.post('/customers/:id/interactions', {
    schema: {
      tags, summary: 'Log an interaction (call, e-mail, meeting, …) with a customer',
      params: schemas.CustomerIdParams, body: schemas.CreateInteractionBody,
      response: { 201: schemas.Interaction, ...errorResponses },
    },
  }, async (req, reply) => {
    const row = await service.logInteraction(db, { ...req.auth, requestId: req.id }, req.params.id, req.body);
    return reply.status(201).send(row);
  });

  app.get('/interactions/:id', {
    schema: { tags, summary: 'One interaction', params: IdParams, response: { 200: schemas.Interaction, ...errorResponses } },
  }, async (req) => service.getInteraction(db, req.auth.tenantId, req.params.id));

  app.put('/interactions/:id', {
    schema: {
      tags, summary: 'Replace an interaction (left-out fields return to their defaults; occurred_at is kept when absent)',
      params: IdParams, body: schemas.ReplaceInteractionBody,
      response: { 200: schemas.Interaction, ...errorResponses },
    },
  }, async (req) => service.replaceInteraction(db, { ...req.auth, requestId: req.id }, req.params.id, req.body));

  app.patch('/interactions/:id', {
    schema: {
      tags, summary: 'Change some fields of an interaction (null clears an optional field)',
      params: IdParams, body: schemas.PatchInteractionBody,
      response: { 200: schemas.Interaction, ...errorResponses },
    },
  }, async (req) => service.patchInteraction(db, { ...req.auth, requestId: req.id }, req.params.id, req.body));

  app.delete('/interactions/:id', {
    schema: { tags, summary: 'Delete an interaction (soft delete; admins only)', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await service.deleteInteraction(db, { ...req.auth, requestId: req.id }, req.params.id);
    return reply.status(204).send(null);
  });

  app.get('/follow-ups', {
    schema: {
      tags, summary: 'Follow-ups due by due_before (default now + 7 days), soonest first, with the customer',
      querystring: schemas.FollowUpsQuery,
      response: { 200: schemas.FollowUpsPage, ...errorResponses },
    },
  }, async (req) => service.listFollowUps(db, req.auth.tenantId, req.query));
}
