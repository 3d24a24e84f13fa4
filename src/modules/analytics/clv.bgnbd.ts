/**
 * BG/NBD model of purchase frequency and dropout.
 *
 * Source: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
 * Pareto/NBD Model", Marketing Science 24(2) — equations (6) (likelihood), (10) (conditional expectation),
 * and "Computing P(alive) using the BG/NBD model" (Fader, Hardie & Lee note, 2008).
 *
 * While active, a customer buys at Poisson rate λ ~ Gamma(r, α); after every purchase they drop out with
 * probability p ~ Beta(a, b). Individual histories enter only through (x, t_x, T).
 */
import betaln from '@stdlib/math-base-special-betaln';
import digamma from '@stdlib/math-base-special-digamma';
import gammaln from '@stdlib/math-base-special-gammaln';
import hyp2f1 from '@stdlib/math-base-special-hyp2f1';
import { minimizeMultiStart } from './clv.optimizer.js';
import type { BgnbdRow, SufficientStatistics } from './clv.statistics.js';

export interface BgnbdParams {
  r: number;
  alpha: number;
  a: number;
  b: number;
}

export interface BgnbdFit extends BgnbdParams {
  /** Total log-likelihood at the optimum (sum over customers, i.e. weighted rows). */
  log_likelihood: number;
  iterations: number;
  /** True only for an interior optimum reached to tolerance (status 'converged'). */
  converged: boolean;
  /**
   * 'at_boundary': the likelihood keeps improving towards a parameter limit (e.g. a → 0, b → ∞: nobody drops
   * out; r, α → ∞: everybody buys at the same rate). The limit model exists but its parameters are not
   * identified, so they must not be reported as estimates.
   */
  status: 'converged' | 'at_boundary' | 'not_converged';
}

/** ln(1 + e^L) without overflow (L can be in the hundreds for customers with many purchases). */
export function softplus(L: number): number {
  return L > 0 ? L + Math.log1p(Math.exp(-L)) : Math.log1p(Math.exp(L));
}

/**
 * The log of the "dropout branch" ratio inside the likelihood, for x > 0:
 *   L = ln(a / (b + x − 1)) + (r + x) · ln((α + T) / (α + t_x))
 * The likelihood's last term is ln(1 + e^L) (log-sum-exp of the "still alive" and "dropped out after the
 * last purchase" branches), and P(alive) = 1 / (1 + e^L). Working with L itself avoids computing
 * ((α+T)/(α+t_x))^(r+x), which overflows for customers with hundreds of purchases.
 */
function dropoutLogRatio(p: BgnbdParams, x: number, tx: number, T: number): number {
  return Math.log(p.a) - Math.log(p.b + x - 1) + (p.r + x) * (Math.log(p.alpha + T) - Math.log(p.alpha + tx));
}

/**
 * Per-customer log-likelihood, FHL (2005) eq. (6) in log form:
 *   LL = ln B(a, b+x) − ln B(a, b) + ln Γ(r+x) − ln Γ(r) + r ln α − (r+x) ln(α+T)
 *        + ln(1 + δ_{x>0} · e^L)
 */
export function bgnbdLogLikelihood(p: BgnbdParams, c: SufficientStatistics): number {
  const { r, alpha, a, b } = p;
  const { x, t_x, T } = c;
  let ll = betaln(a, b + x) - betaln(a, b) + gammaln(r + x) - gammaln(r) + r * Math.log(alpha) - (r + x) * Math.log(alpha + T);
  if (x > 0) ll += softplus(dropoutLogRatio(p, x, t_x, T));
  return ll;
}

/** Columnar, fit-ready form of weighted rows, with the terms that depend on x alone grouped by distinct x. */
export interface BgnbdData {
  n: number;
  x: Float64Array;
  tx: Float64Array;
  T: Float64Array;
  w: Float64Array;
  /** Index of each row's x in `distinctX`. */
  xIndex: Uint32Array;
  /**
   * Distinct values among all T and t_x, and each row's index into them. Ages are whole days, so there are at
   * most a few thousand distinct values however many customers: ln(α+τ) is computed once per distinct τ.
   */
  distinctTimes: Float64Array;
  TIndex: Uint32Array;
  txIndex: Uint32Array;
  distinctX: Float64Array;
  /** Total weight of the rows with each distinct x. */
  weightByX: Float64Array;
  totalWeight: number;
}

export function prepareBgnbdData(rows: readonly BgnbdRow[]): BgnbdData {
  const n = rows.length;
  const x = new Float64Array(n);
  const tx = new Float64Array(n);
  const T = new Float64Array(n);
  const w = new Float64Array(n);
  const xIndex = new Uint32Array(n);
  const TIndex = new Uint32Array(n);
  const txIndex = new Uint32Array(n);
  const timeIndexOf = new Map<number, number>();
  const times: number[] = [];
  const timeIndex = (v: number): number => {
    let k = timeIndexOf.get(v);
    if (k === undefined) {
      k = times.length;
      timeIndexOf.set(v, k);
      times.push(v);
    }
    return k;
  };
  const indexOf = new Map<number, number>();
  const wx: number[] = [];
  const xs: number[] = [];
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    const row = rows[i];
    const weight = row.weight ?? 1;
    if (!(Number.isInteger(row.x) && row.x >= 0 && row.t_x >= 0 && row.T >= row.t_x && weight >= 0)) {
      throw new RangeError(`Invalid BG/NBD row ${i}: x=${row.x} t_x=${row.t_x} T=${row.T} weight=${weight}`);
    }
    x[i] = row.x;
    tx[i] = row.t_x;
    T[i] = row.T;
    w[i] = weight;
    TIndex[i] = timeIndex(row.T);
    txIndex[i] = timeIndex(row.t_x);
    let k = indexOf.get(row.x);
    if (k === undefined) {
      k = xs.length;
      indexOf.set(row.x, k);
      xs.push(row.x);
      wx.push(0);
    }
    xIndex[i] = k;
    wx[k] += weight;
    totalWeight += weight;
  }
  return {
    n, x, tx, T, w, xIndex,
    distinctTimes: Float64Array.from(times), TIndex, txIndex,
    distinctX: Float64Array.from(xs), weightByX: Float64Array.from(wx), totalWeight,
  };
}

/**
 * Total log-likelihood and its gradient with respect to (r, α, a, b).
 * Derivatives (ψ = digamma), per customer:
 *   ∂/∂r = ψ(r+x) − ψ(r) + ln α − ln(α+T) + σ(L)·[ln(α+T) − ln(α+t_x)]
 *   ∂/∂α = r/α − (r+x)/(α+T) + σ(L)·(r+x)·[1/(α+T) − 1/(α+t_x)]
 *   ∂/∂a = ψ(a+b) − ψ(a+b+x) + σ(L)/a
 *   ∂/∂b = ψ(b+x) − ψ(b) + ψ(a+b) − ψ(a+b+x) − σ(L)/(b+x−1)
 * with σ(L) only for x > 0. The gamma/digamma terms depend on x alone, so they are evaluated once per
 * distinct x (a few hundred at most) rather than once per row.
 */
export function bgnbdLogLikelihoodAndGradient(p: BgnbdParams, d: BgnbdData): { value: number; gradient: [number, number, number, number] } {
  const { r, alpha, a, b } = p;
  let ll = 0;
  let gr = 0;
  let gAlpha = 0;
  let ga = 0;
  let gb = 0;
  const lnBetaAB = betaln(a, b);
  const lnGammaR = gammaln(r);
  const psiR = digamma(r);
  const psiB = digamma(b);
  const psiAB = digamma(a + b);
  const lnAlpha = Math.log(alpha);
  const lnA = Math.log(a);
  const lnBx1 = new Float64Array(d.distinctX.length);
  for (let k = 0; k < d.distinctX.length; k++) {
    const x = d.distinctX[k];
    const W = d.weightByX[k];
    lnBx1[k] = x > 0 ? Math.log(b + x - 1) : 0;
    if (x === 0 || W === 0) continue;
    ll += W * (betaln(a, b + x) - lnBetaAB + gammaln(r + x) - lnGammaR);
    const psiABx = digamma(a + b + x);
    gr += W * (digamma(r + x) - psiR);
    ga += W * (psiAB - psiABx);
    gb += W * (digamma(b + x) - psiB + psiAB - psiABx);
  }
  ll += d.totalWeight * r * lnAlpha;
  gr += d.totalWeight * lnAlpha;
  gAlpha += (d.totalWeight * r) / alpha;

  const lnAlphaPlus = new Float64Array(d.distinctTimes.length);
  const invAlphaPlus = new Float64Array(d.distinctTimes.length);
  for (let k = 0; k < d.distinctTimes.length; k++) {
    lnAlphaPlus[k] = Math.log(alpha + d.distinctTimes[k]);
    invAlphaPlus[k] = 1 / (alpha + d.distinctTimes[k]);
  }

  for (let i = 0; i < d.n; i++) {
    const w = d.w[i];
    if (w === 0) continue;
    const x = d.x[i];
    const rx = r + x;
    const kT = d.TIndex[i];
    const lnAT = lnAlphaPlus[kT];
    ll -= w * rx * lnAT;
    gr -= w * lnAT;
    gAlpha -= w * rx * invAlphaPlus[kT];
    if (x > 0) {
      const ktx = d.txIndex[i];
      const lnRatio = lnAT - lnAlphaPlus[ktx];
      const L = lnA - lnBx1[d.xIndex[i]] + rx * lnRatio;
      // softplus(L) and sigmoid(L) from one exponential: e = e^(−|L|) ≤ 1 never overflows.
      const e = Math.exp(-Math.abs(L));
      const sp = (L > 0 ? L : 0) + Math.log1p(e);
      const s = w * (L >= 0 ? 1 / (1 + e) : e / (1 + e));
      ll += w * sp;
      gr += s * lnRatio;
      gAlpha += s * rx * (invAlphaPlus[kT] - invAlphaPlus[ktx]);
      ga += s / a;
      gb -= s / (b + x - 1);
    }
  }
  return { value: ll, gradient: [gr, gAlpha, ga, gb] };
}

export interface BgnbdFitOptions {
  /** Starting points (natural scale). Default: three starts scaled to the data's time unit. */
  starts?: BgnbdParams[];
  maxIterations?: number;
}

/** The optimizer gives up on log-parameters beyond ±2·LOG_PARAM_LIMIT (the objective reports +∞ there). */
export const LOG_PARAM_LIMIT = 25;

/**
 * Shape parameters (r, a, b; p, q for Gamma-Gamma) outside [1e-4, 1e4] are treated as a boundary solution:
 * a Gamma or Beta shape of 1e4 already means a coefficient of variation of 1 %, i.e. a homogeneous
 * population, and 1e-4 puts almost all mass at 0. Estimates out there are artefacts of a flat likelihood.
 * Scale parameters (α, γ) are checked relative to the data's own scale (mean T, mean spend) with ±1e6.
 */
export const SHAPE_BOUNDS: readonly [number, number] = [1e-4, 1e4];
export const SCALE_BOUNDS_RELATIVE: readonly [number, number] = [1e-6, 1e6];

export function withinBounds(value: number, [lo, hi]: readonly [number, number], scale = 1): boolean {
  return value >= lo * scale && value <= hi * scale;
}

/**
 * Maximum-likelihood fit on weighted rows. Optimises the mean negative log-likelihood over log-parameters
 * (positivity for free, and a scale-free objective, so the same tolerance fits 100 or 10^6 customers) with
 * L-BFGS from several starts, keeping the best converged optimum.
 */
export function fitBgnbd(rows: readonly BgnbdRow[] | BgnbdData, options: BgnbdFitOptions = {}): BgnbdFit {
  const data = 'distinctX' in rows ? rows : prepareBgnbdData(rows);
  if (data.totalWeight <= 0) throw new RangeError('BG/NBD fit needs at least one customer');
  let meanT = 0;
  for (let i = 0; i < data.n; i++) meanT += data.w[i] * data.T[i];
  meanT = Math.max(meanT / data.totalWeight, 1e-3);
  // α is a time scale (the Gamma rate of λ): start it on the data's scale so days and weeks behave alike.
  const starts = options.starts ?? [
    { r: 1, alpha: meanT, a: 1, b: 1 },
    { r: 0.25, alpha: meanT / 8, a: 0.8, b: 2.5 },
    { r: 2, alpha: meanT * 4, a: 0.3, b: 5 },
  ];
  const objective = (theta: readonly number[]) => {
    const p = { r: Math.exp(theta[0]), alpha: Math.exp(theta[1]), a: Math.exp(theta[2]), b: Math.exp(theta[3]) };
    if (theta.some((t) => Math.abs(t) > 2 * LOG_PARAM_LIMIT)) return { value: Infinity, gradient: [0, 0, 0, 0] };
    const { value, gradient } = bgnbdLogLikelihoodAndGradient(p, data);
    const scale = -1 / data.totalWeight;
    // Chain rule for θ = ln(param): ∂/∂θ = param · ∂/∂param.
    return {
      value: scale * value,
      gradient: [scale * p.r * gradient[0], scale * p.alpha * gradient[1], scale * p.a * gradient[2], scale * p.b * gradient[3]],
    };
  };
  const best = minimizeMultiStart(
    objective,
    starts.map((s) => [Math.log(s.r), Math.log(s.alpha), Math.log(s.a), Math.log(s.b)]),
    { maxIterations: options.maxIterations ?? 500, gradientTolerance: 1e-9 },
  );
  const iterations = best?.totalIterations ?? 0;
  if (best === null) return { r: NaN, alpha: NaN, a: NaN, b: NaN, log_likelihood: NaN, iterations, converged: false, status: 'not_converged' };
  const [r, alpha, a, b] = best.x.map(Math.exp);
  const interior =
    withinBounds(r, SHAPE_BOUNDS) && withinBounds(a, SHAPE_BOUNDS) && withinBounds(b, SHAPE_BOUNDS) &&
    withinBounds(alpha, SCALE_BOUNDS_RELATIVE, meanT);
  const status = !interior ? 'at_boundary' : best.converged ? 'converged' : 'not_converged';
  return {
    r, alpha, a, b,
    log_likelihood: -best.value * data.totalWeight,
    iterations,
    converged: status === 'converged',
    status,
  };
}

/**
 * P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} · (a/(b+x−1)) · ((α+T)/(α+t_x))^(r+x))   (FHL 2008 note, eq. 1)
 * A customer who never repurchased cannot have dropped out in this model (dropout happens right after a
 * purchase), so P(alive) = 1 for x = 0.
 */
export function bgnbdProbabilityAlive(p: BgnbdParams, c: SufficientStatistics): number {
  if (c.x === 0) return 1;
  return Math.exp(-softplus(dropoutLogRatio(p, c.x, c.t_x, c.T)));
}

/**
 * Gauss hypergeometric 2F1(a, b; c; z) by its power series, for 0 ≤ z < 1. Fallback when the stdlib
 * routine returns a non-finite value; NaN when the series does not converge within the term budget.
 */
export function hyp2f1Series(a: number, b: number, c: number, z: number, maxTerms = 1_000_000): number {
  if (!(z >= 0 && z < 1)) return NaN;
  let term = 1;
  let sum = 1;
  let small = 0;
  for (let k = 0; k < maxTerms; k++) {
    term *= (((a + k) * (b + k)) / ((c + k) * (k + 1))) * z;
    sum += term;
    if (!Number.isFinite(sum)) return NaN;
    if (term === 0) return sum;
    // Require two consecutive negligible terms: for large a, b the terms can dip before they grow.
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) {
      if (++small >= 2) return sum;
    } else small = 0;
  }
  return NaN;
}

/**
 * The 2F1 needed by the conditional expectation, after Euler's transformation (Abramowitz & Stegun 15.3.3,
 * 2F1(A,B;C;z) = (1−z)^(C−A−B) · 2F1(C−A, C−B; C; z)):
 *   ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)  =  (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z)
 * with z = t/(α+T+t), 1 − z = (α+T)/(α+T+t). The left side multiplies a huge 2F1 by a tiny power for
 * customers with many purchases (x = 500 overflows); the right side has upper parameters independent of x
 * and a lower parameter growing with x, so its series converges faster the larger x is.
 * Convergence region: z ∈ [0, 1) for every finite t, where the series converges; near z = 1 (t ≫ α+T) the
 * stdlib routine applies its own transformations. If it still returns a non-finite value we sum the series
 * directly; if that fails too, the result is NaN and callers report a numerical failure (never a number).
 */
function transformedHyp2f1Term(p: BgnbdParams, x: number, T: number, t: number): number {
  const { r, alpha, a, b } = p;
  const z = t / (alpha + T + t);
  const A = a + b - 1 - r;
  const B = a - 1;
  const C = a + b + x - 1;
  let f = hyp2f1(A, B, C, z);
  if (!Number.isFinite(f)) f = hyp2f1Series(A, B, C, z);
  const logOneMinusZ = Math.log(alpha + T) - Math.log(alpha + T + t);
  return Math.exp((a - 1) * logOneMinusZ) * f;
}

function expectedPurchasesUnchecked(p: BgnbdParams, c: SufficientStatistics, t: number): number {
  const { a, b } = p;
  const { x } = c;
  const bracket = 1 - transformedHyp2f1Term(p, x, c.T, t);
  const numerator = ((a + b + x - 1) / (a - 1)) * bracket;
  const denominatorLog = x > 0 ? softplus(dropoutLogRatio(p, x, c.t_x, c.T)) : 0;
  return numerator * Math.exp(-denominatorLog);
}

/**
 * Expected number of purchases in the next t time units, FHL (2005) eq. (10):
 *   E[Y(t) | x, t_x, T] = [(a+b+x−1)/(a−1)] · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))]
 *                         / [1 + δ_{x>0} · (a/(b+x−1)) · ((α+T)/(α+t_x))^(r+x)]
 * The formula has a removable singularity at a = 1 (numerator and bracket both vanish); within 1e-5 of it we
 * average the values at a = 1 ± 1e-5 (error O(1e-10), far below the model's statistical uncertainty).
 * Returns NaN when the hypergeometric function cannot be evaluated (see transformedHyp2f1Term).
 */
export function bgnbdExpectedPurchases(p: BgnbdParams, c: SufficientStatistics, t: number): number {
  if (!(t > 0)) return 0;
  const h = 1e-5;
  if (Math.abs(p.a - 1) < h) {
    return 0.5 * (expectedPurchasesUnchecked({ ...p, a: 1 + h }, c, t) + expectedPurchasesUnchecked({ ...p, a: 1 - h }, c, t));
  }
  const e = expectedPurchasesUnchecked(p, c, t);
  return Number.isFinite(e) ? Math.max(e, 0) : NaN;
}

/**
 * The numerator of eq. (10), E[Y(t)] · (1 + δ_{x>0}·(a/(b+x−1))·((α+T)/(α+t_x))^(r+x)), which depends on
 * (x, T, t) only, not on t_x: E[Y(t) | x, t_x, T] = bgnbdExpectedPurchasesNumerator(x, T, t) · P(alive | x, t_x, T).
 * Batch scorers compute it once per (x, T) — far fewer than (x, t_x, T) triples. Floored at 0 like
 * bgnbdExpectedPurchases; NaN when the 2F1 fails. Not valid within 1e-5 of a = 1 (callers use
 * bgnbdExpectedPurchases there).
 */
export function bgnbdExpectedPurchasesNumerator(p: BgnbdParams, x: number, T: number, t: number): number {
  if (!(t > 0)) return 0;
  const e = ((p.a + p.b + x - 1) / (p.a - 1)) * (1 - transformedHyp2f1Term(p, x, T, t));
  return Number.isFinite(e) ? Math.max(e, 0) : NaN;
}
