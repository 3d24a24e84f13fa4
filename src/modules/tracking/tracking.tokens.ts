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

const keyCache = new Map<string, Buffer>();

export async function tenantKey(db: Executor, config: Config, tenantId: string): Promise<Buffer> {
  if (config.marketing.trackingSecret) {
    return crypto.createHmac('sha256', config.marketing.trackingSecret).update(`tenant:${tenantId}`).digest();
  }
  const cacheKey = tenantId;
  let key = keyCache.get(cacheKey);
  if (!key) {
    key = Buffer.from(await getOrCreateTrackingKey(db, tenantId, crypto.randomBytes(32).toString('base64url')), 'base64url');
    keyCache.set(cacheKey, key);
  }
  return key;
}

function mac(key: Buffer, body: string, url: string | undefined): string {
  const h = crypto.createHmac('sha256', key).update(body);
  if (url !== undefined) h.update('\n').update(url);
  return h.digest().subarray(0, 16).toString('base64url');
}

export function signToken(key: Buffer, payload: TokenPayload): string {
  const body = Buffer.concat([
    Buffer.from([VERSION, KINDS.indexOf(payload.k)]), uuidBytes(payload.t), uuidBytes(payload.m ?? NIL),
  ]).toString('base64url');
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

  clickUrl(url: string): string {
    const token = signToken(this.key, { t: this.tenantId, m: this.messageId, k: 'click', u: url });
    return `${this.base}/api/crm/track/click/${token}?u=${encodeURIComponent(url)}`;
  }

  unsubscribeUrl(): string {
    return `${this.base}/api/crm/track/unsubscribe/${signToken(this.key, { t: this.tenantId, m: this.messageId, k: 'unsubscribe' })}`;
  }
}

/** The per-tenant secret of inbound provider webhooks (SMS replies, bounce/complaint events). */
export async function inboundToken(db: Executor, config: Config, tenantId: string): Promise<string> {
  return signToken(await tenantKey(db, config, tenantId), { t: tenantId, k: 'inbound' });
}
