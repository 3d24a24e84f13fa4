import { inject } from 'vitest';
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { migrate } from '../db/migrate.js';
import { buildApp, type CrmApp } from '../app.js';
import { createApiKey, createTenant } from '../modules/auth/auth.service.js';
import type { Role } from '../modules/auth/auth.types.js';

/**
 * Tests run against a real database: an in-memory PGlite per test file by default, or the
 * PostgreSQL at TEST_DATABASE_URL. Each test makes its own tenant instead of truncating tables.
 */
export async function openTestDatabase(): Promise<Database> {
  const url = inject('testDatabaseUrl') || null;
  const db = await openDatabase({ url, dataDir: null, poolSize: 5 });
  await migrate(db);
  return db;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: '/tmp/crm-test-unused', ...overrides });
}

export interface TestTenant {
  tenantId: string;
  /** admin API key */
  apiKey: string;
  /** Authorization headers for the admin key. */
  headers: { authorization: string };
  /** Makes another key for this tenant with the given role and answers its headers. */
  keyFor(role: Role): Promise<{ authorization: string }>;
}

export async function createTestTenant(db: Database, name = 'Test tenant'): Promise<TestTenant> {
  const { tenant, apiKey } = await createTenant(db, { name, currency: 'RON' });
  return {
    tenantId: tenant.id,
    apiKey,
    headers: { authorization: `Bearer ${apiKey}` },
    async keyFor(role: Role) {
      const created = await createApiKey(db, { tenantId: tenant.id, name: `${role} key`, role, createdBy: 'test' });
      return { authorization: `Bearer ${created.apiKey}` };
    },
  };
}

export interface TestContext {
  db: Database;
  app: CrmApp;
  config: Config;
  close(): Promise<void>;
}

/** A started app on its own database; call close() in afterAll. */
export async function createTestApp(configOverrides: Record<string, string> = {}): Promise<TestContext> {
  const db = await openTestDatabase();
  const config = testConfig(configOverrides);
  const app = await buildApp({ config, db, logger: false });
  await app.ready();
  return {
    db,
    app,
    config,
    async close() {
      await app.close();
      await db.close();
    },
  };
}
