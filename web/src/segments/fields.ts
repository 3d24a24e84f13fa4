/**
 * The fields and operators of the segment rule language, as the rule builder offers them. Mirrors
 * FIELDS / OPS_BY_TYPE in src/modules/segments/segments.rules.ts; src/modules/admin/admin.test.ts
 * fails when the two drift apart. Pure data: no React, no DOM.
 */

export type FieldType = 'number' | 'money' | 'date' | 'birthday' | 'text' | 'enum' | 'boolean' | 'array' | 'segment' | 'behavior';
export type FieldGroup = 'purchases' | 'profile' | 'scores' | 'consent' | 'behavior' | 'membership';

export interface FieldDef {
  field: string;
  type: FieldType;
  group: FieldGroup;
  enumValues?: readonly string[];
}

export const FIELDS: readonly FieldDef[] = [
  { field: 'total_spend', type: 'money', group: 'purchases' },
  { field: 'total_orders', type: 'number', group: 'purchases' },
  { field: 'events_attended', type: 'number', group: 'purchases' },
  { field: 'average_order_value', type: 'money', group: 'purchases' },
  { field: 'lifetime_value', type: 'money', group: 'purchases' },
  { field: 'last_purchase', type: 'date', group: 'purchases' },
  { field: 'first_purchase', type: 'date', group: 'purchases' },
  { field: 'loyalty_points', type: 'number', group: 'purchases' },
  { field: 'loyalty_tier', type: 'text', group: 'purchases' },
  { field: 'created_at', type: 'date', group: 'profile' },
  { field: 'city', type: 'text', group: 'profile' },
  { field: 'country', type: 'text', group: 'profile' },
  { field: 'gender', type: 'text', group: 'profile' },
  { field: 'source', type: 'text', group: 'profile' },
  { field: 'customer_type', type: 'enum', group: 'profile', enumValues: ['individual', 'business'] },
  { field: 'status', type: 'enum', group: 'profile', enumValues: ['active', 'inactive', 'prospect'] },
  { field: 'age', type: 'number', group: 'profile' },
  { field: 'birthday', type: 'birthday', group: 'profile' },
  { field: 'tags', type: 'array', group: 'profile' },
  { field: 'genres', type: 'array', group: 'profile' },
  { field: 'is_vip', type: 'boolean', group: 'scores' },
  { field: 'predicted_clv', type: 'money', group: 'scores' },
  { field: 'rfm_segment', type: 'text', group: 'scores' },
  { field: 'lifecycle_stage', type: 'text', group: 'scores' },
  { field: 'churn_risk', type: 'number', group: 'scores' },
  { field: 'p_alive', type: 'number', group: 'scores' },
  { field: 'engagement_score', type: 'number', group: 'scores' },
  { field: 'rfm_recency', type: 'number', group: 'scores' },
  { field: 'rfm_frequency', type: 'number', group: 'scores' },
  { field: 'rfm_monetary', type: 'number', group: 'scores' },
  { field: 'consent.marketing_email', type: 'boolean', group: 'consent' },
  { field: 'consent.marketing_sms', type: 'boolean', group: 'consent' },
  { field: 'segment', type: 'segment', group: 'membership' },
  { field: 'purchased', type: 'behavior', group: 'behavior' },
  { field: 'attended', type: 'behavior', group: 'behavior' },
  { field: 'email_opened', type: 'behavior', group: 'behavior' },
  { field: 'email_clicked', type: 'behavior', group: 'behavior' },
  { field: 'abandoned_cart', type: 'behavior', group: 'behavior' },
];

export const OPS_BY_TYPE: Record<FieldType, readonly string[]> = {
  number: ['=', '!=', '>', '>=', '<', '<=', 'in', 'not_in', 'between', 'is_set', 'is_not_set'],
  money: ['=', '!=', '>', '>=', '<', '<=', 'between', 'is_set', 'is_not_set'],
  date: ['>', '>=', '<', '<=', 'between', 'before', 'after', 'within', 'not_within', 'anniversary_within', 'is_set', 'is_not_set'],
  birthday: ['anniversary_within', 'is_set', 'is_not_set'],
  text: ['=', '!=', 'in', 'not_in', 'contains', 'starts_with', 'is_set', 'is_not_set'],
  enum: ['=', '!=', 'in', 'not_in'],
  boolean: ['=', '!='],
  array: ['contains', 'in', 'not_in', 'is_set', 'is_not_set'],
  segment: ['=', '!=', 'in', 'not_in'],
  behavior: ['exists', 'not_exists'],
};

/** Options a behavioral condition takes, per field. */
export const BEHAVIOR_OPTIONS: Record<string, readonly string[]> = {
  purchased: ['genre', 'event_id', 'venue', 'within', 'min_count'],
  attended: ['genre', 'event_id', 'venue', 'within', 'min_count'],
  email_opened: ['campaign_id', 'within', 'min_count'],
  email_clicked: ['campaign_id', 'within', 'min_count'],
  abandoned_cart: ['within', 'min_count'],
};

export function fieldDef(field: string): FieldDef | undefined {
  return FIELDS.find((f) => f.field === field);
}

export function operatorsFor(field: string): readonly string[] {
  const def = fieldDef(field);
  if (!def) return [];
  const ops = OPS_BY_TYPE[def.type];
  // anniversary_within applies to birthday, first_purchase and created_at, not last_purchase.
  return field === 'last_purchase' ? ops.filter((o) => o !== 'anniversary_within') : ops;
}

// ---------------------------------------------------------------------------------------------
// The editable tree (ids for React keys) and its API form

export type GroupOp = 'and' | 'or' | 'not';
export interface GroupNode {
  kind: 'group';
  id: string;
  operator: GroupOp;
  conditions: EditorNode[];
}
export interface LeafNode {
  kind: 'leaf';
  id: string;
  field: string;
  operator: string;
  /** Raw input: text for scalars, "a, b" for lists, [lo, hi] for between, options for behavior. */
  value: unknown;
}
export type EditorNode = GroupNode | LeafNode;

let seq = 0;
export const newId = () => `n${++seq}`;

/** The operator a new condition starts with: the most common question for the field's type. */
export function defaultOperator(field: string): string {
  const ops = operatorsFor(field);
  const preferred: Partial<Record<FieldType, string>> = { number: '>=', money: '>=', date: 'within' };
  const type = fieldDef(field)?.type;
  const want = type ? preferred[type] : undefined;
  return want && ops.includes(want) ? want : (ops[0] ?? '=');
}

export function newLeaf(field = 'total_spend'): LeafNode {
  const op = defaultOperator(field);
  return { kind: 'leaf', id: newId(), field, operator: op, value: defaultValue(field, op) };
}
export function newGroup(operator: GroupOp = 'and', conditions: EditorNode[] = [newLeaf()]): GroupNode {
  return { kind: 'group', id: newId(), operator, conditions };
}

export function defaultValue(field: string, op: string): unknown {
  const def = fieldDef(field);
  if (!def) return '';
  if (def.type === 'behavior') return {};
  if (op === 'between') return ['', ''];
  if (def.type === 'boolean') return true;
  if (def.type === 'enum') return op === 'in' || op === 'not_in' ? [] : (def.enumValues?.[0] ?? '');
  if (op === 'within' || op === 'not_within') return '90d';
  if (op === 'anniversary_within') return '30d';
  return '';
}

export const needsValue = (op: string) => op !== 'is_set' && op !== 'is_not_set';
const isList = (op: string) => op === 'in' || op === 'not_in';
const numeric = (t: FieldType) => t === 'number' || t === 'money';

function scalar(type: FieldType, raw: unknown): unknown {
  if (numeric(type)) {
    const s = String(raw ?? '').trim().replace(',', '.');
    return s === '' ? null : Number(s);
  }
  return typeof raw === 'string' ? raw.trim() : raw;
}

function splitList(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.map((x) => String(x).trim()).filter(Boolean);
  return String(raw ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** The rule JSON the API takes (`POST /segments/preview`, `POST /segments`). */
export function toApiRules(node: EditorNode): unknown {
  if (node.kind === 'group') return { operator: node.operator, conditions: node.conditions.map(toApiRules) };
  const def = fieldDef(node.field);
  const out: Record<string, unknown> = { field: node.field, operator: node.operator };
  if (!def || !needsValue(node.operator)) return out;
  if (def.type === 'behavior') {
    const opts: Record<string, unknown> = {};
    for (const [k, v] of Object.entries((node.value as Record<string, unknown>) ?? {})) {
      if (v === '' || v === null || v === undefined) continue;
      opts[k] = k === 'min_count' ? Number(v) : String(v).trim();
    }
    if (Object.keys(opts).length) out.value = opts;
    return out;
  }
  if (node.operator === 'between') {
    const [lo, hi] = Array.isArray(node.value) ? node.value : ['', ''];
    out.value = [scalar(def.type, lo), scalar(def.type, hi)];
  } else if (isList(node.operator) || (def.type === 'array' && Array.isArray(node.value))) {
    out.value = splitList(node.value).map((x) => scalar(def.type, x));
  } else {
    out.value = scalar(def.type, node.value);
  }
  return out;
}

/** A stored rule tree back into the editor (fields and operators as the API normalized them). */
export function fromApiRules(rules: unknown): GroupNode {
  const walk = (n: unknown): EditorNode => {
    const o = (n ?? {}) as Record<string, unknown>;
    if (Array.isArray(o.conditions)) {
      const op = o.operator === 'or' || o.operator === 'not' ? o.operator : 'and';
      return { kind: 'group', id: newId(), operator: op, conditions: o.conditions.map(walk) };
    }
    const field = String(o.field ?? 'total_spend');
    const operator = String(o.operator ?? '=');
    let value: unknown = o.value;
    if (isList(operator) && Array.isArray(value)) value = value.join(', ');
    if (operator === 'between' && Array.isArray(value)) value = value.map((x) => String(x));
    if (typeof value === 'number') value = String(value);
    if (value === undefined) value = defaultValue(field, operator);
    return { kind: 'leaf', id: newId(), field, operator, value };
  };
  const root = walk(rules);
  return root.kind === 'group' ? root : { kind: 'group', id: newId(), operator: 'and', conditions: [root] };
}

/** Immutable edits by node id. */
export function updateNode(root: GroupNode, id: string, fn: (n: EditorNode) => EditorNode | null): GroupNode {
  const visit = (n: EditorNode): EditorNode | null => {
    if (n.id === id) return fn(n);
    if (n.kind === 'leaf') return n;
    const conditions = n.conditions.map(visit).filter((x): x is EditorNode => x !== null);
    return { ...n, conditions };
  };
  return (visit(root) as GroupNode | null) ?? newGroup();
}

/** Groups with no condition cannot be saved: the API rejects them. */
export function hasEmptyGroup(n: EditorNode): boolean {
  return n.kind === 'group' && (n.conditions.length === 0 || n.conditions.some(hasEmptyGroup));
}

/** A condition whose value is still empty: nothing to count yet. */
export function hasMissingValue(n: EditorNode): boolean {
  if (n.kind === 'group') return n.conditions.some(hasMissingValue);
  const def = fieldDef(n.field);
  if (!def || !needsValue(n.operator) || def.type === 'behavior' || def.type === 'boolean') return false;
  const v = n.value;
  if (Array.isArray(v)) return v.length === 0 || v.some((x) => String(x ?? '').trim() === '');
  return String(v ?? '').trim() === '';
}
