import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Database } from './database.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
// Any constant shared by every process that migrates this database: it serializes concurrent starts.
const MIGRATION_LOCK_KEY = 7_418_220_001;

export interface Migration {
  version: string;
  name: string;
  sql: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: file.slice(0, 4),
      name: file.replace(/\.sql$/, ''),
      sql: fs.readFileSync(path.join(dir, file), 'utf8'),
    }));
}

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory lock so that
 * several processes starting at once against one PostgreSQL apply each migration exactly once.
 * Answers the names of the migrations it applied.
 */
export async function migrate(db: Database, migrations = listMigrations()): Promise<string[]> {
  // Even CREATE TABLE IF NOT EXISTS races between processes on a fresh database: lock first.
  await db.transaction(async (tx) => {
    await tx.run(sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
    await tx.run(sql`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  });
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.run(sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      const exists = await tx.one(sql`SELECT 1 AS x FROM schema_migrations WHERE version = ${m.version}`);
      if (exists) return false;
      // Migration files are plain SQL, applied statement by statement inside this transaction.
      for (const statement of splitStatements(m.sql)) await tx.run(sql.raw(statement));
      await tx.run(sql`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`);
      return true;
    });
    if (done) applied.push(m.name);
  }
  return applied;
}

/**
 * Splits a migration file into statements on semicolons at the end of a line, outside
 * dollar-quoted bodies. Migrations keep one statement per `;`-terminated block.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let inDollar = false;
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!inDollar && (trimmed.startsWith('--') || trimmed === '')) {
      if (current.length) current.push(line);
      continue;
    }
    current.push(line);
    const dollars = line.match(/\$\$/g)?.length ?? 0;
    if (dollars % 2 === 1) inDollar = !inDollar;
    if (!inDollar && /;\s*(--.*)?$/.test(line)) {
      const stmt = current.join('\n').trim();
      if (stmt) out.push(stmt);
      current = [];
    }
  }
  const rest = current.join('\n').trim();
  if (rest && !/^(--.*\s*)*$/.test(rest)) out.push(rest);
  return out;
}
