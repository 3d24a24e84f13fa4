import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { JobQueue } from '../../jobs/queue.js';
import { processPendingMessages } from '../messaging/messaging.service.js';
import { queueCampaignSend, runCampaignSend, SEND_JOB, startDue } from './campaigns.service.js';

/** Campaign send jobs, the scheduler of due/unfinished campaigns, and the pending-message sender. */
export function defineCampaignJobs(queue: JobQueue, { db, config }: { db: Database; config: Config }): void {
  const sendJob = (tenantId: string, campaignId: string, startAfter?: number) => queueCampaignSend(queue, tenantId, campaignId, startAfter);

  queue.define<{ tenant_id: string; campaign_id: string }>({
    name: SEND_JOB,
    parse: (data) => {
      const d = data as { tenant_id?: unknown; campaign_id?: unknown };
      if (typeof d.tenant_id !== 'string' || typeof d.campaign_id !== 'string') throw new Error('campaigns.send needs tenant_id and campaign_id');
      return { tenant_id: d.tenant_id, campaign_id: d.campaign_id };
    },
    handler: async ({ tenant_id, campaign_id }) => {
      const r = await runCampaignSend({ db, config }, tenant_id, campaign_id);
      if (r.state === 'waiting') await sendJob(tenant_id, campaign_id, Math.max(1, Math.ceil((r.until.getTime() - Date.now()) / 1000)));
      // interrupted: the transport is failing; the scheduler below queues the campaign again
    },
  });

  // Every 30 s: start scheduled campaigns that are due and requeue sending campaigns no job holds
  // (a crashed worker, an interrupted run, an A/B wait).
  queue.defineTicker('campaigns.schedule', 30, async () => {
    for (const c of await startDue(db)) await sendJob(c.tenant_id, c.id);
  });

  queue.defineTicker('messaging.pending', 10, () => processPendingMessages({ db, config }));
}
