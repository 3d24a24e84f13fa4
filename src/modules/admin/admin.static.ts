import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** web/dist, built by `npm run build:web` (run by `npm install` through the prepare script). */
export const DEFAULT_ADMIN_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

const MISSING_BUILD = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Encore CRM admin: not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The admin UI has not been built</h1>
<p>This server has no <code>web/dist</code> folder. Build it once with:</p>
<pre>npm run build:web</pre>
<p>(<code>npm install</code> runs it too), then reload this page. The API at <code>/api/crm</code> works without it.</p>
</body></html>`;

/**
 * The admin UI at /admin: static files from web/dist, and index.html for every other /admin path so
 * the client-side router can open deep links. No authentication here: the files are public, the API
 * calls they make carry the session cookie.
 */
export async function registerAdminUi(app: FastifyInstance, opts: { distDir?: string } = {}): Promise<void> {
  // Its own encapsulated scope, so reply.sendFile does not clash with another @fastify/static.
  await app.register(async (scope) => adminUi(scope, opts));
}

async function adminUi(app: FastifyInstance, opts: { distDir?: string }): Promise<void> {
  const root = path.resolve(opts.distDir ?? DEFAULT_ADMIN_DIST);
  const built = () => existsSync(path.join(root, 'index.html'));
  // serve: false — our own route decides between a file, the SPA shell and 404 for missing assets.
  await app.register(fastifyStatic, { root, serve: false });

  const handler = async (req: { params: unknown }, reply: any) => {
    if (!built()) {
      return reply.status(503).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(MISSING_BUILD);
    }
    const rel = ((req.params as { '*'?: string })['*'] ?? '').split('?')[0];
    const file = safeFile(root, rel);
    if (file) {
      // Vite names assets by content hash: they never change under the same name.
      const immutable = rel.startsWith('assets/');
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      return reply.sendFile(rel, root, { cacheControl: false });
    }
    // A missing asset is a 404, not the app shell (a stale tab asking for an old chunk must see the error).
    if (rel.startsWith('assets/') || /\.[a-z0-9]{1,8}$/i.test(rel)) {
      return reply.status(404).send({ error: { code: 'route_not_found', message: `no file /admin/${rel}` } });
    }
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html', root, { cacheControl: false });
  };
  app.get('/admin', { schema: { hide: true } }, handler);
  app.get('/admin/*', { schema: { hide: true } }, handler);
}

function safeFile(root: string, rel: string): string | null {
  if (!rel) return null;
  const full = path.resolve(root, rel);
  if (!full.startsWith(root + path.sep)) return null;
  try {
    return statSync(full).isFile() ? full : null;
  } catch {
    return null;
  }
}
