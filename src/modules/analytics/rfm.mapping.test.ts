import { describe, expect, it } from 'vitest';
import { frequencyScore, recencyScore, RFM_CODE_MAP, RFM_SEGMENTS, rfmSegment } from './rfm.mapping.js';

/** Seed 003's example codes, as the seed lists them. 155 appears under At Risk AND Can't Lose Them. */
const SEED_EXAMPLES: Record<string, string[]> = {
  Champions: ['555', '554', '545'],
  'Loyal Customers': ['543', '444', '435'],
  'Potential Loyalists': ['553', '551', '532'],
  'New Customers': ['512', '511', '412'],
  Promising: ['525', '524', '513'],
  'Need Attention': ['333', '332', '321'],
  'About to Sleep': ['231', '241', '251'],
  'At Risk': ['155', '154', '144'],
  "Can't Lose Them": ['155', '254', '245'],
  Hibernating: ['122', '121', '112'],
  Lost: ['111'],
};
/** The documented conflict: 155 is At Risk (every unambiguous R = 1 high-value example is). */
const CONFLICT = { code: '155', resolvedTo: 'At Risk', alsoListedUnder: "Can't Lose Them" };

describe('RFM mapping (seed 003)', () => {
  it('maps all 125 codes to one of the eleven segments, and uses every segment', () => {
    const codes = Object.keys(RFM_CODE_MAP);
    expect(codes).toHaveLength(125);
    for (let r = 1; r <= 5; r++) {
      for (let f = 1; f <= 5; f++) {
        for (let m = 1; m <= 5; m++) {
          const name = RFM_CODE_MAP[`${r}${f}${m}`];
          expect(RFM_SEGMENTS).toContain(name);
          expect(rfmSegment(r, f, m)).toBe(name);
        }
      }
    }
    expect(new Set(Object.values(RFM_CODE_MAP))).toEqual(new Set(RFM_SEGMENTS));
  });

  it("puts every seed example where the seed says, except the documented 155 conflict", () => {
    for (const [segment, codes] of Object.entries(SEED_EXAMPLES)) {
      for (const code of codes) {
        if (code === CONFLICT.code && segment === CONFLICT.alsoListedUnder) continue;
        expect({ code, segment: RFM_CODE_MAP[code] }).toEqual({ code, segment });
      }
    }
    expect(RFM_CODE_MAP[CONFLICT.code]).toBe(CONFLICT.resolvedTo);
  });

  it('scores recency and frequency by the seed table', () => {
    expect([0, 30, 31, 60, 61, 90, 91, 180, 181, 5000].map(recencyScore)).toEqual([5, 5, 4, 4, 3, 3, 2, 2, 1, 1]);
    expect([1, 2, 3, 4, 5, 9, 10, 250].map(frequencyScore)).toEqual([1, 2, 3, 3, 4, 4, 5, 5]);
  });

  it('refuses scores outside 1-5', () => {
    expect(() => rfmSegment(0, 1, 1)).toThrow(RangeError);
    expect(() => rfmSegment(1, 6, 1)).toThrow(RangeError);
  });
});
