/**
 * API shapes the admin UI works with, taken from the generated SDK schema (`npm run sdk:generate` writes
 * packages/client/src/schema.d.ts from the routes' own schemas), so a change to an API shows up here as a
 * type error instead of drifting from a hand-written copy.
 */
import type { paths } from '../../packages/client/src/schema';

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
/** The JSON body of a path's 200 (or 201) answer to a method. */
type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R }
  ? R extends { 200: infer A } ? Json<A> : R extends { 201: infer A } ? Json<A> : never
  : never;

export type Me = Ok<'/api/crm/auth/me', 'get'>;
export type Role = Me['role'];
export type Tenant = Ok<'/api/crm/tenant', 'get'>;
export type Customer = Ok<'/api/crm/customers/{id}', 'get'>;
export type Interaction = Ok<'/api/crm/customers/{id}/interactions', 'get'>['data'][number];
export type Segment = Ok<'/api/crm/segments/{id}', 'get'>;
