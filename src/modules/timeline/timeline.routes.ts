import type { FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { CustomerParams } from '../customers/customers.schemas.js';
import type { CustomerCtx } from '../customers/customers.service.js';
import { TimelinePage, TimelineQuery } from './timeline.schemas.js';
import { listTimeline } from './timeline.service.js';

const tags = ['timeline'];

export default async function timelineRoutes(app: CrmApp, { db, config }: AppDeps) {
  const ctx = (req: FastifyRequest): CustomerCtx => ({ db, config, tenantId: req.auth.tenantId, actor: req.auth.actor });
  const description = 'Every purchase, refund, check-in, cart, note, interaction, consent and profile change, newest first. '
    + '`type` takes comma-separated types; a value ending in `.*` matches a prefix (`order.*`).';

  for (const path of ['/customers/:id/timeline', '/customers/:id/activity']) {
    app.get(path, {
      schema: {
        tags,
        summary: path.endsWith('activity') ? 'A customer\'s timeline (alias of /timeline)' : 'A customer\'s timeline',
        description,
        params: CustomerParams, querystring: TimelineQuery, response: { 200: TimelinePage, ...errorResponses },
      },
    }, async (req) => listTimeline(ctx(req), req.params.id, req.query));
  }
}
