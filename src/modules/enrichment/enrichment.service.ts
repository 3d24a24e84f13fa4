import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { recordAudit } from '../audit/audit.service.js';
import { requireCustomer } from '../customers/customers.service.js';
import { localEnrichment, type EnrichmentSource } from './enrichment.local.js';
import { EnrichmentProviderError, HttpEnrichmentProvider, type EnrichmentProvider } from './enrichment.provider.js';
import * as repo from './enrichment.repository.js';

export interface EnrichCtx {
  db: Executor;
  config: Config;
  tenantId: string;
  actor: string;
  requestId?: string | null;
}

/** The stored document of the local part: the facts and when they were computed. */
export function localDocument(source: EnrichmentSource, now = new Date()): Record<string, unknown> {
  return { ...localEnrichment(source, now.toISOString().slice(0, 10)), enriched_at: now.toISOString() };
}

/** Local enrichment of these customers, set-based (customer create, the dedupe queue, merges). */
export async function enrichLocally(db: Executor, tenantId: string, customerIds: string[]): Promise<number> {
  const sources = await repo.findSources(db, tenantId, [...new Set(customerIds)]);
  const now = new Date();
  await repo.writeEnrichment(db, tenantId, sources.map((s) => ({ id: s.id, enrichment: localDocument(s, now) })));
  return sources.length;
}

export function providerFor(config: Config): EnrichmentProvider | null {
  return config.enrichmentUrl ? new HttpEnrichmentProvider(config.enrichmentUrl, config.enrichmentTimeoutMs) : null;
}

export interface EnrichResult {
  customer_id: string;
  enrichment: Record<string, unknown>;
  /** why the external provider gave nothing this time (the local part is stored anyway) */
  external_error: string | null;
}

/**
 * POST /customers/{id}/enrich: the local facts, then the external provider when one is
 * configured. The provider is called outside any transaction (a slow provider holds no lock).
 */
export async function enrichCustomer(ctx: EnrichCtx, id: string, provider = providerFor(ctx.config)): Promise<EnrichResult> {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, id);
  const [source] = await repo.findSources(ctx.db, ctx.tenantId, [customer.id]);
  const doc = localDocument(source);
  let externalError: string | null = null;
  if (provider) {
    try {
      const external = await provider.enrich({
        email: source.email, phone: source.phone, first_name: source.first_name, last_name: source.last_name,
        company_name: source.company_name, country: source.country, city: source.city,
      });
      doc.external = external;
      doc.external_provider = provider.name;
      doc.external_at = new Date().toISOString();
    } catch (err) {
      if (!(err instanceof EnrichmentProviderError)) throw err;
      externalError = err.message;
    }
  }
  return ctx.db.transaction(async (tx) => {
    const live = await requireCustomer(tx, ctx.tenantId, customer.id, { forUpdate: true });
    const before = (await repo.readEnrichment(tx, ctx.tenantId, live.id)) ?? {};
    await repo.writeEnrichment(tx, ctx.tenantId, [{ id: live.id, enrichment: doc }]);
    const after = (await repo.readEnrichment(tx, ctx.tenantId, live.id)) ?? {};
    await recordAudit(tx, {
      tenantId: ctx.tenantId, actor: ctx.actor, action: 'customer.enrich', entityType: 'customer', entityId: live.id,
      before, after, requestId: ctx.requestId ?? null,
    });
    return { customer_id: live.id, enrichment: after, external_error: externalError };
  });
}

export async function getEnrichment(ctx: EnrichCtx, id: string): Promise<{ customer_id: string; enrichment: Record<string, unknown> }> {
  const customer = await requireCustomer(ctx.db, ctx.tenantId, id);
  return { customer_id: customer.id, enrichment: (await repo.readEnrichment(ctx.db, ctx.tenantId, customer.id)) ?? {} };
}
