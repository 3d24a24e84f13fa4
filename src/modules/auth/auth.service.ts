import type { Database, Executor } from '../../db/database.js';
import { AppError } from '../../lib/errors.js';
import { normalizeEmail } from '../../lib/contact.js';
import { hashPassword, newToken, sha256, verifyPassword } from '../../lib/secrets.js';
import { recordAudit } from '../audit/audit.service.js';
import { insertDefaultTiers } from '../loyalty/loyalty.repository.js';
import * as repo from './auth.repository.js';
import type { AuthContext, Role } from './auth.types.js';

const KEY_PREFIX = 'crm_';
const SESSION_PREFIX = 'crms_';

export interface CreatedKey {
  key: repo.ApiKeyRow;
  /** The secret itself; shown once, stored only as a hash. */
  apiKey: string;
}

export async function createTenant(
  db: Executor,
  input: { name: string; currency: string; apiKey?: string | null },
): Promise<{ tenant: repo.TenantRow; apiKey: string }> {
  return db.transaction(async (tx) => {
    const tenant = await repo.insertTenant(tx, { name: input.name, currency: input.currency });
    await insertDefaultTiers(tx, tenant.id);
    await recordAudit(tx, {
      tenantId: tenant.id, actor: 'system', action: 'tenant.create', entityType: 'tenant', entityId: tenant.id,
      after: { name: tenant.name, currency: tenant.currency },
    });
    const created = await createApiKey(tx, {
      tenantId: tenant.id, name: 'admin', role: 'admin', createdBy: 'system', secret: input.apiKey ?? undefined,
    });
    return { tenant, apiKey: created.apiKey };
  });
}

export async function createApiKey(
  db: Executor,
  input: { tenantId: string; name: string; role: Role; createdBy: string | null; secret?: string; requestId?: string | null },
): Promise<CreatedKey> {
  const apiKey = input.secret ?? newToken(KEY_PREFIX);
  return db.transaction(async (tx) => {
    const key = await repo.insertApiKey(tx, {
      tenantId: input.tenantId,
      name: input.name,
      role: input.role,
      keyPrefix: apiKey.slice(0, 12),
      keyHash: sha256(apiKey),
      createdBy: input.createdBy,
    });
    if (!key) throw new AppError('conflict', 'that API key is already registered');
    // the key itself never enters the trail
    await recordAudit(tx, {
      tenantId: input.tenantId, actor: input.createdBy ?? 'system', requestId: input.requestId ?? null,
      action: 'api_key.create', entityType: 'api_key', entityId: key.id, after: { name: key.name, role: key.role, key_prefix: key.key_prefix },
    });
    return { key, apiKey };
  });
}

export async function listApiKeys(db: Executor, tenantId: string) {
  return repo.listApiKeys(db, tenantId);
}

export async function revokeApiKey(db: Executor, auth: AuthContext, id: string, requestId?: string | null) {
  return db.transaction(async (tx) => {
    const key = await repo.revokeApiKey(tx, auth.tenantId, id);
    if (!key) throw new AppError('api_key_not_found', `API key ${id} was not found`, { id });
    await recordAudit(tx, {
      tenantId: auth.tenantId, actor: auth.actor, requestId: requestId ?? null, action: 'api_key.revoke', entityType: 'api_key', entityId: key.id,
      before: { name: key.name, role: key.role, key_prefix: key.key_prefix }, after: { revoked_at: key.revoked_at },
    });
    return key;
  });
}

export async function authenticateApiKey(db: Executor, apiKey: string): Promise<AuthContext | null> {
  const key = await repo.useApiKey(db, sha256(apiKey));
  if (!key || key.revoked_at) return null;
  return { tenantId: key.tenant_id, role: key.role, actor: `key:${key.id}`, apiKeyId: key.id };
}

export async function createUser(
  db: Executor,
  input: { tenantId: string; email: string; password: string; role: Role; name?: string | null; actor?: string; requestId?: string | null },
): Promise<repo.UserRow> {
  const email = normalizeEmail(input.email);
  if (!email) throw new AppError('invalid_email', `"${input.email}" is not a valid e-mail address`);
  if (input.password.length < 8) throw new AppError('validation_failed', 'password must be at least 8 characters');
  if (!(await repo.findTenant(db, input.tenantId))) throw new AppError('tenant_not_found', `tenant ${input.tenantId} was not found`);
  const passwordHash = await hashPassword(input.password);
  return db.transaction(async (tx) => {
    const user = await repo.insertUser(tx, { tenantId: input.tenantId, email, name: input.name ?? null, role: input.role, passwordHash });
    await recordAudit(tx, {
      tenantId: input.tenantId, actor: input.actor ?? 'system', requestId: input.requestId ?? null, action: 'user.create', entityType: 'user',
      entityId: user.id, after: { email: user.email, name: user.name, role: user.role },
    });
    return user;
  });
}

export async function login(
  db: Executor,
  input: { email: string; password: string; tenantId?: string; ttlHours: number },
): Promise<{ user: repo.UserRow; token: string; expiresAt: Date }> {
  const email = normalizeEmail(input.email);
  const candidates = email ? await repo.findUsersByEmail(db, email) : [];
  const matching = candidates.filter((u) => !u.disabled_at && (!input.tenantId || u.tenant_id === input.tenantId));
  if (matching.length > 1) {
    throw new AppError('validation_failed', 'this e-mail belongs to several tenants: give tenant_id', {
      tenants: matching.map((u) => u.tenant_id),
    });
  }
  const user = matching[0];
  // Verify against a dummy hash when there is no user, so timing does not reveal which e-mails exist.
  const ok = await verifyPassword(input.password, user?.password_hash ?? DUMMY_HASH);
  if (!user || !ok) throw new AppError('invalid_credentials', 'wrong e-mail or password');
  const token = newToken(SESSION_PREFIX);
  const session = await repo.insertSession(db, { tokenHash: sha256(token), tenantId: user.tenant_id, userId: user.id, ttlHours: input.ttlHours });
  await repo.recordLogin(db, user.tenant_id, user.id);
  return { user, token, expiresAt: session.expires_at };
}

const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export async function authenticateSession(db: Executor, token: string): Promise<(AuthContext & { user: repo.UserRow }) | null> {
  const user = await repo.findSession(db, sha256(token));
  if (!user) return null;
  return { tenantId: user.tenant_id, role: user.role, actor: `user:${user.id}`, userId: user.id, user };
}

export async function logout(db: Executor, token: string): Promise<void> {
  await repo.deleteSession(db, sha256(token));
}

export async function findUser(db: Executor, tenantId: string, id: string) {
  const user = await repo.findUser(db, tenantId, id);
  if (!user) throw new AppError('user_not_found', `user ${id} was not found`);
  return user;
}

/** A user as the API shows it: never the password hash. */
export function toUser(u: repo.UserRow) {
  return {
    id: u.id, email: u.email, name: u.name, role: u.role,
    created_at: u.created_at, last_login_at: u.last_login_at, disabled_at: u.disabled_at,
  };
}

export async function listUsers(db: Executor, tenantId: string) {
  return (await repo.listUsers(db, tenantId)).map(toUser);
}

/**
 * Changes a user's name, role or disabled flag. A tenant always keeps one active admin, so an
 * admin cannot lock everyone out (their own account included). Sessions end when the role changes
 * or the user is disabled.
 */
export async function updateUser(
  db: Executor,
  auth: AuthContext,
  id: string,
  input: { name?: string | null; role?: Role; disabled?: boolean },
  requestId?: string | null,
) {
  return db.transaction(async (tx) => {
    await repo.lockUsers(tx, auth.tenantId);
    const before = await repo.findUser(tx, auth.tenantId, id);
    if (!before) throw new AppError('user_not_found', `user ${id} was not found`);
    const after = (await repo.updateUser(tx, auth.tenantId, before.id, input))!;
    const activeAdmins = (await repo.listUsers(tx, auth.tenantId)).filter((u) => u.role === 'admin' && !u.disabled_at);
    if (activeAdmins.length === 0) {
      throw new AppError('last_admin', 'the tenant must keep at least one active admin user', { id: before.id });
    }
    if (after.role !== before.role || (after.disabled_at && !before.disabled_at)) await repo.deleteUserSessions(tx, auth.tenantId, before.id);
    await recordAudit(tx, {
      tenantId: auth.tenantId, actor: auth.actor, requestId: requestId ?? null, action: 'user.update', entityType: 'user', entityId: before.id,
      before: { name: before.name, role: before.role, disabled: !!before.disabled_at },
      after: { name: after.name, role: after.role, disabled: !!after.disabled_at },
    });
    return toUser(after);
  });
}

export const listTenants = repo.listTenants;
export const findTenant = repo.findTenant;

/**
 * First start: with no tenant yet, create one with an admin key (CRM_BOOTSTRAP_API_KEY when given)
 * and, when configured, an admin user. Idempotent: on later starts it only makes sure the
 * configured key and user exist for the first tenant.
 */
export async function bootstrap(
  db: Database,
  opts: { apiKey: string | null; adminEmail: string | null; adminPassword: string | null; tenantName: string; currency: string },
): Promise<{ tenantId: string; createdTenant: boolean; printedKey: string | null; createdUser: boolean }> {
  return db.transaction(async (tx) => {
    // Serializes two processes starting at once on an empty PostgreSQL.
    await repo.lockBootstrap(tx);
    const tenants = await repo.listTenants(tx);
    let tenantId: string;
    let createdTenant = false;
    let printedKey: string | null = null;
    if (tenants.length === 0) {
      const created = await createTenant(tx, { name: opts.tenantName, currency: opts.currency, apiKey: opts.apiKey });
      tenantId = created.tenant.id;
      createdTenant = true;
      printedKey = opts.apiKey ? null : created.apiKey;
    } else {
      tenantId = tenants[0].id;
      if (opts.apiKey && !(await repo.findApiKeyByHash(tx, sha256(opts.apiKey)))) {
        await createApiKey(tx, { tenantId, name: 'bootstrap', role: 'admin', createdBy: 'system', secret: opts.apiKey });
      }
    }
    let createdUser = false;
    if (opts.adminEmail && opts.adminPassword) {
      const existing = await repo.findUsersByEmail(tx, opts.adminEmail);
      if (!existing.some((u) => u.tenant_id === tenantId)) {
        await createUser(tx, { tenantId, email: opts.adminEmail, password: opts.adminPassword, role: 'admin', name: 'Administrator' });
        createdUser = true;
      }
    }
    return { tenantId, createdTenant, printedKey, createdUser };
  });
}
