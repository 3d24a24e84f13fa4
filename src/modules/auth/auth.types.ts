export const ROLES = ['viewer', 'employee', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: set on every authenticated request. */
export interface AuthContext {
  tenantId: string;
  role: Role;
  /** "key:<id>" or "user:<id>", recorded as the actor of changes. */
  actor: string;
  apiKeyId?: string;
  userId?: string;
}

export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}
