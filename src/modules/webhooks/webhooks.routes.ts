import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './webhooks.schemas.js';
import * as service from './webhooks.service.js';

const tags = ['webhooks'];
// Webhooks are integration settings and their deliveries carry customer data: admins only.
const config = { minRole: 'admin' as const };

export default async function webhookRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = (req: { auth: { tenantId: string; actor: string }; id: string }): service.WebhookCtx =>
    ({ db: deps.db, config: deps.config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id });

  app.get('/webhooks', {
    config,
    schema: { tags, summary: 'Webhook subscriptions, oldest first', querystring: schemas.ListWebhooksQuery, response: { 200: schemas.WebhookPage, ...errorResponses } },
  }, async (req) => service.listWebhooks(ctx(req), req.query));

  app.post('/webhooks', {
    config,
    schema: {
      tags, summary: 'Subscribe a URL to events; the answer carries the signing secret, shown only once',
      body: schemas.CreateWebhookBody, response: { 201: schemas.WebhookWithSecret, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createWebhook(ctx(req), req.body)));

  app.get('/webhooks/:id', {
    config,
    schema: { tags, summary: 'One webhook subscription (without its secret)', params: IdParams, response: { 200: schemas.Webhook, ...errorResponses } },
  }, async (req) => service.getWebhook(ctx(req), req.params.id));

  app.patch('/webhooks/:id', {
    config,
    schema: {
      tags, summary: 'Change url, event types, active flag or description',
      params: IdParams, body: schemas.UpdateWebhookBody, response: { 200: schemas.Webhook, ...errorResponses },
    },
  }, async (req) => service.updateWebhook(ctx(req), req.params.id, req.body));

  app.delete('/webhooks/:id', {
    config,
    schema: { tags, summary: 'Delete a subscription and its delivery records', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await service.deleteWebhook(ctx(req), req.params.id);
    return reply.status(204).send(null);
  });

  app.post('/webhooks/:id/rotate-secret', {
    config,
    schema: {
      tags, summary: 'Replace the signing secret; the answer carries the new one, shown only once',
      params: IdParams, response: { 200: schemas.WebhookWithSecret, ...errorResponses },
    },
  }, async (req) => service.rotateSecret(ctx(req), req.params.id));

  app.get('/webhooks/:id/deliveries', {
    config,
    schema: {
      tags, summary: 'Deliveries of a subscription, newest first: status, response code, attempts, last error',
      params: IdParams, querystring: schemas.DeliveryListQuery, response: { 200: schemas.DeliveryPage, ...errorResponses },
    },
  }, async (req) => service.listDeliveries(ctx(req), req.params.id, req.query));

  app.get('/webhooks/:id/deliveries/:deliveryId', {
    config,
    schema: { tags, summary: 'One delivery', params: schemas.DeliveryParams, response: { 200: schemas.Delivery, ...errorResponses } },
  }, async (req) => service.getDelivery(ctx(req), req.params.id, req.params.deliveryId));

  app.post('/webhooks/:id/deliveries/:deliveryId/replay', {
    config,
    schema: {
      tags, summary: 'Send the same event again (a new delivery, due now, with the same event id)',
      params: schemas.DeliveryParams, response: { 202: schemas.Delivery, ...errorResponses },
    },
  }, async (req, reply) => reply.status(202).send(await service.replayDelivery(ctx(req), req.params.id, req.params.deliveryId)));

  app.post('/webhooks/:id/test', {
    config,
    schema: {
      tags, summary: 'Send a webhook.test event now and answer the recorded attempt',
      params: IdParams, response: { 200: schemas.Delivery, ...errorResponses },
    },
  }, async (req) => service.sendTest(ctx(req), req.params.id));
}
