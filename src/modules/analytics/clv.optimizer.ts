/**
 * Unconstrained minimisation for the CLV models: limited-memory BFGS with a Wolfe line search.
 *
 * Why L-BFGS: the BG/NBD and Gamma-Gamma log-likelihoods have cheap analytic gradients (digamma), have
 * 3–4 parameters, and are smooth in log-parameter space, where quasi-Newton converges in a few dozen
 * iterations to full precision. Nelder–Mead would need hundreds of evaluations and stops on simplex size,
 * not on a stationarity condition we can report.
 *
 * References: Nocedal & Wright, "Numerical Optimization" (2nd ed.), Algorithm 7.4 (L-BFGS two-loop
 * recursion), Algorithms 3.5/3.6 (line search satisfying the strong Wolfe conditions, with zoom).
 */

/** Objective value and its gradient at a point. A non-finite value means "outside the domain". */
export interface ValueAndGradient {
  value: number;
  gradient: number[];
}

export type Objective = (x: readonly number[]) => ValueAndGradient;

export interface MinimizeOptions {
  /** Maximum number of quasi-Newton iterations (default 500). */
  maxIterations?: number;
  /** Converged when the largest absolute gradient component is at most this (default 1e-8). */
  gradientTolerance?: number;
  /** Number of correction pairs kept (default 10). */
  memory?: number;
}

export interface MinimizeResult {
  x: number[];
  value: number;
  gradient: number[];
  iterations: number;
  evaluations: number;
  converged: boolean;
  /** Why the iteration stopped, for logs and tests. */
  message: 'gradient_tolerance' | 'precision_limit' | 'max_iterations' | 'line_search_failed' | 'non_finite_start';
}

const dot = (a: readonly number[], b: readonly number[]): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const normInf = (a: readonly number[]): number => {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
};
const axpy = (x: readonly number[], alpha: number, d: readonly number[]): number[] => x.map((v, i) => v + alpha * d[i]);

const isFiniteVector = (v: readonly number[]): boolean => v.every(Number.isFinite);

interface LinePoint {
  step: number;
  x: number[];
  f: number;
  g: number[];
  slope: number; // directional derivative g·d
}

/**
 * Strong Wolfe line search (Nocedal & Wright Alg. 3.5 + 3.6, bisection/cubic zoom).
 * Returns null when no acceptable step is found. Non-finite objective values are treated as "too far":
 * the step is shrunk, which keeps the search inside the likelihood's domain.
 */
function wolfeLineSearch(
  fn: Objective,
  x0: readonly number[],
  f0: number,
  slope0: number,
  d: readonly number[],
  initialStep: number,
  counter: { evaluations: number },
): LinePoint | null {
  const c1 = 1e-4;
  const c2 = 0.9;
  const evalAt = (step: number): LinePoint => {
    const x = axpy(x0, step, d);
    const r = fn(x);
    counter.evaluations++;
    const ok = Number.isFinite(r.value) && isFiniteVector(r.gradient);
    return { step, x, f: ok ? r.value : Infinity, g: r.gradient, slope: ok ? dot(r.gradient, d) : NaN };
  };

  const zoom = (lo: LinePoint, hi: LinePoint): LinePoint | null => {
    for (let i = 0; i < 60; i++) {
      // Cubic interpolation when both ends are finite, bisection otherwise; safeguarded to the inner 80%.
      let step = 0.5 * (lo.step + hi.step);
      if (Number.isFinite(hi.f) && Number.isFinite(hi.slope)) {
        const d1 = lo.slope + hi.slope - (3 * (lo.f - hi.f)) / (lo.step - hi.step);
        const disc = d1 * d1 - lo.slope * hi.slope;
        if (disc >= 0) {
          const d2 = Math.sign(hi.step - lo.step) * Math.sqrt(disc);
          const cand = hi.step - ((hi.step - lo.step) * (hi.slope + d2 - d1)) / (hi.slope - lo.slope + 2 * d2);
          const a = Math.min(lo.step, hi.step);
          const b = Math.max(lo.step, hi.step);
          const margin = 0.1 * (b - a);
          if (Number.isFinite(cand) && cand > a + margin && cand < b - margin) step = cand;
        }
      }
      const p = evalAt(step);
      if (!Number.isFinite(p.f) || p.f > f0 + c1 * step * slope0 || p.f >= lo.f) {
        hi = p;
      } else {
        if (Math.abs(p.slope) <= -c2 * slope0) return p;
        if (p.slope * (hi.step - lo.step) >= 0) hi = lo;
        lo = p;
      }
      if (Math.abs(hi.step - lo.step) < 1e-16 * Math.max(1, lo.step)) break;
    }
    // The interval collapsed: accept the best point if it decreased the objective (sufficient decrease holds).
    return lo.step > 0 && lo.f < f0 ? lo : null;
  };

  let prev: LinePoint = { step: 0, x: [...x0], f: f0, g: [], slope: slope0 };
  let step = initialStep;
  for (let i = 0; i < 60; i++) {
    const p = evalAt(step);
    if (!Number.isFinite(p.f)) {
      // Outside the domain: treat like an overshoot and zoom between the last good point and here.
      return zoom(prev, p);
    }
    if (p.f > f0 + c1 * step * slope0 || (i > 0 && p.f >= prev.f)) return zoom(prev, p);
    if (Math.abs(p.slope) <= -c2 * slope0) return p;
    if (p.slope >= 0) return zoom(p, prev);
    prev = p;
    step *= 2;
  }
  return null;
}

/**
 * Minimise `fn` from `x0` with L-BFGS. Deterministic; no randomness. The caller chooses the
 * parametrisation (our models pass log-parameters so positivity constraints disappear).
 */
export function minimizeLbfgs(fn: Objective, x0: readonly number[], options: MinimizeOptions = {}): MinimizeResult {
  const maxIterations = options.maxIterations ?? 500;
  const gtol = options.gradientTolerance ?? 1e-8;
  const m = options.memory ?? 10;
  const counter = { evaluations: 1 };

  let x = [...x0];
  let { value: f, gradient: g } = fn(x);
  if (!Number.isFinite(f) || !isFiniteVector(g)) {
    return { x, value: f, gradient: g, iterations: 0, evaluations: 1, converged: false, message: 'non_finite_start' };
  }
  const sList: number[][] = [];
  const yList: number[][] = [];
  const rhoList: number[] = [];

  for (let iter = 0; iter < maxIterations; iter++) {
    if (normInf(g) <= gtol) {
      return { x, value: f, gradient: g, iterations: iter, evaluations: counter.evaluations, converged: true, message: 'gradient_tolerance' };
    }
    // Two-loop recursion: d = -H g.
    const q = [...g];
    const alphas: number[] = new Array<number>(sList.length);
    for (let i = sList.length - 1; i >= 0; i--) {
      alphas[i] = rhoList[i] * dot(sList[i], q);
      for (let j = 0; j < q.length; j++) q[j] -= alphas[i] * yList[i][j];
    }
    let gamma = 1;
    if (sList.length > 0) {
      const k = sList.length - 1;
      gamma = dot(sList[k], yList[k]) / dot(yList[k], yList[k]);
    }
    for (let j = 0; j < q.length; j++) q[j] *= gamma;
    for (let i = 0; i < sList.length; i++) {
      const beta = rhoList[i] * dot(yList[i], q);
      for (let j = 0; j < q.length; j++) q[j] += sList[i][j] * (alphas[i] - beta);
    }
    let d = q.map((v) => -v);
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Curvature information went stale: restart from steepest descent.
      sList.length = 0;
      yList.length = 0;
      rhoList.length = 0;
      d = g.map((v) => -v);
      slope = dot(g, d);
    }
    // First iteration: a unit step along -g can be wildly out of scale; cap its length at 1 (log-units).
    const initialStep = sList.length === 0 ? Math.min(1, 1 / normInf(g)) : 1;
    const p = wolfeLineSearch(fn, x, f, slope, d, initialStep, counter);
    if (p === null) {
      // No decrease possible along the direction. If the gradient is tiny relative to the objective's scale,
      // we are at the floating-point precision limit of the optimum; otherwise this is a genuine failure.
      const limit = normInf(g) <= Math.max(gtol * 1e3, 1e-12 * Math.max(1, Math.abs(f)));
      if (sList.length > 0 && !limit) {
        sList.length = 0;
        yList.length = 0;
        rhoList.length = 0;
        continue; // one retry from steepest descent
      }
      return {
        x, value: f, gradient: g, iterations: iter + 1, evaluations: counter.evaluations,
        converged: limit, message: limit ? 'precision_limit' : 'line_search_failed',
      };
    }
    const s = p.x.map((v, i) => v - x[i]);
    const y = p.g.map((v, i) => v - g[i]);
    const sy = dot(s, y);
    if (sy > 1e-300) {
      if (sList.length === m) {
        sList.shift();
        yList.shift();
        rhoList.shift();
      }
      sList.push(s);
      yList.push(y);
      rhoList.push(1 / sy);
    }
    const fPrev = f;
    x = p.x;
    f = p.f;
    g = p.g;
    // Objective stationary to machine precision with a small gradient: accept (cannot improve further).
    if (Math.abs(fPrev - f) <= 1e-15 * Math.max(1, Math.abs(f)) && normInf(g) <= gtol * 1e3) {
      return { x, value: f, gradient: g, iterations: iter + 1, evaluations: counter.evaluations, converged: true, message: 'precision_limit' };
    }
  }
  const converged = normInf(g) <= gtol;
  return {
    x, value: f, gradient: g, iterations: maxIterations, evaluations: counter.evaluations,
    converged, message: converged ? 'gradient_tolerance' : 'max_iterations',
  };
}

export interface MultiStartResult extends MinimizeResult {
  /** Iterations summed over all runs. */
  totalIterations: number;
  /** Number of starts actually run. */
  runs: number;
}

/**
 * L-BFGS from several starting points, keeping the best converged optimum. Likelihoods with a flat ridge or
 * a second local optimum are caught this way. To save time, the remaining starts are skipped once two
 * converged runs agree on the optimum (objective to 1e-10 relative, point to 1e-4): a second independent
 * arrival at the same point is the confirmation the restarts exist for.
 */
export function minimizeMultiStart(fn: Objective, starts: readonly (readonly number[])[], options: MinimizeOptions = {}): MultiStartResult | null {
  let best: MinimizeResult | null = null;
  let totalIterations = 0;
  let runs = 0;
  for (const start of starts) {
    const res = minimizeLbfgs(fn, start, options);
    runs++;
    totalIterations += res.iterations;
    if (!Number.isFinite(res.value)) continue;
    const agrees =
      best !== null && best.converged && res.converged &&
      Math.abs(best.value - res.value) <= 1e-10 * Math.max(1, Math.abs(best.value)) &&
      best.x.every((v, i) => Math.abs(v - res.x[i]) <= 1e-4);
    if (best === null || (res.converged && !best.converged) || (res.converged === best.converged && res.value < best.value)) best = res;
    if (agrees) break;
  }
  return best === null ? null : { ...best, totalIterations, runs };
}
