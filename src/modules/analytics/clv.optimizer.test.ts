import { describe, expect, it } from 'vitest';
import { minimizeLbfgs, type Objective } from './clv.optimizer.js';

/** Rosenbrock in n dimensions: minimum 0 at (1, …, 1); a curved valley that defeats naive descent. */
const rosenbrock: Objective = (x) => {
  let value = 0;
  const gradient = new Array<number>(x.length).fill(0);
  for (let i = 0; i < x.length - 1; i++) {
    const a = x[i + 1] - x[i] * x[i];
    const b = 1 - x[i];
    value += 100 * a * a + b * b;
    gradient[i] += -400 * x[i] * a - 2 * b;
    gradient[i + 1] += 200 * a;
  }
  return { value, gradient };
};

describe('minimizeLbfgs', () => {
  // (In 4–7 dimensions Rosenbrock also has a local minimum near (−1, 1, …, 1); the starts avoid its basin.)
  it('finds the Rosenbrock minimum in 2 and 6 dimensions', () => {
    for (const start of [[-1.2, 1], [0.5, 0, 0.2, -0.3, 0.8, 0]]) {
      const res = minimizeLbfgs(rosenbrock, start, { gradientTolerance: 1e-10 });
      expect(res.converged).toBe(true);
      for (const v of res.x) expect(v).toBeCloseTo(1, 6);
      expect(res.value).toBeLessThan(1e-12);
    }
  });

  it('minimises an ill-conditioned quadratic exactly', () => {
    const scales = [1, 10, 100, 1000, 1e4];
    const target = [3, -2, 0.5, 7, -1];
    const quad: Objective = (x) => ({
      value: x.reduce((s, v, i) => s + 0.5 * scales[i] * (v - target[i]) ** 2, 0),
      gradient: x.map((v, i) => scales[i] * (v - target[i])),
    });
    const res = minimizeLbfgs(quad, [0, 0, 0, 0, 0], { gradientTolerance: 1e-9 });
    expect(res.converged).toBe(true);
    res.x.forEach((v, i) => expect(v).toBeCloseTo(target[i], 8));
  });

  it('stays inside a domain signalled by non-finite values', () => {
    // f(x) = x − ln x on x > 0 (minimum at 1), +∞ outside: a long first step must be pulled back.
    const f: Objective = ([x]) => (x > 0 ? { value: x - Math.log(x), gradient: [1 - 1 / x] } : { value: Infinity, gradient: [NaN] });
    const res = minimizeLbfgs(f, [30]);
    expect(res.converged).toBe(true);
    expect(res.x[0]).toBeCloseTo(1, 6);
  });

  it('reports failure instead of a result: non-finite start, iteration budget exhausted', () => {
    const bad = minimizeLbfgs(() => ({ value: NaN, gradient: [0] }), [0]);
    expect(bad.converged).toBe(false);
    expect(bad.message).toBe('non_finite_start');
    const short = minimizeLbfgs(rosenbrock, [-1.2, 1], { maxIterations: 3 });
    expect(short.converged).toBe(false);
    expect(short.message).toBe('max_iterations');
  });

  it('does not claim convergence on an unbounded objective', () => {
    const linear: Objective = ([x]) => ({ value: -x, gradient: [-1] });
    const res = minimizeLbfgs(linear, [0], { maxIterations: 50 });
    expect(res.converged).toBe(false);
  });
});
