import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import type { TenantRow } from '../auth/auth.repository.js';

/**
 * `crm import customers|orders FILE` and `crm export customers|orders`: argument parsing and
 * printing only; the work is the imports/exports services the API uses.
 */

export interface CliHelpers {
  withDatabase<T>(command: string, fn: (db: Database, config: Config) => Promise<T>): Promise<T>;
  resolveTenant(db: Database, ref: string | undefined): Promise<TenantRow>;
}

const kind = (value: string): 'customers' | 'orders' => {
  if (value !== 'customers' && value !== 'orders') throw new InvalidArgumentError('customers or orders');
  return value;
};

function mappingArg(value: string): Record<string, string | null> {
  const text = value.startsWith('@') ? fs.readFileSync(value.slice(1), 'utf8') : value;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, string | null>;
  } catch {
    throw new InvalidArgumentError('a JSON object {"column header": "field"}, or @file.json');
  }
}

export function registerImportExportCommands(program: Command, h: CliHelpers): void {
  program
    .command('import')
    .description('import customers or orders from a CSV or XLSX file (upsert by external id, e-mail, phone)')
    .argument('<type>', 'customers or orders', kind)
    .argument('<file>', 'the .csv or .xlsx file')
    .option('--mapping <json>', 'column header → field, as JSON or @file.json (null ignores a column)', mappingArg)
    .option('--dry-run', 'validate and count only; nothing is written')
    .addOption(new Option('--encoding <name>', 'CSV encoding (default: detected)').choices(['utf-8', 'windows-1250', 'windows-1252', 'iso-8859-2', 'utf-16le', 'utf-16be']))
    .addOption(new Option('--delimiter <char>', 'CSV delimiter (default: detected)').choices([',', ';', '\t', '|', 'tab']))
    .option('--errors <file>', 'write the rejected rows (with the reason) to this CSV file')
    .option('--tenant <id|name>', 'tenant (default: the only one)')
    .option('--json', 'print the outcome as JSON')
    .action(async (type: 'customers' | 'orders', file: string, opts: {
      mapping?: Record<string, string | null>; dryRun?: boolean; encoding?: string; delimiter?: string; errors?: string; tenant?: string; json?: boolean;
    }) => {
      if (!fs.existsSync(file)) throw new InvalidArgumentError(`no file ${file}`);
      await h.withDatabase('import', async (db, config) => {
        const service = await import('./imports.service.js');
        const t = await h.resolveTenant(db, opts.tenant);
        const { id, filePath } = await service.newUploadPath(config);
        // the service removes its copy when done; the user's file stays
        await fs.promises.copyFile(file, filePath);
        const cliProgress = process.stderr.isTTY && !opts.json ? (await import('cli-progress')).default : null;
        const bar = cliProgress
          ? new cliProgress.SingleBar({ format: `import ${type} [{bar}] {percentage}% | {value}/{total} rows | {eta_formatted} left`, hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
          : null;
        let started = false;
        const outcome = await (async () => {
          try {
            return await service.createImport(
              { db, config, tenantId: t.id, actor: 'cli' },
              {
                id, type, filePath, fileName: path.basename(file), dryRun: opts.dryRun ?? false, mapping: opts.mapping,
                encoding: opts.encoding as never, delimiter: opts.delimiter === 'tab' ? '\t' : opts.delimiter, wait: true,
                onProgress: (done, total) => {
                  if (!bar) return;
                  if (!started) {
                    bar.start(total, done);
                    started = true;
                  } else bar.update(done);
                },
              },
            );
          } finally {
            bar?.stop();
          }
        })();
        if (opts.errors && outcome.rejected > 0) {
          const { stream } = await service.importErrorsCsv({ db, tenantId: t.id }, outcome.id);
          await pipeline(stream, fs.createWriteStream(opts.errors));
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify(outcome) + '\n');
        } else {
          const lines = [
            `Import ${outcome.id} of ${file} (${outcome.format}${outcome.encoding ? `, ${outcome.encoding}` : ''}) into "${t.name}": ${outcome.status}${outcome.dry_run ? ' (dry run, nothing written)' : ''}`,
            `  rows: ${outcome.total_rows}; created ${outcome.created}, updated ${outcome.updated}, unchanged ${outcome.unchanged}, rejected ${outcome.rejected}`,
            `  columns: ${Object.entries(outcome.mapping).map(([k, v]) => `${k} → ${v ?? '(ignored)'}`).join(', ')}`,
          ];
          if (outcome.error) lines.push(`  error: ${outcome.error.message}`);
          if (outcome.rejected > 0) lines.push(opts.errors ? `  rejected rows written to ${opts.errors}` : '  pass --errors FILE to get the rejected rows with their reason');
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (outcome.status === 'failed') process.exitCode = 1;
      });
    });

  program
    .command('export')
    .description('export customers or orders to CSV or XLSX (streamed)')
    .argument('<type>', 'customers or orders', kind)
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'xlsx']).default('csv'))
    .option('--segment <id>', 'only the members of this segment (orders: of its members)')
    .option('--columns <list>', 'comma-separated columns, in order')
    .option('--out <file>', 'write to this file (default: standard output)')
    .option('--tenant <id|name>', 'tenant (default: the only one)')
    .action(async (type: 'customers' | 'orders', opts: { format: 'csv' | 'xlsx'; segment?: string; columns?: string; out?: string; tenant?: string }) => {
      await h.withDatabase('export', async (db, config) => {
        const service = await import('../exports/exports.service.js');
        const t = await h.resolveTenant(db, opts.tenant);
        const ctx = { db, config, tenantId: t.id, role: 'admin' as const, actor: 'cli' };
        const q = { format: opts.format, columns: opts.columns, segment_id: opts.segment };
        const out = type === 'customers' ? await service.exportCustomers(ctx, q) : await service.exportOrders(ctx, q);
        await pipeline(out.stream, opts.out ? fs.createWriteStream(opts.out) : process.stdout);
        if (opts.out) process.stderr.write(`wrote ${opts.out}\n`);
      });
    });
}
