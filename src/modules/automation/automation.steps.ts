import { AppError } from '../../lib/errors.js';
import { parseRules, referencedSegments, type RuleGroup } from '../segments/segments.rules.js';
import { urlProblem } from '../webhooks/webhooks.delivery.js';
import { STEP_TYPES, TRIGGER_TYPES, type StepInput, type StepType, type TriggerType } from './automation.schemas.js';

/**
 * The step graph and trigger configs: parsed, checked and normalized before a workflow is stored
 * (pure; the service adds the checks that need the database: templates and segments exist).
 */

export interface WorkflowStep {
  id: string;
  type: StepType;
  config: Record<string, unknown>;
  next?: string | null;
  yes?: string | null;
  no?: string | null;
}

const invalid = (message: string, details: Record<string, unknown> = {}) => new AppError('invalid_workflow', message, details);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const DURATION_RE = /^(\d{1,6})(m|h|d|w)$/;
const MINUTES = { m: 1, h: 60, d: 1440, w: 10080 } as const;

/** "30m", "12h", "3d", "2w" → minutes; null when malformed. */
export function durationMinutes(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = DURATION_RE.exec(value);
  if (!m) return null;
  return Number(m[1]) * MINUTES[m[2] as keyof typeof MINUTES];
}

const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const parseTimeOfDay = (v: unknown): { h: number; m: number } | null => {
  const m = typeof v === 'string' ? TIME_RE.exec(v) : null;
  return m ? { h: Number(m[1]), m: Number(m[2]) } : null;
};

/** Customer fields an update_field step may set (columns), besides custom.<key> (custom_fields). */
export const UPDATABLE_FIELDS = ['first_name', 'last_name', 'city', 'state', 'country', 'postal_code', 'company_name', 'gender', 'status', 'source'] as const;
const CUSTOM_KEY_RE = /^custom\.[A-Za-z0-9_]{1,64}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function allowedKeys(stepPath: string, config: Record<string, unknown>, keys: string[]): void {
  const extra = Object.keys(config).filter((k) => !keys.includes(k));
  if (extra.length) throw invalid(`${stepPath}: unknown config field(s) ${extra.join(', ')}`, { path: stepPath, fields: extra });
}

function str(path: string, v: unknown, max: number, required = true): string | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.trim() === '' || v.length > max) throw invalid(`${path} must be a non-empty text of at most ${max} characters`, { path });
  return v;
}

function checkConfig(step: { id: string; type: StepType }, raw: unknown, allowPrivateWebhooks: boolean): Record<string, unknown> {
  const path = `steps[${step.id}].config`;
  const c = raw === undefined ? {} : raw;
  if (!isObj(c)) throw invalid(`${path} must be an object`, { path });
  switch (step.type) {
    case 'send_email': {
      allowedKeys(path, c, ['template_id', 'subject', 'html', 'text', 'mjml', 'incentive']);
      if (c.template_id !== undefined) {
        if (typeof c.template_id !== 'string' || !UUID_RE.test(c.template_id)) throw invalid(`${path}.template_id must be a template id`, { path });
        if (c.subject !== undefined || c.html !== undefined || c.text !== undefined || c.mjml !== undefined) {
          throw invalid(`${path}: give either template_id or inline content, not both`, { path });
        }
      } else {
        str(`${path}.subject`, c.subject, 500);
        if (c.html === undefined && c.text === undefined && c.mjml === undefined) throw invalid(`${path}: inline content needs html, text or mjml`, { path });
        for (const k of ['html', 'text', 'mjml'] as const) str(`${path}.${k}`, c[k], 200_000, false);
      }
      if (c.incentive !== undefined) {
        const i = c.incentive;
        if (!isObj(i)) throw invalid(`${path}.incentive must be an object`, { path });
        allowedKeys(`${path}.incentive`, i, ['percent_off', 'amount_off', 'valid_for', 'prefix']);
        const pct = i.percent_off;
        const amt = i.amount_off;
        if ((pct === undefined) === (amt === undefined)) throw invalid(`${path}.incentive needs percent_off or amount_off`, { path });
        if (pct !== undefined && (typeof pct !== 'number' || pct <= 0 || pct > 100)) throw invalid(`${path}.incentive.percent_off must be in (0, 100]`, { path });
        if (amt !== undefined && (typeof amt !== 'number' || amt <= 0 || amt > 1_000_000)) throw invalid(`${path}.incentive.amount_off must be positive`, { path });
        if (durationMinutes(i.valid_for) === null) throw invalid(`${path}.incentive.valid_for must be a duration like "48h" or "7d"`, { path });
        if (i.prefix !== undefined && (typeof i.prefix !== 'string' || !/^[A-Z0-9]{1,12}$/.test(i.prefix))) {
          throw invalid(`${path}.incentive.prefix must be 1-12 upper-case letters or digits`, { path });
        }
      }
      return c;
    }
    case 'send_sms': {
      allowedKeys(path, c, ['template_id', 'text']);
      if (c.template_id !== undefined) {
        if (typeof c.template_id !== 'string' || !UUID_RE.test(c.template_id)) throw invalid(`${path}.template_id must be a template id`, { path });
      } else str(`${path}.text`, c.text, 1600);
      return c;
    }
    case 'wait': {
      allowedKeys(path, c, ['duration', 'until_time']);
      if (c.duration === undefined && c.until_time === undefined) throw invalid(`${path}: a wait needs duration and/or until_time`, { path });
      if (c.duration !== undefined && durationMinutes(c.duration) === null) throw invalid(`${path}.duration must look like "30m", "12h", "3d" or "2w"`, { path });
      if (c.until_time !== undefined && !parseTimeOfDay(c.until_time)) throw invalid(`${path}.until_time must be "HH:MM"`, { path });
      return c;
    }
    case 'condition': {
      allowedKeys(path, c, ['rules']);
      let rules: RuleGroup;
      try {
        rules = parseRules(c.rules);
      } catch (err) {
        if (err instanceof AppError) throw invalid(`${path}.rules: ${err.message}`, { path, rule_error: err.details });
        throw err;
      }
      return { rules };
    }
    case 'add_tag':
    case 'remove_tag': {
      allowedKeys(path, c, ['tag']);
      const tag = str(`${path}.tag`, c.tag, 100)!.trim().toLowerCase();
      return { tag };
    }
    case 'update_field': {
      allowedKeys(path, c, ['field', 'value']);
      const field = c.field;
      if (typeof field !== 'string' || !((UPDATABLE_FIELDS as readonly string[]).includes(field) || CUSTOM_KEY_RE.test(field))) {
        throw invalid(`${path}.field must be one of ${UPDATABLE_FIELDS.join(', ')} or custom.<key>`, { path });
      }
      const v = c.value;
      const scalar = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
      if (!scalar || (typeof v === 'string' && v.length > 1000)) throw invalid(`${path}.value must be a text, number, boolean or null`, { path });
      if (!field.startsWith('custom.') && v !== null && typeof v !== 'string') throw invalid(`${path}.value of ${field} must be a text or null`, { path });
      if (field === 'status' && !['active', 'inactive', 'prospect'].includes(v as string)) throw invalid(`${path}.value of status must be active, inactive or prospect`, { path });
      return { field, value: v };
    }
    case 'add_to_segment': {
      allowedKeys(path, c, ['segment_id']);
      if (typeof c.segment_id !== 'string' || !UUID_RE.test(c.segment_id)) throw invalid(`${path}.segment_id must be a segment id`, { path });
      return { segment_id: c.segment_id.toLowerCase() };
    }
    case 'webhook': {
      allowedKeys(path, c, ['url', 'payload']);
      const url = str(`${path}.url`, c.url, 2000)!;
      const problem = urlProblem(url, allowPrivateWebhooks);
      if (problem) throw invalid(`${path}.url: ${problem}`, { path });
      if (c.payload !== undefined && !isObj(c.payload)) throw invalid(`${path}.payload must be an object`, { path });
      return c;
    }
    case 'exit':
      allowedKeys(path, c, []);
      return {};
  }
}

/**
 * Parses a step list into the stored graph: known types, unique ids, valid configs, `next`
 * made explicit (default: the following step), references that exist, and no cycles.
 */
export function normalizeSteps(input: readonly StepInput[], opts: { allowPrivateWebhooks: boolean }): WorkflowStep[] {
  const ids = new Set<string>();
  for (const s of input) {
    if (ids.has(s.id)) throw invalid(`step id "${s.id}" is used twice`, { path: `steps[${s.id}]` });
    ids.add(s.id);
  }
  const steps = input.map((s, i): WorkflowStep => {
    if (!(STEP_TYPES as readonly string[]).includes(s.type)) {
      throw invalid(`steps[${s.id}]: unknown step type "${s.type}"; known: ${STEP_TYPES.join(', ')}`, { path: `steps[${s.id}].type` });
    }
    const type = s.type as StepType;
    const config = checkConfig({ id: s.id, type }, s.config, opts.allowPrivateWebhooks);
    const following = input[i + 1]?.id ?? null;
    if (type === 'condition') {
      if (s.next !== undefined) throw invalid(`steps[${s.id}]: a condition continues with yes/no, not next`, { path: `steps[${s.id}].next` });
      return { id: s.id, type, config, yes: s.yes ?? null, no: s.no ?? null };
    }
    if (s.yes !== undefined || s.no !== undefined) throw invalid(`steps[${s.id}]: only a condition has yes/no`, { path: `steps[${s.id}]` });
    if (type === 'exit') {
      if (s.next) throw invalid(`steps[${s.id}]: exit ends the journey and has no next`, { path: `steps[${s.id}].next` });
      return { id: s.id, type, config, next: null };
    }
    return { id: s.id, type, config, next: s.next === undefined ? following : s.next };
  });
  for (const s of steps) {
    for (const key of ['next', 'yes', 'no'] as const) {
      const target = s[key];
      if (target && !ids.has(target)) throw invalid(`steps[${s.id}].${key} names a missing step "${target}"`, { path: `steps[${s.id}].${key}` });
    }
  }
  const cycle = findCycle(steps);
  if (cycle) throw invalid(`steps form a cycle: ${cycle.join(' → ')}`, { path: 'steps', cycle });
  return steps;
}

export const successors = (s: WorkflowStep): string[] => [s.next, s.yes, s.no].filter((x): x is string => !!x);

/** A cycle as the list of step ids (first repeated at the end), or null. */
export function findCycle(steps: readonly WorkflowStep[]): string[] | null {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    const st = state.get(id);
    if (st === 2) return null;
    if (st === 1) return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 1);
    stack.push(id);
    for (const n of successors(byId.get(id)!)) {
      const found = visit(n);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 2);
    return null;
  };
  for (const s of steps) {
    const found = visit(s.id);
    if (found) return found;
  }
  return null;
}

/** Template ids and segment ids the steps name (checked against the database by the service). */
export function referencesOf(steps: readonly WorkflowStep[]): { templateIds: string[]; staticSegmentIds: string[]; ruleSegmentIds: string[] } {
  const templateIds = new Set<string>();
  const staticSegmentIds = new Set<string>();
  const ruleSegmentIds = new Set<string>();
  for (const s of steps) {
    if ((s.type === 'send_email' || s.type === 'send_sms') && typeof s.config.template_id === 'string') templateIds.add(s.config.template_id.toLowerCase());
    if (s.type === 'add_to_segment') staticSegmentIds.add(s.config.segment_id as string);
    if (s.type === 'condition') for (const id of referencedSegments(s.config.rules as RuleGroup)) ruleSegmentIds.add(id);
  }
  return { templateIds: [...templateIds], staticSegmentIds: [...staticSegmentIds], ruleSegmentIds: [...ruleSegmentIds] };
}

// ---------------------------------------------------------------------------------------------
// Triggers

const int = (path: string, v: unknown, min: number, max: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${path} must be an integer from ${min} to ${max}`, { path });
  return v;
};

/** Checks a trigger's type and config; answers the normalized config. */
export function normalizeTrigger(type: string, raw: unknown): { type: TriggerType; config: Record<string, unknown> } {
  if (!(TRIGGER_TYPES as readonly string[]).includes(type)) {
    throw invalid(`unknown trigger type "${type}"; known: ${TRIGGER_TYPES.join(', ')}`, { path: 'trigger_type' });
  }
  const t = type as TriggerType;
  const c = raw === undefined ? {} : raw;
  const path = 'trigger_config';
  if (!isObj(c)) throw invalid(`${path} must be an object`, { path });
  switch (t) {
    case 'purchase': {
      allowedKeys(path, c, ['min_total', 'first_only']);
      if (c.min_total !== undefined && (typeof c.min_total !== 'number' || c.min_total < 0)) throw invalid(`${path}.min_total must be a non-negative number`, { path });
      if (c.first_only !== undefined && typeof c.first_only !== 'boolean') throw invalid(`${path}.first_only must be a boolean`, { path });
      return { type: t, config: c };
    }
    case 'signup':
    case 'post_event':
      allowedKeys(path, c, []);
      return { type: t, config: {} };
    case 'event_day':
      allowedKeys(path, c, ['days_offset']);
      return { type: t, config: { days_offset: int(`${path}.days_offset`, c.days_offset ?? 0, -365, 365) } };
    case 'birthday':
      allowedKeys(path, c, ['days_before']);
      return { type: t, config: { days_before: int(`${path}.days_before`, c.days_before ?? 0, 0, 60) } };
    case 'anniversary': {
      allowedKeys(path, c, ['of', 'days_before']);
      const of = c.of ?? 'first_purchase';
      if (of !== 'first_purchase' && of !== 'signup') throw invalid(`${path}.of must be first_purchase or signup`, { path });
      return { type: t, config: { of, days_before: int(`${path}.days_before`, c.days_before ?? 0, 0, 60) } };
    }
    case 'inactivity':
      allowedKeys(path, c, ['days']);
      return { type: t, config: { days: int(`${path}.days`, c.days, 1, 3650) } };
    case 'cart_abandoned':
      allowedKeys(path, c, ['idle_minutes']);
      return { type: t, config: { idle_minutes: int(`${path}.idle_minutes`, c.idle_minutes ?? 60, 1, 43200) } };
    case 'segment_entered':
    case 'segment_exited':
      allowedKeys(path, c, ['segment_id']);
      if (typeof c.segment_id !== 'string' || !UUID_RE.test(c.segment_id)) throw invalid(`${path}.segment_id must be a segment id`, { path });
      return { type: t, config: { segment_id: c.segment_id.toLowerCase() } };
    case 'custom':
      allowedKeys(path, c, ['event']);
      if (c.event !== undefined && (typeof c.event !== 'string' || !/^custom\.[A-Za-z0-9_][A-Za-z0-9_.:-]{0,100}$/.test(c.event))) {
        throw invalid(`${path}.event must be a custom.<name> event type`, { path });
      }
      return { type: t, config: c };
  }
}
