/**
 * Gamma-Gamma model of monetary value.
 *
 * Source: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025), building on
 * Colombo & Jiang (1999). A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across
 * customers; the mean m of their x repeat transactions is then sufficient, and the marginal density of m is
 *   f(m | p, q, γ, x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m^(px−1) · x^(px) / (γ + m x)^(px+q)
 * Fitted on customers with x > 0 (and m > 0: a mean of zero or less — free tickets, net refunds — has zero
 * density under a Gamma model and would make the log-likelihood −∞; such customers are left out of the fit
 * but still get a prediction).
 */
import digamma from '@stdlib/math-base-special-digamma';
import gammaln from '@stdlib/math-base-special-gammaln';
import { minimizeMultiStart } from './clv.optimizer.js';
import type { GammaGammaRow } from './clv.statistics.js';
import { LOG_PARAM_LIMIT, SCALE_BOUNDS_RELATIVE, SHAPE_BOUNDS, withinBounds } from './clv.bgnbd.js';

export interface GammaGammaParams {
  p: number;
  q: number;
  /** γ in note 025 (the scale of the Gamma mixing distribution); `v` in the API contract. */
  v: number;
}

export interface GammaGammaFit extends GammaGammaParams {
  log_likelihood: number;
  iterations: number;
  /** True only for an interior optimum reached to tolerance. */
  converged: boolean;
  /** See BgnbdFit.status; 'at_boundary' e.g. when p → ∞ (no spread of spend within customers is identifiable). */
  status: 'converged' | 'at_boundary' | 'not_converged';
  /** Weighted number of customers the fit used (x > 0 and m > 0). */
  customers: number;
}

/** Per-customer log-likelihood of note 025's density (above), for x > 0, m > 0. */
export function gammaGammaLogLikelihood(params: GammaGammaParams, x: number, m: number): number {
  const { p, q, v } = params;
  const px = p * x;
  return gammaln(px + q) - gammaln(px) - gammaln(q) + q * Math.log(v) + (px - 1) * Math.log(m) + px * Math.log(x) - (px + q) * Math.log(v + m * x);
}

interface GammaGammaData {
  n: number;
  x: Float64Array;
  m: Float64Array;
  lnM: Float64Array;
  w: Float64Array;
  xIndex: Uint32Array;
  distinctX: Float64Array;
  weightByX: Float64Array;
  totalWeight: number;
}

function prepare(rows: readonly GammaGammaRow[]): GammaGammaData {
  const kept = rows.filter((r) => r.x > 0 && r.m > 0 && (r.weight ?? 1) > 0);
  const n = kept.length;
  const x = new Float64Array(n);
  const m = new Float64Array(n);
  const lnM = new Float64Array(n);
  const w = new Float64Array(n);
  const xIndex = new Uint32Array(n);
  const indexOf = new Map<number, number>();
  const xs: number[] = [];
  const wx: number[] = [];
  let totalWeight = 0;
  kept.forEach((row, i) => {
    if (!Number.isFinite(row.m)) throw new RangeError(`Invalid Gamma-Gamma row: m=${row.m}`);
    const weight = row.weight ?? 1;
    x[i] = row.x;
    m[i] = row.m;
    lnM[i] = Math.log(row.m);
    w[i] = weight;
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
  });
  return { n, x, m, lnM, w, xIndex, distinctX: Float64Array.from(xs), weightByX: Float64Array.from(wx), totalWeight };
}

/**
 * Total log-likelihood and gradient with respect to (p, q, γ):
 *   ∂/∂p = x·[ψ(px+q) − ψ(px) + ln m + ln x − ln(γ+mx)]
 *   ∂/∂q = ψ(px+q) − ψ(q) + ln γ − ln(γ+mx)
 *   ∂/∂γ = q/γ − (px+q)/(γ+mx)
 * Terms in x alone are evaluated once per distinct x.
 */
function logLikelihoodAndGradient(params: GammaGammaParams, d: GammaGammaData): { value: number; gradient: [number, number, number] } {
  const { p, q, v } = params;
  let ll = 0;
  let gp = 0;
  let gq = 0;
  let gv = 0;
  const lnGammaQ = gammaln(q);
  const psiQ = digamma(q);
  const lnV = Math.log(v);
  for (let k = 0; k < d.distinctX.length; k++) {
    const x = d.distinctX[k];
    const W = d.weightByX[k];
    const px = p * x;
    const psiPxQ = digamma(px + q);
    ll += W * (gammaln(px + q) - gammaln(px) - lnGammaQ + px * Math.log(x) + q * lnV);
    gp += W * x * (psiPxQ - digamma(px) + Math.log(x));
    gq += W * (psiPxQ - psiQ + lnV);
    gv += (W * q) / v;
  }
  for (let i = 0; i < d.n; i++) {
    const w = d.w[i];
    const x = d.x[i];
    const px = p * x;
    const vmx = v + d.m[i] * x;
    const lnVmx = Math.log(vmx);
    ll += w * ((px - 1) * d.lnM[i] - (px + q) * lnVmx);
    gp += w * x * (d.lnM[i] - lnVmx);
    gq -= w * lnVmx;
    gv -= (w * (px + q)) / vmx;
  }
  return { value: ll, gradient: [gp, gq, gv] };
}

/** Maximum-likelihood fit of (p, q, γ) on weighted (x, m) rows; same strategy as the BG/NBD fit. */
export function fitGammaGamma(rows: readonly GammaGammaRow[], options: { starts?: GammaGammaParams[]; maxIterations?: number } = {}): GammaGammaFit {
  const data = prepare(rows);
  if (data.totalWeight <= 0) {
    return { p: NaN, q: NaN, v: NaN, log_likelihood: NaN, iterations: 0, converged: false, status: 'not_converged', customers: 0 };
  }
  let meanM = 0;
  for (let i = 0; i < data.n; i++) meanM += data.w[i] * data.m[i];
  meanM /= data.totalWeight;
  // E[M] = pγ/(q−1): the starts put the population mean near the observed one, on the data's money scale.
  const starts = options.starts ?? [
    { p: 1, q: 2, v: meanM },
    { p: 5, q: 4, v: (3 * meanM) / 5 },
    { p: 0.5, q: 1.5, v: meanM },
  ];
  const objective = (theta: readonly number[]) => {
    if (theta.some((t) => Math.abs(t) > 2 * LOG_PARAM_LIMIT)) return { value: Infinity, gradient: [0, 0, 0] };
    const params = { p: Math.exp(theta[0]), q: Math.exp(theta[1]), v: Math.exp(theta[2]) };
    const { value, gradient } = logLikelihoodAndGradient(params, data);
    const scale = -1 / data.totalWeight;
    return { value: scale * value, gradient: [scale * params.p * gradient[0], scale * params.q * gradient[1], scale * params.v * gradient[2]] };
  };
  const best = minimizeMultiStart(
    objective,
    starts.map((s) => [Math.log(s.p), Math.log(s.q), Math.log(s.v)]),
    { maxIterations: options.maxIterations ?? 500, gradientTolerance: 1e-9 },
  );
  const iterations = best?.totalIterations ?? 0;
  if (best === null) {
    return { p: NaN, q: NaN, v: NaN, log_likelihood: NaN, iterations, converged: false, status: 'not_converged', customers: data.totalWeight };
  }
  const [p, q, v] = best.x.map(Math.exp);
  const interior = withinBounds(p, SHAPE_BOUNDS) && withinBounds(q, SHAPE_BOUNDS) && withinBounds(v, SCALE_BOUNDS_RELATIVE, meanM);
  const status = !interior ? 'at_boundary' : best.converged ? 'converged' : 'not_converged';
  return {
    p, q, v,
    log_likelihood: -best.value * data.totalWeight,
    iterations,
    converged: status === 'converged',
    status,
    customers: data.totalWeight,
  };
}

/**
 * Expected average order value of a customer (note 025, eq. 5):
 *   E[M | p, q, γ, m, x] = (γ + m x) · p / (p x + q − 1)
 * a weighted mean of the population mean pγ/(q−1) and the customer's own mean m. For x = 0 it reduces to the
 * population mean, which exists only for q > 1 (the fit reports q ≤ 1 as degenerate). A negative m (net
 * refunds) is treated as 0.
 */
export function gammaGammaExpectedSpend(params: GammaGammaParams, x: number, m: number): number {
  const { p, q, v } = params;
  if (x <= 0) return q > 1 ? (p * v) / (q - 1) : NaN;
  const denominator = p * x + q - 1;
  return denominator > 0 ? ((v + Math.max(m, 0) * x) * p) / denominator : NaN;
}
