import type { RouteModule } from './app.js';

/** Every capability's HTTP routes, registered under /api/crm. Add a module here when it gains routes. */
export const routeModules: RouteModule[] = [];
