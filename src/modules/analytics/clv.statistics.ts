/**
 * Sufficient statistics for the "buy till you die" models (BG/NBD for frequency, Gamma-Gamma for spend).
 *
 * Both models depend on a customer's transaction history only through (x, t_x, T) and (x, m), so the
 * fits run on these statistics — grouped into weighted rows of identical values — and never on raw
 * transactions ("fit on sufficient statistics, not rows"). The derivation follows the convention of
 * Fader, Hardie & Lee (2005) as used for the CDNOW benchmark (see src/test/fixtures/cdnow/README.md):
 *  - only transactions on or before `asOf` count;
 *  - all transactions of a customer on the same calendar day are ONE purchase (amounts add up);
 *  - x   = number of distinct purchase days − 1 (repeat purchases; the first purchase starts the clock);
 *  - t_x = (last purchase day − first purchase day) in time units (weeks = days / 7);
 *  - T   = (asOf − first purchase day) in time units;
 *  - m   = mean value of the repeat purchases (every purchase day except the first), 0 when x = 0.
 */

export type TimeUnit = 'day' | 'week';

/** Length of a time unit in days. */
export const DAYS_PER_TIME_UNIT: Readonly<Record<TimeUnit, number>> = { day: 1, week: 7 };

/** What BG/NBD and Gamma-Gamma need to know about one customer. */
export interface SufficientStatistics {
  /** Repeat purchases: distinct purchase periods − 1. */
  x: number;
  /** Recency: time of the last purchase since the first, in time units (0 when x = 0). */
  t_x: number;
  /** Age at the calibration end: time since the first purchase, in time units. */
  T: number;
  /** Mean value of the repeat purchases (same-day purchases summed); 0 when x = 0. */
  m: number;
}

export interface CustomerStatistics extends SufficientStatistics {
  customerId: string;
  /** Sum of all purchase amounts up to asOf, first purchase included (the "historic CLV"). */
  historic_value: number;
}

export interface Transaction {
  customerId: string;
  /** Calendar date of the purchase, 'YYYY-MM-DD', or a Date (its UTC calendar day is used). */
  date: string | Date;
  amount: number;
}

export interface DerivedStatistics {
  /** Calibration end, 'YYYY-MM-DD'. */
  asOf: string;
  timeUnit: TimeUnit;
  customers: CustomerStatistics[];
}

const MS_PER_DAY = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Day number (days since 1970-01-01) of a calendar date. Strings must be 'YYYY-MM-DD'; a Date counts by
 * its UTC calendar day. Callers holding timestamps should convert them to the tenant's local calendar date
 * first: "same day" is a business notion, not a UTC one.
 */
export function dayNumber(date: string | Date): number {
  if (date instanceof Date) {
    const t = date.getTime();
    if (!Number.isFinite(t)) throw new RangeError('Invalid Date');
    return Math.floor(t / MS_PER_DAY);
  }
  const match = ISO_DATE.exec(date);
  if (!match) throw new RangeError(`Expected a date as YYYY-MM-DD, got "${date}"`);
  const [y, mo, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const check = new Date(ms);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) {
    throw new RangeError(`Not a calendar date: "${date}"`);
  }
  return ms / MS_PER_DAY;
}

/**
 * Derive per-customer sufficient statistics from raw transactions, as of `asOf`, in `timeUnit`s.
 * Customers whose first purchase is after `asOf` have no history yet and are left out.
 * Output order: customers in order of first appearance in `transactions`.
 */
export function deriveSufficientStatistics(
  transactions: Iterable<Transaction>,
  options: { asOf: string; timeUnit: TimeUnit },
): DerivedStatistics {
  const asOfDay = dayNumber(options.asOf);
  const unit = DAYS_PER_TIME_UNIT[options.timeUnit];
  if (unit === undefined) throw new RangeError(`Unknown time unit "${String(options.timeUnit)}"`);

  // customer -> (day number -> amount spent that day)
  const byCustomer = new Map<string, Map<number, number>>();
  for (const tx of transactions) {
    const day = dayNumber(tx.date);
    if (day > asOfDay) continue;
    if (!Number.isFinite(tx.amount)) throw new RangeError(`Non-finite amount for customer ${tx.customerId}`);
    let days = byCustomer.get(tx.customerId);
    if (!days) {
      days = new Map();
      byCustomer.set(tx.customerId, days);
    }
    days.set(day, (days.get(day) ?? 0) + tx.amount);
  }

  const customers: CustomerStatistics[] = [];
  for (const [customerId, days] of byCustomer) {
    let first = Infinity;
    let last = -Infinity;
    let total = 0;
    for (const [day, amount] of days) {
      if (day < first) first = day;
      if (day > last) last = day;
      total += amount;
    }
    const x = days.size - 1;
    const firstAmount = days.get(first) ?? 0;
    customers.push({
      customerId,
      x,
      t_x: (last - first) / unit,
      T: (asOfDay - first) / unit,
      // Gamma-Gamma's m is the mean of the REPEAT purchases: the first purchase is excluded because it
      // is the acquisition event (Fader & Hardie note 025 uses the same convention on CDNOW).
      m: x > 0 ? (total - firstAmount) / x : 0,
      historic_value: total,
    });
  }
  return { asOf: options.asOf, timeUnit: options.timeUnit, customers };
}

/** One weighted row of identical (x, t_x, T): `weight` customers share these values. */
export interface BgnbdRow {
  x: number;
  t_x: number;
  T: number;
  weight?: number;
}

/** One weighted row of identical (x, m) for the spend model. */
export interface GammaGammaRow {
  x: number;
  m: number;
  weight?: number;
}

/**
 * Collapse customers with identical (x, t_x, T) into weighted rows. With day-resolution dates the number of
 * distinct triples is bounded by (max x) × (days in t_x) × (days in T) and in practice is a small fraction of
 * the customer count, which is what makes a 1M-customer fit take seconds.
 */
export function groupBgnbdRows(stats: Iterable<BgnbdRow>): BgnbdRow[] {
  // Nested maps keyed by numbers: markedly faster than building a string key per customer at 1M rows.
  const groups = new Map<number, Map<number, Map<number, BgnbdRow>>>();
  const out: BgnbdRow[] = [];
  for (const s of stats) {
    const w = s.weight ?? 1;
    let byT = groups.get(s.x);
    if (!byT) groups.set(s.x, (byT = new Map()));
    let byTx = byT.get(s.T);
    if (!byTx) byT.set(s.T, (byTx = new Map()));
    const g = byTx.get(s.t_x);
    if (g) g.weight = (g.weight ?? 1) + w;
    else {
      const row = { x: s.x, t_x: s.t_x, T: s.T, weight: w };
      byTx.set(s.t_x, row);
      out.push(row);
    }
  }
  return out;
}

/** Collapse identical (x, m) pairs into weighted rows (only repeat buyers carry spend information). */
export function groupGammaGammaRows(stats: Iterable<GammaGammaRow>): GammaGammaRow[] {
  const groups = new Map<number, Map<number, GammaGammaRow>>();
  const out: GammaGammaRow[] = [];
  for (const s of stats) {
    if (!(s.x > 0)) continue;
    const w = s.weight ?? 1;
    let byM = groups.get(s.x);
    if (!byM) groups.set(s.x, (byM = new Map()));
    const g = byM.get(s.m);
    if (g) g.weight = (g.weight ?? 1) + w;
    else {
      const row = { x: s.x, m: s.m, weight: w };
      byM.set(s.m, row);
      out.push(row);
    }
  }
  return out;
}
