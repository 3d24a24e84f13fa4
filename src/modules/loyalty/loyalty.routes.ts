import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './loyalty.schemas.js';
import * as service from './loyalty.service.js';

const tags = ['loyalty'];

export default async function loyaltyRoutes(app: CrmApp, { db }: AppDeps) {
  app.get('/loyalty/tiers', {
    schema: { tags, summary: "The tenant's loyalty tiers, lowest first", response: { 200: schemas.TiersResponse, ...errorResponses } },
  }, async (req) => service.getTiers(db, req.auth.tenantId));

  app.put('/loyalty/tiers', {
    config: { minRole: 'admin' },
    schema: {
      tags,
      summary: 'Replace the whole tier set (admins only); every customer moves to the tier their earned points reach',
      body: schemas.PutTiersBody,
      response: { 200: schemas.PutTiersResponse, ...errorResponses },
    },
  }, async (req) => service.replaceTiers(db, { ...req.auth, requestId: req.id }, req.body));

  app.get('/customers/:id/loyalty', {
    schema: {
      tags, summary: "A customer's tier, balance, progress and last 50 ledger entries",
      params: IdParams, response: { 200: schemas.CustomerLoyalty, ...errorResponses },
    },
  }, async (req) => service.getCustomerLoyalty(db, req.auth.tenantId, req.params.id));

  app.post('/customers/:id/loyalty/redeem', {
    schema: {
      tags, summary: 'Redeem points from the balance (409 insufficient_points when the balance is lower)',
      params: IdParams, body: schemas.RedeemBody, response: { 200: schemas.LoyaltyChangeResponse, ...errorResponses },
    },
  }, async (req) => service.redeemPoints(db, { ...req.auth, requestId: req.id }, req.params.id, req.body));

  app.post('/customers/:id/loyalty/adjust', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Add or take away points by hand, with a reason (admins only)',
      params: IdParams, body: schemas.AdjustBody, response: { 200: schemas.LoyaltyChangeResponse, ...errorResponses },
    },
  }, async (req) => service.adjustPoints(db, { ...req.auth, requestId: req.id }, req.params.id, req.body));
}
