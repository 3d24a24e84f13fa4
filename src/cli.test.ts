import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { acquireDataDirLock, DatabaseLockedError, LOCK_FILE, openDatabaseFor } from './db/lock.js';
import { runCrm } from './test/cli.js';

/**
 * The real `crm` command in child processes (node + tsx loader), on a temporary DATA_DIR, or on
 * the test PostgreSQL when TEST_DATABASE_URL is set.
 */

const pgUrl = inject('testDatabaseUrl') || null;
const tmpDirs: string[] = [];
// Each command is a fresh Node process opening the database (~1–3 s, more on a busy machine).
const SLOW = { timeout: 240_000 };

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-cli-test-'));
  tmpDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});




/** Where the CLI under test keeps its data: a fresh DATA_DIR, or the test PostgreSQL. */
function backendEnv(): Record<string, string> {
  return pgUrl ? { DATABASE_URL: pgUrl } : { DATA_DIR: tempDir() };
}

describe('crm CLI', () => {
  it('tenant create --json prints tenant_id and api_key, and the key works against the API', SLOW, async () => {
    const env = backendEnv();
    const r = await runCrm(['tenant', 'create', '--name', 'Filarmonica', '--currency', 'eur', '--json'], env);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['api_key', 'tenant_id']);
    expect(out.api_key).toMatch(/^crm_/);

    // After the CLI exits, the same data directory (or database) serves the key.
    const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
    const opened = await openDatabaseFor(config, 'test');
    const app = await buildApp({ config, db: opened.db, logger: false });
    try {
      const me = await app.inject({ method: 'GET', url: '/api/crm/auth/me', headers: { authorization: `Bearer ${out.api_key}` } });
      expect(me.statusCode).toBe(200);
      expect(me.json()).toMatchObject({ tenant_id: out.tenant_id, role: 'admin' });
    } finally {
      await app.close();
      await opened.close();
    }
  });

  it('user create and api-key create work on the only tenant and ask for --tenant when there are several', SLOW, async () => {
    const env = pgUrl ? { DATA_DIR: tempDir() } : backendEnv(); // needs a database with a known number of tenants
    const first = JSON.parse((await runCrm(['tenant', 'create', '--name', 'Jazz Club', '--json'], env)).stdout);

    const user = await runCrm(['user', 'create', '--email', ' Ana@Exemplu.RO ', '--password', 'parola-lunga', '--role', 'employee', '--name', 'Ana', '--json'], env);
    expect(user.code).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ tenant_id: first.tenant_id, email: 'ana@exemplu.ro', role: 'employee', name: 'Ana' });

    const dup = await runCrm(['user', 'create', '--email', 'ana@exemplu.ro', '--password', 'parola-lunga', '--role', 'viewer'], env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already exists');

    await runCrm(['tenant', 'create', '--name', 'Teatrul Mic', '--json'], env);
    const ambiguous = await runCrm(['api-key', 'create', '--name', 'ci', '--role', 'viewer'], env);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('there are 2 tenants: choose one with --tenant');

    const key = await runCrm(['api-key', 'create', '--name', 'ci', '--role', 'viewer', '--tenant', 'Jazz Club', '--json'], env);
    expect(key.code).toBe(0);
    expect(JSON.parse(key.stdout)).toMatchObject({ tenant_id: first.tenant_id, name: 'ci', role: 'viewer', api_key: expect.stringMatching(/^crm_/) });

    const list = await runCrm(['tenant', 'list', '--json'], env);
    expect(JSON.parse(list.stdout).map((t: { name: string }) => t.name)).toEqual(['Jazz Club', 'Teatrul Mic']);

    const badRole = await runCrm(['api-key', 'create', '--name', 'x', '--role', 'owner'], env);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toContain("argument 'owner' is invalid");
  });

  it('migrate applies the migrations once; the second run applies nothing', SLOW, async () => {
    const env = backendEnv();
    const first = await runCrm(['migrate', '--json'], env);
    expect(first.code).toBe(0);
    const firstOut = JSON.parse(first.stdout);
    if (!pgUrl) expect(firstOut.applied.length).toBe(firstOut.total);
    const second = await runCrm(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('No pending migrations');
  });

  it('demo fills a fresh data directory through ingestion, deterministically (a second run is all duplicates)', SLOW, async () => {
    const env = { DATA_DIR: tempDir() };
    const first = await runCrm(['demo', '--customers', '15', '--seed', '7', '--now', '2026-06-01', '--json'], env);
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a).toMatchObject({ customers: 15, seed: 7, now: '2026-06-01T00:00:00.000Z', rejected: 0, duplicates: 0 });
    expect(a.events).toBeGreaterThan(15);
    expect(a.accepted).toBe(a.events);
    // An empty database got its first tenant and the key is printed once.
    expect(a.api_key).toMatch(/^crm_/);

    const second = await runCrm(['demo', '--customers', '15', '--seed', '7', '--now', '2026-06-01', '--json'], env);
    const b = JSON.parse(second.stdout);
    expect(b).toMatchObject({ tenant_id: a.tenant_id, events: a.events, accepted: 0, duplicates: a.events, rejected: 0 });
    expect(b.api_key).toBeUndefined();
  });

  it('a bad configuration value is one clear line and exit code 1', async () => {
    const r = await runCrm(['serve'], { DATA_DIR: tempDir(), PORT: 'abc' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('crm: configuration error: PORT must be an integer, got "abc"');
  });
});

describe('embedded database lock', () => {
  it('a command exits with code 2 and names the holder while a live process holds the data directory', SLOW, async () => {
    const dir = tempDir();
    // This test process plays the running server.
    const lock = acquireDataDirLock(dir, { command: 'crm serve', port: 8084 });
    try {
      const r = await runCrm(['api-key', 'create', '--name', 'x', '--role', 'viewer'], { DATA_DIR: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`is in use by \`crm serve\` (pid ${process.pid}, port 8084)`);
      expect(r.stderr).toContain('POST /api/crm/api-keys');
      expect(r.stderr).toContain('DATABASE_URL');
      // The holder's lock is untouched and nothing was created in the directory.
      expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
      expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
      // The same process cannot take it twice either.
      expect(() => acquireDataDirLock(dir, { command: 'crm demo' })).toThrow(DatabaseLockedError);
    } finally {
      lock.release();
    }
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('a stale lock (its process is gone) is taken over, and the lock is released on exit', SLOW, async () => {
    const dir = tempDir();
    const dead = spawn(process.execPath, ['-e', '0']);
    const deadPid = dead.pid!;
    await new Promise((r) => dead.on('close', r));
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, command: 'crm serve', port: 8084, hostname: os.hostname(), started_at: new Date().toISOString() }));

    const r = await runCrm(['tenant', 'create', '--name', 'After crash', '--json'], { DATA_DIR: dir });
    expect(r.stderr).not.toContain('crm:');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).tenant_id).toBeTruthy();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('an unreadable, old lock file is taken over too', () => {
    const dir = tempDir();
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const lock = acquireDataDirLock(dir, { command: 'crm migrate' });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'crm migrate' });
    lock.update({ port: 9000 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).port).toBe(9000);
    lock.release();
    expect(fs.existsSync(file)).toBe(false);
  });
});
