import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where `src/main.ts` (the `crm` command) is run from. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Settings a child `crm` must not inherit from the test runner: each test says which database it uses. */
const ISOLATED = [
  'DATABASE_URL', 'DATA_DIR', 'PORT', 'CRM_BOOTSTRAP_API_KEY', 'CRM_BOOTSTRAP_ADMIN_EMAIL', 'CRM_BOOTSTRAP_ADMIN_PASSWORD',
  'RETENTION_INACTIVE_YEARS',
];

/** The environment of a child `crm`: the runner's own (PATH, HOME), minus database settings, plus `env`. */
export function crmEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ISOLATED) delete base[name];
  return { ...base, LOG_LEVEL: 'warn', ...env };
}

export interface CrmRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `crm` command (node + tsx loader) to its end. */
export function runCrm(args: string[], env: Record<string, string> = {}): Promise<CrmRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: crmEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
