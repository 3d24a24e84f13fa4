import { arr, sql, type SQL } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';

/**
 * The segment rule language: parse (accepting seed 001's nested groups, seed 002's
 * `{conditions: [{type, operator, value}]}` list and seed 003's eq/neq/gt/… operators), validate
 * with the offending path, normalize to one canonical tree, compile that tree to ONE
 * parameterized SQL predicate over `customers c`, and evaluate it in memory (the property test's
 * oracle). Semantics are written in README.md, "Segments".
 */

export const MAX_DEPTH = 10;
export const MAX_CONDITIONS = 200;
const MAX_LIST = 1000;
const MAX_TEXT = 500;

// ---------------------------------------------------------------------------------------------
// Canonical tree

export type GroupOperator = 'and' | 'or' | 'not';
export interface RuleGroup {
  operator: GroupOperator;
  conditions: RuleNode[];
}
export interface RuleLeaf {
  field: string;
  operator: LeafOperator;
  value?: unknown;
}
export type RuleNode = RuleGroup | RuleLeaf;

export const LEAF_OPERATORS = [
  '=', '!=', '>', '>=', '<', '<=', 'in', 'not_in', 'between', 'contains', 'starts_with', 'is_set', 'is_not_set',
  'within', 'not_within', 'before', 'after', 'anniversary_within', 'exists', 'not_exists',
] as const;
export type LeafOperator = (typeof LEAF_OPERATORS)[number];

const OPERATOR_ALIASES: Record<string, LeafOperator> = {
  eq: '=', '==': '=', neq: '!=', ne: '!=', '<>': '!=', gt: '>', gte: '>=', lt: '<', lte: '<=', nin: 'not_in',
};

export type FieldType = 'number' | 'money' | 'date' | 'birthday' | 'text' | 'enum' | 'boolean' | 'array' | 'segment' | 'behavior';

const OPS_BY_TYPE: Record<FieldType, readonly LeafOperator[]> = {
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

/** How a field reads in SQL (alias `c` = customers) and in memory (a CustomerFacts object). */
interface FieldSpec {
  type: FieldType;
  /** SQL expression over `c`; absent for segment/behavior fields. */
  expr?: SQL;
  /** The column can be NULL (comparisons with a missing value are false). */
  nullable: boolean;
  enumValues?: readonly string[];
  /** Value of the field for the in-memory evaluator. */
  get?: (c: CustomerFacts) => unknown;
  /** Lower-case text values (tags are stored lower-cased). */
  lower?: boolean;
}

const raw = (s: string) => sql.raw(s);
const FIELDS: Record<string, FieldSpec> = {
  total_spend: { type: 'money', expr: raw('c.total_spend'), nullable: false, get: (c) => c.total_spend },
  total_orders: { type: 'number', expr: raw('c.total_orders'), nullable: false, get: (c) => c.total_orders },
  events_attended: { type: 'number', expr: raw('c.events_attended'), nullable: false, get: (c) => c.events_attended },
  average_order_value: { type: 'money', expr: raw('c.average_order_value'), nullable: false, get: (c) => c.average_order_value },
  lifetime_value: { type: 'money', expr: raw('c.lifetime_value'), nullable: false, get: (c) => c.lifetime_value },
  predicted_clv: { type: 'money', expr: raw('c.predicted_clv'), nullable: true, get: (c) => c.predicted_clv },
  loyalty_points: { type: 'number', expr: raw('c.loyalty_points'), nullable: false, get: (c) => c.loyalty_points },
  last_purchase: { type: 'date', expr: raw('c.last_purchase'), nullable: true, get: (c) => c.last_purchase },
  first_purchase: { type: 'date', expr: raw('c.first_purchase'), nullable: true, get: (c) => c.first_purchase },
  created_at: { type: 'date', expr: raw('c.created_at'), nullable: false, get: (c) => c.created_at },
  city: { type: 'text', expr: raw('c.city'), nullable: true, get: (c) => c.city },
  country: { type: 'text', expr: raw('c.country'), nullable: true, get: (c) => c.country },
  gender: { type: 'text', expr: raw('c.gender'), nullable: true, get: (c) => c.gender },
  source: { type: 'text', expr: raw('c.source'), nullable: true, get: (c) => c.source },
  loyalty_tier: { type: 'text', expr: raw('c.loyalty_tier'), nullable: true, get: (c) => c.loyalty_tier },
  rfm_segment: { type: 'text', expr: raw('c.rfm_segment'), nullable: true, get: (c) => c.rfm_segment },
  lifecycle_stage: { type: 'text', expr: raw('c.lifecycle_stage'), nullable: true, get: (c) => c.lifecycle_stage },
  customer_type: {
    type: 'enum', expr: raw('c.customer_type'), nullable: false, enumValues: ['individual', 'business'], get: (c) => c.customer_type,
  },
  status: { type: 'enum', expr: raw('c.status'), nullable: false, enumValues: ['active', 'inactive', 'prospect'], get: (c) => c.status },
  // whole years since date_of_birth, on today's UTC date
  age: {
    type: 'number',
    expr: raw(`extract(year FROM age((now() AT TIME ZONE 'UTC')::date, c.date_of_birth))::int`),
    nullable: true,
    get: (c) => (c.date_of_birth ? ageOn(c.date_of_birth, c.now) : null),
  },
  birthday: { type: 'birthday', expr: raw('c.date_of_birth'), nullable: true, get: (c) => c.date_of_birth },
  tags: { type: 'array', expr: raw('c.tags'), nullable: false, lower: true, get: (c) => c.tags },
  genres: { type: 'array', expr: raw(`c.preferences -> 'genres'`), nullable: true, get: (c) => c.genres },
  'consent.marketing_email': {
    type: 'boolean', expr: raw(`coalesce(c.consent -> 'marketing_email' = 'true'::jsonb, false)`), nullable: false,
    get: (c) => c.consent_email,
  },
  'consent.marketing_sms': {
    type: 'boolean', expr: raw(`coalesce(c.consent -> 'marketing_sms' = 'true'::jsonb, false)`), nullable: false,
    get: (c) => c.consent_sms,
  },
  is_vip: { type: 'boolean', expr: raw('c.is_vip'), nullable: false, get: (c) => c.is_vip },
  churn_risk: { type: 'number', expr: raw('c.churn_risk'), nullable: true, get: (c) => c.churn_risk },
  p_alive: { type: 'number', expr: raw('c.p_alive'), nullable: true, get: (c) => c.p_alive },
  engagement_score: { type: 'number', expr: raw('c.engagement_score'), nullable: true, get: (c) => c.engagement_score },
  rfm_recency: { type: 'number', expr: raw('c.rfm_recency'), nullable: true, get: (c) => c.rfm_recency },
  rfm_frequency: { type: 'number', expr: raw('c.rfm_frequency'), nullable: true, get: (c) => c.rfm_frequency },
  rfm_monetary: { type: 'number', expr: raw('c.rfm_monetary'), nullable: true, get: (c) => c.rfm_monetary },
  segment: { type: 'segment', nullable: false },
  purchased: { type: 'behavior', nullable: false },
  attended: { type: 'behavior', nullable: false },
  email_opened: { type: 'behavior', nullable: false },
  email_clicked: { type: 'behavior', nullable: false },
  abandoned_cart: { type: 'behavior', nullable: false },
};

const FIELD_ALIASES: Record<string, string> = {
  total_spent: 'total_spend',
  orders_count: 'total_orders',
  tag: 'tags',
  genre: 'genres',
  segment_id: 'segment',
  marketing_email: 'consent.marketing_email',
  marketing_sms: 'consent.marketing_sms',
};

const CUSTOM_KEY = /^[A-Za-z0-9_-]{1,64}$/;

/** Options of behavioral leaves, per field. */
const BEHAVIOR_OPTIONS: Record<string, readonly string[]> = {
  purchased: ['genre', 'event_id', 'venue', 'within', 'min_count'],
  attended: ['genre', 'event_id', 'venue', 'within', 'min_count'],
  email_opened: ['campaign_id', 'within', 'min_count'],
  email_clicked: ['campaign_id', 'within', 'min_count'],
  abandoned_cart: ['within', 'min_count'],
};

export function fieldSpec(field: string): FieldSpec | undefined {
  if (field.startsWith('custom.')) {
    const key = field.slice('custom.'.length);
    if (!CUSTOM_KEY.test(key)) return undefined;
    return {
      type: 'text', expr: sql`(c.custom_fields ->> ${key}::text)`, nullable: true,
      get: (c) => customText(c.custom_fields?.[key]),
    };
  }
  return Object.hasOwn(FIELDS, field) ? FIELDS[field] : undefined;
}

export const KNOWN_FIELDS = [...Object.keys(FIELDS), 'custom.<key>'];

// ---------------------------------------------------------------------------------------------
// Durations

export interface Duration {
  n: number;
  unit: 'd' | 'w' | 'm' | 'y';
}
const DURATION = /^(\d{1,5})([dwmy])$/;

/** "90d", "12w", "6m", "1y" (at least 1; 0 only where allowZero: "anniversary today"). */
export function parseDuration(value: unknown, allowZero = false): Duration | null {
  if (typeof value !== 'string') return null;
  const m = DURATION.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (n < (allowZero ? 0 : 1) || n > 36500) return null;
  return { n, unit: m[2] as Duration['unit'] };
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation

export interface RuleProblem {
  path: string;
  message: string;
}

class RuleError extends Error {
  constructor(readonly problem: RuleProblem) {
    super(problem.message);
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);
const fail = (path: string, message: string): never => {
  throw new RuleError({ path, message });
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})$/;
function isDateValue(v: unknown): v is string {
  if (typeof v !== 'string' || !(DATE_ONLY.test(v) || DATE_TIME.test(v))) return false;
  const t = Date.parse(DATE_ONLY.test(v) ? `${v}T00:00:00Z` : v);
  return Number.isFinite(t) && new Date(t).getUTCFullYear() >= 1900 && new Date(t).getUTCFullYear() <= 2200;
}
/** A date (midnight UTC) or a date-time, as an ISO instant. */
const toInstant = (v: string) => new Date(DATE_ONLY.test(v) ? `${v}T00:00:00Z` : v).toISOString();

interface ParseState {
  count: number;
}

/**
 * Validates and normalizes rules given in any accepted form. Throws AppError invalid_rule whose
 * details carry the offending path (e.g. `conditions[1].conditions[0].value`).
 */
export function parseRules(input: unknown): RuleGroup {
  try {
    const state: ParseState = { count: 0 };
    // A bare list (seed 002's `conditions` array given as the rules) is an "and" group.
    const root = Array.isArray(input) ? { conditions: input } : input;
    if (!isObject(root) || !('conditions' in root)) fail('', 'rules must be a group: {"operator": "and"|"or"|"not", "conditions": [...]}');
    return parseGroup(root as Record<string, unknown>, '', 1, state);
  } catch (err) {
    if (err instanceof RuleError) {
      throw new AppError('invalid_rule', `invalid rule at ${err.problem.path || 'the root'}: ${err.problem.message}`, err.problem);
    }
    throw err;
  }
}

function parseNode(node: unknown, path: string, depth: number, state: ParseState): RuleNode {
  if (!isObject(node)) return fail(path, 'a condition must be an object');
  if ('conditions' in node) return parseGroup(node, path, depth, state);
  return parseLeaf(node, path, state);
}

function parseGroup(node: Record<string, unknown>, path: string, depth: number, state: ParseState): RuleGroup {
  if (depth > MAX_DEPTH) fail(join(path, 'conditions'), `rules are nested deeper than ${MAX_DEPTH} levels`);
  for (const key of Object.keys(node)) {
    if (key !== 'operator' && key !== 'conditions') fail(join(path, key), `unknown key "${key}" in a group (use operator and conditions)`);
  }
  const rawOp = node.operator ?? 'and';
  const operator = typeof rawOp === 'string' ? rawOp.toLowerCase() : rawOp;
  if (operator !== 'and' && operator !== 'or' && operator !== 'not') fail(join(path, 'operator'), 'a group operator is and, or or not');
  const list = node.conditions;
  if (!Array.isArray(list)) return fail(join(path, 'conditions'), 'conditions must be an array');
  if (list.length === 0) fail(join(path, 'conditions'), 'a group needs at least one condition');
  const conditions = list.map((c, i) => parseNode(c, `${join(path, 'conditions')}[${i}]`, depth + 1, state));
  return { operator: operator as GroupOperator, conditions };
}

function parseLeaf(node: Record<string, unknown>, path: string, state: ParseState): RuleLeaf {
  state.count++;
  if (state.count > MAX_CONDITIONS) fail(path, `rules have more than ${MAX_CONDITIONS} conditions`);
  for (const key of Object.keys(node)) {
    if (!['field', 'type', 'operator', 'value'].includes(key)) fail(join(path, key), `unknown key "${key}" in a condition`);
  }
  if ('field' in node && 'type' in node) fail(join(path, 'type'), 'give field or type, not both');
  const fieldKey = 'field' in node ? 'field' : 'type';
  const rawField = node[fieldKey];
  if (typeof rawField !== 'string' || rawField === '') return fail(join(path, fieldKey), 'field must be a field name');
  const field = FIELD_ALIASES[rawField] ?? rawField;
  const spec = fieldSpec(field);
  if (!spec) return fail(join(path, fieldKey), `unknown field "${rawField}"`);

  const opPath = join(path, 'operator');
  let operator: LeafOperator;
  if (node.operator === undefined) {
    // Seed 002's {"type": "tag", "value": "vip"} has no operator.
    operator = spec.type === 'array' ? 'contains' : spec.type === 'behavior' ? 'exists' : '=';
  } else {
    if (typeof node.operator !== 'string') return fail(opPath, 'operator must be a string');
    const name = node.operator.toLowerCase();
    operator = (OPERATOR_ALIASES[name] ?? name) as LeafOperator;
    if (!(LEAF_OPERATORS as readonly string[]).includes(operator)) return fail(opPath, `unknown operator "${node.operator}"`);
  }
  if (!OPS_BY_TYPE[spec.type].includes(operator)) {
    fail(opPath, `operator "${operator}" does not apply to ${field} (${spec.type}); use one of ${OPS_BY_TYPE[spec.type].join(', ')}`);
  }
  if (operator === 'anniversary_within' && field === 'last_purchase') {
    fail(opPath, 'anniversary_within applies to birthday, first_purchase and created_at');
  }
  const value = parseValue(field, spec, operator, node.value, join(path, 'value'), 'value' in node);
  return value === undefined ? { field, operator } : { field, operator, value };
}

const NO_VALUE = new Set<LeafOperator>(['is_set', 'is_not_set']);

function checkNumber(v: unknown, path: string, money: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fail(path, 'value must be a number');
  if (Math.abs(v) > 1e12) fail(path, 'value is out of range');
  if (money && Math.round(v * 100) / 100 !== v) fail(path, 'money values have at most two decimals');
  return v;
}

function checkText(v: unknown, path: string): string {
  if (typeof v !== 'string') return fail(path, 'value must be a string');
  if (v.length === 0 || v.length > MAX_TEXT) fail(path, `value must be 1 to ${MAX_TEXT} characters`);
  return v;
}

function checkList<T>(v: unknown, path: string, each: (x: unknown, p: string) => T): T[] {
  if (!Array.isArray(v)) return fail(path, 'value must be an array');
  if (v.length === 0 || v.length > MAX_LIST) fail(path, `value must list 1 to ${MAX_LIST} items`);
  return v.map((x, i) => each(x, `${path}[${i}]`));
}

function parseValue(field: string, spec: FieldSpec, op: LeafOperator, v: unknown, path: string, given: boolean): unknown {
  if (NO_VALUE.has(op)) {
    if (given && v !== null && v !== true) fail(path, `${op} takes no value`);
    return undefined;
  }
  if (!given && spec.type !== 'behavior') return fail(path, `operator ${op} needs a value`);
  switch (spec.type) {
    case 'number':
    case 'money': {
      const money = spec.type === 'money';
      if (op === 'in' || op === 'not_in') return checkList(v, path, (x, p) => checkNumber(x, p, money));
      if (op === 'between') return checkRange(v, path, (x, p) => checkNumber(x, p, money));
      return checkNumber(v, path, money);
    }
    case 'date':
    case 'birthday': {
      if (op === 'within' || op === 'not_within') {
        if (!parseDuration(v)) fail(path, 'value must be a duration such as "90d", "12w", "6m" or "1y"');
        return (v as string).trim();
      }
      if (op === 'anniversary_within') {
        const d = parseDuration(v, true);
        if (!d || (d.unit !== 'd' && d.unit !== 'w') || days(d) > 366) fail(path, 'value must be a duration of days or weeks up to 366 days, e.g. "30d"');
        return (v as string).trim();
      }
      const date = (x: unknown, p: string) => {
        if (!isDateValue(x)) fail(p, 'value must be a date (YYYY-MM-DD) or an ISO 8601 date-time');
        return x as string;
      };
      if (op === 'between') return checkRange(v, path, date);
      return date(v, path);
    }
    case 'text': {
      if (op === 'in' || op === 'not_in') return checkList(v, path, checkText);
      return checkText(v, path);
    }
    case 'enum': {
      const one = (x: unknown, p: string) => {
        if (typeof x !== 'string' || !spec.enumValues!.includes(x)) fail(p, `value must be one of ${spec.enumValues!.join(', ')}`);
        return x as string;
      };
      if (op === 'in' || op === 'not_in') return checkList(v, path, one);
      return one(v, path);
    }
    case 'boolean':
      if (typeof v !== 'boolean') fail(path, 'value must be true or false');
      return v;
    case 'array': {
      const one = (x: unknown, p: string) => {
        const t = checkText(x, p);
        return spec.lower ? t.trim().toLowerCase() : t;
      };
      // contains: one value or a list (has all of them); in / not_in: a list (any / none of them)
      if (op === 'contains' && !Array.isArray(v)) return one(v, path);
      return checkList(v, path, one);
    }
    case 'segment': {
      const one = (x: unknown, p: string) => {
        if (typeof x !== 'string' || !UUID.test(x)) fail(p, 'value must be a segment id');
        return (x as string).toLowerCase();
      };
      if (op === 'in' || op === 'not_in') return checkList(v, path, one);
      return one(v, path);
    }
    case 'behavior':
      return parseBehavior(field, v, path);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkRange<T>(v: unknown, path: string, each: (x: unknown, p: string) => T): [T, T] {
  if (!Array.isArray(v) || v.length !== 2) return fail(path, 'between takes [low, high]');
  const lo = each(v[0], `${path}[0]`);
  const hi = each(v[1], `${path}[1]`);
  const cmp = (x: T) => (typeof x === 'string' ? Date.parse(toInstant(x)) : (x as number));
  if (cmp(lo) > cmp(hi)) fail(path, 'between takes [low, high] with low <= high');
  return [lo, hi];
}

export interface BehaviorOptions {
  genre?: string;
  event_id?: string;
  venue?: string;
  campaign_id?: string;
  within?: string;
  min_count?: number;
}

function parseBehavior(field: string, v: unknown, path: string): BehaviorOptions {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) return fail(path, `value must be an object of options (${BEHAVIOR_OPTIONS[field].join(', ')})`);
  const out: BehaviorOptions = {};
  for (const [key, x] of Object.entries(v)) {
    const p = join(path, key);
    if (!BEHAVIOR_OPTIONS[field].includes(key)) fail(p, `unknown option "${key}" for ${field} (use ${BEHAVIOR_OPTIONS[field].join(', ')})`);
    if (key === 'within') {
      if (!parseDuration(x)) fail(p, 'within must be a duration such as "90d", "12w", "6m" or "1y"');
      out.within = (x as string).trim();
    } else if (key === 'min_count') {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 100000) fail(p, 'min_count must be an integer from 1');
      out.min_count = x as number;
    } else {
      (out as Record<string, unknown>)[key] = checkText(x, p);
    }
  }
  return out;
}

/** Segment ids a rule tree names (for existence and cycle checks). */
export function referencedSegments(node: RuleNode): string[] {
  const out = new Set<string>();
  const walk = (n: RuleNode) => {
    if ('conditions' in n) n.conditions.forEach(walk);
    else if (n.field === 'segment') for (const id of [n.value].flat()) out.add(id as string);
  };
  walk(node);
  return [...out];
}

/** Paths of the leaves naming a given segment id (for a helpful invalid_rule). */
export function pathOfSegmentRef(node: RuleNode, id: string, path = ''): string | null {
  if ('conditions' in node) {
    for (let i = 0; i < node.conditions.length; i++) {
      const found = pathOfSegmentRef(node.conditions[i], id, `${join(path, 'conditions')}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  return node.field === 'segment' && [node.value].flat().includes(id) ? join(path, 'value') : null;
}

// ---------------------------------------------------------------------------------------------
// SQL compiler

export interface CompileOptions {
  /** The instant rules are evaluated at (default now(), the transaction's start). */
  now?: Date;
}

const days = (d: Duration) => (d.unit === 'w' ? d.n * 7 : d.n);

function intervalSql(d: Duration): SQL {
  switch (d.unit) {
    case 'd': return sql`make_interval(days => ${d.n}::int)`;
    case 'w': return sql`make_interval(days => ${d.n * 7}::int)`;
    case 'm': return sql`make_interval(months => ${d.n}::int)`;
    case 'y': return sql`make_interval(years => ${d.n}::int)`;
  }
}

/**
 * Compiles a validated tree into one boolean SQL predicate over `customers c`. Every value is a
 * bound parameter; identifiers come only from the FIELDS table. The predicate is never NULL:
 * a comparison with a missing value is false, so `not` is plain negation.
 */
export function compileRules(rules: RuleNode, opts: CompileOptions = {}): SQL {
  const now = opts.now ? sql`${opts.now.toISOString()}::timestamptz` : sql`now()`;
  // Month and year arithmetic on UTC wall time, whatever the session's TimeZone.
  const cutoff = (d: Duration) => sql`((${now} AT TIME ZONE 'UTC') - ${intervalSql(d)}) AT TIME ZONE 'UTC'`;
  const today = sql`(${now} AT TIME ZONE 'UTC')::date`;

  const node = (n: RuleNode): SQL => {
    if ('conditions' in n) {
      const parts = n.conditions.map(node);
      if (n.operator === 'or') return sql`(${sql.join(parts, sql` OR `)})`;
      const all = sql`(${sql.join(parts, sql` AND `)})`;
      return n.operator === 'not' ? sql`(NOT ${all})` : all;
    }
    const spec = fieldSpec(n.field)!;
    const p = leaf(n, spec);
    return spec.nullable ? sql`coalesce(${p}, false)` : p;
  };

  const leaf = (n: RuleLeaf, spec: FieldSpec): SQL => {
    // age is relative to the evaluation date like every other time-based rule
    const e = n.field === 'age' ? sql`extract(year FROM age(${today}::timestamp, c.date_of_birth::timestamp))::int` : spec.expr!;
    const v = n.value;
    switch (spec.type) {
      case 'number':
      case 'money':
        return numberLeaf(e, n.operator, v);
      case 'date':
      case 'birthday':
        return dateLeaf(n.field, e, n.operator, v, spec.type === 'birthday');
      case 'text':
        return textLeaf(e, n.operator, v);
      case 'enum':
        return textLeaf(e, n.operator, v);
      case 'boolean':
        return n.operator === '=' ? sql`${e} = ${v as boolean}::boolean` : sql`${e} <> ${v as boolean}::boolean`;
      case 'array':
        return n.field === 'tags' ? tagsLeaf(e, n.operator, v) : jsonArrayLeaf(e, n.operator, v);
      case 'segment': {
        const ids = [v].flat() as string[];
        const member = sql`EXISTS (SELECT 1 FROM segment_members sm WHERE sm.tenant_id = c.tenant_id
          AND sm.segment_id = ANY(${arr(ids)}::uuid[]) AND sm.customer_id = c.id)`;
        return n.operator === '=' || n.operator === 'in' ? member : sql`NOT ${member}`;
      }
      case 'behavior': {
        const q = behaviorSql(n.field, (v ?? {}) as BehaviorOptions);
        return n.operator === 'exists' ? q : sql`NOT ${q}`;
      }
    }
  };

  const numberLeaf = (e: SQL, op: LeafOperator, v: unknown): SQL => {
    const num = (x: unknown) => sql`${x as number}::numeric`;
    switch (op) {
      case '=': return sql`${e} = ${num(v)}`;
      case '!=': return sql`${e} <> ${num(v)}`;
      case '>': return sql`${e} > ${num(v)}`;
      case '>=': return sql`${e} >= ${num(v)}`;
      case '<': return sql`${e} < ${num(v)}`;
      case '<=': return sql`${e} <= ${num(v)}`;
      case 'in': return sql`${e} = ANY(${arr(v as number[])}::numeric[])`;
      case 'not_in': return sql`${e} <> ALL(${arr(v as number[])}::numeric[])`;
      case 'between': return sql`${e} BETWEEN ${num((v as number[])[0])} AND ${num((v as number[])[1])}`;
      case 'is_set': return sql`${e} IS NOT NULL`;
      case 'is_not_set': return sql`${e} IS NULL`;
      default: throw new Error(`unreachable ${op}`);
    }
  };

  const dateLeaf = (field: string, e: SQL, op: LeafOperator, v: unknown, isDate: boolean): SQL => {
    const ts = (x: unknown) => sql`${toInstant(x as string)}::timestamptz`;
    switch (op) {
      case '>': case 'after': return sql`${e} > ${ts(v)}`;
      case '>=': return sql`${e} >= ${ts(v)}`;
      case '<': case 'before': return sql`${e} < ${ts(v)}`;
      case '<=': return sql`${e} <= ${ts(v)}`;
      case 'between': return sql`${e} BETWEEN ${ts((v as string[])[0])} AND ${ts((v as string[])[1])}`;
      case 'is_set': return sql`${e} IS NOT NULL`;
      case 'is_not_set': return sql`${e} IS NULL`;
      case 'within': return sql`${e} >= ${cutoff(parseDuration(v)!)}`;
      case 'not_within': {
        // The negative-window rule (README, "Segments"): older than the window, or never happened
        // and the customer is older than the window.
        const c = cutoff(parseDuration(v)!);
        if (field === 'created_at') return sql`${e} < ${c}`;
        return sql`(${e} < ${c} OR (${e} IS NULL AND c.created_at < ${c}))`;
      }
      case 'anniversary_within': {
        const n = days(parseDuration(v, true)!);
        const d = isDate ? e : sql`(${e} AT TIME ZONE 'UTC')::date`;
        // next anniversary on or after today; Feb 29 falls on Feb 28 in common years (date + years interval)
        const yearsTo = sql`(extract(year FROM ${today})::int - extract(year FROM ${d})::int)`;
        const thisYear = sql`(${d} + make_interval(years => ${yearsTo}))::date`;
        const nextYear = sql`(${d} + make_interval(years => ${yearsTo} + 1))::date`;
        return sql`((CASE WHEN ${thisYear} >= ${today} THEN ${thisYear} ELSE ${nextYear} END) - ${today} <= ${n}::int)`;
      }
      default: throw new Error(`unreachable ${op}`);
    }
  };

  const textLeaf = (e: SQL, op: LeafOperator, v: unknown): SQL => {
    switch (op) {
      case '=': return sql`${e} = ${v as string}::text`;
      case '!=': return sql`${e} <> ${v as string}::text`;
      case 'in': return sql`${e} = ANY(${arr(v as string[])}::text[])`;
      case 'not_in': return sql`${e} <> ALL(${arr(v as string[])}::text[])`;
      // case-insensitive fragment / prefix, without LIKE (no escaping of % and _)
      case 'contains': return sql`strpos(lower(${e}), lower(${v as string}::text)) > 0`;
      case 'starts_with': return sql`left(lower(${e}), length(${v as string}::text)) = lower(${v as string}::text)`;
      case 'is_set': return sql`(${e} IS NOT NULL AND ${e} <> '')`;
      case 'is_not_set': return sql`(${e} IS NULL OR ${e} = '')`;
      default: throw new Error(`unreachable ${op}`);
    }
  };

  const tagsLeaf = (e: SQL, op: LeafOperator, v: unknown): SQL => {
    const list = [v].flat() as string[];
    switch (op) {
      case 'contains': return sql`${e} @> ${arr(list)}::text[]`;
      case 'in': return sql`${e} && ${arr(list)}::text[]`;
      case 'not_in': return sql`NOT (${e} && ${arr(list)}::text[])`;
      case 'is_set': return sql`cardinality(${e}) > 0`;
      case 'is_not_set': return sql`cardinality(${e}) = 0`;
      default: throw new Error(`unreachable ${op}`);
    }
  };

  const jsonArrayLeaf = (e: SQL, op: LeafOperator, v: unknown): SQL => {
    const list = [v].flat() as string[];
    const isArray = sql`coalesce(jsonb_typeof(${e}) = 'array', false)`;
    switch (op) {
      case 'contains': return sql`(${isArray} AND ${e} @> ${JSON.stringify(list)}::jsonb)`;
      case 'in': return sql`(${isArray} AND jsonb_exists_any(${e}, ${arr(list)}::text[]))`;
      case 'not_in': return sql`NOT (${isArray} AND jsonb_exists_any(${e}, ${arr(list)}::text[]))`;
      case 'is_set': return sql`(${isArray} AND jsonb_array_length(${e}) > 0)`;
      case 'is_not_set': return sql`NOT (${isArray} AND jsonb_array_length(${e}) > 0)`;
      default: throw new Error(`unreachable ${op}`);
    }
  };

  const behaviorSql = (field: string, o: BehaviorOptions): SQL => {
    const min = o.min_count ?? 1;
    const since = (col: SQL) => (o.within ? sql` AND ${col} >= ${cutoff(parseDuration(o.within)!)}` : sql``);
    const enough = (count: SQL) => (min > 1 ? sql` HAVING ${count} >= ${min}::int` : sql``);
    const show = (eventCol: SQL) => {
      const parts: SQL[] = [];
      if (o.event_id !== undefined) parts.push(sql` AND ${eventCol} = ${o.event_id}::text`);
      if (o.genre !== undefined || o.venue !== undefined) {
        const conds: SQL[] = [];
        if (o.genre !== undefined) conds.push(sql` AND ce.genres @> ARRAY[${o.genre}::text]`);
        if (o.venue !== undefined) conds.push(sql` AND ce.venue = ${o.venue}::text`);
        parts.push(sql` AND EXISTS (SELECT 1 FROM catalog_events ce WHERE ce.tenant_id = c.tenant_id AND ce.id = ${eventCol}${sql.join(conds)})`);
      }
      return sql.join(parts);
    };
    switch (field) {
      case 'purchased': {
        // a completed order (fully refunded or cancelled ones are not purchases) with a matching item
        const items = o.event_id !== undefined || o.genre !== undefined || o.venue !== undefined
          ? sql` AND EXISTS (SELECT 1 FROM order_items oi WHERE oi.tenant_id = o.tenant_id AND oi.order_id = o.id${show(sql`oi.event_id`)})`
          : sql``;
        return sql`EXISTS (SELECT 1 FROM orders o WHERE o.tenant_id = c.tenant_id AND o.customer_id = c.id
          AND o.status = 'completed'${since(sql`o.completed_at`)}${items}${enough(sql`count(*)`)})`;
      }
      case 'attended':
        return sql`EXISTS (SELECT 1 FROM attendance a WHERE a.tenant_id = c.tenant_id AND a.customer_id = c.id${since(sql`a.checked_in_at`)}${show(sql`a.event_id`)}${enough(sql`count(DISTINCT a.event_id)`)})`;
      case 'email_opened':
      case 'email_clicked': {
        const type = field === 'email_opened' ? 'email.opened' : 'email.clicked';
        const campaign = o.campaign_id !== undefined ? sql` AND act.data ->> 'campaign_id' = ${o.campaign_id}::text` : sql``;
        return sql`EXISTS (SELECT 1 FROM activities act WHERE act.tenant_id = c.tenant_id AND act.customer_id = c.id
          AND act.type = ${type}::text${since(sql`act.occurred_at`)}${campaign}${enough(sql`count(*)`)})`;
      }
      case 'abandoned_cart':
        return sql`EXISTS (SELECT 1 FROM carts ct WHERE ct.tenant_id = c.tenant_id AND ct.customer_id = c.id
          AND ct.status = 'abandoned'${since(sql`ct.updated_at`)}${enough(sql`count(*)`)})`;
      default:
        throw new Error(`unreachable ${field}`);
    }
  };

  return node(rules);
}

// ---------------------------------------------------------------------------------------------
// In-memory evaluator (the property test's oracle; covers the profile fields, not behavior/segment)

/** What the evaluator knows of a customer: profile columns, as the database returns them. */
export interface CustomerFacts {
  now: Date;
  total_spend: number;
  total_orders: number;
  events_attended: number;
  average_order_value: number;
  lifetime_value: number;
  predicted_clv: number | null;
  loyalty_points: number;
  last_purchase: Date | null;
  first_purchase: Date | null;
  created_at: Date;
  city: string | null;
  country: string | null;
  gender: string | null;
  source: string | null;
  loyalty_tier: string | null;
  rfm_segment: string | null;
  lifecycle_stage: string | null;
  customer_type: string;
  status: string;
  /** 'YYYY-MM-DD' */
  date_of_birth: string | null;
  tags: string[];
  genres: unknown;
  consent_email: boolean;
  consent_sms: boolean;
  is_vip: boolean;
  churn_risk: number | null;
  p_alive: number | null;
  engagement_score: number | null;
  rfm_recency: number | null;
  rfm_frequency: number | null;
  rfm_monetary: number | null;
  custom_fields: Record<string, unknown>;
}

function customText(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Whole years from a 'YYYY-MM-DD' birth date to the UTC date of `now` (PostgreSQL age()). */
function ageOn(dob: string, now: Date): number {
  const [y, m, d] = dob.split('-').map(Number);
  const ny = now.getUTCFullYear();
  const nm = now.getUTCMonth() + 1;
  const nd = now.getUTCDate();
  return ny - y - (nm < m || (nm === m && nd < d) ? 1 : 0);
}

/** PostgreSQL's timestamp - interval on UTC wall time (months clamp to the month's last day). */
export function subtractDuration(now: Date, d: Duration): Date {
  if (d.unit === 'd' || d.unit === 'w') return new Date(now.getTime() - days(d) * 86_400_000);
  return addMonths(now, -(d.unit === 'm' ? d.n : d.n * 12));
}

function addMonths(t: Date, months: number): Date {
  const y = t.getUTCFullYear();
  const m = t.getUTCMonth() + months;
  const ty = y + Math.floor(m / 12);
  const tm = ((m % 12) + 12) % 12;
  const last = new Date(Date.UTC(ty, tm + 1, 0)).getUTCDate();
  const out = new Date(t.getTime());
  out.setUTCFullYear(ty, tm, Math.min(t.getUTCDate(), last));
  return out;
}

const utcDate = (t: Date) => Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate());

function daysToAnniversary(date: Date, now: Date): number {
  const today = utcDate(now);
  const base = new Date(utcDate(date));
  const yearsTo = now.getUTCFullYear() - base.getUTCFullYear();
  let next = utcDate(addMonths(base, yearsTo * 12));
  if (next < today) next = utcDate(addMonths(base, (yearsTo + 1) * 12));
  return Math.round((next - today) / 86_400_000);
}

/** Evaluates a validated tree against one customer, with the same semantics as compileRules. */
export function evaluateRules(n: RuleNode, c: CustomerFacts): boolean {
  if ('conditions' in n) {
    if (n.operator === 'or') return n.conditions.some((x) => evaluateRules(x, c));
    const all = n.conditions.every((x) => evaluateRules(x, c));
    return n.operator === 'not' ? !all : all;
  }
  const spec = fieldSpec(n.field)!;
  if (!spec.get) throw new Error(`the in-memory evaluator does not read ${n.field}`);
  const x = spec.get(c);
  const v = n.value;
  const op = n.operator;
  if (op === 'is_set' || op === 'is_not_set') {
    let set: boolean;
    if (spec.type === 'array') set = Array.isArray(x) && x.length > 0;
    else if (spec.type === 'text') set = x !== null && x !== '';
    else set = x !== null && x !== undefined;
    return op === 'is_set' ? set : !set;
  }
  switch (spec.type) {
    case 'number':
    case 'money': {
      if (x === null || x === undefined) return false;
      const a = x as number;
      switch (op) {
        case '=': return a === v;
        case '!=': return a !== v;
        case '>': return a > (v as number);
        case '>=': return a >= (v as number);
        case '<': return a < (v as number);
        case '<=': return a <= (v as number);
        case 'in': return (v as number[]).includes(a);
        case 'not_in': return !(v as number[]).includes(a);
        case 'between': return a >= (v as number[])[0] && a <= (v as number[])[1];
      }
      break;
    }
    case 'date':
    case 'birthday': {
      if (op === 'not_within' && n.field !== 'created_at') {
        const cut = subtractDuration(c.now, parseDuration(v)!).getTime();
        return x === null ? c.created_at.getTime() < cut : (x as Date).getTime() < cut;
      }
      if (x === null || x === undefined) return false;
      if (op === 'anniversary_within') {
        const date = spec.type === 'birthday' ? new Date(`${x as string}T00:00:00Z`) : (x as Date);
        return daysToAnniversary(date, c.now) <= days(parseDuration(v, true)!);
      }
      const t = (x as Date).getTime();
      const at = (s: unknown) => Date.parse(toInstant(s as string));
      switch (op) {
        case '>': case 'after': return t > at(v);
        case '>=': return t >= at(v);
        case '<': case 'before': return t < at(v);
        case '<=': return t <= at(v);
        case 'between': return t >= at((v as string[])[0]) && t <= at((v as string[])[1]);
        case 'within': return t >= subtractDuration(c.now, parseDuration(v)!).getTime();
        case 'not_within': return t < subtractDuration(c.now, parseDuration(v)!).getTime();
      }
      break;
    }
    case 'text':
    case 'enum': {
      if (x === null || x === undefined) return false;
      const s = x as string;
      switch (op) {
        case '=': return s === v;
        case '!=': return s !== v;
        case 'in': return (v as string[]).includes(s);
        case 'not_in': return !(v as string[]).includes(s);
        case 'contains': return s.toLowerCase().includes((v as string).toLowerCase());
        case 'starts_with': return s.toLowerCase().startsWith((v as string).toLowerCase());
      }
      break;
    }
    case 'boolean':
      return op === '=' ? x === v : x !== v;
    case 'array': {
      const items = Array.isArray(x) ? (x as unknown[]) : null;
      const list = [v].flat() as string[];
      const has = (s: string) => items !== null && items.includes(s);
      switch (op) {
        case 'contains': return items !== null && list.every(has);
        case 'in': return list.some(has);
        case 'not_in': return !list.some(has);
      }
      break;
    }
    default:
      break;
  }
  throw new Error(`the in-memory evaluator does not handle ${n.field} ${op}`);
}
