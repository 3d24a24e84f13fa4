/**
 * recharts 2 asks react-is 18 whether a child is a Fragment; React 19 elements carry a new $$typeof
 * ("react.transitional.element"), so react-is 18 says no and every chart series wrapped in a Fragment
 * (Mantine's AreaChart, LineChart) silently disappears. The usual fix is an npm override to react-is 19;
 * this alias (web/vite.config.ts) does the same for the one function recharts imports.
 */
const FRAGMENT = Symbol.for('react.fragment');
const ELEMENT_TYPES = new Set<unknown>([Symbol.for('react.element'), Symbol.for('react.transitional.element')]);

export function isFragment(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const el = value as { $$typeof?: unknown; type?: unknown };
  return ELEMENT_TYPES.has(el.$$typeof) && el.type === FRAGMENT;
}
