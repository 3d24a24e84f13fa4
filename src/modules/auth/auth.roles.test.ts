import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestTenant, type TestContext } from '../../test/helpers.js';

/**
 * Role enforcement over EVERY registered route (DESIGN §5): walks the generated OpenAPI document,
 * so a route added later is checked without touching this file.
 */
let ctx: TestContext;
beforeAll(async () => {
  ctx = await createTestApp();
});
afterAll(async () => ctx.close());

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
interface Operation {
  method: Method;
  path: string;
}

function operations(): Operation[] {
  const spec = ctx.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    if (!path.startsWith('/api/crm/')) continue;
    for (const method of Object.keys(ops)) out.push({ method: method.toUpperCase() as Method, path });
  }
  return out;
}

/** Any value for each path parameter: the role check runs before the route looks at it. */
const urlOf = (path: string) => path.replace(/\{(\w+)\}/g, () => randomUUID());
const key = (op: Operation) => `${op.method} ${op.path}`;

// Writes by method that change no data and may be open to viewers (each route says why).
const VIEWER_WRITES = new Set([
  'POST /api/crm/auth/logout', // ends the caller's own session
  'POST /api/crm/segments/preview', // counts what rules would match
  'POST /api/crm/templates/{id}/preview', // renders a template, sends nothing
]);
// Deletes that remove an item from a list rather than deleting data: open to employees.
const EMPLOYEE_DELETES = new Set([
  'DELETE /api/crm/customers/{id}/tags',
  'DELETE /api/crm/segments/{id}/members',
]);

async function status(op: Operation, headers?: Record<string, string>): Promise<number> {
  const res = await ctx.app.inject({
    method: op.method, url: urlOf(op.path), ...(headers ? { headers } : {}),
    ...(op.method === 'GET' || op.method === 'DELETE' ? {} : { payload: {} }),
  });
  return res.statusCode;
}

describe('roles on every route', () => {
  it('a viewer gets 403 on every authenticated non-GET route', async () => {
    const t = await createTestTenant(ctx.db);
    const viewer = await t.keyFor('viewer');
    const writes = operations().filter((op) => op.method !== 'GET');
    expect(writes.length).toBeGreaterThan(40);
    const wrong: string[] = [];
    for (const op of writes) {
      // public routes (login, tracking links, provider callbacks) authenticate otherwise
      if ((await status(op)) !== 401) continue;
      if (VIEWER_WRITES.has(key(op))) continue;
      const code = await status(op, viewer);
      if (code !== 403) wrong.push(`${key(op)} → ${code}`);
    }
    expect(wrong).toEqual([]);
  });

  it('an employee cannot delete, erase, read the audit trail, manage keys or export everything', async () => {
    const t = await createTestTenant(ctx.db);
    const employee = await t.keyFor('employee');
    const ops = operations();
    const wrong: string[] = [];
    for (const op of ops.filter((o) => o.method === 'DELETE' && !EMPLOYEE_DELETES.has(key(o)))) {
      const code = await status(op, employee);
      if (code !== 403) wrong.push(`${key(op)} → ${code}`);
    }
    for (const op of [
      { method: 'POST', path: '/api/crm/customers/{id}/erase' },
      { method: 'GET', path: '/api/crm/audit' },
      { method: 'GET', path: '/api/crm/audit/verify' },
      { method: 'GET', path: '/api/crm/privacy/requests' },
      { method: 'POST', path: '/api/crm/api-keys' },
      { method: 'GET', path: '/api/crm/webhooks' },
      { method: 'PUT', path: '/api/crm/loyalty/tiers' },
    ] as Operation[]) {
      expect(ops.some((o) => key(o) === key(op)), `${key(op)} is registered`).toBe(true);
      const code = await status(op, employee);
      if (code !== 403) wrong.push(`${key(op)} → ${code}`);
    }
    expect(wrong).toEqual([]);
    // the export of every customer is the admin's; one segment or filter is fine for employees
    const all = await ctx.app.inject({ method: 'GET', url: '/api/crm/exports/customers', headers: employee });
    expect(all.statusCode, all.body).toBe(403);
  });

  it('the employee deletes that are allowed are still closed to viewers', async () => {
    const t = await createTestTenant(ctx.db);
    const viewer = await t.keyFor('viewer');
    for (const k of EMPLOYEE_DELETES) {
      const [method, path] = k.split(' ') as [Method, string];
      expect(await status({ method, path }, viewer), k).toBe(403);
    }
  });
});
