import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './campaigns.schemas.js';
import * as service from './campaigns.service.js';

const tags = ['campaigns'];

export default async function campaignRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = (req: { auth: { tenantId: string; actor: string }; id: string }): service.CampaignsCtx => ({
    db: deps.db, config: deps.config, tenantId: req.auth.tenantId, audit: { actor: req.auth.actor, requestId: req.id }, jobs: deps.jobs,
  });
  const one = { params: IdParams, response: { 200: schemas.Campaign, ...errorResponses } };

  app.post('/campaigns', {
    schema: {
      tags, summary: 'Create a campaign (audience = segment_ids minus exclude_segment_ids; content or template_id; optional A/B subject test)',
      body: schemas.CampaignBody, response: { 201: schemas.Campaign, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await service.createCampaign(ctx(req), req.body)));

  app.get('/campaigns', {
    schema: { tags, summary: 'Campaigns, newest first', querystring: schemas.CampaignListQuery, response: { 200: schemas.CampaignPage, ...errorResponses } },
  }, async (req) => service.listCampaigns(ctx(req), req.query));

  // Registered before /campaigns/:id so "stats" is not taken for an id.
  app.get('/campaigns/stats', {
    schema: { tags, summary: 'Headline figures of recent campaigns and their totals', querystring: schemas.AllStatsQuery, response: { 200: schemas.AllStats, ...errorResponses } },
  }, async (req) => service.allCampaignStats(ctx(req), req.query));

  app.get('/campaigns/:id', { schema: { tags, summary: 'One campaign', ...one } }, async (req) => service.getCampaign(ctx(req), req.params.id));

  app.put('/campaigns/:id', {
    schema: { tags, summary: 'Replace a draft or scheduled campaign', params: IdParams, body: schemas.CampaignBody, response: one.response },
  }, async (req) => service.updateCampaign(ctx(req), req.params.id, req.body));

  app.post('/campaigns/:id/schedule', {
    schema: { tags, summary: 'Send at a time (a worker starts it then)', params: IdParams, body: schemas.ScheduleBody, response: one.response },
  }, async (req) => service.scheduleCampaign(ctx(req), req.params.id, req.body.send_at));

  app.post('/campaigns/:id/send', {
    schema: { tags, summary: 'Start sending now (in batches, by the worker)', params: IdParams, response: { 202: schemas.Campaign, ...errorResponses } },
  }, async (req, reply) => reply.status(202).send(await service.sendCampaign(ctx(req), req.params.id)));

  app.post('/campaigns/:id/pause', { schema: { tags, summary: 'Pause a scheduled or sending campaign', ...one } },
    async (req) => service.pauseCampaign(ctx(req), req.params.id));
  app.post('/campaigns/:id/resume', { schema: { tags, summary: 'Resume a paused campaign', ...one } },
    async (req) => service.resumeCampaign(ctx(req), req.params.id));
  app.post('/campaigns/:id/cancel', { schema: { tags, summary: 'Cancel; recipients not sent yet get nothing', ...one } },
    async (req) => service.cancelCampaign(ctx(req), req.params.id));

  app.post('/campaigns/:id/test', {
    schema: { tags, summary: 'Send the campaign to test addresses now ([Test] subject; not counted)', params: IdParams, body: schemas.TestBody, response: { 200: schemas.TestResult, ...errorResponses } },
  }, async (req) => {
    const results = await service.sendTest(ctx(req), req.params.id, req.body.emails);
    return { results: results.map((r, n) => ({ email: req.body.emails[n], status: r.status, reason: r.reason, message_id: r.messageId })) };
  });

  app.get('/campaigns/:id/stats', {
    schema: {
      tags, summary: 'Sent, delivered, bounces, unique opens/clicks, CTR, unsubscribes, conversions and revenue; per link, per A/B variant, over time',
      params: IdParams, querystring: schemas.CampaignStatsQuery, response: { 200: schemas.CampaignStats, ...errorResponses },
    },
  }, async (req) => service.campaignStats(ctx(req), req.params.id, req.query));

  app.get('/campaigns/:id/recipients', {
    schema: { tags, summary: 'Per-recipient status and timestamps', params: IdParams, querystring: schemas.RecipientListQuery, response: { 200: schemas.RecipientPage, ...errorResponses } },
  }, async (req) => service.listRecipients(ctx(req), req.params.id, req.query));
}
