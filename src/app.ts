import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyError } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import client from 'prom-client';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { AppError, statusFor } from './lib/errors.js';
import type { JobQueue } from './jobs/queue.js';
import { authPlugin } from './modules/auth/auth.plugin.js';
import authRoutes from './modules/auth/auth.routes.js';
import { registerAdminUi } from './modules/admin/admin.static.js';
import { routeModules } from './routes.js';

export type CrmApp = FastifyInstance<any, any, any, FastifyBaseLogger, TypeBoxTypeProvider>;

export interface AppDeps {
  config: Config;
  db: Database;
  /** Background job queue; absent in processes that only serve HTTP without a worker. */
  jobs?: JobQueue;
  logger?: boolean | object;
  /** A pino logger shared with the rest of the process (`crm serve`); takes precedence over logger. */
  loggerInstance?: FastifyBaseLogger;
}

export type RouteModule = (app: CrmApp, deps: AppDeps) => Promise<void> | void;

function makeAjv(coerce: boolean) {
  const ajv = new Ajv({
    // Unknown fields are an error, not silently dropped (DESIGN §5: bad input gets a 4xx).
    removeAdditional: false,
    useDefaults: true,
    // Query strings and path params arrive as text; bodies must carry the right JSON types.
    coerceTypes: coerce ? 'array' : false,
    allErrors: false,
    strict: false,
  });
  addFormats.default(ajv);
  return ajv;
}

export async function buildApp(deps: AppDeps): Promise<CrmApp> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.loggerInstance ? { loggerInstance: deps.loggerInstance } : { logger: deps.logger ?? { level: config.logLevel } }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: true,
    requestIdHeader: 'x-request-id',
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const bodyAjv = makeAjv(false);
  const paramAjv = makeAjv(true);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : paramAjv).compile(schema as object) as any,
  );

  let shuttingDown = false;
  app.addHook('onClose', async () => {
    shuttingDown = true;
  });
  // Graceful shutdown answers 503 on /readyz first, so load balancers stop routing here
  // before the listener closes (src/server.ts).
  app.decorate('markNotReady', () => {
    shuttingDown = true;
  });

  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Encore CRM API',
        version: '0.1.0',
        description: 'Customer profiles, event ingestion, timeline, interactions and loyalty for event organizers.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key' },
          session: { type: 'apiKey', in: 'cookie', name: 'crm_session' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Metrics: one registry per app so several apps (tests) never collide.
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'crm_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.decorate('metricsRegistry', registry);

  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    if (err instanceof AppError) {
      return reply.status(statusFor(err.code)).send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const e = err as FastifyError;
    if (e.validation) {
      const where = e.validationContext ?? 'request';
      return reply.status(400).send({
        error: {
          code: 'validation_failed',
          message: `${where}${e.message.startsWith(where) ? e.message.slice(where.length) : ': ' + e.message}`,
          details: e.validation.map((v) => ({ path: `${where}${v.instancePath}`, message: v.message, params: v.params })),
        },
      });
    }
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send({ error: { code: 'payload_too_large', message: `request body is larger than ${config.bodyLimitBytes} bytes` } });
    }
    if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.status(415).send({ error: { code: 'unsupported_media_type', message: 'send the body as application/json' } });
    }
    if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return reply.status(400).send({ error: { code: 'invalid_json', message: 'request body is not valid JSON' } });
    }
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: { code: 'invalid_request', message: e.message } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: { code: 'internal_error', message: 'internal error; the request id is in the logs' } });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: { code: 'route_not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (shuttingDown) return reply.status(503).send({ status: 'shutting_down' });
    try {
      await deps.db.ping();
      return { status: 'ready', database: deps.db.kind };
    } catch {
      return reply.status(503).send({ status: 'database_unavailable' });
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  await app.register(async (api) => {
    await api.register(authPlugin, { db: deps.db });
    await authRoutes(api as CrmApp, deps);
    for (const mod of routeModules) await mod(api as CrmApp, deps);
  }, { prefix: '/api/crm' });

  // The React admin UI (web/dist); public files, the API it calls checks the session.
  await registerAdminUi(app);

  return app as CrmApp;
}

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: client.Registry;
    /** /readyz answers 503 from now on (start of a graceful shutdown). */
    markNotReady(): void;
  }
}
