import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import * as repo from './admin.repository.js';

export async function getTenant(db: Executor, tenantId: string): Promise<repo.TenantRow> {
  const tenant = await repo.findTenant(db, tenantId);
  if (!tenant) throw new AppError('tenant_not_found', `tenant ${tenantId} was not found`);
  return tenant;
}

export async function getRfmGrid(db: Executor, tenantId: string) {
  const cells = await repo.rfmGrid(db, tenantId);
  return { customers: cells.reduce((n, c) => n + c.customers, 0), cells };
}

export async function getCustomerScores(db: Executor, tenantId: string, customerId: string) {
  const row = await repo.customerScores(db, tenantId, customerId);
  if (!row) throw new AppError('customer_not_found', `customer ${customerId} was not found`);
  return row;
}
