import { Readable } from 'node:stream';
import type { Executor } from '../../db/database.js';
import { csvRow, UTF8_BOM } from '../../lib/csv.js';
import { isUuid } from '../../lib/cursor.js';
import { AppError } from '../../lib/errors.js';
import { findSegment, type SegmentRow } from './segments.repository.js';
import * as repo from './segments.reports.repository.js';
import { EXPORT_COLUMNS, type ExportColumn } from './segments.reports.repository.js';

/** Segment analytics and CSV export (issue 4, item 6). */

export interface ReportCtx {
  db: Executor;
  tenantId: string;
}

async function requireSegment(db: Executor, tenantId: string, id: string): Promise<SegmentRow> {
  const row = isUuid(id) ? await findSegment(db, tenantId, id) : undefined;
  if (!row) throw new AppError('segment_not_found', `segment ${id} was not found`, { id });
  return row;
}

const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null);

export const DEFAULT_ANALYTICS_DAYS = 90;

export async function segmentAnalytics(ctx: ReportCtx, id: string, q: { days?: number }) {
  const seg = await requireSegment(ctx.db, ctx.tenantId, id);
  const days = q.days ?? DEFAULT_ANALYTICS_DAYS;
  const [series, value] = await Promise.all([
    repo.sizeSeries(ctx.db, { tenantId: ctx.tenantId, segmentId: seg.id, days }),
    repo.memberValue(ctx.db, { tenantId: ctx.tenantId, segmentId: seg.id }),
  ]);
  return {
    segment_id: seg.id,
    name: seg.name,
    days,
    from: series[0]?.day ?? null,
    to: series[series.length - 1]?.day ?? null,
    members: value.members,
    customers: value.customers,
    share_of_customers: ratio(value.members, value.customers),
    total_spend: value.total_spend,
    average_spend: value.average_spend,
    average_lifetime_value: value.average_lifetime_value,
    average_predicted_clv: value.average_predicted_clv,
    predicted_clv_members: value.predicted_clv_members,
    average_clv: value.average_clv,
    entered: series.reduce((n, r) => n + r.entered, 0),
    exited: series.reduce((n, r) => n + r.exited, 0),
    series: series.map((r) => ({ date: r.day, size: r.size, entered: r.entered, exited: r.exited })),
  };
}

// ---------------------------------------------------------------------------------------------
// CSV export

export const DEFAULT_EXPORT_COLUMNS: ExportColumn[] = [
  'id', 'external_id', 'email', 'phone', 'first_name', 'last_name', 'city', 'country', 'total_orders', 'total_spend',
  'lifetime_value', 'loyalty_tier', 'tags', 'created_at',
];
/** Members read per query while streaming. */
export const EXPORT_PAGE_SIZE = 5_000;

/** `columns=a,b,c` → the whitelisted columns in that order (duplicates dropped); unknown → 400. */
export function parseExportColumns(input: string | undefined): ExportColumn[] {
  if (input === undefined || input.trim() === '') return DEFAULT_EXPORT_COLUMNS;
  const names = input.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !Object.hasOwn(EXPORT_COLUMNS, n));
  if (unknown.length) {
    throw new AppError('validation_failed', `unknown export column(s): ${unknown.join(', ')}`, {
      field: 'columns', unknown, allowed: Object.keys(EXPORT_COLUMNS),
    });
  }
  return [...new Set(names)] as ExportColumn[];
}

/** A file name safe in a header: the segment name without accents, anything but letters, digits, `.`, `_`, `-` as `-`. */
export function exportFileName(segmentName: string): string {
  const base = segmentName.normalize('NFKD').replace(/\p{M}+/gu, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100);
  return `segment-${base || 'export'}.csv`;
}

export interface SegmentExport {
  fileName: string;
  /** RFC 6266 `filename*` value: the original name, UTF-8 percent-encoded. */
  fileNameUtf8: string;
  stream: Readable;
}

/**
 * Checks the segment and the columns first (so errors are ordinary 4xx answers), then answers a
 * stream that writes the BOM and header, and the live members in keyset pages of `pageSize`
 * (customer id order) as they are read. Each page is its own statement: no transaction stays open
 * while a slow client reads; a member that joins or leaves during the export may or may not appear.
 */
export async function exportMembers(
  ctx: ReportCtx,
  id: string,
  q: { columns?: string },
  opts: { pageSize?: number } = {},
): Promise<SegmentExport> {
  const seg = await requireSegment(ctx.db, ctx.tenantId, id);
  const columns = parseExportColumns(q.columns);
  const pageSize = opts.pageSize ?? EXPORT_PAGE_SIZE;
  const trusted = columns.map((c) => !EXPORT_COLUMNS[c].text);
  const { db, tenantId } = ctx;
  async function* lines(): AsyncGenerator<string> {
    yield UTF8_BOM + csvRow(columns, columns.map(() => true));
    let after: string | null = null;
    for (;;) {
      const rows = await repo.exportPage(db, { tenantId, segmentId: seg.id, columns, after, limit: pageSize });
      if (rows.length === 0) return;
      yield rows.map((r) => csvRow(r.values, trusted)).join('');
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1].k;
    }
  }
  const fileName = exportFileName(seg.name);
  return {
    fileName,
    fileNameUtf8: encodeURIComponent(`segment-${seg.name}.csv`).replace(/['()*!]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`),
    stream: Readable.from(lines(), { objectMode: false, encoding: 'utf8' }),
  };
}
