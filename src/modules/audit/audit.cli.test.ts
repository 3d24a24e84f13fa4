import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { sql } from '../../db/database.js';
import { openDatabaseFor } from '../../db/lock.js';
import { runCrm } from '../../test/cli.js';

/** `crm audit verify` and `crm privacy retention` as real child processes (like src/cli.test.ts). */
const pgUrl = inject('testDatabaseUrl') || null;
const SLOW = { timeout: 240_000 };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('crm audit verify', () => {
  it('reports an intact chain, then a tampered entry with exit code 1', SLOW, async () => {
    let env: Record<string, string>;
    if (pgUrl) env = { DATABASE_URL: pgUrl };
    else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-audit-cli-'));
      dirs.push(dir);
      env = { DATA_DIR: dir };
    }
    const created = await runCrm(['tenant', 'create', '--name', 'Audit CLI', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const { tenant_id: tenantId } = JSON.parse(created.stdout);

    const intact = await runCrm(['audit', 'verify', '--tenant', tenantId, '--json'], env);
    expect(intact.code, intact.stderr).toBe(0);
    expect(JSON.parse(intact.stdout)).toMatchObject({ tenant_id: tenantId, ok: true, checked: 2 });

    const opened = await openDatabaseFor(loadConfig({ LOG_LEVEL: 'silent', ...env }), 'test');
    try {
      await opened.db.transaction(async (tx) => {
        await tx.run(sql`SET LOCAL session_replication_role = replica`);
        await tx.run(sql`UPDATE audit_log SET actor = 'intruder' WHERE tenant_id = ${tenantId}::uuid AND action = 'tenant.create'`);
      });
    } finally {
      await opened.close();
    }
    const broken = await runCrm(['audit', 'verify', '--tenant', tenantId], env);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/BROKEN at entry 1/);

    const retention = await runCrm(['privacy', 'retention', '--tenant', tenantId], env);
    expect(retention.code).toBe(1);
    expect(retention.stderr).toMatch(/RETENTION_INACTIVE_YEARS/);
    const run = await runCrm(['privacy', 'retention', '--years', '2', '--tenant', tenantId, '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ inactive_years: 2, tenants: [{ tenant_id: tenantId, customers_erased: 0 }] });
  });
});
