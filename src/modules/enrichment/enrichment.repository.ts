import { arr, sql, type Executor } from '../../db/database.js';
import type { EnrichmentSource } from './enrichment.local.js';

export interface SourceRow extends EnrichmentSource {
  id: string;
  first_name: string | null;
  last_name: string | null;
}

/** What enrichment reads of live customers, by id. */
export async function findSources(db: Executor, tenantId: string, ids: string[]): Promise<SourceRow[]> {
  if (ids.length === 0) return [];
  return db.rows<SourceRow>(sql`
    SELECT c.id, c.email, c.phone, c.customer_type, c.company_name, c.country, c.city, c.date_of_birth, c.first_name, c.last_name
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr(ids)}::uuid[]) AND c.deleted_at IS NULL AND c.merged_into IS NULL`);
}

/**
 * Writes enrichment documents, one statement for many customers. The given keys replace the
 * stored ones; keys not given (the external provider's part) stay. updated_at is left alone:
 * enrichment is derived data, not a change of the profile.
 */
export async function writeEnrichment(db: Executor, tenantId: string, rows: { id: string; enrichment: Record<string, unknown> }[]): Promise<void> {
  if (rows.length === 0) return;
  await db.run(sql`
    UPDATE customers c SET enrichment = c.enrichment || u.e
    FROM jsonb_to_recordset(${JSON.stringify(rows.map((r) => ({ id: r.id, e: r.enrichment })))}::jsonb) AS u(id uuid, e jsonb)
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = u.id`);
}

export async function readEnrichment(db: Executor, tenantId: string, id: string): Promise<Record<string, unknown> | undefined> {
  const row = await db.one<{ enrichment: Record<string, unknown> }>(sql`
    SELECT enrichment FROM customers WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid`);
  return row?.enrichment;
}
