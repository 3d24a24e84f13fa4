/**
 * CSV writing (RFC 4180): fields separated by commas, records ended by CRLF, a field quoted when it
 * holds a comma, a double quote, CR or LF (quotes inside doubled). Text cells are also neutralized
 * against spreadsheet formula injection (DESIGN §5, OWASP "CSV injection"): a cell that starts with
 * `=`, `+`, `-`, `@`, a tab or a CR gets a leading `'`, so Excel / LibreOffice / Sheets show it as text.
 */

/** Excel needs the byte order mark to read a CSV file as UTF-8. */
export const UTF8_BOM = '\uFEFF';

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export type CsvValue = string | number | boolean | null | undefined;

/** A cell a spreadsheet would read as a formula, made plain text with a leading `'`. */
export function neutralizeFormula(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** Quotes a field when RFC 4180 requires it. */
export function quoteField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * One cell: null/undefined → empty; numbers and booleans as written (they cannot be formulas:
 * `-12.5` stays a number); strings neutralized unless `trusted` (values the caller formatted
 * itself, such as numbers and dates rendered as text by the database), then quoted as needed.
 */
export function csvCell(value: CsvValue, opts: { trusted?: boolean } = {}): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return quoteField(opts.trusted ? value : neutralizeFormula(value));
}

/** One record, CRLF-terminated. `trusted[i]` marks cells that skip formula neutralization. */
export function csvRow(values: CsvValue[], trusted?: readonly boolean[]): string {
  return `${values.map((v, i) => csvCell(v, { trusted: trusted?.[i] ?? false })).join(',')}\r\n`;
}
