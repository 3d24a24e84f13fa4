import type { Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { insertActivities } from '../timeline/timeline.repository.js';
import { compileRules, parseRules, type RuleGroup, type RuleNode } from '../segments/segments.rules.js';
import { reevaluateCustomers } from '../segments/segments.service.js';
import * as repo from './analytics.repository.js';
import { recordAudit } from '../audit/audit.service.js';

/**
 * VIP identification (issue 4, item 7). Each tenant has one editable rule (vip_rules; no row = the
 * default): a customer is VIP when
 *   (a buyer in the top `top_percent` % by total_spend  OR  total_spend >= `min_total_spend`)  AND  `rules`
 * `rules` is an optional segment rule tree (segments compiler) that narrows the VIPs, e.g.
 * `status = active`. It may not name `is_vip` (the flag it decides) nor other segments (whose rules
 * may name `is_vip`).
 */
export const DEFAULT_VIP_RULE = { top_percent: 5, min_total_spend: 5000 as number | null, rules: null as RuleGroup | null };

const CHUNK = 5_000;

export interface VipRule {
  top_percent: number;
  min_total_spend: number | null;
  rules: RuleGroup | null;
  is_default: boolean;
  updated_at: Date | null;
}

async function currentRule(db: Executor, tenantId: string): Promise<VipRule> {
  const row = await repo.vipRule(db, tenantId);
  if (!row) return { ...DEFAULT_VIP_RULE, is_default: true, updated_at: null };
  return {
    top_percent: row.top_percent,
    min_total_spend: row.min_total_spend,
    rules: (row.rules ?? null) as RuleGroup | null,
    is_default: false,
    updated_at: row.updated_at,
  };
}

/** Leaves of the tree naming a field the VIP rule must not use, with their paths. */
function forbiddenLeaf(node: RuleNode, path = ''): { path: string; field: string } | null {
  if ('conditions' in node) {
    for (let i = 0; i < node.conditions.length; i++) {
      const hit = forbiddenLeaf(node.conditions[i], `${path ? `${path}.` : ''}conditions[${i}]`);
      if (hit) return hit;
    }
    return null;
  }
  return node.field === 'is_vip' || node.field === 'segment' ? { path: `${path}.field`, field: node.field } : null;
}

function parseVipRules(input: unknown): RuleGroup | null {
  if (input === undefined || input === null) return null;
  const rules = parseRules(input);
  const bad = forbiddenLeaf(rules);
  if (bad) {
    const message = bad.field === 'is_vip' ? 'the VIP rule cannot use is_vip, the flag it decides' : 'the VIP rule cannot name segments';
    throw new AppError('invalid_rule', `invalid rule at ${bad.path}: ${message}`, { path: bad.path, message });
  }
  return rules;
}

export interface VipRecompute {
  became_vip: number;
  lost_vip: number;
}

/**
 * Applies the tenant's rule in the caller's transaction: one UPDATE (which locks just the rows whose
 * flag changes, in id order, as ingestion does), then a `vip.changed` timeline entry per changed
 * customer and a re-evaluation of the changed customers against auto-update segments (whose rules
 * may use is_vip).
 */
export async function applyVipRule(tx: Executor, tenantId: string, opts: { actor?: string } = {}): Promise<VipRecompute> {
  const rule = await currentRule(tx, tenantId);
  const changed = await repo.writeVipFlags(tx, tenantId, {
    topPercent: rule.top_percent,
    minTotalSpend: rule.min_total_spend,
    extra: rule.rules ? compileRules(rule.rules) : null,
  });
  const now = new Date();
  for (let i = 0; i < changed.length; i += CHUNK) {
    await insertActivities(tx, tenantId, changed.slice(i, i + CHUNK).map((c) => ({
      customerId: c.id,
      type: 'vip.changed',
      occurredAt: now,
      summary: c.is_vip ? 'Became VIP' : 'No longer VIP',
      data: { is_vip: c.is_vip },
      actor: opts.actor ?? 'system',
    })));
  }
  if (changed.length) await reevaluateCustomers(tx, tenantId, changed.map((c) => c.id));
  const became = changed.filter((c) => c.is_vip).length;
  return { became_vip: became, lost_vip: changed.length - became };
}

export async function getVipRule(db: Executor, tenantId: string) {
  const rule = await currentRule(db, tenantId);
  return { ...rule, vip_customers: await repo.countVips(db, tenantId) };
}

/** Replaces the rule and recomputes every customer's flag at once, in one transaction. */
export async function putVipRule(
  db: Executor,
  tenantId: string,
  actor: string,
  body: { top_percent: number; min_total_spend: number | null; rules?: unknown },
  requestId?: string | null,
) {
  const rules = parseVipRules(body.rules);
  return db.transaction(async (tx) => {
    const before = await currentRule(tx, tenantId);
    await repo.saveVipRule(tx, tenantId, {
      topPercent: body.top_percent, minTotalSpend: body.min_total_spend, rules, updatedBy: actor,
    });
    await repo.lockCustomers(tx, tenantId);
    const result = await applyVipRule(tx, tenantId, { actor });
    await recordAudit(tx, {
      tenantId, actor, requestId: requestId ?? null, action: 'vip_rule.replace', entityType: 'vip_rule', entityId: null,
      before, after: { top_percent: body.top_percent, min_total_spend: body.min_total_spend, rules: rules ?? null, ...result },
    });
    return { ...(await getVipRule(tx, tenantId)), ...result };
  });
}
