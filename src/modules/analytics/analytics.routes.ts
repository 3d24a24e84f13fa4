import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as s from './analytics.schemas.js';
import * as service from './analytics.service.js';
import { refreshScores } from './scores.service.js';
import * as vip from './vip.service.js';

const tags = ['analytics'];

export default async function analyticsRoutes(app: CrmApp, { db, config }: AppDeps) {
  const ctx = (req: FastifyRequest): service.AnalyticsCtx => ({ db, config, tenantId: req.auth.tenantId });
  const responses = { ...errorResponses, ...s.analyticsErrors };

  app.get('/analytics/rfm', {
    schema: {
      tags, summary: 'RFM analysis (seed 003): customers, revenue and share per RFM segment; score distributions',
      description: 'Computed from the current profile metrics at request time. Segment rules: README, "Analytics".',
      response: { 200: s.RfmResponse, ...responses },
    },
  }, async (req) => service.rfmAnalysis(ctx(req)));

  app.get('/analytics/ltv', {
    schema: {
      tags, summary: 'Predictive CLV: BG/NBD + Gamma-Gamma fit, predicted-CLV distribution, by RFM segment, by source (ROI), top customers',
      description: 'as_of (calibration end) and time_unit make the fit reproducible. Too little data answers 422 not_enough_history; '
        + 'a degenerate or non-converging fit 422 clv_model_unavailable.',
      querystring: s.LtvQuery, response: { 200: s.LtvResponse, ...responses },
    },
  }, async (req) => service.ltvAnalysis(ctx(req), req.query));

  app.get('/customers/:id/clv', {
    schema: {
      tags, summary: "One customer's CLV: P(alive), expected purchases and order value, predicted and historic CLV",
      params: IdParams, querystring: s.ClvQuery, response: { 200: s.CustomerClvResponse, ...responses },
    },
  }, async (req) => service.customerClv(ctx(req), req.params.id, req.query));

  app.post('/analytics/scores/refresh', {
    schema: {
      tags, summary: 'Recompute RFM, P(alive), predicted CLV, churn risk, lifecycle stage and engagement now (the daily job does the same)',
      response: { 200: s.RefreshResponse, ...responses },
    },
  }, async (req) => refreshScores(db, config, req.auth.tenantId, { actor: req.auth.actor, requestId: req.id }));

  app.get('/analytics/overview', {
    schema: {
      tags, summary: 'Dashboard metrics: active customers 30/60/90 days, acquisition and churn rates, average LTV, lifecycle, segment growth',
      response: { 200: s.OverviewResponse, ...responses },
    },
  }, async (req) => service.analyticsOverview(ctx(req)));

  app.get('/analytics/cohorts', {
    schema: {
      tags, summary: 'Acquisition cohorts (period of first purchase) × periods since: retention, revenue or active customers',
      querystring: s.CohortsQuery, response: { 200: s.CohortsResponse, ...responses },
    },
  }, async (req) => service.cohorts(ctx(req), req.query));

  app.get('/analytics/purchase-patterns', {
    schema: {
      tags, summary: 'Purchase patterns: weekday × hour, days between purchase and show, genre affinity, tickets per order, inter-purchase time',
      response: { 200: s.PurchasePatternsResponse, ...responses },
    },
  }, async (req) => service.purchasePatterns(ctx(req)));

  app.get('/analytics/acquisition-costs', {
    schema: { tags, summary: 'Acquisition cost per source (for ROI in /analytics/ltv)', response: { 200: s.AcquisitionCostsResponse, ...responses } },
  }, async (req) => service.getAcquisitionCosts(ctx(req)));

  app.put('/analytics/acquisition-costs', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Replace the acquisition costs per source',
      body: s.AcquisitionCostsBody, response: { 200: s.AcquisitionCostsResponse, ...responses },
    },
  }, async (req) => service.putAcquisitionCosts(ctx(req), req.body.costs, { actor: req.auth.actor, requestId: req.id }));

  app.get('/analytics/vip-rule', {
    schema: {
      tags, summary: 'The tenant\'s VIP rule (default: top 5 % of buyers by total spend, or total spend >= 5000) and how many customers are VIP',
      response: { 200: s.VipRuleResponse, ...responses },
    },
  }, async (req) => vip.getVipRule(db, req.auth.tenantId));

  app.put('/analytics/vip-rule', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Replace the VIP rule; every customer\'s is_vip is recomputed at once (one UPDATE, vip.changed timeline entries)',
      description: 'VIP = (buyer in the top top_percent % by total_spend OR total_spend >= min_total_spend) AND rules. '
        + 'Invalid rules answer 400 invalid_rule with details.path.',
      body: s.VipRuleBody, response: { 200: s.VipRuleResponse, ...responses },
    },
  }, async (req) => vip.putVipRule(db, req.auth.tenantId, req.auth.actor, req.body, req.id));
}
