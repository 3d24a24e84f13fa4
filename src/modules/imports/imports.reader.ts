import fs from 'node:fs';
import { TextDecoder } from 'node:util';
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';
import { AppError } from '../../lib/errors.js';

/**
 * Reading an uploaded file: format, encoding and delimiter detection, the zip-bomb guard for XLSX,
 * and a streaming row iterator. Everything here is file-level: a problem found by `inspectFile`
 * or `readRows` rejects the whole file (AppError `import_file_invalid`), and the service makes sure
 * that happens before anything is written.
 */

export type FileFormat = 'csv' | 'xlsx';

export const ENCODINGS = ['utf-8', 'windows-1250', 'windows-1252', 'iso-8859-2', 'utf-16le', 'utf-16be'] as const;
export type Encoding = (typeof ENCODINGS)[number];
export const DELIMITERS = [',', ';', '\t', '|'] as const;

export interface FileInfo {
  format: FileFormat;
  /** null for XLSX (the XML inside declares its own) */
  encoding: Encoding | null;
  delimiter: string | null;
  /** the header row, trimmed */
  headers: string[];
}

/** A data row: its number in the file (header = 1, counted in records, not lines) and its cells. */
export interface FileRow {
  rowNumber: number;
  cells: string[];
}

/** The biggest CSV record (all cells of a row); a 10 MB cell is still read and rejected row by row. */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;
/** XLSX guard: what the zip may expand to, in total and per entry, and its number of entries. */
export const XLSX_LIMITS = {
  maxUncompressedBytes: 1024 * 1024 * 1024,
  maxEntries: 10_000,
  /** compression ratio above which a big entry (over 1 MiB expanded) is a zip bomb; spreadsheet XML compresses 5–50× */
  maxRatio: 200,
};
const SNIFF_BYTES = 64 * 1024;
const MAX_COLUMNS = 500;

const invalidFile = (message: string, details?: Record<string, unknown>) => new AppError('import_file_invalid', message, details);

async function readHead(path: string, bytes: number): Promise<Buffer> {
  const fh = await fs.promises.open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Bytes 0x81 0x83 0x88 0x90 0x98 have no character in Windows-1250: text with them is in another encoding. */
const CP1250_UNDEFINED = new Set([0x81, 0x83, 0x88, 0x90, 0x98]);

/** Encoding of a CSV from its first bytes: a BOM, else valid UTF-8, else Windows-1250 (Romanian exports). */
export function detectEncoding(head: Buffer): { encoding: Encoding; bomBytes: number } {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { encoding: 'utf-8', bomBytes: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { encoding: 'utf-16le', bomBytes: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { encoding: 'utf-16be', bomBytes: 2 };
  // the sample may end inside a multi-byte character: drop an incomplete tail before checking
  let end = head.length;
  for (let i = Math.max(0, head.length - 3); i < head.length; i++) {
    const b = head[i];
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      if (i + need > head.length) end = i;
    }
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, end));
    return { encoding: 'utf-8', bomBytes: 0 };
  } catch {
    for (const b of head) {
      if (CP1250_UNDEFINED.has(b)) {
        throw invalidFile('the file is neither UTF-8 nor Windows-1250 text; save it as CSV UTF-8 or pass encoding', {
          allowed_encodings: ENCODINGS,
        });
      }
    }
    return { encoding: 'windows-1250', bomBytes: 0 };
  }
}

/** Binary content: NUL bytes, or many control characters, in what should be text. */
function looksBinary(head: Buffer, encoding: Encoding): boolean {
  if (encoding.startsWith('utf-16')) return false;
  let control = 0;
  for (const b of head) {
    if (b === 0) return true;
    if (b < 0x09 || (b > 0x0d && b < 0x20 && b !== 0x1b)) control++;
  }
  return control > head.length * 0.01;
}

/** The delimiter that splits the header line into the most columns (outside quotes); ties go to the comma. */
export function detectDelimiter(text: string): string {
  const firstLine = (() => {
    let inQuotes = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch === '"') inQuotes = !inQuotes;
      else if ((ch === '\n' || ch === '\r') && !inQuotes) return text.slice(0, i);
    }
    return text;
  })();
  let best: string = ',';
  let bestCount = 0;
  for (const d of DELIMITERS) {
    let n = 0;
    let inQuotes = false;
    for (const ch of firstLine) {
      if (ch === '"') inQuotes = !inQuotes;
      else if (ch === d && !inQuotes) n++;
    }
    if (n > bestCount) {
      best = d;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Looks at a file and answers its format, encoding, delimiter and header row, or rejects it:
 * binary content, a zip that is not a workbook (or expands too much), legacy .xls, an unknown
 * encoding, no header.
 */
export async function inspectFile(path: string, opts: { encoding?: Encoding; delimiter?: string } = {}): Promise<FileInfo> {
  const head = await readHead(path, SNIFF_BYTES);
  if (head.length === 0) throw invalidFile('the file is empty');
  if (head.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) {
    await checkXlsxArchive(path);
    const headers = await readXlsxHeader(path);
    return { format: 'xlsx', encoding: null, delimiter: null, headers };
  }
  if (head.subarray(0, 8).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))) {
    throw invalidFile('legacy Excel .xls files are not supported: save the sheet as .xlsx or CSV');
  }
  const detected = opts.encoding ? { encoding: opts.encoding, bomBytes: bomLength(head, opts.encoding) } : detectEncoding(head);
  if (looksBinary(head, detected.encoding)) throw invalidFile('the file is binary, not CSV or XLSX text');
  const text = new TextDecoder(detected.encoding).decode(head.subarray(detected.bomBytes));
  const delimiter = opts.delimiter ?? detectDelimiter(text);
  const info: FileInfo = { format: 'csv', encoding: detected.encoding, delimiter, headers: [] };
  for await (const row of iterateCsv(path, info, { headerOnly: true })) {
    info.headers = row.cells.map((c) => c.trim());
    break;
  }
  if (info.headers.length === 0 || info.headers.every((h) => h === '')) throw invalidFile('the file has no header row');
  return info;
}

function bomLength(head: Buffer, encoding: Encoding): number {
  if (encoding === 'utf-8' && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 3;
  if (encoding === 'utf-16le' && head[0] === 0xff && head[1] === 0xfe) return 2;
  if (encoding === 'utf-16be' && head[0] === 0xfe && head[1] === 0xff) return 2;
  return 0;
}

/** Bytes → text in the file's encoding, streaming (a character split across chunks is kept whole). */
class DecodeStream extends Transform {
  private readonly decoder: InstanceType<typeof TextDecoder>;
  private skip: number;
  constructor(encoding: Encoding, bomBytes: number) {
    super({ readableObjectMode: false, decodeStrings: true });
    // not fatal: an invalid byte becomes U+FFFD and that row is rejected, the rest is read
    this.decoder = new TextDecoder(encoding, { fatal: false, ignoreBOM: true });
    this.skip = bomBytes;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let buf = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, buf.length);
      buf = buf.subarray(n);
      this.skip -= n;
    }
    cb(null, this.decoder.decode(buf, { stream: true }));
  }
  override _flush(cb: TransformCallback): void {
    cb(null, this.decoder.decode());
  }
}

async function* iterateCsv(path: string, info: FileInfo, opts: { headerOnly?: boolean } = {}): AsyncGenerator<FileRow> {
  const head = await readHead(path, 4);
  const source = fs.createReadStream(path, { highWaterMark: 256 * 1024 });
  const decoder = new DecodeStream(info.encoding ?? 'utf-8', bomLength(head, info.encoding ?? 'utf-8'));
  const parser = parse({
    delimiter: info.delimiter ?? ',',
    // ragged rows come through and are rejected one by one; a stray quote inside a field is text
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
    bom: false,
  });
  source.on('error', (err) => decoder.destroy(err));
  decoder.on('error', (err) => parser.destroy(err));
  source.pipe(decoder).pipe(parser);
  let n = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      n++;
      if (record.length > MAX_COLUMNS) throw invalidFile(`row ${n} has ${record.length} columns; at most ${MAX_COLUMNS} are read`, { row_number: n });
      yield { rowNumber: n, cells: record };
      if (opts.headerOnly) return;
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const e = err as { code?: string; message?: string };
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') {
      throw invalidFile(`a quoted field opened after row ${n} is never closed: the rest of the file would be one cell`, { row_number: n + 1 });
    }
    if (e.code === 'CSV_MAX_RECORD_SIZE') {
      throw invalidFile(`row ${n + 1} is larger than ${MAX_RECORD_BYTES / 1024 / 1024} MiB`, { row_number: n + 1 });
    }
    if (typeof e.code === 'string' && e.code.startsWith('CSV_')) throw invalidFile(`malformed CSV after row ${n}: ${e.message}`, { row_number: n + 1 });
    throw err;
  } finally {
    source.destroy();
    parser.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// XLSX

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localOffset: number;
}

/** The zip's central directory (names and declared sizes); ZIP64 archives are refused (over 4 GiB). */
async function readZipDirectory(path: string): Promise<ZipEntry[]> {
  const { size } = await fs.promises.stat(path);
  const tailLen = Math.min(size, 65_557);
  const fh = await fs.promises.open(path, 'r');
  try {
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw invalidFile('the file starts like a zip/XLSX but has no zip directory (truncated or damaged)');
    const count = tail.readUInt16LE(eocd + 10);
    const dirSize = tail.readUInt32LE(eocd + 12);
    const dirOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || dirOffset === 0xffffffff) throw invalidFile('ZIP64 workbooks are not supported (too large)');
    if (count > XLSX_LIMITS.maxEntries) throw invalidFile(`the workbook holds ${count} zip entries; at most ${XLSX_LIMITS.maxEntries} are accepted`);
    if (dirOffset + dirSize > size) throw invalidFile('the zip directory points outside the file (damaged)');
    const dir = Buffer.alloc(dirSize);
    await fh.read(dir, 0, dirSize, dirOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== 0x02014b50) throw invalidFile('the zip directory is damaged');
      const nameLen = dir.readUInt16LE(p + 28);
      const extraLen = dir.readUInt16LE(p + 30);
      const commentLen = dir.readUInt16LE(p + 32);
      const entry: ZipEntry = {
        method: dir.readUInt16LE(p + 10),
        compressedSize: dir.readUInt32LE(p + 20),
        uncompressedSize: dir.readUInt32LE(p + 24),
        localOffset: dir.readUInt32LE(p + 42),
        name: dir.toString('utf8', p + 46, p + 46 + nameLen),
      };
      if (entry.compressedSize === 0xffffffff || entry.uncompressedSize === 0xffffffff) throw invalidFile('ZIP64 workbooks are not supported (too large)');
      entries.push(entry);
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/**
 * Zip-bomb guard, before ExcelJS sees the file: the declared sizes must stay within the limits, and
 * every entry is then inflated into a counter that stops at its declared size (a lying header
 * cannot expand further than declared). Nothing is kept in memory.
 */
export async function checkXlsxArchive(path: string): Promise<void> {
  const entries = await readZipDirectory(path);
  if (!entries.some((e) => e.name === '[Content_Types].xml') || !entries.some((e) => e.name === 'xl/workbook.xml')) {
    throw invalidFile('the file is a zip archive but not an XLSX workbook');
  }
  let total = 0;
  for (const e of entries) {
    total += e.uncompressedSize;
    if (total > XLSX_LIMITS.maxUncompressedBytes) {
      throw invalidFile(`the workbook expands to more than ${XLSX_LIMITS.maxUncompressedBytes / 1024 / 1024} MiB`, { limit: XLSX_LIMITS.maxUncompressedBytes });
    }
    if (e.uncompressedSize > 1024 * 1024 && e.uncompressedSize > Math.max(1, e.compressedSize) * XLSX_LIMITS.maxRatio) {
      throw invalidFile(`zip entry ${e.name} expands ${Math.round(e.uncompressedSize / Math.max(1, e.compressedSize))}× (a zip bomb?); at most ${XLSX_LIMITS.maxRatio}× is accepted`);
    }
    if (e.method !== 0 && e.method !== 8) throw invalidFile(`zip entry ${e.name} uses an unsupported compression method ${e.method}`);
  }
  const fh = await fs.promises.open(path, 'r');
  try {
    for (const e of entries) {
      if (e.compressedSize === 0) continue;
      const local = Buffer.alloc(30);
      await fh.read(local, 0, 30, e.localOffset);
      if (local.readUInt32LE(0) !== 0x04034b50) throw invalidFile(`zip entry ${e.name} is damaged`);
      const start = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const raw = fs.createReadStream(path, { start, end: start + e.compressedSize - 1 });
      const expanded = await countExpanded(raw, e.method, e.uncompressedSize);
      if (expanded > e.uncompressedSize) throw invalidFile(`zip entry ${e.name} expands beyond its declared size (a zip bomb?)`);
    }
  } finally {
    await fh.close();
  }
}

function countExpanded(raw: fs.ReadStream, method: number, declared: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const src = method === 8 ? raw.pipe(zlib.createInflateRaw()) : raw;
    const stop = () => {
      raw.destroy();
      if (src !== raw) src.destroy();
    };
    src.on('data', (chunk: Buffer) => {
      n += chunk.length;
      if (n > declared) {
        stop();
        resolve(n);
      }
    });
    src.on('end', () => resolve(n));
    src.on('error', (err: Error) => {
      stop();
      reject(invalidFile(`the workbook's zip data is damaged: ${err.message}`));
    });
    raw.on('error', reject);
  });
}

/** A cell as text: formulas as their text (`=SUM(A1:A3)`), dates as ISO 8601, rich text flattened. */
function cellText(v: ExcelJS.CellValue): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) {
    const iso = v.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  const o = v as unknown as Record<string, unknown>;
  if ('formula' in o || 'sharedFormula' in o) return `=${String(o.formula ?? o.sharedFormula ?? '')}`;
  if (Array.isArray(o.richText)) return (o.richText as { text: string }[]).map((t) => t.text).join('');
  if ('text' in o) return String(o.text ?? '');
  if ('error' in o) return String(o.error);
  return '';
}

async function* iterateXlsx(path: string): AsyncGenerator<FileRow> {
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(path, {
    // styles are needed to tell a date cell from a number
    sharedStrings: 'cache', hyperlinks: 'ignore', styles: 'cache', worksheets: 'emit', entries: 'ignore',
  });
  try {
    for await (const sheet of reader) {
      for await (const row of sheet) {
        const values = (row as ExcelJS.Row).values as ExcelJS.CellValue[];
        if (values.length - 1 > MAX_COLUMNS) throw invalidFile(`row ${row.number} has ${values.length - 1} columns; at most ${MAX_COLUMNS} are read`);
        const cells: string[] = [];
        // values is 1-based and sparse
        for (let i = 1; i < values.length; i++) cells.push(cellText(values[i]));
        if (cells.every((c) => c.trim() === '')) continue;
        // the sheet's own row number, as the user sees it in the spreadsheet
        yield { rowNumber: (row as ExcelJS.Row).number, cells };
      }
      // the first worksheet only
      break;
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw invalidFile(`the workbook could not be read: ${(err as Error).message}`);
  }
}

async function readXlsxHeader(path: string): Promise<string[]> {
  for await (const row of iterateXlsx(path)) return row.cells.map((c) => c.trim());
  throw invalidFile('the workbook\'s first sheet is empty');
}

/** Every row of the file after the header, streaming; file-level problems throw AppError. */
export async function* readRows(path: string, info: FileInfo): AsyncGenerator<FileRow> {
  const rows = info.format === 'xlsx' ? iterateXlsx(path) : iterateCsv(path, info);
  let first = true;
  for await (const row of rows) {
    if (first) {
      first = false;
      continue;
    }
    yield row;
  }
}
