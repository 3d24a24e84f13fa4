import type { RouteModule } from './app.js';
import analyticsRoutes from './modules/analytics/analytics.routes.js';
import catalogRoutes from './modules/catalog/catalog.routes.js';
import customerRoutes from './modules/customers/customers.routes.js';
import ingestRoutes from './modules/ingest/ingest.routes.js';
import interactionRoutes from './modules/interactions/interactions.routes.js';
import loyaltyRoutes from './modules/loyalty/loyalty.routes.js';
import segmentRoutes from './modules/segments/segments.routes.js';
import statsRoutes from './modules/stats/stats.routes.js';
import timelineRoutes from './modules/timeline/timeline.routes.js';
import webhookRoutes from './modules/webhooks/webhooks.routes.js';

/** Every capability's HTTP routes, registered under /api/crm. Add a module here when it gains routes. */
export const routeModules: RouteModule[] = [
  customerRoutes,
  timelineRoutes,
  interactionRoutes,
  loyaltyRoutes,
  catalogRoutes,
  statsRoutes,
  segmentRoutes,
  ingestRoutes,
  webhookRoutes,
  analyticsRoutes,
];
