import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import { csvRow, neutralizeFormula, UTF8_BOM } from '../../lib/csv.js';
import { AppError } from '../../lib/errors.js';
import { recordAudit } from '../audit/audit.service.js';
import type { Role } from '../auth/auth.types.js';
import { customerFilters } from '../customers/customers.service.js';
import type { CustomerExportQuery, OrderExportQuery } from './exports.schemas.js';
import * as repo from './exports.repository.js';

/**
 * Customer and order exports to CSV or XLSX (issue 6, item 2), streamed: keyset pages of PAGE_SIZE
 * rows, each its own statement (no transaction stays open while a slow client reads), written
 * through csv rows or ExcelJS's streaming WorkbookWriter as they arrive. Text cells a spreadsheet
 * would read as a formula get a leading `'` (lib/csv.ts), in both formats.
 */

export const PAGE_SIZE = 5_000;
export type ExportFormat = 'csv' | 'xlsx';

export const DEFAULT_CUSTOMER_COLUMNS = [
  'id', 'external_id', 'email', 'phone', 'first_name', 'last_name', 'company_name', 'customer_type', 'status', 'gender',
  'date_of_birth', 'city', 'state', 'country', 'postal_code', 'marketing_email', 'marketing_sms', 'tags', 'loyalty_tier',
  'total_orders', 'total_spend', 'lifetime_value', 'last_purchase', 'created_at',
];
export const DEFAULT_ORDER_COLUMNS = [
  'order_id', 'order_date', 'status', 'total', 'refunded_amount', 'currency', 'tickets', 'source', 'external_id', 'email', 'phone',
  'first_name', 'last_name', 'crm_customer_id',
];

export interface ExportCtx {
  db: Database;
  config: Config;
  tenantId: string;
  role: Role;
  actor: string;
  requestId?: string | null;
}

export interface ExportResult {
  fileName: string;
  contentType: string;
  stream: Readable;
}

/** `columns=a,b,c` → those whitelisted columns in order (duplicates dropped); unknown → 400. */
export function parseColumns(input: string | undefined, allowed: Record<string, repo.ColumnSpec>, defaults: string[]): string[] {
  if (input === undefined || input.trim() === '') return defaults;
  const names = input.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !Object.hasOwn(allowed, n));
  if (unknown.length || names.length === 0) {
    throw new AppError('validation_failed', `unknown export column(s): ${unknown.join(', ')}`, { field: 'columns', unknown, allowed: Object.keys(allowed) });
  }
  return [...new Set(names)];
}

type Page = { k: string; values: (string | null)[] }[];

/** Streams header + pages as CSV or XLSX. */
function writeRows(format: ExportFormat, columns: string[], specs: Record<string, repo.ColumnSpec>, next: (after: string | null) => Promise<Page>): Readable {
  const trusted = columns.map((c) => !specs[c].text);
  if (format === 'csv') {
    async function* lines(): AsyncGenerator<string> {
      yield UTF8_BOM + csvRow(columns, columns.map(() => true));
      let after: string | null = null;
      for (;;) {
        const rows = await next(after);
        if (rows.length === 0) return;
        yield rows.map((r) => csvRow(r.values, trusted)).join('');
        if (rows.length < PAGE_SIZE) return;
        after = rows[rows.length - 1].k;
      }
    }
    return Readable.from(lines(), { objectMode: false, encoding: 'utf8' });
  }
  const out = new PassThrough();
  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useSharedStrings: false, useStyles: false });
  const sheet = workbook.addWorksheet('export');
  const numeric = columns.map((c) => specs[c].number === true);
  void (async () => {
    sheet.addRow(columns).commit();
    let after: string | null = null;
    for (;;) {
      const rows = await next(after);
      for (const r of rows) {
        sheet.addRow(r.values.map((v, i) => {
          if (v === null) return null;
          if (numeric[i] && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
          return trusted[i] ? v : neutralizeFormula(v);
        })).commit();
      }
      if (rows.length < PAGE_SIZE) break;
      after = rows[rows.length - 1].k;
      // a slow reader: wait instead of buffering the workbook in memory
      while (out.writableNeedDrain && !out.destroyed) await once(out, 'drain');
      if (out.destroyed) return;
    }
    sheet.commit();
    await workbook.commit();
  })().catch((err) => out.destroy(err as Error));
  return out;
}

const stamp = () => new Date().toISOString().slice(0, 10);

export async function exportCustomers(ctx: ExportCtx, q: CustomerExportQuery): Promise<ExportResult> {
  const format: ExportFormat = q.format ?? 'csv';
  const columns = parseColumns(q.columns, repo.CUSTOMER_COLUMNS, DEFAULT_CUSTOMER_COLUMNS);
  const { format: _f, columns: _c, ...filterQuery } = q;
  const filtered = Object.values(filterQuery).some((v) => v !== undefined && v !== '');
  // DESIGN §5: employees export a segment or a filtered list, never the whole database
  if (!filtered && ctx.role !== 'admin') {
    throw new AppError('forbidden', 'exporting every customer needs the admin role; pass a segment_id or a filter', { required: 'admin' });
  }
  if (q.segment_id && !(await repo.segmentExists(ctx.db, ctx.tenantId, q.segment_id))) {
    throw new AppError('segment_not_found', `segment ${q.segment_id} was not found`, { id: q.segment_id });
  }
  const filters = customerFilters(ctx.config, filterQuery);
  await recordAudit(ctx.db, {
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'export.customers', entityType: 'export', entityId: null,
    after: { format, columns, filters: filterQuery },
  });
  const { db, tenantId } = ctx;
  return {
    fileName: `customers-${stamp()}.${format}`,
    contentType: contentTypeOf(format),
    stream: writeRows(format, columns, repo.CUSTOMER_COLUMNS, (after) => repo.customerPage(db, { tenantId, filters, columns, after, limit: PAGE_SIZE })),
  };
}

export async function exportOrders(ctx: ExportCtx, q: OrderExportQuery): Promise<ExportResult> {
  const format: ExportFormat = q.format ?? 'csv';
  const columns = parseColumns(q.columns, repo.ORDER_COLUMNS, DEFAULT_ORDER_COLUMNS);
  const filters: repo.OrderFilters = { segmentId: q.segment_id, status: q.status, placedAfter: q.placed_after, placedBefore: q.placed_before };
  const filtered = Object.values(filters).some((v) => v !== undefined);
  if (!filtered && ctx.role !== 'admin') {
    throw new AppError('forbidden', 'exporting every order needs the admin role; pass a segment_id, a status or a date range', { required: 'admin' });
  }
  if (q.segment_id && !(await repo.segmentExists(ctx.db, ctx.tenantId, q.segment_id))) {
    throw new AppError('segment_not_found', `segment ${q.segment_id} was not found`, { id: q.segment_id });
  }
  await recordAudit(ctx.db, {
    tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId ?? null, action: 'export.orders', entityType: 'export', entityId: null,
    after: { format, columns, filters },
  });
  const { db, tenantId } = ctx;
  return {
    fileName: `orders-${stamp()}.${format}`,
    contentType: contentTypeOf(format),
    stream: writeRows(format, columns, repo.ORDER_COLUMNS, (after) => repo.orderPage(db, { tenantId, filters, columns, after, limit: PAGE_SIZE })),
  };
}

function contentTypeOf(format: ExportFormat): string {
  return format === 'csv' ? 'text/csv; charset=utf-8' : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
}
