import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams, PageQuery } from '../../lib/schemas.js';
import * as schemas from './automation.schemas.js';
import * as service from './automation.service.js';

const tags = ['workflows'];

export default async function automationRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = (req: { auth: { tenantId: string; actor: string }; id: string }): service.AutomationCtx => ({
    db: deps.db, config: deps.config, tenantId: req.auth.tenantId, actor: req.auth.actor, requestId: req.id,
  });

  app.get('/workflows', {
    schema: { tags, summary: 'Workflows (automated journeys), oldest first', querystring: schemas.ListWorkflowsQuery, response: { 200: schemas.WorkflowPage, ...errorResponses } },
  }, async (req) => service.listWorkflows(ctx(req), req.query));

  app.post('/workflows', {
    schema: {
      tags, summary: 'Create a workflow: a trigger, a step graph and a re-entry policy (inactive unless active: true)',
      body: schemas.CreateWorkflowBody, response: { 201: schemas.Workflow, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createWorkflow(ctx(req), req.body)));

  app.get('/workflows/:id', {
    schema: { tags, summary: 'One workflow with its enrollment counts', params: IdParams, response: { 200: schemas.Workflow, ...errorResponses } },
  }, async (req) => service.getWorkflow(ctx(req), req.params.id));

  app.get('/workflows/:id/stats', {
    schema: {
      tags, summary: 'Enrollment counts of a workflow per step (waiting there now, failed there, passed through), counted over all enrollments',
      params: IdParams, response: { 200: schemas.WorkflowStepStats, ...errorResponses },
    },
  }, async (req) => service.workflowStats(ctx(req), req.params.id));

  app.patch('/workflows/:id', {
    schema: {
      tags, summary: 'Change name, trigger, steps (the whole list) or re-entry policy; running enrollments continue on the new graph',
      params: IdParams, body: schemas.UpdateWorkflowBody, response: { 200: schemas.Workflow, ...errorResponses },
    },
  }, async (req) => service.updateWorkflow(ctx(req), req.params.id, req.body));

  app.delete('/workflows/:id', {
    schema: { tags, summary: 'Delete a workflow; its running enrollments end', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
  }, async (req, reply) => {
    await service.deleteWorkflow(ctx(req), req.params.id);
    return reply.status(204).send(null);
  });

  app.post('/workflows/:id/steps', {
    schema: {
      tags, summary: 'Add a step after another one (default: after the last step)',
      params: IdParams, body: schemas.AddStepBody, response: { 201: schemas.Workflow, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.addStep(ctx(req), req.params.id, req.body)));

  app.post('/workflows/:id/toggle', {
    schema: {
      tags, summary: 'Switch a workflow on or off (body {active} sets it; no body flips it). Off pauses running enrollments.',
      params: IdParams, body: Type.Union([schemas.ToggleBody, Type.Null()], { description: 'optional' }), response: { 200: schemas.Workflow, ...errorResponses },
    },
  }, async (req) => service.toggleWorkflow(ctx(req), req.params.id, req.body?.active));

  app.post('/workflows/:id/trigger', {
    schema: {
      tags, summary: 'Enroll a customer in an active custom-trigger workflow (subject to its re-entry policy)',
      params: IdParams, body: schemas.TriggerBody, response: { 202: schemas.TriggerResult, ...errorResponses },
    },
  }, async (req, reply) => reply.status(202).send(await service.triggerWorkflow(ctx(req), req.params.id, req.body)));

  app.get('/workflows/:id/enrollments', {
    schema: {
      tags, summary: 'Enrollments of a workflow, newest first: each customer\'s state, current step and step log',
      params: IdParams, querystring: schemas.ListEnrollmentsQuery, response: { 200: schemas.EnrollmentPage, ...errorResponses },
    },
  }, async (req) => service.listWorkflowEnrollments(ctx(req), req.params.id, req.query));

  app.get('/customers/:id/workflows', {
    schema: {
      tags, summary: 'The workflows a customer is or was in, newest first',
      params: IdParams,
      querystring: Type.Object({ ...PageQuery, status: schemas.ListEnrollmentsQuery.properties.status }, { additionalProperties: false }),
      response: { 200: schemas.EnrollmentPage, ...errorResponses },
    },
  }, async (req) => service.listCustomerEnrollments(ctx(req), req.params.id, req.query));

  app.get('/workflow-templates', {
    schema: { tags, summary: 'Ready-made workflows for the common use cases', response: { 200: schemas.WorkflowTemplateList, ...errorResponses } },
  }, async (req) => service.listWorkflowTemplates(ctx(req)));

  app.post('/workflow-templates/:key/enable', {
    schema: {
      tags, summary: 'Create (and by default switch on) the workflow of a use case with its e-mail templates',
      params: schemas.TemplateKeyParams, body: Type.Union([schemas.EnableTemplateBody, Type.Null()], { description: 'optional' }), response: { 201: schemas.EnableTemplateResult, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.enableWorkflowTemplate(ctx(req), req.params.key, req.body ?? {})));
}
