import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { authenticateApiKey, authenticateSession } from './auth.service.js';
import { type AuthContext, type Role, roleAtLeast } from './auth.types.js';

export const SESSION_COOKIE = 'crm_session';

declare module 'fastify' {
  interface FastifyRequest {
    auth: AuthContext;
  }
  interface FastifyContextConfig {
    /** No credentials needed (login). */
    public?: boolean;
    /**
     * Lowest role allowed. Default by method: reads need viewer, writes need employee,
     * DELETE needs admin (employees may not delete; viewers only read).
     */
    minRole?: Role;
  }
}

function defaultRole(method: string): Role {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 'viewer';
  if (method === 'DELETE') return 'admin';
  return 'employee';
}

/**
 * Authenticates every /api/crm request by `Authorization: Bearer <api key>` or the session
 * cookie, then checks the route's role. Sets request.auth, which every route uses for its tenant.
 */
export const authPlugin = fp<{ db: Database }>(async (app, { db }) => {
  app.decorateRequest('auth', null as unknown as AuthContext);
  app.addHook('onRequest', async (req: FastifyRequest, _reply: FastifyReply) => {
    const config = req.routeOptions.config;
    if (config?.public) return;
    const header = req.headers.authorization;
    let auth: AuthContext | null = null;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match) throw new AppError('unauthorized', 'Authorization header must be "Bearer <api key>"');
      auth = await authenticateApiKey(db, match[1]);
      if (!auth) throw new AppError('unauthorized', 'API key is not valid or has been revoked');
    } else {
      const token = req.cookies?.[SESSION_COOKIE];
      if (token) auth = await authenticateSession(db, token);
      if (!auth) throw new AppError('unauthorized', 'missing credentials: send "Authorization: Bearer <api key>" or log in');
    }
    const required = config?.minRole ?? defaultRole(req.method);
    if (!roleAtLeast(auth.role, required)) {
      throw new AppError('forbidden', `this action needs the ${required} role; you have ${auth.role}`);
    }
    req.auth = auth;
  });
});
