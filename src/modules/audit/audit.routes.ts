import type { AppDeps, CrmApp } from '../../app.js';
import { errorResponses } from '../../lib/schemas.js';
import * as schemas from './audit.schemas.js';
import * as service from './audit.service.js';

const tags = ['audit'];
// The trail shows every change with its before/after data: admins only.
const config = { minRole: 'admin' as const };

export default async function auditRoutes(app: CrmApp, deps: AppDeps) {
  app.get('/audit', {
    config,
    schema: {
      tags, summary: 'Audit trail, newest first: who changed what, with before/after snapshots',
      querystring: schemas.AuditListQuery, response: { 200: schemas.AuditPage, ...errorResponses },
    },
  }, async (req) => service.listAudit(deps.db, req.auth.tenantId, req.query));

  app.get('/audit/verify', {
    config,
    schema: {
      tags, summary: 'Recompute the hash chain of the audit trail and report the first broken link',
      response: { 200: schemas.AuditVerifyResult, ...errorResponses },
    },
  }, async (req) => service.verifyAuditChain(deps.db, req.auth.tenantId));
}
