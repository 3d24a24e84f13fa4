import { describe, expect, it } from 'vitest';
import { csvCell, csvRow, neutralizeFormula, quoteField, UTF8_BOM } from './csv.js';

describe('csv', () => {
  it('quotes fields with commas, quotes, CR or LF (RFC 4180) and leaves others bare', () => {
    expect(quoteField('plain')).toBe('plain');
    expect(quoteField('a,b')).toBe('"a,b"');
    expect(quoteField('say "hi"')).toBe('"say ""hi"""');
    expect(quoteField('line1\nline2')).toBe('"line1\nline2"');
    expect(quoteField('a\r\nb')).toBe('"a\r\nb"');
    expect(quoteField('')).toBe('');
  });

  it('neutralizes formulas: =, +, -, @, tab, CR at the start get a leading quote', () => {
    for (const s of ['=1+1', '+40722', '-2', '@SUM(A1)', '\tx', '\rx']) expect(neutralizeFormula(s)).toBe(`'${s}`);
    for (const s of ['a=1', 'x+', ' =1', '', "'already"]) expect(neutralizeFormula(s)).toBe(s);
  });

  it('cells: neutralized then quoted; numbers, booleans, null, trusted text as written', () => {
    expect(csvCell('=HYPERLINK("http://evil","x")')).toBe(`"'=HYPERLINK(""http://evil"",""x"")"`);
    expect(csvCell('-5,5')).toBe(`"'-5,5"`);
    expect(csvCell(-12.5)).toBe('-12.5');
    expect(csvCell('-12.50', { trusted: true })).toBe('-12.50');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(Number.NaN)).toBe('');
  });

  it('rows end with CRLF; trusted flags apply per column', () => {
    expect(csvRow(['a', 'b,c', null, 3])).toBe('a,"b,c",,3\r\n');
    expect(csvRow(['-1', '-1'], [true, false])).toBe("-1,'-1\r\n");
    expect(UTF8_BOM).toBe('\uFEFF');
  });
});
