import type { Command } from 'commander';
import type { CliHelpers } from '../imports/imports.cli.js';

/** `crm dedupe scan`: the full duplicate scan of one tenant, in this process (as the dedupe.scan job runs it). */
export function registerDedupeCommands(program: Command, h: CliHelpers): void {
  program
    .command('dedupe')
    .description('duplicate detection')
    .command('scan')
    .description('run a full duplicate scan of a tenant now and print what it found')
    .option('--tenant <id|name>', 'tenant (default: the only one)')
    .option('--json', 'print JSON')
    .action(async (opts: { tenant?: string; json?: boolean }) => {
      await h.withDatabase('dedupe scan', async (db, cfg) => {
        // loaded here, like main.ts does: `crm --help` should not load the database code
        const { insertScan, findScan } = await import('./dedupe.repository.js');
        const { runScan } = await import('./dedupe.service.js');
        const t = await h.resolveTenant(db, opts.tenant);
        const started = Date.now();
        const scan = await insertScan(db, t.id, 'cli');
        await runScan(db, cfg, t.id, scan.id);
        const done = (await findScan(db, t.id, scan.id))!;
        if (opts.json) process.stdout.write(JSON.stringify({ tenant_id: t.id, ...done }) + '\n');
        else {
          process.stdout.write(`tenant "${t.name}": ${done.status}, ${done.pairs ?? 0} candidate pairs, `
            + `${done.auto_merged ?? 0} customers auto-merged in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        }
        if (done.status !== 'completed') process.exitCode = 1;
      });
    });
}
