import { sql, type Executor, pgErrorCode, PG_UNIQUE_VIOLATION } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import type { Role } from './auth.types.js';

export interface TenantRow {
  id: string;
  name: string;
  currency: string;
  timezone: string;
  created_at: Date;
}

export interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  role: Role;
  key_prefix: string;
  created_by: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface UserRow {
  id: string;
  tenant_id: string;
  email: string;
  name: string | null;
  role: Role;
  password_hash: string;
  created_at: Date;
  last_login_at: Date | null;
  disabled_at: Date | null;
}

export async function insertTenant(db: Executor, t: { name: string; currency: string; timezone?: string }): Promise<TenantRow> {
  const row = await db.one<TenantRow>(sql`
    INSERT INTO tenants (name, currency, timezone) VALUES (${t.name}, ${t.currency}, ${t.timezone ?? 'Europe/Bucharest'})
    RETURNING id, name, currency, timezone, created_at`);
  return row!;
}

export async function findTenant(db: Executor, id: string): Promise<TenantRow | undefined> {
  return db.one<TenantRow>(sql`SELECT id, name, currency, timezone, created_at FROM tenants WHERE id = ${id}::uuid`);
}

export async function listTenants(db: Executor): Promise<TenantRow[]> {
  return db.rows<TenantRow>(sql`SELECT id, name, currency, timezone, created_at FROM tenants ORDER BY created_at, id`);
}

export async function insertApiKey(
  db: Executor,
  k: { tenantId: string; name: string; role: Role; keyPrefix: string; keyHash: string; createdBy: string | null },
): Promise<ApiKeyRow> {
  const row = await db.one<ApiKeyRow>(sql`
    INSERT INTO api_keys (tenant_id, name, role, key_prefix, key_hash, created_by)
    VALUES (${k.tenantId}, ${k.name}, ${k.role}, ${k.keyPrefix}, ${k.keyHash}, ${k.createdBy})
    ON CONFLICT (key_hash) DO NOTHING
    RETURNING id, tenant_id, name, role, key_prefix, created_by, created_at, last_used_at, revoked_at`);
  return row!;
}

export async function findApiKeyByHash(db: Executor, keyHash: string): Promise<ApiKeyRow | undefined> {
  return db.one<ApiKeyRow>(sql`
    SELECT id, tenant_id, name, role, key_prefix, created_by, created_at, last_used_at, revoked_at
    FROM api_keys WHERE key_hash = ${keyHash}`);
}

export async function listApiKeys(db: Executor, tenantId: string): Promise<ApiKeyRow[]> {
  return db.rows<ApiKeyRow>(sql`
    SELECT id, tenant_id, name, role, key_prefix, created_by, created_at, last_used_at, revoked_at
    FROM api_keys WHERE tenant_id = ${tenantId} ORDER BY created_at, id`);
}

export async function revokeApiKey(db: Executor, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  return db.one<ApiKeyRow>(sql`
    UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
    WHERE tenant_id = ${tenantId} AND id = ${id}::uuid
    RETURNING id, tenant_id, name, role, key_prefix, created_by, created_at, last_used_at, revoked_at`);
}

/**
 * The key of a request, by hash, and its use recorded, in one round trip: last_used_at is written
 * at most once a minute per key (and never for a revoked key), so authentication is not a write
 * per request.
 */
export async function useApiKey(
  db: Executor,
  keyHash: string,
): Promise<Pick<ApiKeyRow, 'id' | 'tenant_id' | 'role' | 'revoked_at'> | undefined> {
  return db.one(sql`
    WITH k AS (
      SELECT id, tenant_id, role, revoked_at FROM api_keys WHERE key_hash = ${keyHash}
    ),
    touch AS (
      UPDATE api_keys a SET last_used_at = now()
      FROM k
      WHERE a.tenant_id = k.tenant_id AND a.id = k.id AND k.revoked_at IS NULL
        AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')
    )
    SELECT id, tenant_id, role, revoked_at FROM k`);
}

export async function insertUser(
  db: Executor,
  u: { tenantId: string; email: string; name: string | null; role: Role; passwordHash: string },
): Promise<UserRow> {
  try {
    const row = await db.one<UserRow>(sql`
      INSERT INTO users (tenant_id, email, name, role, password_hash)
      VALUES (${u.tenantId}, ${u.email}, ${u.name}, ${u.role}, ${u.passwordHash})
      RETURNING *`);
    return row!;
  } catch (err) {
    if (pgErrorCode(err) === PG_UNIQUE_VIOLATION) throw new AppError('user_exists', `a user with e-mail ${u.email} already exists`);
    throw err;
  }
}

export async function listUsers(db: Executor, tenantId: string): Promise<UserRow[]> {
  return db.rows<UserRow>(sql`SELECT * FROM users WHERE tenant_id = ${tenantId} ORDER BY created_at, id`);
}

/** Locks the tenant's users (in id order) so two admins cannot each remove the other's admin role. */
export async function lockUsers(db: Executor, tenantId: string): Promise<void> {
  await db.run(sql`SELECT id FROM users WHERE tenant_id = ${tenantId} ORDER BY id FOR UPDATE`);
}

export async function updateUser(
  db: Executor,
  tenantId: string,
  id: string,
  u: { name?: string | null; role?: Role; disabled?: boolean },
): Promise<UserRow | undefined> {
  return db.one<UserRow>(sql`
    UPDATE users SET
      name = ${u.name === undefined ? sql`name` : sql`${u.name}`},
      role = ${u.role === undefined ? sql`role` : sql`${u.role}`},
      disabled_at = ${u.disabled === undefined ? sql`disabled_at` : u.disabled ? sql`coalesce(disabled_at, now())` : sql`NULL`}
    WHERE tenant_id = ${tenantId} AND id = ${id}::uuid
    RETURNING *`);
}

/** Ends every session of a user (disabled, or the role changed: the next request logs in again). */
export async function deleteUserSessions(db: Executor, tenantId: string, userId: string): Promise<void> {
  await db.run(sql`DELETE FROM sessions WHERE tenant_id = ${tenantId} AND user_id = ${userId}::uuid`);
}

export async function findUsersByEmail(db: Executor, email: string): Promise<UserRow[]> {
  return db.rows<UserRow>(sql`SELECT * FROM users WHERE email = ${email} ORDER BY created_at`);
}

export async function findUser(db: Executor, tenantId: string, id: string): Promise<UserRow | undefined> {
  return db.one<UserRow>(sql`SELECT * FROM users WHERE tenant_id = ${tenantId} AND id = ${id}::uuid`);
}

export async function recordLogin(db: Executor, tenantId: string, userId: string): Promise<void> {
  await db.run(sql`UPDATE users SET last_login_at = now() WHERE tenant_id = ${tenantId} AND id = ${userId}::uuid`);
}

export async function insertSession(
  db: Executor,
  s: { tokenHash: string; tenantId: string; userId: string; ttlHours: number },
): Promise<{ expires_at: Date }> {
  const row = await db.one<{ expires_at: Date }>(sql`
    INSERT INTO sessions (token_hash, tenant_id, user_id, expires_at)
    VALUES (${s.tokenHash}, ${s.tenantId}, ${s.userId}, now() + make_interval(hours => ${s.ttlHours}))
    RETURNING expires_at`);
  return row!;
}

export async function findSession(db: Executor, tokenHash: string): Promise<(UserRow & { expires_at: Date }) | undefined> {
  return db.one(sql`
    SELECT u.*, s.expires_at FROM sessions s
    JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
    WHERE s.token_hash = ${tokenHash} AND s.expires_at > now() AND u.disabled_at IS NULL`);
}

export async function deleteSession(db: Executor, tokenHash: string): Promise<void> {
  await db.run(sql`DELETE FROM sessions WHERE token_hash = ${tokenHash}`);
}

export async function deleteExpiredSessions(db: Executor): Promise<number> {
  return db.run(sql`DELETE FROM sessions WHERE expires_at <= now()`);
}

/** Serializes first-start bootstrap between processes (held until the transaction ends). */
export async function lockBootstrap(db: Executor): Promise<void> {
  await db.run(sql`SELECT pg_advisory_xact_lock(7418220002)`);
}
