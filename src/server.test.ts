import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from './config.js';
import { LOCK_FILE, openDatabaseFor } from './db/lock.js';
import { listApiKeys, listTenants } from './modules/auth/auth.service.js';
import { crmEnv, ROOT, runCrm } from './test/cli.js';

/**
 * `crm serve` / `crm worker` as real child processes: real HTTP on a free port, real signals.
 */

const pgUrl = inject('testDatabaseUrl') || null;
const tmpDirs: string[] = [];
// Several process starts per test (~2–5 s each, more on a busy machine).
const SLOW = { timeout: 300_000 };
const children = new Set<ChildProcessWithoutNullStreams>();

afterEach(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-serve-test-'));
  tmpDirs.push(dir);
  return dir;
}

const childEnv = (env: Record<string, string>) => crmEnv({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env });

interface Running {
  child: ChildProcessWithoutNullStreams;
  port: number;
  base: string;
  stdout(): string;
  stderr(): string;
  logs(): Array<Record<string, any>>;
  exited: Promise<number | null>;
}

/** Starts `crm <command>` and resolves once it logs that it is listening (serve) or working (worker). */
function start(command: 'serve' | 'worker', env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', command], { cwd: ROOT, env: childEnv(env) });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const logs = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`crm ${command} did not start:\n${stdout}\n${stderr}`)), 180_000);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      const ready = logs().find((l) => l.msg === (command === 'serve' ? 'Encore CRM is listening' : 'job worker started'));
      if (ready) {
        clearTimeout(timer);
        const port = ready.port ?? 0;
        resolve({ child, port, base: `http://127.0.0.1:${port}`, stdout: () => stdout, stderr: () => stderr, logs, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`crm ${command} exited with ${code} before it was ready:\n${stdout}\n${stderr}`));
    });
  });
}

async function get(url: string, key?: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(url, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // text answers (/metrics)
  }
  return { status: res.status, body, text };
}

/**
 * A request whose body is still arriving when the server is told to stop: headers and half
 * the body now, the rest when `finish` is called. Resolves with the status the server answered.
 */
function slowRequest(port: number): { finish(): void; response: Promise<number> } {
  const body = JSON.stringify({ email: 'nobody@example.com', password: 'not-the-password' });
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/crm/auth/login', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const response = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, 10));
  return { finish: () => req.end(body.slice(10)), response };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('crm serve on the embedded database', () => {
  it('serves, refuses a second process, drains on SIGTERM, and bootstraps idempotently across restarts', SLOW, async () => {
    const dir = tempDir();
    const key = `crm_test_${crypto.randomBytes(24).toString('base64url')}`;
    const env = { DATA_DIR: dir, CRM_BOOTSTRAP_API_KEY: key, SHUTDOWN_DELAY_MS: '700' };

    const s = await start('serve', env);
    expect(s.stdout()).not.toContain(key); // a configured key is never printed

    const ready = await get(`${s.base}/readyz`);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', database: 'pglite' } });
    expect((await get(`${s.base}/healthz`)).status).toBe(200);
    const me = await get(`${s.base}/api/crm/auth/me`, key);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ role: 'admin' });
    expect((await get(`${s.base}/api/crm/auth/me`)).status).toBe(401);
    const metrics = await get(`${s.base}/metrics`);
    expect(metrics.text).toContain('crm_http_request_duration_seconds');
    const openapi = await get(`${s.base}/docs/json`);
    expect(openapi.body.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.body.paths)).toContain('/api/crm/auth/me');

    // The lock file names the server; a CLI command on the same directory is refused.
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8'))).toMatchObject({ pid: s.child.pid, command: 'crm serve', port: s.port });
    const blocked = await runCrm(['tenant', 'list'], { DATA_DIR: dir });
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain(`is in use by \`crm serve\` (pid ${s.child.pid}, port ${s.port})`);

    // Graceful shutdown: readiness goes 503 first, an in-flight request still gets its answer.
    const inflight = slowRequest(s.port);
    await sleep(100);
    s.child.kill('SIGTERM');
    await sleep(200);
    const draining = await get(`${s.base}/readyz`);
    expect(draining).toMatchObject({ status: 503, body: { status: 'shutting_down' } });
    inflight.finish();
    expect(await inflight.response).toBe(401); // answered (wrong password), not cut off
    expect(await s.exited).toBe(0);
    expect(s.logs().map((l) => l.msg)).toEqual(expect.arrayContaining(['signal received', 'stopped']));
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);

    // Restart with the same key: the same tenant, no second key, nothing printed.
    const again = await start('serve', env);
    expect((await get(`${again.base}/api/crm/auth/me`, key)).body.tenant_id).toBe(me.body.tenant_id);
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);

    const opened = await openDatabaseFor(loadConfig({ DATA_DIR: dir }), 'test');
    try {
      const tenants = await listTenants(opened.db);
      expect(tenants.map((t) => t.id)).toEqual([me.body.tenant_id]);
      expect(await listApiKeys(opened.db, tenants[0].id)).toHaveLength(1);
    } finally {
      await opened.close();
    }
  });

  it('the first start on an empty database prints a new admin key once; the next start does not', SLOW, async () => {
    const dir = tempDir();
    const first = await start('serve', { DATA_DIR: dir, CRM_BOOTSTRAP_ADMIN_EMAIL: 'admin@example.com', CRM_BOOTSTRAP_ADMIN_PASSWORD: 'admin-password' });
    const printed = first.stdout().match(/^\s+(crm_[A-Za-z0-9_-]{20,})\s*$/m)?.[1];
    expect(printed).toBeTruthy();
    expect(first.stdout()).toContain('shown this once');
    expect((await get(`${first.base}/api/crm/auth/me`, printed)).status).toBe(200);
    // The bootstrap admin user can log in.
    const login = await fetch(`${first.base}/api/crm/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@example.com', password: 'admin-password' }),
    });
    expect(login.status).toBe(200);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);

    const second = await start('serve', { DATA_DIR: dir });
    expect(second.stdout()).not.toMatch(/crm_[A-Za-z0-9_-]{20,}/);
    expect((await get(`${second.base}/api/crm/auth/me`, printed)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('crm worker runs the jobs without HTTP and stops on SIGTERM', SLOW, async () => {
    const dir = tempDir();
    const w = await start('worker', { DATA_DIR: dir });
    expect(w.logs().some((l) => l.msg === 'Server listening' || /listening/i.test(l.msg))).toBe(false);
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')).command).toBe('crm worker');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
  });
});

// Runs in the PostgreSQL pass of the suite (TEST_DATABASE_URL), which CI always makes.
if (pgUrl) describe('crm serve on PostgreSQL', () => {
  it('starts on DATABASE_URL (a database of its own), bootstraps, and stops cleanly', SLOW, async () => {
    const name = `crm_serve_test_${Date.now()}_${crypto.randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgUrl! });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(pgUrl!);
    url.pathname = `/${name}`;
    try {
      const key = `crm_test_${crypto.randomBytes(24).toString('base64url')}`;
      const dir = tempDir();
      const s = await start('serve', { DATABASE_URL: url.toString(), DATA_DIR: dir, CRM_BOOTSTRAP_API_KEY: key });
      expect((await get(`${s.base}/readyz`)).body).toMatchObject({ status: 'ready', database: 'postgres' });
      expect((await get(`${s.base}/api/crm/auth/me`, key)).status).toBe(200);
      // No lock on PostgreSQL: CLI commands run next to the server.
      expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
      const list = await runCrm(['tenant', 'list', '--json'], { DATABASE_URL: url.toString() });
      expect(list.code).toBe(0);
      expect(JSON.parse(list.stdout)).toHaveLength(1);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
