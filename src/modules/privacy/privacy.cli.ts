import { InvalidArgumentError, type Command } from 'commander';
import type { CliHelpers } from '../imports/imports.cli.js';
import { AppError } from '../../lib/errors.js';

const years = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100) throw new InvalidArgumentError('a number of years from 1 to 100');
  return Number(value);
};

/** `crm privacy retention`: the retention job, now (e.g. before enabling it, or from an external scheduler). */
export function registerPrivacyCommands(program: Command, h: CliHelpers): void {
  program
    .command('privacy')
    .description('GDPR tasks')
    .command('retention')
    .description('anonymise customers inactive for N years now (the same erasure as POST /customers/{id}/erase)')
    .option('--years <n>', 'inactivity in years (default: RETENTION_INACTIVE_YEARS)', years)
    .option('--tenant <id|name>', 'one tenant (default: every tenant)')
    .option('--json', 'print JSON')
    .action(async (opts: { years?: number; tenant?: string; json?: boolean }) => {
      await h.withDatabase('privacy retention', async (db, config) => {
        const inactiveYears = opts.years ?? config.retentionInactiveYears;
        if (inactiveYears <= 0) throw new AppError('validation_failed', 'give --years or set RETENTION_INACTIVE_YEARS');
        const { runRetention } = await import('./privacy.service.js');
        const tenantId = opts.tenant ? (await h.resolveTenant(db, opts.tenant)).id : undefined;
        const result = await runRetention(db, { inactiveYears, tenantId, actor: 'cli' });
        if (opts.json) {
          process.stdout.write(JSON.stringify(result) + '\n');
          return;
        }
        const total = result.tenants.reduce((n, t) => n + t.customers_erased, 0);
        process.stdout.write(`Anonymised ${total} customer(s) inactive since before ${result.cutoff} in ${result.tenants.length} tenant(s).\n`);
      });
    });
}
