import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './admin.schemas.js';
import * as service from './admin.service.js';

const tags = ['admin'];

/** Small read models the admin UI needs that no other capability answers. */
export default async function adminRoutes(app: CrmApp, { db }: AppDeps) {
  app.get('/tenant', {
    schema: { tags, summary: "The caller's tenant: name, currency and time zone (for formatting amounts and dates)", response: { 200: schemas.Tenant, ...errorResponses } },
  }, async (req) => service.getTenant(db, req.auth.tenantId));

  app.get('/dashboard/rfm-grid', {
    schema: { tags, summary: 'RFM recency × frequency grid: customers, revenue and dominant segment per cell (dashboard heat map)', response: { 200: schemas.RfmGrid, ...errorResponses } },
  }, async (req) => service.getRfmGrid(db, req.auth.tenantId));

  app.get('/customers/:id/scores', {
    schema: {
      tags, summary: "One customer's stored scores: RFM, lifecycle stage, churn risk, P(alive), engagement, predicted CLV",
      params: IdParams, response: { 200: schemas.CustomerScores, ...errorResponses },
    },
  }, async (req) => service.getCustomerScores(db, req.auth.tenantId, req.params.id));
}
