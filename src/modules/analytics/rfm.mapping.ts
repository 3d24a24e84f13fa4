/**
 * RFM scores and the complete mapping of the 125 codes to seed 003's eleven segment names.
 *
 * Scores (seed 003): recency by days since the last completed purchase (5: 0–30, 4: 31–60, 3: 61–90,
 * 2: 91–180, 1: over 180), frequency by completed orders (5: 10+, 4: 5–9, 3: 3–4, 2: 2, 1: 1), monetary by
 * quintile of total spend among buyers (ntile(5), ties broken by customer id).
 *
 * Segment rules (first match wins, per recency band). The seed's example codes are reproduced exactly,
 * except 155, which the seed lists under both At Risk and Can't Lose Them: every unambiguous R = 1
 * high-value example (154, 144) is At Risk and every unambiguous R = 2 one (254, 245) is Can't Lose Them,
 * so 155 (R = 1) is At Risk. See README.md in this folder for the full 125-code table.
 */

export const RFM_SEGMENTS = [
  'Champions',
  'Loyal Customers',
  'Potential Loyalists',
  'New Customers',
  'Promising',
  'Need Attention',
  'About to Sleep',
  'At Risk',
  "Can't Lose Them",
  'Hibernating',
  'Lost',
] as const;

export type RfmSegment = (typeof RFM_SEGMENTS)[number];

/** Recency score from days since the last purchase (seed 003). */
export function recencyScore(days: number): number {
  if (days <= 30) return 5;
  if (days <= 60) return 4;
  if (days <= 90) return 3;
  if (days <= 180) return 2;
  return 1;
}

/** Frequency score from the number of completed orders (seed 003); 0 orders has no score. */
export function frequencyScore(orders: number): number {
  if (orders >= 10) return 5;
  if (orders >= 5) return 4;
  if (orders >= 3) return 3;
  if (orders === 2) return 2;
  return 1;
}

/**
 * The segment of an RFM code (each score 1–5). Rules by recency band, first match wins:
 *
 * R 5 and 4 (bought in the last 60 days)
 *   F ≥ 4 and M ≥ 4          → Champions (R 5) / Loyal Customers (R 4)
 *   F 3–4 and M ≥ 3          → Loyal Customers
 *   F ≥ 3 (low M for their F) → Potential Loyalists
 *   F = 2, or F = 1 and M ≥ 3 → Promising
 *   F = 1 and M ≤ 2          → New Customers
 * R 3 (61–90 days)
 *   F ≥ 4 and M ≥ 4 → Loyal Customers;  F ≥ 2 → Need Attention;  F = 1 → About to Sleep
 * R 2 (91–180 days)
 *   F ≥ 4 and M ≥ 4 → Can't Lose Them;  F ≥ 2 and M ≥ 3 → At Risk;  F ≥ 3 → About to Sleep;  else Hibernating
 * R 1 (over 180 days)
 *   F ≥ 3 and M ≥ 3 → At Risk;  F = 1 and M = 1 → Lost;  else Hibernating
 */
export function rfmSegment(r: number, f: number, m: number): RfmSegment {
  for (const s of [r, f, m]) {
    if (!Number.isInteger(s) || s < 1 || s > 5) throw new RangeError(`RFM scores are integers 1-5, got ${r}${f}${m}`);
  }
  if (r >= 4) {
    if (f >= 4 && m >= 4) return r === 5 ? 'Champions' : 'Loyal Customers';
    if (f >= 3 && f <= 4 && m >= 3) return 'Loyal Customers';
    if (f >= 3) return 'Potential Loyalists';
    if (f === 2 || m >= 3) return 'Promising';
    return 'New Customers';
  }
  if (r === 3) {
    if (f >= 4 && m >= 4) return 'Loyal Customers';
    if (f >= 2) return 'Need Attention';
    return 'About to Sleep';
  }
  if (r === 2) {
    if (f >= 4 && m >= 4) return "Can't Lose Them";
    if (f >= 2 && m >= 3) return 'At Risk';
    if (f >= 3) return 'About to Sleep';
    return 'Hibernating';
  }
  if (f >= 3 && m >= 3) return 'At Risk';
  if (f === 1 && m === 1) return 'Lost';
  return 'Hibernating';
}

/** All 125 codes ("555" → "Champions"), the single source the SQL scorer reads. */
export const RFM_CODE_MAP: Readonly<Record<string, RfmSegment>> = (() => {
  const out: Record<string, RfmSegment> = {};
  for (let r = 1; r <= 5; r++) for (let f = 1; f <= 5; f++) for (let m = 1; m <= 5; m++) out[`${r}${f}${m}`] = rfmSegment(r, f, m);
  return Object.freeze(out);
})();
