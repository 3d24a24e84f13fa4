import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './stats.schemas.js';
import * as service from './stats.service.js';

const tags = ['stats'];

export default async function statsRoutes(app: CrmApp, { db }: AppDeps) {
  app.get('/stats', {
    schema: {
      tags, summary: 'CRM statistics for the whole tenant: customers, interactions, follow-ups, orders, loyalty',
      response: { 200: schemas.TenantStats, ...errorResponses },
    },
  }, async (req) => service.tenantStats(db, req.auth.tenantId));

  app.get('/customers/:id/stats', {
    schema: {
      tags, summary: "One customer's interactions, follow-ups, orders, attendance and loyalty",
      params: IdParams, response: { 200: schemas.CustomerStats, ...errorResponses },
    },
  }, async (req) => service.customerStats(db, req.auth.tenantId, req.params.id));
}
