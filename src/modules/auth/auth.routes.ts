import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { ErrorResponse, errorResponses, IdParams } from '../../lib/schemas.js';
import { SESSION_COOKIE } from './auth.plugin.js';
import * as schemas from './auth.schemas.js';
import * as service from './auth.service.js';

const tags = ['auth'];

export default async function authRoutes(app: CrmApp, { db, config }: AppDeps) {
  app.post('/auth/login', {
    config: { public: true },
    schema: {
      tags, summary: 'Log in with e-mail and password; sets an HttpOnly session cookie',
      security: [], body: schemas.LoginBody,
      response: { 200: schemas.LoginResponse, 400: ErrorResponse, 401: ErrorResponse },
    },
  }, async (req, reply) => {
    const { user, token, expiresAt } = await service.login(db, {
      email: req.body.email, password: req.body.password, tenantId: req.body.tenant_id, ttlHours: config.sessionTtlHours,
    });
    reply.setCookie(SESSION_COOKIE, token, {
      path: '/', httpOnly: true, sameSite: 'strict', secure: config.cookieSecure, expires: expiresAt,
    });
    return { user: { id: user.id, email: user.email, name: user.name, role: user.role }, tenant_id: user.tenant_id, expires_at: expiresAt.toISOString() };
  });

  app.post('/auth/logout', {
    config: { minRole: 'viewer' },
    schema: { tags, summary: 'End the cookie session', response: { 204: Type.Null(), 401: ErrorResponse } },
  }, async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token) await service.logout(db, token);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.status(204).send(null);
  });

  app.get('/auth/me', {
    schema: { tags, summary: 'Who is calling', response: { 200: schemas.Me, 401: ErrorResponse } },
  }, async (req) => {
    const user = req.auth.userId ? await service.findUser(db, req.auth.tenantId, req.auth.userId) : null;
    return {
      tenant_id: req.auth.tenantId,
      role: req.auth.role,
      actor: req.auth.actor,
      user: user ? { id: user.id, email: user.email, name: user.name, role: user.role } : null,
      api_key_id: req.auth.apiKeyId ?? null,
    };
  });

  app.get('/api-keys', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'List API keys (secrets are never shown again)', response: { 200: Type.Object({ data: Type.Array(schemas.ApiKey) }), ...errorResponses } },
  }, async (req) => ({ data: await service.listApiKeys(db, req.auth.tenantId) }));

  app.post('/api-keys', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'Create an API key; the response carries the key once', body: schemas.CreateApiKeyBody, response: { 201: schemas.CreatedApiKey, ...errorResponses } },
  }, async (req, reply) => {
    const { key, apiKey } = await service.createApiKey(db, { tenantId: req.auth.tenantId, name: req.body.name, role: req.body.role, createdBy: req.auth.actor, requestId: req.id });
    return reply.status(201).send({ ...key, api_key: apiKey });
  });

  app.get('/users', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'List the users who log in to the admin UI', response: { 200: Type.Object({ data: Type.Array(schemas.User) }), ...errorResponses } },
  }, async (req) => ({ data: await service.listUsers(db, req.auth.tenantId) }));

  app.post('/users', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'Create a user (e-mail, password, role)', body: schemas.CreateUserBody, response: { 201: schemas.User, ...errorResponses } },
  }, async (req, reply) => {
    const user = await service.createUser(db, {
      tenantId: req.auth.tenantId, email: req.body.email, password: req.body.password, role: req.body.role, name: req.body.name ?? null,
      actor: req.auth.actor, requestId: req.id,
    });
    return reply.status(201).send(service.toUser(user));
  });

  app.patch('/users/:id', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Rename, change the role of, disable or re-enable a user (the tenant keeps at least one active admin)',
      params: IdParams, body: schemas.UpdateUserBody, response: { 200: schemas.User, ...errorResponses },
    },
  }, async (req) => service.updateUser(db, req.auth, req.params.id, req.body, req.id));

  app.delete('/api-keys/:id', {
    config: { minRole: 'admin' },
    schema: { tags, summary: 'Revoke an API key', params: IdParams, response: { 200: schemas.ApiKey, ...errorResponses } },
  }, async (req) => service.revokeApiKey(db, req.auth, req.params.id, req.id));
}
