import crypto from 'node:crypto';
import type { Config } from '../../config.js';
import type { Executor } from '../../db/database.js';
import { isUuid } from '../../lib/cursor.js';
import { getOrCreateTrackingKey, tenantExists } from './tracking.repository.js';

/**
 * Tracking, click and unsubscribe tokens: base64url(version, kind, tenant id, message id) "."
 * base64url(HMAC-SHA256, 128 bits), the HMAC keyed per tenant (HMAC(TRACKING_SECRET, tenant id), or
 * a random key stored per tenant). A token names its tenant and message, so it is only valid for
 * that tenant. A click token's HMAC also covers the destination URL (sent beside it as `?u=`), so
 * the redirect goes to that URL and nowhere else (no open redirect). Tokens stay short (69
 * characters) to fit URL path segments.
 */
export type TokenKind = 'open' | 'click' | 'unsubscribe' | 'inbound';

export interface TokenPayload {
  /** tenant id */
  t: string;
  /** message id (absent for inbound webhook tokens) */
  m?: string;
  k: TokenKind;
  /** click destination */
  u?: string;
}

const KINDS: TokenKind[] = ['open', 'click', 'unsubscribe', 'inbound'];
const VERSION = 1;
const NIL = '00000000-0000-0000-0000-000000000000';
const uuidBytes = (u: string) => Buffer.from(u.replace(/-/g, ''), 'hex');
const bytesUuid = (b: Buffer) => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

// The lookup itself is cached (not only its answer): the overlapping batches of a campaign send ask
// at the same moment, and each would otherwise upsert the same row.
const keyCache = new Map<string, Promise<Buffer>>();
// Derived keys are cached too (per secret and tenant), so a tenant's key is one Buffer and `macs` below finds it.
const derivedKeys = new Map<string, Buffer>();

export async function tenantKey(db: Executor, config: Config, tenantId: string): Promise<Buffer> {
  const secret = config.marketing.trackingSecret;
  if (secret) {
    const cacheKey = `${secret}\n${tenantId}`;
    let derived = derivedKeys.get(cacheKey);
    if (!derived) {
      derived = crypto.createHmac('sha256', secret).update(`tenant:${tenantId}`).digest();
      derivedKeys.set(cacheKey, derived);
    }
    return derived;
  }
  const cacheKey = tenantId;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = getOrCreateTrackingKey(db, tenantId, crypto.randomBytes(32).toString('base64url')).then((k) => Buffer.from(k, 'base64url'));
    keyCache.set(cacheKey, key);
    key.catch(() => keyCache.delete(cacheKey));
  }
  return key;
}

/**
 * HMAC-SHA256 with the key's inner and outer pads prepared once (RFC 2104 written out over two
 * one-shot hashes): the same bytes as crypto.createHmac, at about half its cost for short inputs.
 * A campaign message has ~9 tokens, so this is paid ~900k times in a 100k send.
 */
class Hmac256 {
  private static readonly ROOM = 2048;
  private readonly inner = Buffer.alloc(64 + Hmac256.ROOM);
  private readonly outer = Buffer.alloc(64 + 32);

  constructor(private readonly key: Buffer) {
    // keys longer than a block are hashed first (as HMAC does); tenant keys are 32 bytes
    const k = Buffer.alloc(64);
    (key.length > 64 ? crypto.createHash('sha256').update(key).digest() : key).copy(k);
    for (let n = 0; n < 64; n++) {
      this.inner[n] = k[n] ^ 0x36;
      this.outer[n] = k[n] ^ 0x5c;
    }
  }

  /** The first 16 bytes of HMAC(key, utf8(msg)), base64url. */
  sign16(msg: string): string {
    // worst case 3 UTF-8 bytes per UTF-16 unit; longer inputs take the general path
    if (msg.length * 3 > Hmac256.ROOM) return crypto.createHmac('sha256', this.key).update(msg).digest().toString('base64url', 0, 16);
    const n = this.inner.write(msg, 64, 'utf8');
    crypto.hash('sha256', this.inner.subarray(0, 64 + n), 'buffer').copy(this.outer, 64);
    return crypto.hash('sha256', this.outer, 'buffer').toString('base64url', 0, 16);
  }
}

// keyed by the key object: tenantKey answers the same Buffer for a tenant while it is cached
const macs = new WeakMap<Buffer, Hmac256>();

function mac(key: Buffer, body: string, url: string | undefined): string {
  let h = macs.get(key);
  if (!h) {
    h = new Hmac256(key);
    macs.set(key, h);
  }
  return h.sign16(url === undefined ? body : `${body}\n${url}`);
}

function tokenBody(kind: TokenKind, tenantId: string, messageId: string | undefined): string {
  return Buffer.concat([Buffer.from([VERSION, KINDS.indexOf(kind)]), uuidBytes(tenantId), uuidBytes(messageId ?? NIL)]).toString('base64url');
}

/**
 * A click destination as a query value: percent-encoded except unreserved characters and the
 * `:` `/` `?` `=` that RFC 3986 allows in a query (decoded to the same string; shorter and more
 * readable than encodeURIComponent's).
 */
const QUERY_UNSAFE = /[^A-Za-z0-9\-._~:/?=]+/g;

export function signToken(key: Buffer, payload: TokenPayload): string {
  const body = tokenBody(payload.k, payload.t, payload.m);
  return `${body}.${mac(key, body, payload.u)}`;
}

/**
 * The payload of a well-signed token of the expected kind, or null (tampered, foreign, malformed).
 * `url` is the click destination the token must have been signed for.
 */
export async function verifyToken(db: Executor, config: Config, token: string, kind: TokenKind, url?: string): Promise<TokenPayload | null> {
  const m = /^([A-Za-z0-9_-]{46})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return null;
  const raw = Buffer.from(m[1], 'base64url');
  if (raw.length !== 34 || raw[0] !== VERSION || KINDS[raw[1]] !== kind) return null;
  const tenantId = bytesUuid(raw.subarray(2, 18));
  const messageId = bytesUuid(raw.subarray(18, 34));
  if (!isUuid(tenantId) || !(await tenantExists(db, tenantId))) return null;
  const expected = Buffer.from(mac(await tenantKey(db, config, tenantId), m[1], kind === 'click' ? (url ?? '') : undefined));
  const given = Buffer.from(m[2]);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return null;
  return { t: tenantId, k: kind, ...(messageId !== NIL ? { m: messageId } : {}), ...(kind === 'click' ? { u: url } : {}) };
}

/** Signs every token of one message. */
export class MessageTokens {
  constructor(
    private readonly key: Buffer,
    private readonly base: string,
    private readonly tenantId: string,
    private readonly messageId: string,
  ) {}

  openUrl(): string {
    return `${this.base}/api/crm/track/open/${signToken(this.key, { t: this.tenantId, m: this.messageId, k: 'open' })}`;
  }

  // every link of a message has the same token body; only the MAC (which covers the URL) differs
  private clickBody?: string;

  clickUrl(url: string): string {
    this.clickBody ??= tokenBody('click', this.tenantId, this.messageId);
    return `${this.base}/api/crm/track/click/${this.clickBody}.${mac(this.key, this.clickBody, url)}?u=${url.replace(QUERY_UNSAFE, encodeURIComponent)}`;
  }

  unsubscribeUrl(): string {
    return `${this.base}/api/crm/track/unsubscribe/${signToken(this.key, { t: this.tenantId, m: this.messageId, k: 'unsubscribe' })}`;
  }
}

/** The per-tenant secret of inbound provider webhooks (SMS replies, bounce/complaint events). */
export async function inboundToken(db: Executor, config: Config, tenantId: string): Promise<string> {
  return signToken(await tenantKey(db, config, tenantId), { t: tenantId, k: 'inbound' });
}
