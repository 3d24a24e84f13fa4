import { Type } from '@sinclair/typebox';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses, IdParams } from '../../lib/schemas.js';
import { emailEvents, smsInbound } from '../tracking/tracking.service.js';
import { inboundToken } from '../tracking/tracking.tokens.js';
import * as schemas from './messaging.schemas.js';
import * as service from './messaging.service.js';
import { closeTransports, transportsFor } from './messaging.transport.js';

const tags = ['messaging'];

export default async function messagingRoutes(app: CrmApp, deps: AppDeps) {
  app.addHook('onClose', async () => closeTransports(deps.config));

  app.get('/messages', {
    schema: {
      tags, summary: 'Messages sent or refused (e-mail and SMS), newest first; without SMTP_URL this is the local outbox',
      querystring: schemas.MessageListQuery, response: { 200: schemas.MessagePage, ...errorResponses },
    },
  }, async (req) => service.listMessages({ db: deps.db, tenantId: req.auth.tenantId }, req.query));

  app.get('/messages/:id', {
    schema: {
      tags, summary: 'One message with its rendered content (subject, HTML, text) and headers',
      params: IdParams, response: { 200: schemas.MessageDetail, ...errorResponses },
    },
  }, async (req) => service.getMessage({ db: deps.db, tenantId: req.auth.tenantId }, req.params.id));

  app.get('/messaging/settings', {
    config: { minRole: 'admin' },
    schema: {
      tags, summary: 'Transports in use and the token-authenticated URLs to give providers (SMS replies, bounces/complaints)',
      response: { 200: schemas.MessagingSettings, ...errorResponses },
    },
  }, async (req) => {
    const token = await inboundToken(deps.db, deps.config, req.auth.tenantId);
    const t = transportsFor(deps.config);
    const base = `${deps.config.marketing.publicUrl}/api/crm/messaging`;
    return {
      email_transport: t.email.kind,
      sms_transport: t.sms.kind,
      sms_inbound_url: `${base}/sms/inbound?token=${token}`,
      email_events_url: `${base}/email/events?token=${token}`,
    };
  });

  // Providers call these two without an API key: the tenant's signed token in the URL authenticates them.
  await app.register(async (plugin) => {
    const inbound = plugin as CrmApp;
    inbound.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    inbound.post('/messaging/sms/inbound', {
      config: { public: true },
      schema: {
        tags, summary: 'SMS replies (Twilio webhook: form fields From, Body); STOP withdraws SMS consent and suppresses the number',
        querystring: schemas.TokenQuery, body: schemas.SmsInboundBody,
        response: { 200: Type.Object({ stopped: Type.Boolean() }), ...errorResponses },
      },
    }, async (req) => smsInbound({ db: deps.db, config: deps.config }, req.query.token, req.body.From, req.body.Body));
  });

  app.post('/messaging/email/events', {
    config: { public: true },
    schema: {
      tags, summary: 'Bounce and complaint events from the e-mail provider ({events: [{type, email?, message_id?, bounce_type?}]})',
      querystring: schemas.TokenQuery, body: schemas.EmailEventsBody, response: { 200: schemas.EmailEventsResult, ...errorResponses },
    },
  }, async (req) => emailEvents({ db: deps.db, config: deps.config }, req.query.token, req.body.events));
}
