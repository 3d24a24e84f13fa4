import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../db/database.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import type { IngestResult } from './ingest.schemas.js';
import { ingestEvents, type IngestContext } from './ingest.service.js';

/**
 * What every entry point runs for a batch of platform events (HTTP, CLI demo, queue consumers):
 * the batch's transaction, then the re-evaluation of the customers it touched against every
 * auto-update segment, so membership follows the data at once.
 *
 * The re-evaluation runs in a transaction of its own after the batch committed: if it fails, the
 * events stay applied (a retry of the batch would only report duplicates) and the scheduled
 * segment refresh repairs the membership; the failure is logged, not answered.
 */
export async function ingestAndSegment(
  db: Database,
  ctx: IngestContext & { log?: Pick<FastifyBaseLogger, 'error'> },
  events: unknown[],
): Promise<IngestResult> {
  const result = await ingestEvents(db, ctx, events);
  const touched = new Set<string>();
  for (const r of result.results) if (r.status === 'accepted' && r.customer_id) touched.add(r.customer_id);
  if (touched.size > 0) {
    try {
      await reevaluateCustomers(db, ctx.tenantId, [...touched]);
    } catch (err) {
      ctx.log?.error({ err, tenantId: ctx.tenantId }, 'segment re-evaluation after ingestion failed; the scheduled refresh will repair it');
    }
  }
  return result;
}
