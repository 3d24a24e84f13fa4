/** Rounds to cents the way the database's numeric(14,2) does (half away from zero). */
export function roundMoney(value: number): number {
  return Math.sign(value) * Math.round((Math.abs(value) + Number.EPSILON) * 100) / 100;
}

/** Largest amount numeric(14,2) holds. */
export const MAX_MONEY = 999_999_999_999.99;
