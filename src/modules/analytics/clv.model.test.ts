import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import betaln from '@stdlib/math-base-special-betaln';
import hyp2f1 from '@stdlib/math-base-special-hyp2f1';
import { beforeAll, describe, expect, it } from 'vitest';
import { bgnbdLogLikelihoodAndGradient, hyp2f1Series, prepareBgnbdData } from './clv.bgnbd.js';
import {
  bgnbdExpectedPurchases,
  bgnbdLogLikelihood,
  bgnbdProbabilityAlive,
  deriveSufficientStatistics,
  discountedExpectedPurchases,
  discountRatePerTimeUnit,
  fitBgnbd,
  fitClvModel,
  fitGammaGamma,
  gammaGammaExpectedSpend,
  gammaGammaLogLikelihood,
  groupBgnbdRows,
  groupGammaGammaRows,
  predictAll,
  predictCustomerClv,
  type BgnbdParams,
  type ClvModel,
  type CustomerStatistics,
  type SufficientStatistics,
  type Transaction,
} from './clv.model.js';

const here = dirname(fileURLToPath(import.meta.url));
const CDNOW_DIR = resolve(here, '../../test/fixtures/cdnow');

/** CDNOW_sample.txt: master id, sample id, date YYYYMMDD, number of CDs, dollar value. Customer = sample id. */
function loadCdnowSample(): Transaction[] {
  return readFileSync(resolve(CDNOW_DIR, 'CDNOW_sample.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [, sampleId, ymd, , dollars] = line.trim().split(/\s+/);
      return {
        customerId: String(Number(sampleId)),
        date: `${ymd.slice(0, 4)}-${ymd.slice(4, 6)}-${ymd.slice(6, 8)}`,
        amount: Number(dollars),
      };
    });
}

/** Fader, Hardie & Lee (2005), Table / text: the published CDNOW estimates (weekly time unit). */
const PAPER: BgnbdParams = { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

describe('sufficient statistics', () => {
  it('merges same-day purchases, ignores transactions after asOf, excludes the first purchase from m', () => {
    const txs: Transaction[] = [
      { customerId: 'A', date: '2024-01-01', amount: 10 },
      { customerId: 'A', date: '2024-01-01', amount: 5 }, // same day: one purchase of 15
      { customerId: 'A', date: '2024-01-08', amount: 20 },
      { customerId: 'A', date: '2024-01-15', amount: 7 },
      { customerId: 'A', date: '2024-01-15', amount: 3 }, // same day: one purchase of 10
      { customerId: 'A', date: '2024-02-01', amount: 100 }, // after asOf: ignored
      { customerId: 'B', date: '2024-01-22', amount: 50 },
      { customerId: 'C', date: '2024-02-02', amount: 9 }, // first purchase after asOf: no history
    ];
    const weeks = deriveSufficientStatistics(txs, { asOf: '2024-01-29', timeUnit: 'week' });
    expect(weeks.customers).toEqual([
      { customerId: 'A', x: 2, t_x: 2, T: 4, m: 15, historic_value: 45 },
      { customerId: 'B', x: 0, t_x: 0, T: 1, m: 0, historic_value: 50 },
    ]);
    const days = deriveSufficientStatistics(txs, { asOf: '2024-01-29', timeUnit: 'day' });
    expect(days.customers[0]).toMatchObject({ x: 2, t_x: 14, T: 28, m: 15 });
    // A Date counts by its UTC calendar day.
    const withDates = deriveSufficientStatistics(
      [
        { customerId: 'D', date: new Date('2024-01-01T23:59:00Z'), amount: 1 },
        { customerId: 'D', date: new Date('2024-01-01T00:01:00Z'), amount: 1 },
      ],
      { asOf: '2024-01-08', timeUnit: 'week' },
    );
    expect(withDates.customers[0]).toMatchObject({ x: 0, T: 1, historic_value: 2 });
    expect(() => deriveSufficientStatistics([{ customerId: 'E', date: '2024-02-30', amount: 1 }], { asOf: '2024-03-01', timeUnit: 'day' })).toThrow();
  });

  it('groups identical triples and (x, m) pairs into weighted rows', () => {
    const stats: SufficientStatistics[] = [
      { x: 1, t_x: 2, T: 5, m: 10 },
      { x: 1, t_x: 2, T: 5, m: 10 },
      { x: 1, t_x: 2, T: 5, m: 12 },
      { x: 0, t_x: 0, T: 5, m: 0 },
    ];
    expect(groupBgnbdRows(stats)).toEqual([
      { x: 1, t_x: 2, T: 5, weight: 3 },
      { x: 0, t_x: 0, T: 5, weight: 1 },
    ]);
    // Only repeat buyers carry spend information.
    expect(groupGammaGammaRows(stats)).toEqual([
      { x: 1, m: 10, weight: 2 },
      { x: 1, m: 12, weight: 1 },
    ]);
  });
});

describe('CDNOW benchmark (Fader, Hardie & Lee 2005; Fader & Hardie note 025)', () => {
  let customers: CustomerStatistics[];
  beforeAll(() => {
    customers = deriveSufficientStatistics(loadCdnowSample(), { asOf: '1997-09-30', timeUnit: 'week' }).customers;
  });

  it('derives the published summary for all 2,357 customers', () => {
    const lines = readFileSync(resolve(CDNOW_DIR, 'cdnow_customers_summary.csv'), 'utf8').trim().split('\n').slice(1);
    expect(lines).toHaveLength(2357);
    expect(customers).toHaveLength(2357);
    const byId = new Map(customers.map((c) => [c.customerId, c]));
    let checked = 0;
    for (const line of lines) {
      const [id, frequency, recency, T] = line.split(',');
      const c = byId.get(String(Number(id)));
      expect(c, `customer ${id}`).toBeDefined();
      expect(c!.x).toBe(Number(frequency));
      // The summary is rounded to 2 decimals.
      expect(Math.abs(c!.t_x - Number(recency))).toBeLessThanOrEqual(0.005 + 1e-9);
      expect(Math.abs(c!.T - Number(T))).toBeLessThanOrEqual(0.005 + 1e-9);
      checked++;
    }
    expect(checked).toBe(2357);
    expect(customers.filter((c) => c.x > 0)).toHaveLength(946);
  });

  it('fits BG/NBD to the published estimates and log-likelihood', () => {
    const t0 = performance.now();
    const fit = fitBgnbd(groupBgnbdRows(customers));
    const ms = performance.now() - t0;
    console.log(`BG/NBD on CDNOW (${customers.length} customers): ${ms.toFixed(1)} ms`, fit);
    expect(fit.converged).toBe(true);
    expect(fit.r).toBeGreaterThan(0.243 - 0.005);
    expect(fit.r).toBeLessThan(0.243 + 0.005);
    expect(Math.abs(fit.alpha - 4.414)).toBeLessThanOrEqual(0.005);
    expect(Math.abs(fit.a - 0.793)).toBeLessThanOrEqual(0.005);
    expect(Math.abs(fit.b - 2.426)).toBeLessThanOrEqual(0.005);
    expect(Math.abs(fit.log_likelihood - -9582.4)).toBeLessThanOrEqual(0.5);
    // The total log-likelihood agrees with the per-customer formula summed over raw customers.
    const direct = customers.reduce((s, c) => s + bgnbdLogLikelihood(fit, c), 0);
    expect(direct).toBeCloseTo(fit.log_likelihood, 6);
  });

  it('fit on grouped weighted rows equals the fit on ungrouped rows', () => {
    const grouped = groupBgnbdRows(customers);
    expect(grouped.length).toBeLessThan(customers.length / 2);
    const a = fitBgnbd(grouped);
    const b = fitBgnbd(customers);
    expect(b.converged).toBe(true);
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(a[k] - b[k]) / b[k]).toBeLessThan(1e-6);
    expect(a.log_likelihood).toBeCloseTo(b.log_likelihood, 6);

    const gg1 = fitGammaGamma(groupGammaGammaRows(customers));
    const gg2 = fitGammaGamma(customers.filter((c) => c.x > 0));
    for (const k of ['p', 'q', 'v'] as const) expect(Math.abs(gg1[k] - gg2[k]) / gg2[k]).toBeLessThan(1e-6);
  });

  it('fits Gamma-Gamma on the 946 repeat customers to note 025', () => {
    const t0 = performance.now();
    const gg = fitGammaGamma(groupGammaGammaRows(customers));
    console.log(`Gamma-Gamma on CDNOW: ${(performance.now() - t0).toFixed(1)} ms`, gg);
    expect(gg.converged).toBe(true);
    expect(gg.customers).toBe(946);
    expect(Math.abs(gg.p - 6.25)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(gg.q - 3.74)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(gg.v - 15.44)).toBeLessThanOrEqual(0.05);
    const direct = customers.filter((c) => c.x > 0).reduce((s, c) => s + gammaGammaLogLikelihood(gg, c.x, c.m), 0);
    expect(direct).toBeCloseTo(gg.log_likelihood, 6);
  });

  it('fits the whole CLV model and predicts per customer (contract field names)', () => {
    const res = fitClvModel({ customers, asOf: '1997-09-30', timeUnit: 'week' });
    if (!res.ok) throw new Error(`fit failed: ${res.reason}`);
    const model = res.model;
    expect(model.customers).toBe(2357);
    expect(model.repeat_customers).toBe(946);
    expect(model.as_of).toBe('1997-09-30');
    expect(model.time_unit).toBe('week');
    expect(Object.keys(model.bgnbd)).toEqual(expect.arrayContaining(['r', 'alpha', 'a', 'b', 'log_likelihood']));
    expect(Object.keys(model.gamma_gamma)).toEqual(expect.arrayContaining(['p', 'q', 'v']));

    // Customer 1 of the sample: x = 2, t_x = 30.43, T = 38.86 (the paper's worked example).
    const c1 = customers.find((c) => c.customerId === '1')!;
    const undiscounted = predictCustomerClv(model, c1, { horizon: 39 });
    if (!undiscounted.ok) throw new Error(undiscounted.reason);
    const clv = undiscounted.clv;
    expect(clv.expected_purchases).toBeCloseTo(bgnbdExpectedPurchases(model.bgnbd, c1, 39), 12);
    expect(clv.expected_average_order_value).toBeCloseTo(gammaGammaExpectedSpend(model.gamma_gamma, c1.x, c1.m), 12);
    // No discounting: predicted CLV = E[M] × E[Y(H)] (the per-period sum telescopes).
    expect(clv.predicted_clv).toBeCloseTo(clv.expected_average_order_value * clv.expected_purchases, 9);
    expect(clv.historic_clv).toBeCloseTo(29.33 + 29.73 + 14.96, 9);
    expect(clv).toMatchObject({ horizon: 39, time_unit: 'week', as_of: '1997-09-30' });
    const discounted = predictCustomerClv(model, c1, { horizon: 39, annualDiscountRate: 0.1 });
    if (!discounted.ok) throw new Error(discounted.reason);
    expect(discounted.clv.predicted_clv).toBeLessThan(clv.predicted_clv);
    // 39 weeks at 10 %/year: the discount factor lies between the start's (1) and the end's.
    expect(discounted.clv.predicted_clv).toBeGreaterThan(clv.predicted_clv / Math.pow(1.1, 39 / 52.18));

    // Batch scoring agrees with single scoring.
    const all = predictAll(model, customers, { horizon: 39, annualDiscountRate: 0.1 });
    expect(all.size).toBe(2357);
    const one = all.get('1');
    expect(one?.ok && one.clv.predicted_clv).toBeCloseTo(discounted.clv.predicted_clv, 12);
    // Sanity of the total: the model's expected repeat purchases for the base over 39 weeks is finite and
    // positive, and every customer got a number.
    expect([...all.values()].every((r) => r.ok && Number.isFinite(r.clv.predicted_clv) && r.clv.predicted_clv >= 0)).toBe(true);
  });
});

/**
 * Independent check of FHL (2005) eq. (10) by numerical integration over the posterior of (λ, p).
 * Given λ, p and alive at T, expected purchases in (T, T+t] are (1 − e^(−λpt))/p (paper, section 2);
 * integrating λ analytically against Gamma(r, α) and p numerically against Beta(a, b):
 *   E = ∫₀¹ (1−p)^(x+b−1) p^(a−2) [1 − ((α+T)/(α+T+pt))^(r+x)] dp
 *       / ( B(a, b+x) · [1 + δ_{x>0} (a/(b+x−1)) ((α+T)/(α+t_x))^(r+x)] )
 * The substitution p = u^(1/a) removes the p^(a−1) singularity at 0 (p^(a−1) dp = du / a).
 */
function expectedPurchasesByQuadrature(p: BgnbdParams, c: SufficientStatistics, t: number): number {
  const { r, alpha, a, b } = p;
  const { x, t_x, T } = c;
  const f = (u: number): number => {
    const prob = Math.pow(u, 1 / a);
    // [1 − ((α+T)/(α+T+pt))^(r+x)] / p, with its p → 0 limit (r+x)·t/(α+T).
    const ratio = prob < 1e-10 ? ((r + x) * t) / (alpha + T) : -Math.expm1(-(r + x) * Math.log1p((prob * t) / (alpha + T))) / prob;
    return (Math.pow(1 - prob, x + b - 1) * ratio) / a;
  };
  const n = 40_000; // Simpson, even number of panels
  const h = 1 / n;
  let s = f(0) + f(1);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * f(i * h);
  const integral = (s * h) / 3;
  const dropout = x > 0 ? (a / (b + x - 1)) * Math.pow((alpha + T) / (alpha + t_x), r + x) : 0;
  return integral / (Math.exp(betaln(a, b + x)) * (1 + dropout));
}

describe('BG/NBD predictions', () => {
  it('expected purchases match an independent numerical integration of the posterior', () => {
    const cases: [SufficientStatistics, number][] = [
      [{ x: 2, t_x: 30.43, T: 38.86, m: 0 }, 39],
      [{ x: 0, t_x: 0, T: 38.86, m: 0 }, 39],
      [{ x: 0, t_x: 0, T: 0, m: 0 }, 10],
      [{ x: 7, t_x: 35, T: 38, m: 0 }, 52],
      [{ x: 15, t_x: 10, T: 38, m: 0 }, 20],
      [{ x: 3, t_x: 20, T: 30, m: 0 }, 500],
    ];
    for (const [c, t] of cases) {
      const closed = bgnbdExpectedPurchases(PAPER, c, t);
      const numeric = expectedPurchasesByQuadrature(PAPER, c, t);
      expect(Math.abs(closed - numeric) / numeric, JSON.stringify({ c, t, closed, numeric })).toBeLessThan(1e-6);
    }
  });

  it("reproduces the paper's worked example: x=2, t_x=30.43, T=38.86 → 1.226 purchases in 39 weeks", () => {
    // FHL (2005) report E[Y(39) | 2, 30.43, 38.86] = 1.226 with the rounded published parameters; the value
    // is also confirmed by the quadrature above (independent of the hypergeometric closed form).
    expect(bgnbdExpectedPurchases(PAPER, { x: 2, t_x: 30.43, T: 38.86, m: 0 }, 39)).toBeCloseTo(1.226, 3);
  });

  it('unconditional case: a customer observed at T = 0 with x = 0 gets the population E[X(t)] (eq. 9)', () => {
    const { r, alpha, a, b } = PAPER;
    for (const t of [1, 10, 39, 78]) {
      const eq9 = ((a + b - 1) / (a - 1)) * (1 - Math.pow(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1, t / (alpha + t)));
      expect(bgnbdExpectedPurchases(PAPER, { x: 0, t_x: 0, T: 0, m: 0 }, t)).toBeCloseTo(eq9, 10);
    }
  });

  it('P(alive) is 1 for x = 0, in (0, 1] otherwise, and rises with recency, falls with silence', () => {
    expect(bgnbdProbabilityAlive(PAPER, { x: 0, t_x: 0, T: 38, m: 0 })).toBe(1);
    let previous = 0;
    for (const t_x of [1, 5, 10, 20, 30, 38]) {
      const p = bgnbdProbabilityAlive(PAPER, { x: 3, t_x, T: 38, m: 0 });
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThanOrEqual(1);
      expect(p).toBeGreaterThan(previous); // more recent last purchase → more likely alive
      previous = p;
    }
    // Same history, longer silence since the last purchase → less likely alive.
    expect(bgnbdProbabilityAlive(PAPER, { x: 3, t_x: 10, T: 40, m: 0 })).toBeLessThan(bgnbdProbabilityAlive(PAPER, { x: 3, t_x: 10, T: 20, m: 0 }));
    // Closed form at a simple point: 1 / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)).
    const { r, alpha, a, b } = PAPER;
    const expected = 1 / (1 + (a / (b + 1 - 1)) * Math.pow((alpha + 20) / (alpha + 10), r + 1));
    expect(bgnbdProbabilityAlive(PAPER, { x: 1, t_x: 10, T: 20, m: 0 })).toBeCloseTo(expected, 14);
  });

  it('E[Y(t)] increases with t and is 0 at t = 0', () => {
    const c = { x: 4, t_x: 25, T: 38, m: 0 };
    expect(bgnbdExpectedPurchases(PAPER, c, 0)).toBe(0);
    let previous = 0;
    for (const t of [0.5, 1, 5, 13, 26, 39, 52, 104, 520, 5200]) {
      const e = bgnbdExpectedPurchases(PAPER, c, t);
      expect(e).toBeGreaterThan(previous);
      previous = e;
    }
  });

  it('is numerically stable for customers with hundreds of purchases', () => {
    const active: SufficientStatistics = { x: 500, t_x: 38.5, T: 38.86, m: 20 };
    const gone: SufficientStatistics = { x: 500, t_x: 10, T: 38.86, m: 20 };
    // Naively ((α+T)/(α+t_x))^(r+x) = (42.9/14.4)^500 ≈ 1e237 and the 2F1 of eq. (10) overflows.
    expect(Number.isFinite(bgnbdLogLikelihood(PAPER, gone))).toBe(true);
    expect(Number.isFinite(bgnbdLogLikelihood(PAPER, active))).toBe(true);
    const pActive = bgnbdProbabilityAlive(PAPER, active);
    const pGone = bgnbdProbabilityAlive(PAPER, gone);
    expect(pActive).toBeGreaterThan(0.9);
    expect(pActive).toBeLessThanOrEqual(1);
    expect(pGone).toBeGreaterThanOrEqual(0);
    expect(pGone).toBeLessThan(1e-10);
    const eActive = bgnbdExpectedPurchases(PAPER, active, 39);
    expect(Number.isFinite(eActive)).toBe(true);
    // A customer buying ~13 times a week who is surely alive keeps buying at a comparable pace.
    expect(eActive).toBeGreaterThan(100);
    expect(eActive).toBeLessThan(600);
    expect(Number.isFinite(bgnbdExpectedPurchases(PAPER, gone, 39))).toBe(true);
    // A fit whose data include such customers stays finite and converges.
    const rows = [...Array.from({ length: 50 }, (_, i) => ({ x: i % 4, t_x: i % 4 ? 20 + (i % 7) : 0, T: 38, m: 0 })), active, gone];
    const fit = fitBgnbd(rows);
    expect(Number.isFinite(fit.log_likelihood)).toBe(true);
    // Analytic gradient agrees with central differences at such data (guards the gradient formulas).
    const data = prepareBgnbdData(rows);
    const { gradient } = bgnbdLogLikelihoodAndGradient(PAPER, data);
    const keys = ['r', 'alpha', 'a', 'b'] as const;
    keys.forEach((k, i) => {
      const h = 1e-6 * PAPER[k];
      const up = bgnbdLogLikelihoodAndGradient({ ...PAPER, [k]: PAPER[k] + h }, data).value;
      const down = bgnbdLogLikelihoodAndGradient({ ...PAPER, [k]: PAPER[k] - h }, data).value;
      expect(Math.abs(gradient[i] - (up - down) / (2 * h)) / Math.max(1, Math.abs(gradient[i]))).toBeLessThan(1e-5);
    });
  });

  it('the stdlib 2F1 agrees with a direct series sum over the arguments the model uses', () => {
    const { r, a, b } = PAPER;
    for (const x of [0, 1, 5, 50, 500]) {
      for (const z of [0.01, 0.3, 0.6, 0.9, 0.99]) {
        const A = a + b - 1 - r;
        const B = a - 1;
        const C = a + b + x - 1;
        const lib = hyp2f1(A, B, C, z);
        const series = hyp2f1Series(A, B, C, z);
        expect(Math.abs(lib - series) / Math.abs(series), JSON.stringify({ x, z })).toBeLessThan(1e-9);
      }
    }
    expect(hyp2f1Series(1, 1, 2, 1)).toBeNaN(); // outside the convergence region
  });

  it('handles a = 1 (removable singularity of eq. 10) continuously', () => {
    const c = { x: 2, t_x: 20, T: 38, m: 0 };
    const at1 = bgnbdExpectedPurchases({ ...PAPER, a: 1 }, c, 39);
    const near = bgnbdExpectedPurchases({ ...PAPER, a: 1.001 }, c, 39);
    expect(Number.isFinite(at1)).toBe(true);
    expect(Math.abs(at1 - near)).toBeLessThan(1e-2);
  });
});

describe('Gamma-Gamma predictions', () => {
  const gg = { p: 6.25, q: 3.74, v: 15.44 };
  it('expected spend: population mean for x = 0, shrinks towards it with few purchases', () => {
    const population = (gg.p * gg.v) / (gg.q - 1);
    expect(gammaGammaExpectedSpend(gg, 0, 0)).toBeCloseTo(population, 12);
    const m = 100;
    const one = gammaGammaExpectedSpend(gg, 1, m);
    const many = gammaGammaExpectedSpend(gg, 50, m);
    expect(one).toBeCloseTo(((gg.v + m) * gg.p) / (gg.p + gg.q - 1), 12);
    expect(one).toBeGreaterThan(population);
    expect(one).toBeLessThan(m);
    expect(Math.abs(many - m)).toBeLessThan(Math.abs(one - m)); // more purchases → closer to own mean
    expect(gammaGammaExpectedSpend({ ...gg, q: 0.9 }, 0, 0)).toBeNaN(); // infinite population mean
  });
});

describe('CLV discounting', () => {
  it('converts an annual rate to the time unit and discounts per period', () => {
    expect(Math.pow(1 + discountRatePerTimeUnit(0.1, 'week'), 365.25 / 7)).toBeCloseTo(1.1, 12);
    expect(Math.pow(1 + discountRatePerTimeUnit(0.1, 'day'), 365.25)).toBeCloseTo(1.1, 12);
    const c = { x: 3, t_x: 30, T: 38, m: 0 };
    expect(discountedExpectedPurchases(PAPER, c, 52, 0)).toBeCloseTo(bgnbdExpectedPurchases(PAPER, c, 52), 12);
    // Fractional horizons include the last partial period.
    expect(discountedExpectedPurchases(PAPER, c, 10.5, 0)).toBeCloseTo(bgnbdExpectedPurchases(PAPER, c, 10.5), 12);
    const d = discountRatePerTimeUnit(0.2, 'week');
    let manual = 0;
    for (let k = 1; k <= 52; k++) manual += (bgnbdExpectedPurchases(PAPER, c, k) - bgnbdExpectedPurchases(PAPER, c, k - 1)) / Math.pow(1 + d, k);
    expect(discountedExpectedPurchases(PAPER, c, 52, d)).toBeCloseTo(manual, 12);
  });
});

describe('not enough history', () => {
  it('refuses tiny or repeat-less customer bases with a typed reason', () => {
    const few = Array.from({ length: 10 }, (_, i) => ({ x: i % 3, t_x: i % 3 ? 5 : 0, T: 10, m: 20 }));
    const r1 = fitClvModel({ customers: few, asOf: '2024-01-01', timeUnit: 'week' });
    expect(r1).toMatchObject({ ok: false, reason: 'not_enough_history' });
    const noRepeat = Array.from({ length: 100 }, (_, i) => ({ x: 0, t_x: 0, T: 5 + (i % 20), m: 0 }));
    expect(fitClvModel({ customers: noRepeat, asOf: '2024-01-01', timeUnit: 'week' })).toMatchObject({ ok: false, reason: 'not_enough_history' });
    const fourRepeat = [...noRepeat, ...Array.from({ length: 4 }, () => ({ x: 2, t_x: 3, T: 10, m: 15 }))];
    expect(fitClvModel({ customers: fourRepeat, asOf: '2024-01-01', timeUnit: 'week' })).toMatchObject({ ok: false, reason: 'not_enough_history' });
  });

  it('reports a degenerate fit (nobody has dropped out yet) instead of boundary parameters', () => {
    // Every repeat buyer bought on the calibration end: the likelihood improves forever as dropout → 0.
    const customers = Array.from({ length: 200 }, (_, i) => {
      const x = i % 5;
      const T = 20 + (i % 7);
      return { x, t_x: x > 0 ? T : 0, T, m: 10 + (i % 3) * x };
    });
    const res = fitClvModel({ customers, asOf: '2024-01-01', timeUnit: 'week' });
    expect(res.ok).toBe(false);
    if (!res.ok) {
      expect(res.reason).toBe('degenerate_fit');
      expect(res.message).toMatch(/BG\/NBD/);
    }
  });

  it('rejects invalid customer input per customer', () => {
    const model: ClvModel = {
      bgnbd: { ...PAPER, log_likelihood: -1, iterations: 1, converged: true, status: 'converged' },
      gamma_gamma: { p: 6.25, q: 3.74, v: 15.44, log_likelihood: -1, iterations: 1, converged: true, status: 'converged', customers: 946 },
      customers: 2357,
      repeat_customers: 946,
      as_of: '1997-09-30',
      time_unit: 'week',
    };
    expect(predictCustomerClv(model, { x: 1, t_x: 10, T: 5, m: 1 }, { horizon: 39 })).toMatchObject({ ok: false, reason: 'invalid_input' });
    expect(predictCustomerClv(model, { x: 1, t_x: 1, T: 5, m: 1 }, { horizon: -1 })).toMatchObject({ ok: false, reason: 'invalid_input' });
    expect(predictCustomerClv(model, { x: 1, t_x: 1, T: 5, m: 1 }, { horizon: 1, annualDiscountRate: -1 })).toMatchObject({ ok: false, reason: 'invalid_input' });
    const ok = predictCustomerClv(model, { x: 0, t_x: 0, T: 5, m: 0 }, { horizon: 39 });
    expect(ok.ok && ok.clv.p_alive).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------
// 1M synthetic customers simulated from the BG/NBD and Gamma-Gamma generative processes.

/** mulberry32: small deterministic PRNG so the synthetic data (and the assertions) are reproducible. */
function mulberry32(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeSampler(seed: number) {
  const rand = mulberry32(seed);
  const open01 = (): number => {
    let v = rand();
    while (v === 0) v = rand();
    return v;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(open01())) * Math.cos(2 * Math.PI * rand());
  // Marsaglia & Tsang (2000) for shape ≥ 1; shape < 1 via Gamma(shape+1)·U^(1/shape).
  const gamma = (shape: number): number => {
    if (shape < 1) return gamma(shape + 1) * Math.pow(open01(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = open01();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  };
  return { rand, open01, gamma };
}

describe('1M synthetic customers', () => {
  it('groups and fits a million customers in seconds and recovers the generating parameters', () => {
    const truth = PAPER;
    const spend = { p: 6.25, q: 3.74, v: 15.44 };
    const { rand, open01, gamma } = makeSampler(20240601);
    const N = 1_000_000;
    const stats: SufficientStatistics[] = new Array<SufficientStatistics>(N);
    for (let i = 0; i < N; i++) {
      const lambda = gamma(truth.r) / truth.alpha; // purchase rate per week
      const g1 = gamma(truth.a);
      const pDrop = g1 / (g1 + gamma(truth.b)); // Beta(a, b)
      // Acquired over 12 weeks, observed 39–51 weeks. Purchases happen in continuous time but are recorded as
      // calendar days, as the CRM does: the first purchase falls at a uniform time of its day (u0), the
      // observation runs to the end of the asOf day, and day numbers are counted from the first purchase's day.
      const Tdays = 273 + Math.floor(rand() * 84);
      const u0 = rand();
      const end = (Tdays + 1 - u0) / 7;
      let t = 0;
      let x = 0;
      let lastDay = 0;
      for (;;) {
        t += -Math.log(open01()) / lambda;
        if (t > end) break;
        x++;
        lastDay = Math.floor(u0 + t * 7);
        if (rand() < pDrop) break; // dropout after a purchase
      }
      const T = Tdays / 7;
      let m = 0;
      if (x > 0) {
        const nu = gamma(spend.q) / spend.v;
        let sum = 0;
        for (let k = 0; k < x; k++) sum += gamma(spend.p) / nu;
        m = sum / x;
      }
      stats[i] = { x, t_x: lastDay / 7, T, m };
    }

    let t0 = performance.now();
    const rows = groupBgnbdRows(stats);
    const groupMs = performance.now() - t0;
    t0 = performance.now();
    const fit = fitBgnbd(rows);
    const fitMs = performance.now() - t0;
    t0 = performance.now();
    const ggRows = groupGammaGammaRows(stats);
    const ggGroupMs = performance.now() - t0;
    t0 = performance.now();
    const gg = fitGammaGamma(ggRows);
    const ggMs = performance.now() - t0;
    console.log(
      `1M synthetic customers: BG/NBD grouping ${groupMs.toFixed(0)} ms → ${rows.length} rows, fit ${fitMs.toFixed(0)} ms; ` +
        `Gamma-Gamma grouping ${ggGroupMs.toFixed(0)} ms → ${ggRows.length} rows, fit ${ggMs.toFixed(0)} ms`,
      { bgnbd: fit, gamma_gamma: gg },
    );
    expect(fit.converged).toBe(true);
    expect(gg.converged).toBe(true);
    expect(rows.length).toBeLessThan(N / 4);
    // Recovery: with 1M customers the sampling error is about 1 % or less (and the day rounding adds a little);
    // 2 % is a bound a wrong likelihood or gradient would not meet.
    for (const k of ['r', 'alpha', 'a', 'b'] as const) expect(Math.abs(fit[k] / truth[k] - 1), k).toBeLessThan(0.02);
    for (const k of ['p', 'q', 'v'] as const) expect(Math.abs(gg[k] / spend[k] - 1), k).toBeLessThan(0.02);
  });
});
