import type { RouteModule } from './app.js';
import adminRoutes from './modules/admin/admin.routes.js';
import analyticsRoutes from './modules/analytics/analytics.routes.js';
import automationRoutes from './modules/automation/automation.routes.js';
import auditRoutes from './modules/audit/audit.routes.js';
import catalogRoutes from './modules/catalog/catalog.routes.js';
import customerRoutes from './modules/customers/customers.routes.js';
import dedupeRoutes from './modules/dedupe/dedupe.routes.js';
import bulkRoutes from './modules/bulk/bulk.routes.js';
import enrichmentRoutes from './modules/enrichment/enrichment.routes.js';
import exportRoutes from './modules/exports/exports.routes.js';
import importRoutes from './modules/imports/imports.routes.js';
import ingestRoutes from './modules/ingest/ingest.routes.js';
import privacyRoutes from './modules/privacy/privacy.routes.js';
import recommendationRoutes from './modules/recommendations/recommendations.routes.js';
import interactionRoutes from './modules/interactions/interactions.routes.js';
import loyaltyRoutes from './modules/loyalty/loyalty.routes.js';
import messagingRoutes from './modules/messaging/messaging.routes.js';
import templateRoutes from './modules/templates/templates.routes.js';
import trackingRoutes from './modules/tracking/tracking.routes.js';
import campaignRoutes from './modules/campaigns/campaigns.routes.js';
import segmentRoutes from './modules/segments/segments.routes.js';
import statsRoutes from './modules/stats/stats.routes.js';
import timelineRoutes from './modules/timeline/timeline.routes.js';
import webhookRoutes from './modules/webhooks/webhooks.routes.js';

/** Every capability's HTTP routes, registered under /api/crm. Add a module here when it gains routes. */
export const routeModules: RouteModule[] = [
  customerRoutes,
  dedupeRoutes,
  bulkRoutes,
  enrichmentRoutes,
  timelineRoutes,
  interactionRoutes,
  loyaltyRoutes,
  catalogRoutes,
  statsRoutes,
  segmentRoutes,
  ingestRoutes,
  webhookRoutes,
  analyticsRoutes,
  automationRoutes,
  recommendationRoutes,
  importRoutes,
  exportRoutes,
  auditRoutes,
  privacyRoutes,
  templateRoutes,
  messagingRoutes,
  trackingRoutes,
  campaignRoutes,
  adminRoutes,
];
