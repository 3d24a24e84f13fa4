import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import * as schemas from './recommendations.schemas.js';
import { recommendationsForCustomer } from './recommendations.service.js';

export default async function recommendationRoutes(app: CrmApp, deps: AppDeps) {
  app.get('/customers/:id/recommendations', {
    schema: {
      tags: ['customers'],
      summary: 'Upcoming events for the customer, ranked by genre affinity and co-attendance, without shows they already bought',
      params: IdParams, querystring: schemas.RecommendationsQuery, response: { 200: schemas.RecommendationList, ...errorResponses },
    },
  }, async (req) => recommendationsForCustomer(deps.db, req.auth.tenantId, req.params.id, req.query.limit));
}
