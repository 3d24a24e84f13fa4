import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import { escapeHtml } from '../templates/templates.engine.js';
import * as service from './tracking.service.js';

const tags = ['tracking'];
const TokenParams = Type.Object({ token: Type.String({ minLength: 10, maxLength: 100 }) }, { additionalProperties: false });
// 1×1 transparent GIF
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}button{font-size:1rem;padding:.6rem 1.2rem}</style>
</head><body>${body}</body></html>`;
}

/** Public endpoints reached from e-mails: the signed token is the only credential. */
export default async function trackingRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = { db: deps.db, config: deps.config };
  const pub = { public: true };

  app.get('/track/open/:token', {
    config: pub,
    schema: { tags, summary: 'Open pixel (1×1 GIF); records the open', params: TokenParams, response: { 200: Type.Any() } },
  }, async (req, reply) => {
    await service.trackOpen(ctx, req.params.token).catch((err: unknown) => req.log.warn({ err }, 'open not recorded'));
    return reply.header('content-type', 'image/gif').header('cache-control', 'no-store, private').send(PIXEL);
  });

  app.get('/track/click/:token', {
    config: pub,
    schema: {
      tags, summary: 'Click: records it and redirects (302) to the URL signed into the token; a tampered token is 404',
      params: TokenParams, querystring: Type.Object({ u: Type.String({ maxLength: 4000, description: 'the destination the token was signed for' }) }),
      response: { 302: Type.Null(), ...errorResponses },
    },
  }, async (req, reply) => {
    const url = await service.trackClick(ctx, req.params.token, req.query.u);
    return reply.header('cache-control', 'no-store, private').redirect(url, 302);
  });

  app.get('/track/unsubscribe/:token', {
    config: pub,
    schema: { tags, summary: 'Unsubscribe page with a confirm button', params: TokenParams, response: { 200: Type.String(), ...errorResponses } },
  }, async (req, reply) => {
    reply.header('content-type', 'text/html; charset=utf-8');
    try {
      const { channel } = await service.checkUnsubscribeToken(ctx, req.params.token);
      return page('Unsubscribe', `<h1>Unsubscribe</h1><p>Stop receiving marketing ${channel === 'email' ? 'e-mails' : 'text messages'} from us?</p>
<form method="post" action="${escapeHtml(req.params.token)}"><button type="submit">Unsubscribe</button></form>`);
    } catch {
      return reply.status(404).send(page('Link not valid', '<h1>This link is not valid</h1>'));
    }
  });

  // RFC 8058 one-click (List-Unsubscribe=One-Click form post) and the page's button.
  await app.register(async (plugin) => {
    const form = plugin as CrmApp;
    form.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    form.addContentTypeParser('multipart/form-data', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    form.post('/track/unsubscribe/:token', {
      config: pub,
      schema: { tags, summary: 'Unsubscribe (one-click, RFC 8058)', params: TokenParams, response: { 200: Type.String(), ...errorResponses } },
    }, async (req, reply) => {
      await service.unsubscribe(ctx, req.params.token);
      reply.header('content-type', 'text/html; charset=utf-8');
      return page('Unsubscribed', '<h1>You are unsubscribed</h1><p>You will not receive these messages any more.</p>');
    });
  });
}
