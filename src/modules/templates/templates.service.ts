import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isExactTs, isUuid, pageOf, readCursor, type Page } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit, type AuditCtx } from '../audit/audit.service.js';
import { compileTemplate, renderCompiled, type CompiledTemplate, type RenderedContent, type TemplateSource } from './templates.engine.js';
import * as repo from './templates.repository.js';

export { compileTemplate, renderCompiled, htmlToText, type CompiledTemplate, type RenderedContent, type TemplateSource } from './templates.engine.js';

// ---------------------------------------------------------------------------------------------
// Rendering (used by messaging, campaigns and workflows)

/** What a template sees. Customer fields and metrics are snake_case, as in the API. */
export interface TemplateContext {
  customer: Record<string, unknown>;
  metrics: Record<string, unknown>;
  recommendations: unknown[];
  unsubscribe_url: string;
  tenant: { name: string };
  [key: string]: unknown;
}

// Parsed templates by content: a campaign renders one template for every recipient.
const compiledCache = new Map<string, Promise<CompiledTemplate>>();
const CACHE_SIZE = 200;

/** Compiles (or reuses the compiled form of) a template source. Errors: template_invalid. */
export function compileCached(src: TemplateSource & { compiledHtml?: string | null }): Promise<CompiledTemplate> {
  const key = crypto.createHash('sha256')
    .update(JSON.stringify([src.channel, src.format, src.subject ?? null, src.preheader ?? null, src.body, src.compiledHtml ?? null]))
    .digest('base64');
  let hit = compiledCache.get(key);
  if (!hit) {
    hit = compileTemplate(src, src.compiledHtml);
    compiledCache.set(key, hit);
    hit.catch(() => compiledCache.delete(key));
    if (compiledCache.size > CACHE_SIZE) compiledCache.delete(compiledCache.keys().next().value!);
  }
  return hit;
}

/**
 * Renders a template for one recipient: LiquidJS (sandboxed, time/memory-limited) over the
 * subject, preheader and body; MJML compiled to HTML; a text part derived from the HTML.
 * Errors: template_invalid (400, details.line) or template_render_failed (422).
 */
export async function renderTemplate(
  src: TemplateSource & { compiledHtml?: string | null },
  context: TemplateContext | Record<string, unknown>,
): Promise<RenderedContent> {
  return renderCompiled(await compileCached(src), context);
}

/** A customer as templates see it. */
export function customerForTemplate(c: repo.ContextCustomerRow): { customer: Record<string, unknown>; metrics: Record<string, unknown> } {
  return {
    customer: {
      id: c.id, external_id: c.external_id, email: c.email, phone: c.phone, first_name: c.first_name, last_name: c.last_name,
      full_name: [c.first_name, c.last_name].filter(Boolean).join(' ') || null, company_name: c.company_name,
      city: c.city, country: c.country, date_of_birth: c.date_of_birth, tags: c.tags, custom_fields: c.custom_fields,
      loyalty_tier: c.loyalty_tier, loyalty_points: c.loyalty_points, is_vip: c.is_vip,
    },
    metrics: {
      total_orders: c.total_orders, total_spend: c.total_spend, events_attended: c.events_attended,
      average_order_value: c.average_order_value, lifetime_value: c.lifetime_value, predicted_clv: c.predicted_clv,
      churn_risk: c.churn_risk, rfm_segment: c.rfm_segment, lifecycle_stage: c.lifecycle_stage,
      first_purchase: c.first_purchase?.toISOString() ?? null, last_purchase: c.last_purchase?.toISOString() ?? null,
    },
  };
}

/** Recommended events for a customer, when a recommender is available (workflows/recommendations module). */
export type Recommender = (exec: Executor, tenantId: string, customerId: string, limit: number) => Promise<unknown[]>;

/** Whether a template mentions a context variable (so expensive ones are computed only when used). */
export function mentions(src: { subject?: string | null; preheader?: string | null; body: string }, name: string): boolean {
  return [src.subject, src.preheader, src.body].some((s) => s?.includes(name));
}

// ---------------------------------------------------------------------------------------------
// CRUD

export interface TemplatesCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  audit: AuditCtx;
}

export interface TemplateInput {
  name: string;
  channel?: 'email' | 'sms';
  subject?: string | null;
  preheader?: string | null;
  format?: 'mjml' | 'html' | 'text';
  body: string;
}

export interface TemplateOut {
  id: string;
  name: string;
  channel: 'email' | 'sms';
  subject: string | null;
  preheader: string | null;
  format: 'mjml' | 'html' | 'text';
  body: string;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

const toOut = (r: repo.TemplateRow): TemplateOut => ({
  id: r.id, name: r.name, channel: r.channel, subject: r.subject, preheader: r.preheader, format: r.format, body: r.body,
  created_by: r.created_by, created_at: r.created_at, updated_at: r.updated_at,
});

const auditView = (r: repo.TemplateRow) => ({ name: r.name, channel: r.channel, subject: r.subject, format: r.format, body_length: r.body.length });

function guessFormat(body: string): 'mjml' | 'html' {
  return /^\s*<mjml[\s>]/i.test(body) ? 'mjml' : 'html';
}

/** The format given, else the channel's default: text for SMS, MJML or HTML by the look of the body. */
function formatOf(channel: 'email' | 'sms', input: Pick<TemplateInput, 'format' | 'body'>): 'mjml' | 'html' | 'text' {
  return input.format ?? (channel === 'sms' ? 'text' : guessFormat(input.body));
}

async function validated(input: TemplateInput): Promise<repo.TemplateValues> {
  const channel = input.channel ?? 'email';
  const format = formatOf(channel, input);
  const name = input.name.trim();
  if (!name) throw new AppError('validation_failed', 'name must not be blank', { field: 'name' });
  const src: TemplateSource = { channel, subject: input.subject ?? null, preheader: input.preheader ?? null, format, body: input.body };
  const compiled = await compileTemplate(src);
  // Render once with an empty context: limits (huge loops) and runtime errors surface at save time.
  await renderCompiled(compiled, sampleContext()).catch((err: unknown) => {
    if (err instanceof AppError) throw new AppError('template_invalid', err.message, err.details);
    throw err;
  });
  return { name, channel, subject: src.subject ?? null, preheader: src.preheader ?? null, format, body: input.body, compiledHtml: compiled.compiledHtml };
}

/**
 * Unsaved template content (the editor's current subject and body) as message content, with the
 * channel and format defaults a save would apply; rendering checks it as strictly as a save does.
 */
export function draftContent(input: Omit<TemplateInput, 'name'>): {
  channel: 'email' | 'sms';
  content: { subject?: string; preheader?: string; html?: string; mjml?: string; text?: string };
} {
  const channel = input.channel ?? 'email';
  const format = formatOf(channel, input);
  return {
    channel,
    content: {
      ...(channel === 'email' && input.subject != null ? { subject: input.subject } : {}),
      ...(input.preheader != null ? { preheader: input.preheader } : {}),
      [format === 'mjml' ? 'mjml' : format === 'html' ? 'html' : 'text']: input.body,
    },
  };
}

function sampleContext(): TemplateContext {
  return {
    customer: { first_name: 'Ana', last_name: 'Pop', email: 'ana@example.com' },
    metrics: {},
    recommendations: [],
    unsubscribe_url: 'https://example.com/unsubscribe',
    tenant: { name: 'Example' },
  };
}

export async function requireTemplate(db: Executor, tenantId: string, id: string): Promise<repo.TemplateRow> {
  const row = isUuid(id) ? await repo.findTemplate(db, tenantId, id) : undefined;
  if (!row) throw new AppError('template_not_found', `template ${id} was not found`, { id });
  return row;
}

export async function createTemplate(ctx: TemplatesCtx, input: TemplateInput): Promise<TemplateOut> {
  const values = await validated(input);
  return ctx.db.transaction(async (tx) => {
    const row = await repo.insertTemplate(tx, ctx.tenantId, values, ctx.audit.actor);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.audit.actor, requestId: ctx.audit.requestId, action: 'template.create',
      entityType: 'template', entityId: row.id, before: null, after: auditView(row),
    });
    return toOut(row);
  });
}

export async function updateTemplate(ctx: TemplatesCtx, id: string, input: TemplateInput): Promise<TemplateOut> {
  const values = await validated(input);
  return ctx.db.transaction(async (tx) => {
    const current = isUuid(id) ? await repo.findTemplate(tx, ctx.tenantId, id, { forUpdate: true }) : undefined;
    if (!current) throw new AppError('template_not_found', `template ${id} was not found`, { id });
    const row = (await repo.updateTemplate(tx, ctx.tenantId, current.id, values))!;
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.audit.actor, requestId: ctx.audit.requestId, action: 'template.update',
      entityType: 'template', entityId: row.id, before: auditView(current), after: auditView(row),
    });
    return toOut(row);
  });
}

export async function deleteTemplate(ctx: TemplatesCtx, id: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const current = isUuid(id) ? await repo.findTemplate(tx, ctx.tenantId, id, { forUpdate: true }) : undefined;
    if (!current) throw new AppError('template_not_found', `template ${id} was not found`, { id });
    if (await repo.templateInUse(tx, ctx.tenantId, current.id)) {
      throw new AppError('template_in_use', 'the template is used by a campaign that is not finished or by a workflow', { id });
    }
    await repo.softDeleteTemplate(tx, ctx.tenantId, current.id);
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.audit.actor, requestId: ctx.audit.requestId, action: 'template.delete',
      entityType: 'template', entityId: current.id, before: auditView(current), after: null,
    });
  });
}

export async function getTemplate(ctx: Pick<TemplatesCtx, 'db' | 'tenantId'>, id: string): Promise<TemplateOut> {
  return toOut(await requireTemplate(ctx.db, ctx.tenantId, id));
}

export async function listTemplates(
  ctx: Pick<TemplatesCtx, 'db' | 'tenantId'>,
  q: { limit?: number; cursor?: string; channel?: 'email' | 'sms' },
): Promise<Page<TemplateOut>> {
  const limit = q.limit ?? 50;
  let before: { createdAt: string; id: string } | undefined;
  if (q.cursor) {
    const [createdAt, id] = readCursor(q.cursor, [isExactTs, isUuid]);
    before = { createdAt: createdAt as string, id: id as string };
  }
  const rows = await repo.listTemplates(ctx.db, { tenantId: ctx.tenantId, channel: q.channel, limit: limit + 1, before });
  return pageOf(rows, limit, toOut, (r) => [r.created_key, r.id]);
}
