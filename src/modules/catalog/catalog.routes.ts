import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, Page } from '../../lib/schemas.js';
import * as schemas from './catalog.schemas.js';
import * as service from './catalog.service.js';

const tags = ['catalog'];

export default async function catalogRoutes(app: CrmApp, { db }: AppDeps) {
  app.get('/catalog/events', {
    schema: {
      tags, summary: "The organizer's shows, by start time, with tickets sold and check-ins",
      querystring: schemas.ListCatalogEventsQuery,
      response: { 200: Page(schemas.CatalogEvent), ...errorResponses },
    },
  }, async (req) => service.listCatalogEvents(db, req.auth.tenantId, req.query));

  app.post('/catalog/events', {
    schema: {
      tags, summary: 'Add a show (id optional: the platform\'s event id, else generated)',
      body: schemas.CreateCatalogEventBody,
      response: { 201: schemas.CatalogEvent, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createCatalogEvent(db, req.auth.tenantId, req.body, { actor: req.auth.actor, requestId: req.id })));

  app.get('/catalog/events/:id', {
    schema: {
      tags, summary: 'One show with tickets sold and check-ins',
      params: schemas.CatalogEventParams, response: { 200: schemas.CatalogEvent, ...errorResponses },
    },
  }, async (req) => service.getCatalogEvent(db, req.auth.tenantId, req.params.id));

  app.put('/catalog/events/:id', {
    schema: {
      tags, summary: 'Replace a show (left-out fields return to their defaults)',
      params: schemas.CatalogEventParams, body: schemas.ReplaceCatalogEventBody,
      response: { 200: schemas.CatalogEvent, ...errorResponses },
    },
  }, async (req) => service.replaceCatalogEvent(db, req.auth.tenantId, req.params.id, req.body, { actor: req.auth.actor, requestId: req.id }));

  app.patch('/catalog/events/:id', {
    schema: {
      tags, summary: 'Change some fields of a show',
      params: schemas.CatalogEventParams, body: schemas.PatchCatalogEventBody,
      response: { 200: schemas.CatalogEvent, ...errorResponses },
    },
  }, async (req) => service.patchCatalogEvent(db, req.auth.tenantId, req.params.id, req.body, { actor: req.auth.actor, requestId: req.id }));

  app.delete('/catalog/events/:id', {
    schema: {
      tags, summary: 'Delete a show nobody bought or attended (admins only); otherwise cancel it with status',
      params: schemas.CatalogEventParams, response: { 204: Type.Null(), ...errorResponses },
    },
  }, async (req, reply) => {
    await service.deleteCatalogEvent(db, req.auth.tenantId, req.params.id, { actor: req.auth.actor, requestId: req.id });
    return reply.status(204).send(null);
  });
}
