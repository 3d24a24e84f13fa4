import { describe, expect, it } from 'vitest';
import { AppError } from '../../lib/errors.js';
import { normalizeHeader, parseBoolean, parseDate, parseMoney, resolveMapping } from './imports.mapping.js';
import { detectDelimiter, detectEncoding } from './imports.reader.js';

describe('values', () => {
  it('reads amounts in the formats shops and spreadsheets write', () => {
    expect(parseMoney('150')).toBe(150);
    expect(parseMoney('150,5')).toBe(150.5);
    expect(parseMoney('1.234,56')).toBe(1234.56);
    expect(parseMoney('1,234.56')).toBe(1234.56);
    expect(parseMoney('1,500')).toBe(1500);
    expect(parseMoney('1.500.000')).toBe(1500000);
    expect(parseMoney('99.90 RON')).toBe(99.9);
    expect(parseMoney('lei 12')).toBe(12);
    expect(parseMoney('€ 1 234,50')).toBe(1234.5);
    expect(parseMoney('abc')).toBeUndefined();
    expect(parseMoney('')).toBeUndefined();
  });

  it('reads dates: ISO, day-first European, Excel serials; refuses impossible ones', () => {
    expect(parseDate('2025-01-10 18:30')).toBe('2025-01-10T18:30:00.000Z');
    expect(parseDate('2025-01-10T18:30:00+02:00')).toBe('2025-01-10T16:30:00.000Z');
    expect(parseDate('15.02.2025 10:00')).toBe('2025-02-15T10:00:00.000Z');
    expect(parseDate('05/03/1990', true)).toBe('1990-03-05');
    expect(parseDate('33010', true)).toBe('1990-05-17');
    expect(parseDate('31.02.1990', true)).toBeUndefined();
    expect(parseDate('1990', true)).toBeUndefined();
    expect(parseDate('yesterday')).toBeUndefined();
  });

  it('reads yes/no in English and Romanian', () => {
    expect([parseBoolean('Da'), parseBoolean('nu'), parseBoolean('YES'), parseBoolean('0'), parseBoolean('maybe')]).toEqual([true, false, true, false, undefined]);
  });
});

describe('headers', () => {
  it('normalizes case, accents and punctuation', () => {
    expect(normalizeHeader('  Adresa de E-mail ')).toBe('adresadeemail');
    expect(normalizeHeader('Oraș')).toBe('oras');
    expect(normalizeHeader('Data naşterii')).toBe('datanasterii');
  });

  it('maps synonyms, first column wins a field, explicit mapping overrides', () => {
    const m = resolveMapping('customers', ['E-mail', 'Adresa de e-mail', 'Nume', 'Prenume', 'Telefon mobil', 'Cod client', 'Observații']);
    expect(m.columns).toEqual(['email', null, 'last_name', 'first_name', 'phone', 'external_id', null]);
    expect(m.ignored).toEqual(['Adresa de e-mail', 'Observații']);
    const o = resolveMapping('customers', ['E-mail', 'Contact'], { Contact: 'phone', 'E-mail': null });
    expect(o.columns).toEqual([null, 'phone']);
  });

  it('refuses a header without identity, or an orders header without id and date', () => {
    expect(() => resolveMapping('customers', ['Prenume', 'Nume'])).toThrowError(AppError);
    try {
      resolveMapping('orders', ['Email', 'Total Paid']);
    } catch (err) {
      expect((err as AppError).code).toBe('import_header_unmappable');
      expect((err as AppError).details).toMatchObject({ missing: ['order_id', 'order_date'] });
    }
    expect(() => resolveMapping('orders', ['Email', 'Order ID', 'Order Date', 'Total Paid'])).not.toThrow();
  });
});

describe('file sniffing', () => {
  it('detects the delimiter from the header line, ignoring quoted ones', () => {
    expect(detectDelimiter('a;b;c\n1;2;3')).toBe(';');
    expect(detectDelimiter('"x;y",b,c\n')).toBe(',');
    expect(detectDelimiter('a\tb\n')).toBe('\t');
    expect(detectDelimiter('email\n')).toBe(',');
  });

  it('detects UTF-8 (with or without BOM, cut mid-character), UTF-16 and Windows-1250', () => {
    expect(detectEncoding(Buffer.from('\uFEFFemail'))).toEqual({ encoding: 'utf-8', bomBytes: 3 });
    expect(detectEncoding(Buffer.from('oraș', 'utf8').subarray(0, 4))).toEqual({ encoding: 'utf-8', bomBytes: 0 });
    expect(detectEncoding(Buffer.from([0xff, 0xfe, 0x61, 0]))).toEqual({ encoding: 'utf-16le', bomBytes: 2 });
    expect(detectEncoding(Buffer.from([0x4f, 0x72, 0x61, 0xba]))).toEqual({ encoding: 'windows-1250', bomBytes: 0 });
    expect(() => detectEncoding(Buffer.from([0x41, 0x81, 0x42, 0xff]))).toThrowError(/neither UTF-8 nor Windows-1250/);
  });
});

describe('lanes', () => {
  it('keeps rows linked by any key in one lane, in file order, and balances the rest', async () => {
    const { splitLanes } = await import('./imports.service.js');
    // rows 0 and 3 share key 1; rows 3 and 5 share key 7 (so 0, 3, 5 are one person); the others are alone
    const lanes = splitLanes([[1, 2], [3], [4], [1, 7], [5], [7]], [1, 1, 1, 1, 1, 1], 2);
    const laneOf = (row: number) => lanes.findIndex((l) => l.includes(row));
    expect(laneOf(0)).toBe(laneOf(3));
    expect(laneOf(3)).toBe(laneOf(5));
    for (const l of lanes) expect(l).toEqual([...l].sort((a, b) => a - b));
    expect(lanes.flat().sort()).toEqual([0, 1, 2, 3, 4, 5]);
    // rows 1, 2 and 4 (alone) went to the lane that was lighter when they came
    expect(lanes[laneOf(1)]).toContain(4);
    expect(laneOf(1)).not.toBe(laneOf(0));
  });
});
