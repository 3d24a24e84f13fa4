import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import { renderForCustomer } from '../messaging/messaging.service.js';
import * as schemas from './templates.schemas.js';
import * as service from './templates.service.js';

const tags = ['templates'];

export default async function templateRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = (req: { auth: { tenantId: string; actor: string }; id: string }): service.TemplatesCtx => ({
    db: deps.db, config: deps.config, tenantId: req.auth.tenantId, audit: { actor: req.auth.actor, requestId: req.id },
  });

  app.get('/templates', {
    schema: { tags, summary: 'Templates, newest first', querystring: schemas.TemplateListQuery, response: { 200: schemas.TemplatePage, ...errorResponses } },
  }, async (req) => service.listTemplates(ctx(req), req.query));

  app.post('/templates', {
    schema: {
      tags, summary: 'Create a template; Liquid/MJML errors are 400 template_invalid with details.line',
      body: schemas.TemplateBody, response: { 201: schemas.Template, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createTemplate(ctx(req), req.body)));

  app.get('/templates/:id', {
    schema: { tags, summary: 'One template', params: IdParams, response: { 200: schemas.Template, ...errorResponses } },
  }, async (req) => service.getTemplate(ctx(req), req.params.id));

  app.put('/templates/:id', {
    schema: { tags, summary: 'Replace a template', params: IdParams, body: schemas.TemplateBody, response: { 200: schemas.Template, ...errorResponses } },
  }, async (req) => service.updateTemplate(ctx(req), req.params.id, req.body));

  app.delete('/templates/:id', {
    schema: { tags, summary: 'Delete a template (not while an unfinished campaign uses it)', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await service.deleteTemplate(ctx(req), req.params.id);
    return reply.status(204).send(null);
  });

  app.post('/templates/preview', {
    schema: {
      tags, summary: 'Render unsaved template content (an editor\'s draft) for a customer; nothing is saved, sent or recorded',
      body: schemas.DraftPreviewBody, response: { 200: schemas.Preview, ...errorResponses, 422: errorResponses[400] },
    },
  }, async (req) => {
    const { customer_id: customerId, context, ...draft } = req.body;
    const { channel, content } = service.draftContent(draft);
    return renderForCustomer({ db: deps.db, config: deps.config }, { tenantId: req.auth.tenantId, customerId, channel, content, extraContext: context });
  });

  app.post('/templates/:id/preview', {
    schema: {
      tags, summary: 'Render the template for a customer (nothing is sent or recorded)',
      params: IdParams, body: schemas.PreviewBody, response: { 200: schemas.Preview, ...errorResponses, 422: errorResponses[400] },
    },
  }, async (req) => {
    const t = await service.getTemplate(ctx(req), req.params.id);
    return renderForCustomer({ db: deps.db, config: deps.config }, {
      tenantId: req.auth.tenantId, customerId: req.body.customer_id, channel: t.channel, content: { templateId: t.id }, extraContext: req.body.context,
    });
  });
}
