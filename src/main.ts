import { Command, InvalidArgumentError, Option } from 'commander';
import { inspect } from 'node:util';
import { ConfigError, loadConfig, type Config } from './config.js';
import type { Database } from './db/database.js';
import { DatabaseLockedError, displayPath } from './db/lock.js';
import { AppError } from './lib/errors.js';
import { ROLES, type Role } from './modules/auth/auth.types.js';
import type { TenantRow } from './modules/auth/auth.repository.js';
import { registerImportExportCommands } from './modules/imports/imports.cli.js';
import { registerAuditCommands } from './modules/audit/audit.cli.js';
import { registerPrivacyCommands } from './modules/privacy/privacy.cli.js';
import { registerDedupeCommands } from './modules/dedupe/dedupe.cli.js';

/**
 * The `crm` command. Commands parse arguments, call the same services the API uses, and print;
 * the rules live in the modules (DESIGN §4.3). Exit codes: 0 done, 1 error (configuration,
 * bad arguments, refused by a service), 2 the embedded database is held by another process.
 */

const EXIT_ERROR = 1;
const EXIT_LOCKED = 2;

/** An error the user can act on: printed as one line, exit code 1. */
class CliError extends Error {}

/** What to suggest when another process holds the embedded database, by command. */
const LOCK_HINTS: Record<string, string> = {
  'api-key create': 'Stop it first, create the key through the API (POST /api/crm/api-keys with an admin key), or point DATABASE_URL at PostgreSQL.',
  demo: 'Stop it first, send the events through the API (POST /api/crm/events), or point DATABASE_URL at PostgreSQL.',
  import: 'Stop it first, upload the file through the API (POST /api/crm/imports), or point DATABASE_URL at PostgreSQL.',
  export: 'Stop it first, download through the API (GET /api/crm/exports/customers or /exports/orders), or point DATABASE_URL at PostgreSQL.',
  'dedupe scan': 'Stop it first, start the scan through the API (POST /api/crm/duplicates/scan), or point DATABASE_URL at PostgreSQL.',
  serve: 'Stop it first, or point DATABASE_URL at PostgreSQL to run several processes on one database.',
  worker: 'Stop it first: with the embedded database `crm serve` already runs the worker; point DATABASE_URL at PostgreSQL to run separate workers.',
};
const DEFAULT_LOCK_HINT = 'Stop it first, or point DATABASE_URL at PostgreSQL.';

function config(): Config {
  return loadConfig();
}

function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Runs fn with the configured database open (locked and migrated), then closes it. */
async function withDatabase<T>(command: string, fn: (db: Database, config: Config) => Promise<T>): Promise<T> {
  const cfg = config();
  const { openDatabaseFor } = await import('./db/lock.js');
  const { migrate } = await import('./db/migrate.js');
  const opened = await openDatabaseFor(cfg, `crm ${command}`, { poolSize: 4 });
  try {
    // A command on a fresh data directory works without a separate `crm migrate`.
    const applied = await migrate(opened.db);
    if (applied.length) process.stderr.write(`applied migrations: ${applied.join(', ')}\n`);
    return await fn(opened.db, cfg);
  } finally {
    await opened.close();
  }
}

/** --tenant accepts an id or an exact name; without it, the only tenant. */
async function resolveTenant(db: Database, ref: string | undefined): Promise<TenantRow> {
  const { listTenants } = await import('./modules/auth/auth.service.js');
  const tenants = await listTenants(db);
  if (ref) {
    const byId = tenants.find((t) => t.id === ref);
    if (byId) return byId;
    const byName = tenants.filter((t) => t.name === ref);
    if (byName.length === 1) return byName[0];
    if (byName.length > 1) throw new CliError(`several tenants are named "${ref}": give the id (crm tenant list)`);
    throw new CliError(`no tenant "${ref}" (crm tenant list shows them)`);
  }
  if (tenants.length === 0) throw new CliError('there is no tenant yet: create one with `crm tenant create --name NAME` or start the server once');
  if (tenants.length > 1) {
    throw new CliError(`there are ${tenants.length} tenants: choose one with --tenant ID (crm tenant list shows them)`);
  }
  return tenants[0];
}

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(value);
  };
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('must be an integer');
  return Number(value);
}

function isoDate(value: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InvalidArgumentError('must be an ISO 8601 date, e.g. 2026-11-01');
  return d;
}

const roleOption = () => new Option('--role <role>', 'admin (everything), employee (no deletion), viewer (read only)').choices(ROLES).makeOptionMandatory();

function keyBanner(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length)) + 2;
  const rule = '='.repeat(Math.min(width, 100));
  return ['', rule, ...lines.map((l) => ` ${l}`), rule, ''].join('\n') + '\n';
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------------------
// serve / worker
// ---------------------------------------------------------------------------------------------

async function runService(mode: 'serve' | 'worker'): Promise<void> {
  const cfg = config();
  const { startService, handleShutdownSignals, createLogger } = await import('./server.js');
  const log = createLogger(cfg);
  const service = await startService(cfg, {
    mode,
    logger: log,
    onBootstrap: (boot) => {
      if (!boot.printedKey) return;
      const host = cfg.host === '0.0.0.0' || cfg.host === '::' ? 'localhost' : cfg.host;
      process.stdout.write(
        keyBanner([
          'Encore CRM: first start on an empty database.',
          `Created tenant "${cfg.bootstrap.tenantName}" (${boot.tenantId}) with an admin API key.`,
          'The key is shown this once and stored only as a hash; keep it now:',
          '',
          `    ${boot.printedKey}`,
          '',
          `Try: curl -H "Authorization: Bearer ${boot.printedKey}" http://${host}:${cfg.port}/api/crm/auth/me`,
        ]),
      );
    },
  });
  handleShutdownSignals(service, cfg, log);
  if (mode === 'serve') log.info({ port: service.port, docs: `/docs`, worker: cfg.runWorker }, 'Encore CRM is listening');
}

// ---------------------------------------------------------------------------------------------
// The program
// ---------------------------------------------------------------------------------------------

export function buildProgram(): Command {
  const program = new Command('crm')
    .description('Encore CRM: customer profiles, event ingestion and loyalty for event organizers.\nConfiguration comes from the environment (see README: PORT, DATA_DIR, DATABASE_URL, …).')
    .showHelpAfterError('(crm --help lists the commands)')
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('serve')
    .description('run the HTTP API and the job worker (what `npm start` runs)')
    .action(() => runService('serve'));

  program
    .command('worker')
    .description('run only the job worker, no HTTP (scale out on PostgreSQL)')
    .action(() => runService('worker'));

  program
    .command('migrate')
    .description('apply pending database migrations')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const cfg = config();
      const { openDatabaseFor } = await import('./db/lock.js');
      const { migrate, listMigrations } = await import('./db/migrate.js');
      const opened = await openDatabaseFor(cfg, 'crm migrate');
      try {
        const applied = await migrate(opened.db);
        const where = cfg.databaseUrl ? 'PostgreSQL' : `the embedded database in ${displayPath(cfg.dataDir)}`;
        if (opts.json) printJson({ applied, total: listMigrations().length });
        else if (applied.length === 0) process.stdout.write(`No pending migrations: ${where} is up to date (${listMigrations().length} applied).\n`);
        else process.stdout.write(`Applied ${applied.length} migration(s) to ${where}:\n${applied.map((m) => `  ${m}\n`).join('')}`);
      } finally {
        await opened.close();
      }
    });

  // --- tenants --------------------------------------------------------------------------------
  const tenant = program.command('tenant').description('manage tenants (organizers)');
  tenant
    .command('create')
    .description('create a tenant and its first admin API key (printed once)')
    .requiredOption('--name <name>', 'tenant name')
    .option('--currency <code>', 'ISO 4217 currency of the tenant (default DEFAULT_CURRENCY)')
    .option('--json', 'print {"tenant_id", "api_key"}')
    .action(async (opts: { name: string; currency?: string; json?: boolean }) => {
      const name = opts.name.trim();
      if (!name) throw new CliError('--name must not be empty');
      const currency = opts.currency?.trim().toUpperCase();
      if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) throw new CliError(`--currency must be an ISO 4217 code such as RON or EUR, got "${opts.currency}"`);
      await withDatabase('tenant create', async (db, cfg) => {
        const { createTenant } = await import('./modules/auth/auth.service.js');
        const { tenant: t, apiKey } = await createTenant(db, { name, currency: currency ?? cfg.defaultCurrency });
        if (opts.json) printJson({ tenant_id: t.id, api_key: apiKey });
        else process.stdout.write(`Created tenant "${t.name}" (${t.id}, ${t.currency}). Admin API key (shown once): ${apiKey}\n`);
      });
    });
  tenant
    .command('list')
    .description('list tenants')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase('tenant list', async (db) => {
        const { listTenants } = await import('./modules/auth/auth.service.js');
        const tenants = await listTenants(db);
        if (opts.json) {
          printJson(tenants.map((t) => ({ tenant_id: t.id, name: t.name, currency: t.currency, timezone: t.timezone, created_at: t.created_at.toISOString() })));
        } else if (tenants.length === 0) {
          process.stdout.write('No tenants yet (crm tenant create --name NAME).\n');
        } else {
          for (const t of tenants) process.stdout.write(`${t.id}  ${t.currency}  ${t.created_at.toISOString()}  ${t.name}\n`);
        }
      });
    });

  // --- users ----------------------------------------------------------------------------------
  program
    .command('user')
    .description('manage users who log in to the admin UI')
    .command('create')
    .description('create a user (e-mail + password) in a tenant')
    .requiredOption('--email <email>', 'login e-mail')
    .requiredOption('--password <password>', 'at least 8 characters')
    .addOption(roleOption())
    .option('--tenant <id|name>', 'tenant (default: the only one)')
    .option('--name <name>', 'display name')
    .option('--json', 'print JSON')
    .action(async (opts: { email: string; password: string; role: Role; tenant?: string; name?: string; json?: boolean }) => {
      await withDatabase('user create', async (db) => {
        const { createUser } = await import('./modules/auth/auth.service.js');
        const t = await resolveTenant(db, opts.tenant);
        const user = await createUser(db, { tenantId: t.id, email: opts.email, password: opts.password, role: opts.role, name: opts.name ?? null, actor: 'cli' });
        if (opts.json) printJson({ user_id: user.id, tenant_id: t.id, email: user.email, name: user.name, role: user.role });
        else process.stdout.write(`Created ${user.role} user ${user.email} (${user.id}) in tenant "${t.name}".\n`);
      });
    });

  // --- API keys -------------------------------------------------------------------------------
  program
    .command('api-key')
    .description('manage API keys')
    .command('create')
    .description('create an API key (printed once, stored hashed)')
    .requiredOption('--name <name>', 'what the key is for')
    .addOption(roleOption())
    .option('--tenant <id|name>', 'tenant (default: the only one)')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; role: Role; tenant?: string; json?: boolean }) => {
      await withDatabase('api-key create', async (db) => {
        const { createApiKey } = await import('./modules/auth/auth.service.js');
        const t = await resolveTenant(db, opts.tenant);
        const { key, apiKey } = await createApiKey(db, { tenantId: t.id, name: opts.name, role: opts.role, createdBy: 'cli' });
        if (opts.json) printJson({ api_key_id: key.id, tenant_id: t.id, name: key.name, role: key.role, api_key: apiKey });
        else process.stdout.write(`Created ${key.role} API key "${key.name}" (${key.id}) for tenant "${t.name}" (shown once): ${apiKey}\n`);
      });
    });

  // --- demo data ------------------------------------------------------------------------------
  program
    .command('demo')
    .description('fill a tenant with a deterministic demo dataset through the ingestion path')
    .option('--customers <n>', 'number of customers', positiveInt('--customers'), 1000)
    .option('--seed <n>', 'random seed (same seed, same data)', integer, 42)
    .option('--now <date>', 'time anchor: every event happens before it (default: today 00:00 UTC)', isoDate)
    .option('--tenant <id|name>', 'tenant (default: the only one; on an empty database one is created)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { customers: number; seed: number; now?: Date; tenant?: string; json?: boolean }) => {
      await withDatabase('demo', (db, cfg) => runDemo(db, cfg, opts));
    });

  // --- import / export ------------------------------------------------------------------------
  registerImportExportCommands(program, { withDatabase, resolveTenant });

  // --- audit trail and GDPR ------------------------------------------------------------------
  registerAuditCommands(program, { withDatabase, resolveTenant });
  registerPrivacyCommands(program, { withDatabase, resolveTenant });

  // --- duplicates -----------------------------------------------------------------------------
  registerDedupeCommands(program, { withDatabase, resolveTenant });

  return program;
}

async function runDemo(db: Database, cfg: Config, opts: { customers: number; seed: number; now?: Date; tenant?: string; json?: boolean }): Promise<void> {
  const { generateBatches } = await import('./modules/demo/demo.generator.js');
  const { ingestAndSegment } = await import('./modules/ingest/ingest.pipeline.js');
  const { bootstrap, listTenants } = await import('./modules/auth/auth.service.js');

  // On a fresh database the demo creates the first tenant, exactly as the first `crm serve` would.
  let createdKey: string | null = null;
  if (!opts.tenant && (await listTenants(db)).length === 0) {
    const boot = await bootstrap(db, { ...cfg.bootstrap, currency: cfg.defaultCurrency });
    createdKey = boot.printedKey;
  }
  const t = await resolveTenant(db, opts.tenant);
  const now = opts.now ?? new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z');

  const cliProgress = process.stderr.isTTY && !opts.json ? (await import('cli-progress')).default : null;
  const bar = cliProgress
    ? new cliProgress.SingleBar(
        { format: 'demo [{bar}] {percentage}% | {value}/{total} customers | {events} events | {eta_formatted} left', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(opts.customers, 0, { events: 0 });

  const started = Date.now();
  const totals = { events: 0, accepted: 0, duplicates: 0, rejected: 0 };
  const reasons = new Map<string, { count: number; example: string }>();
  try {
    for (const batch of generateBatches({ customers: opts.customers, seed: opts.seed, now })) {
      const result = await ingestAndSegment(db, { tenantId: t.id, config: cfg, actor: 'system:demo' }, batch);
      totals.events += batch.length;
      totals.accepted += result.accepted;
      totals.duplicates += result.duplicates;
      totals.rejected += result.rejected;
      if (result.rejected > 0) {
        for (const r of result.results) {
          if (r.status !== 'rejected') continue;
          const code = r.code ?? 'rejected';
          const seen = reasons.get(code);
          reasons.set(code, { count: (seen?.count ?? 0) + 1, example: seen?.example ?? r.reason ?? '' });
        }
      }
      // The generator emits customer after customer, numbered u_1, u_2, …: the last one is the progress.
      const done = Number(/^u_(\d+)$/.exec(batch[batch.length - 1].customer.external_id)?.[1]);
      if (Number.isFinite(done)) bar?.update(done, { events: totals.events });
    }
    bar?.update(opts.customers, { events: totals.events });
  } finally {
    bar?.stop();
  }
  const ms = Date.now() - started;
  const summary = {
    tenant_id: t.id,
    customers: opts.customers,
    seed: opts.seed,
    now: now.toISOString(),
    events: totals.events,
    accepted: totals.accepted,
    duplicates: totals.duplicates,
    rejected: totals.rejected,
    rejected_by_code: Object.fromEntries([...reasons].map(([code, r]) => [code, r.count])),
    duration_ms: ms,
    events_per_second: ms > 0 ? Math.round((totals.events / ms) * 1000) : null,
    ...(createdKey ? { api_key: createdKey } : {}),
  };
  if (opts.json) {
    printJson(summary);
    return;
  }
  const lines = [
    `Demo data for tenant "${t.name}" (${t.id}): ${opts.customers} customers, seed ${opts.seed}, events up to ${summary.now}`,
    `  events:     ${totals.events} (accepted ${totals.accepted}, duplicate ${totals.duplicates}, rejected ${totals.rejected})`,
    `  time:       ${formatDuration(ms)}${summary.events_per_second !== null ? ` (${summary.events_per_second} events/s)` : ''}`,
  ];
  for (const [code, r] of [...reasons].sort((a, b) => b[1].count - a[1].count).slice(0, 5)) {
    lines.push(`  rejected:   ${r.count} × ${code}${r.example ? ` (e.g. ${r.example})` : ''}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (createdKey) process.stdout.write(keyBanner(['Created the first tenant on this empty database. Admin API key (shown once):', '', `    ${createdKey}`]));
}

function report(err: unknown): number {
  const out = (line: string) => process.stderr.write(`crm: ${line}\n`);
  if (err instanceof ConfigError) {
    out(`configuration error: ${err.message}`);
    return EXIT_ERROR;
  }
  if (err instanceof DatabaseLockedError) {
    const command = err.holder.command.replace(/^crm /, '');
    const hint = LOCK_HINTS[currentCommand] ?? DEFAULT_LOCK_HINT;
    const api = err.holder.port && command === 'serve' ? ` Its API is at http://localhost:${err.holder.port}.` : '';
    out(`${err.message}.${api} ${hint}`);
    return EXIT_LOCKED;
  }
  if (err instanceof CliError) {
    out(err.message);
    return EXIT_ERROR;
  }
  if (err instanceof AppError) {
    out(`${err.message} (${err.code})`);
    return EXIT_ERROR;
  }
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND' || e?.code === '3D000' || e?.code === '28P01') {
    out(`cannot connect to PostgreSQL (DATABASE_URL): ${e.message}`);
    return EXIT_ERROR;
  }
  if (e?.code === 'EADDRINUSE' || e?.code === 'EACCES') {
    out(`cannot listen: ${e.message} (set PORT or HOST)`);
    return EXIT_ERROR;
  }
  process.stderr.write(`crm: unexpected error: ${(err as Error)?.stack ?? inspect(err)}\n`);
  return EXIT_ERROR;
}

/** "tenant create", "demo", … for messages that depend on the command. */
let currentCommand = '';

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.hook('preAction', (_this, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c && c !== program; c = c.parent) names.unshift(c.name());
    currentCommand = names.join(' ');
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err);
    // A failed start may leave timers or sockets behind; nothing else should run.
    process.exit(process.exitCode);
  }
}

await main();
