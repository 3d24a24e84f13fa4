import type { Command } from 'commander';
import type { CliHelpers } from '../imports/imports.cli.js';

/** `crm audit verify`: recomputes the hash chain of one tenant (or every tenant); exit code 1 when broken. */
export function registerAuditCommands(program: Command, h: CliHelpers): void {
  program
    .command('audit')
    .description('the tamper-evident audit trail')
    .command('verify')
    .description('recompute the audit hash chain and report the first broken link (exit code 1 when broken)')
    .option('--tenant <id|name>', 'one tenant (default: every tenant)')
    .option('--json', 'print JSON')
    .action(async (opts: { tenant?: string; json?: boolean }) => {
      await h.withDatabase('audit verify', async (db) => {
        // loaded here, like main.ts does: `crm --help` should not load the database code
        const { listTenants } = await import('../auth/auth.service.js');
        const { verifyAuditChain } = await import('./audit.service.js');
        const tenants = opts.tenant ? [await h.resolveTenant(db, opts.tenant)] : await listTenants(db);
        let broken = 0;
        for (const t of tenants) {
          const result = await verifyAuditChain(db, t.id);
          if (!result.ok) broken++;
          if (opts.json) {
            process.stdout.write(JSON.stringify({ tenant_id: t.id, ...result }) + '\n');
          } else if (result.ok) {
            process.stdout.write(`tenant "${t.name}" (${t.id}): chain intact, ${result.checked} entries checked\n`);
          } else {
            process.stdout.write(`tenant "${t.name}" (${t.id}): BROKEN at entry ${result.first_broken!.chain_seq}: ${result.first_broken!.message}\n`);
          }
        }
        if (broken > 0) process.exitCode = 1;
      });
    });
}
