import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../../db/database.js';
import { enrollFromIngest } from '../automation/automation.triggers.js';
import { queueCustomers } from '../dedupe/dedupe.repository.js';
import { queueScoreRefresh } from '../analytics/analytics.repository.js';
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
  ctx: IngestContext & {
    log?: Pick<FastifyBaseLogger, 'error'>;
    /**
     * false: no event-triggered workflow enrollment (CSV imports: a file of past orders or existing
     * customers must not send a welcome or thank-you journey to each of them). Default true.
     */
    enrollWorkflows?: boolean;
  },
  events: unknown[],
): Promise<IngestResult> {
  const result = await ingestEvents(db, ctx, events);
  const touched = new Set<string>();
  for (const r of result.results) if (r.status === 'accepted' && r.customer_id) touched.add(r.customer_id);
  if (touched.size > 0) {
    await afterIngestion(db, ctx.tenantId, [...touched], ctx.log);
    try {
      // Event-triggered workflows (purchase, signup, post_event, custom.*): one insert per batch.
      if (ctx.enrollWorkflows !== false) await enrollFromIngest(db, ctx.tenantId, events, result.results);
    } catch (err) {
      ctx.log?.error({ err, tenantId: ctx.tenantId }, 'workflow enrollment after ingestion failed');
    }
  }
  return result;
}

/**
 * What follows every committed write of ingested data for the customers it touched (ingestAndSegment, the bulk
 * path of imports): re-evaluation against every auto-update segment, and one insert each into the duplicate
 * detection queue (the dedupe.incremental job) and the score refresh queue (the analytics.refresh_queued_scores
 * ticker). The three are independent and run side by side; a failure is logged, not thrown: the data stays
 * applied and the scheduled segment refresh, the next full duplicate scan and the daily score refresh repair it.
 */
export async function afterIngestion(db: Database, tenantId: string, customerIds: string[], log?: Pick<FastifyBaseLogger, 'error'>): Promise<void> {
  const followUp = async (run: () => Promise<unknown>, message: string) => {
    try {
      await run();
    } catch (err) {
      log?.error({ err, tenantId }, message);
    }
  };
  await Promise.all([
    followUp(() => reevaluateCustomers(db, tenantId, customerIds), 'segment re-evaluation after ingestion failed; the scheduled refresh will repair it'),
    followUp(() => queueCustomers(db, tenantId, customerIds), 'queueing customers for duplicate detection failed; the next full scan covers them'),
    followUp(() => queueScoreRefresh(db, tenantId, customerIds), 'queueing customers for a score refresh failed; the daily refresh covers them'),
  ]);
}
