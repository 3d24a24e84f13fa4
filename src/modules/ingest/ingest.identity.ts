import { randomUUID } from 'node:crypto';
import type { IdentityCandidate } from './ingest.repository.js';

/**
 * Identity resolution for a whole batch, in memory (the database work is one locked lookup
 * before and set-based writes after). Pure: no I/O, so it is tested on its own.
 */

export interface Identity {
  externalId: string | null;
  /** normalized (trimmed, lower-cased) */
  email: string | null;
  /** E.164 */
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
}

/** An existing customer's id, or the index of a new customer in IdentityPlan.newCustomers. */
export type CustomerRef = { existing: string; group?: undefined } | { existing?: undefined; group: number };

export interface NewCustomerPlan {
  id: string;
  externalId: string | null;
  email: string | null;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
  /** indexes of the identities that resolve to this customer, in input order */
  members: number[];
}

export interface Attachment {
  externalId: string | null;
  email: string | null;
  phone: string | null;
}

export interface IdentityPlan {
  refs: CustomerRef[];
  newCustomers: NewCustomerPlan[];
  /** Identifiers to attach to existing customers that lack them, by customer id. */
  attachments: Map<string, Attachment>;
}

/** 53-bit string hash (cyrb53): advisory lock keys for identity values. */
export function hashKey(str: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Advisory lock keys for every identifier, deduplicated and sorted (a fixed lock order). */
export function identityLockKeys(tenantId: string, values: { externalIds: Iterable<string>; emails: Iterable<string>; phones: Iterable<string> }): string[] {
  const keys = new Set<number>();
  for (const v of values.externalIds) keys.add(hashKey(`${tenantId}|x|${v}`));
  for (const v of values.emails) keys.add(hashKey(`${tenantId}|e|${v}`));
  for (const v of values.phones) keys.add(hashKey(`${tenantId}|p|${v}`));
  return [...keys].sort((a, b) => a - b).map(String);
}

/** The advisory lock keys of one identity (and of contacts it sets), unsorted. */
export function lockKeysOf(tenantId: string, idn: Identity, extra: { email?: unknown; phone?: unknown } = {}): number[] {
  const keys: number[] = [];
  if (idn.externalId) keys.push(hashKey(`${tenantId}|x|${idn.externalId}`));
  if (idn.email) keys.push(hashKey(`${tenantId}|e|${idn.email}`));
  if (idn.phone) keys.push(hashKey(`${tenantId}|p|${idn.phone}`));
  if (typeof extra.email === 'string') keys.push(hashKey(`${tenantId}|e|${extra.email}`));
  if (typeof extra.phone === 'string') keys.push(hashKey(`${tenantId}|p|${extra.phone}`));
  return keys;
}

function older(a: IdentityCandidate, b: IdentityCandidate): IdentityCandidate {
  const ta = a.created_at.getTime();
  const tb = b.created_at.getTime();
  if (ta !== tb) return ta < tb ? a : b;
  return a.id < b.id ? a : b;
}

/**
 * Resolves identities: external_id, then e-mail, then phone, against live customers; among
 * several customers sharing an e-mail or phone the oldest wins. Identifiers an identity brings
 * are attached to the matched customer when it has none (external_id only while no other
 * customer holds it), and later identities of the batch match those too. The rest become new
 * customers, one per group of identities linked by any shared identifier.
 */
export function planIdentities(candidates: IdentityCandidate[], identities: Identity[]): IdentityPlan {
  const byExt = new Map<string, IdentityCandidate>();
  const byEmail = new Map<string, IdentityCandidate>();
  const byPhone = new Map<string, IdentityCandidate>();
  for (const c of candidates) {
    if (c.external_id) byExt.set(c.external_id, c);
    if (c.email) {
      const seen = byEmail.get(c.email);
      byEmail.set(c.email, seen ? older(seen, c) : c);
    }
    if (c.phone) {
      const seen = byPhone.get(c.phone);
      byPhone.set(c.phone, seen ? older(seen, c) : c);
    }
  }
  // Identifiers of records merged into a candidate resolve to it, unless a live customer holds them.
  for (const c of candidates) {
    for (const a of c.aliases ?? []) {
      const map = a.kind === 'external_id' ? byExt : a.kind === 'email' ? byEmail : byPhone;
      if (!map.has(a.value)) map.set(a.value, c);
    }
  }
  const candidateById = new Map(candidates.map((c) => [c.id, c]));

  // Identifiers claimed in this batch by existing customers (attached because they had none).
  const claimedExt = new Map<string, string>();
  const claimedEmail = new Map<string, string>();
  const claimedPhone = new Map<string, string>();
  const attachments = new Map<string, Attachment>();

  const refs: (CustomerRef | undefined)[] = new Array(identities.length);

  const resolve = (idn: Identity): string | undefined => {
    if (idn.externalId) {
      const c = byExt.get(idn.externalId);
      if (c) return c.id;
      const claimed = claimedExt.get(idn.externalId);
      if (claimed) return claimed;
    }
    if (idn.email) {
      const c = byEmail.get(idn.email);
      if (c) return c.id;
      const claimed = claimedEmail.get(idn.email);
      if (claimed) return claimed;
    }
    if (idn.phone) {
      const c = byPhone.get(idn.phone);
      if (c) return c.id;
      const claimed = claimedPhone.get(idn.phone);
      if (claimed) return claimed;
    }
    return undefined;
  };

  const attach = (customerId: string, idn: Identity) => {
    const c = candidateById.get(customerId);
    if (!c) return;
    let a = attachments.get(customerId);
    if (idn.externalId && !c.external_id && !a?.externalId && !byExt.has(idn.externalId) && !claimedExt.has(idn.externalId)) {
      a ??= { externalId: null, email: null, phone: null };
      a.externalId = idn.externalId;
      claimedExt.set(idn.externalId, customerId);
    }
    if (idn.email && !c.email && !a?.email) {
      a ??= { externalId: null, email: null, phone: null };
      a.email = idn.email;
      if (!byEmail.has(idn.email) && !claimedEmail.has(idn.email)) claimedEmail.set(idn.email, customerId);
    }
    if (idn.phone && !c.phone && !a?.phone) {
      a ??= { externalId: null, email: null, phone: null };
      a.phone = idn.phone;
      if (!byPhone.has(idn.phone) && !claimedPhone.has(idn.phone)) claimedPhone.set(idn.phone, customerId);
    }
    if (a) attachments.set(customerId, a);
  };

  // Resolve against existing customers until nothing changes: an attachment made by one
  // identity can resolve another one (a later event carrying only the newly attached phone).
  let pending = identities.map((_, i) => i);
  for (;;) {
    const next: number[] = [];
    for (const i of pending) {
      const id = resolve(identities[i]);
      if (id) {
        refs[i] = { existing: id };
        attach(id, identities[i]);
      } else next.push(i);
    }
    if (next.length === pending.length) break;
    pending = next;
  }

  // Union-find over the identifiers of the unresolved identities: one new customer per group.
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    let y = x;
    while (y !== r) {
      const p = parent.get(y)!;
      parent.set(y, r);
      y = p;
    }
    return r;
  };
  const firstByKey = new Map<string, number>();
  for (const i of pending) {
    parent.set(i, i);
    const idn = identities[i];
    for (const key of [idn.externalId && `x|${idn.externalId}`, idn.email && `e|${idn.email}`, idn.phone && `p|${idn.phone}`]) {
      if (!key) continue;
      const j = firstByKey.get(key);
      if (j === undefined) firstByKey.set(key, i);
      else {
        const ri = find(i);
        const rj = find(j);
        if (ri !== rj) parent.set(Math.max(ri, rj), Math.min(ri, rj));
      }
    }
  }
  const groupOfRoot = new Map<number, number>();
  const newCustomers: NewCustomerPlan[] = [];
  for (const i of pending) {
    const root = find(i);
    let g = groupOfRoot.get(root);
    if (g === undefined) {
      g = newCustomers.length;
      groupOfRoot.set(root, g);
      newCustomers.push({ id: randomUUID(), externalId: null, email: null, phone: null, firstName: null, lastName: null, members: [] });
    }
    const nc = newCustomers[g];
    const idn = identities[i];
    nc.members.push(i);
    nc.externalId ??= idn.externalId;
    nc.email ??= idn.email;
    nc.phone ??= idn.phone;
    nc.firstName ??= idn.firstName;
    nc.lastName ??= idn.lastName;
    refs[i] = { group: g };
  }

  return { refs: refs as CustomerRef[], newCustomers, attachments };
}
