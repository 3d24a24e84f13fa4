import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import * as schemas from './exports.schemas.js';
import * as service from './exports.service.js';

const tags = ['exports'];
// personal data: employees and admins, not viewers; exporting everything is admin only (checked by the service)
const config = { minRole: 'employee' as const };
const FileBody = Type.String({ description: 'text/csv; charset=utf-8 or an XLSX workbook, streamed' });

function send(reply: FastifyReply, out: service.ExportResult) {
  return reply
    .header('content-type', out.contentType)
    .header('content-disposition', `attachment; filename="${out.fileName}"`)
    .header('cache-control', 'no-store')
    // the declared 200 body is the file; Fastify pipes a stream without serializing it
    .send(out.stream as unknown as string);
}

export default async function exportRoutes(app: CrmApp, deps: AppDeps) {
  const ctx = (req: FastifyRequest): service.ExportCtx => ({
    db: deps.db, config: deps.config, tenantId: req.auth.tenantId, role: req.auth.role, actor: req.auth.actor, requestId: req.id,
  });

  app.get('/exports/customers', {
    config,
    schema: {
      tags, summary: 'Customers as CSV or XLSX: all (admin), a segment (segment_id) or filtered like GET /customers',
      description: 'Columns: `columns=a,b,c` (default: profile, consent and key metrics). Text cells starting with =, +, -, @, tab or CR get a leading \'.',
      querystring: schemas.CustomerExportQuery, produces: ['text/csv', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
      response: { 200: FileBody, ...errorResponses },
    },
  }, async (req, reply) => send(reply, await service.exportCustomers(ctx(req), req.query)));

  app.get('/exports/orders', {
    config,
    schema: {
      tags, summary: 'Orders with their buyer as CSV or XLSX: all (admin), or by segment, status or date range',
      querystring: schemas.OrderExportQuery, produces: ['text/csv', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
      response: { 200: FileBody, ...errorResponses },
    },
  }, async (req, reply) => send(reply, await service.exportOrders(ctx(req), req.query)));
}
