import { arr, sql, type Executor, type SQL, pgConstraint, pgErrorCode, PG_UNIQUE_VIOLATION } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import type { TemplateFormat } from './templates.engine.js';

export interface TemplateRow {
  id: string;
  name: string;
  channel: 'email' | 'sms';
  subject: string | null;
  preheader: string | null;
  format: TemplateFormat;
  body: string;
  compiled_html: string | null;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

const COLUMNS = sql`id, name, channel, subject, preheader, format, body, compiled_html, created_by, created_at, updated_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

export interface TemplateValues {
  name: string;
  channel: 'email' | 'sms';
  subject: string | null;
  preheader: string | null;
  format: TemplateFormat;
  body: string;
  compiledHtml: string | null;
}

function nameTaken(err: unknown, name: string): never {
  if (pgErrorCode(err) === PG_UNIQUE_VIOLATION && pgConstraint(err) === 'templates_name_key') {
    throw new AppError('template_exists', `a template named "${name}" already exists`, { field: 'name', value: name });
  }
  throw err;
}

export async function insertTemplate(db: Executor, tenantId: string, v: TemplateValues, createdBy: string | null): Promise<TemplateRow> {
  try {
    return (await db.one<TemplateRow>(sql`
      INSERT INTO templates (tenant_id, name, channel, subject, preheader, format, body, compiled_html, created_by)
      VALUES (${tenantId}::uuid, ${v.name}, ${v.channel}, ${v.subject}, ${v.preheader}, ${v.format}, ${v.body}, ${v.compiledHtml}, ${createdBy})
      RETURNING ${COLUMNS}`))!;
  } catch (err) {
    nameTaken(err, v.name);
  }
}

export async function updateTemplate(db: Executor, tenantId: string, id: string, v: TemplateValues): Promise<TemplateRow | undefined> {
  try {
    return await db.one<TemplateRow>(sql`
      UPDATE templates SET name = ${v.name}, channel = ${v.channel}, subject = ${v.subject}, preheader = ${v.preheader},
        format = ${v.format}, body = ${v.body}, compiled_html = ${v.compiledHtml}, updated_at = now()
      WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND deleted_at IS NULL
      RETURNING ${COLUMNS}`);
  } catch (err) {
    nameTaken(err, v.name);
  }
}

export async function findTemplate(db: Executor, tenantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<TemplateRow | undefined> {
  return db.one<TemplateRow>(sql`
    SELECT ${COLUMNS} FROM templates WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND deleted_at IS NULL
    ${opts.forUpdate ? sql`FOR UPDATE` : sql``}`);
}

export async function listTemplates(
  db: Executor,
  q: { tenantId: string; channel?: string; limit: number; before?: { createdAt: string; id: string } },
): Promise<TemplateRow[]> {
  const where: SQL[] = [sql`tenant_id = ${q.tenantId}::uuid`, sql`deleted_at IS NULL`];
  if (q.channel) where.push(sql`channel = ${q.channel}`);
  if (q.before) where.push(sql`(created_at, id) < (${q.before.createdAt}::timestamptz, ${q.before.id}::uuid)`);
  return db.rows<TemplateRow>(sql`
    SELECT ${COLUMNS} FROM templates WHERE ${sql.join(where, sql` AND `)}
    ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`);
}

export async function softDeleteTemplate(db: Executor, tenantId: string, id: string): Promise<boolean> {
  return (await db.run(sql`
    UPDATE templates SET deleted_at = now(), updated_at = now()
    WHERE tenant_id = ${tenantId}::uuid AND id = ${id}::uuid AND deleted_at IS NULL`)) > 0;
}

/**
 * A campaign not yet finished, or a workflow not deleted, uses the template (a template in use is
 * not deleted: a journey step would otherwise fail for every customer who reaches it).
 */
export async function templateInUse(db: Executor, tenantId: string, id: string): Promise<boolean> {
  return (await db.one(sql`
    SELECT 1 FROM campaigns WHERE tenant_id = ${tenantId}::uuid AND template_id = ${id}::uuid
      AND status IN ('draft', 'scheduled', 'sending', 'paused')
    UNION ALL
    SELECT 1 FROM workflows w WHERE w.tenant_id = ${tenantId}::uuid AND w.deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(w.steps) s WHERE s -> 'config' ->> 'template_id' = ${id.toLowerCase()})
    LIMIT 1`)) !== undefined;
}

/** What a template may say about a customer. */
export interface ContextCustomerRow {
  id: string;
  external_id: string | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  company_name: string | null;
  city: string | null;
  country: string | null;
  date_of_birth: string | null;
  tags: string[];
  custom_fields: Record<string, unknown>;
  loyalty_tier: string | null;
  loyalty_points: number;
  is_vip: boolean;
  total_orders: number;
  total_spend: number;
  events_attended: number;
  average_order_value: number;
  lifetime_value: number;
  predicted_clv: number | null;
  churn_risk: number | null;
  rfm_segment: string | null;
  lifecycle_stage: string | null;
  first_purchase: Date | null;
  last_purchase: Date | null;
  consent: { marketing_email?: boolean; marketing_sms?: boolean };
  deleted_at: Date | null;
  merged_into: string | null;
}

export async function findContextCustomers(db: Executor, tenantId: string, ids: readonly string[]): Promise<ContextCustomerRow[]> {
  if (ids.length === 0) return [];
  return db.rows<ContextCustomerRow>(sql`
    SELECT c.id, c.external_id, c.email, c.phone, c.first_name, c.last_name, c.company_name, c.city, c.country, c.date_of_birth,
      c.tags, c.custom_fields, c.loyalty_tier, c.loyalty_points, c.is_vip, c.total_orders, c.total_spend, c.events_attended,
      c.average_order_value, c.lifetime_value, c.predicted_clv, c.churn_risk, c.rfm_segment, c.lifecycle_stage,
      c.first_purchase, c.last_purchase, c.consent, c.deleted_at, c.merged_into
    FROM customers c
    WHERE c.tenant_id = ${tenantId}::uuid AND c.id = ANY(${arr([...ids])}::uuid[])`);
}

export async function findTenantInfo(db: Executor, tenantId: string): Promise<{ name: string; timezone: string; currency: string } | undefined> {
  return db.one(sql`SELECT name, timezone, currency FROM tenants WHERE id = ${tenantId}::uuid`);
}
