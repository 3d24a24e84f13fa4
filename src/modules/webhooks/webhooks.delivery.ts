import crypto from 'node:crypto';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/**
 * One HTTP attempt of a webhook delivery: signing, the SSRF guard and the POST itself. No database
 * here, so the service can test and time it apart.
 */

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const mac = crypto.createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Checks a signature header the way a subscriber should (constant-time, with a freshness window). */
export function verifySignature(secret: string, body: string, header: string, opts: { toleranceSeconds?: number; now?: number } = {}): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || !parts.v1) return false;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signatureHeader(secret, body, t).split('v1=')[1], 'hex');
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

// ---------------------------------------------------------------------------------------------
// SSRF guard

const blocked = new net.BlockList();
for (const [net4, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT (cloud metadata such as 100.100.100.200 lives here)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments (192.0.0.192 is an Oracle metadata address)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net4, bits, 'ipv4');
}
for (const [net6, bits] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['fc00::', 7], // unique local (incl. fd00:ec2::254 metadata)
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
  ['64:ff9b::', 96], // NAT64 of IPv4 addresses
] as const) {
  blocked.addSubnet(net6, bits, 'ipv6');
}

/** True when the address is loopback, private, link-local, metadata or otherwise not public. */
export function isPrivateAddress(address: string): boolean {
  let ip = address.replace(/^\[|\]$/g, '');
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1];
  const family = net.isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family === 6) {
    // ::ffff:7f00:1 style IPv4-mapped addresses
    const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
    if (hex) {
      const n = (parseInt(hex[1], 16) << 16) | parseInt(hex[2], 16);
      return isPrivateAddress([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
    }
    return blocked.check(ip, 'ipv6');
  }
  return true;
}

export class DeliveryRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRefused';
  }
}

/** Scheme and shape of a subscription URL (no DNS): the problem, or null. */
export function urlProblem(raw: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url is not a valid absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'url must use http or https';
  if (url.username || url.password) return 'url must not carry credentials';
  if (!url.hostname) return 'url needs a host';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && net.isIP(host) && isPrivateAddress(host)) return `url points to a private or reserved address (${host})`;
  return null;
}

/**
 * Every address of the host, refused (DeliveryRefused) when any is private and that is not allowed:
 * a name that resolves to both a public and a private address is refused too.
 */
export async function resolveHost(hostname: string, allowPrivate: boolean, family: number = 0): Promise<dns.LookupAddress[]> {
  const addresses = await dns.promises.lookup(hostname, { all: true, family });
  if (!allowPrivate) {
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad) throw new DeliveryRefused(`${hostname} resolves to a private or reserved address (${bad.address})`);
  }
  if (addresses.length === 0) throw new Error(`${hostname} has no address`);
  return addresses;
}

/**
 * Resolves the host (every address) and refuses it when any address is private, unless allowed.
 * Used as the connection's lookup, so the address checked is the address connected to (no window
 * for DNS rebinding between the check and the connect).
 */
function guardedLookup(allowPrivate: boolean): net.LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: any[]) => void) => {
    const family = typeof options.family === 'number' ? options.family : 0;
    resolveHost(hostname, allowPrivate, family).then(
      (addresses) => (options.all ? callback(null, addresses) : callback(null, addresses[0].address, addresses[0].family)),
      (err) => callback(err),
    );
  }) as net.LookupFunction;
}

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
  ms: number;
}

export interface PostOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  allowPrivate: boolean;
}

const RESPONSE_SNIPPET = 512;

/**
 * POSTs once. 2xx is success; anything else (3xx included: redirects are never followed),
 * a timeout, a refused address or a connection error is a failure with a reason.
 */
export async function postWebhook(opts: PostOptions): Promise<AttemptResult> {
  const started = performance.now();
  const done = (ok: boolean, statusCode: number | null, error: string | null): AttemptResult => ({
    ok, statusCode, error, ms: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    return done(false, null, 'invalid url');
  }
  const problem = urlProblem(opts.url, opts.allowPrivate);
  if (problem) return done(false, null, `refused: ${problem}`);

  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: 'POST',
      headers: { ...opts.headers, 'Content-Length': String(Buffer.byteLength(opts.body)) },
      lookup: guardedLookup(opts.allowPrivate),
      agent: false,
    }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < RESPONSE_SNIPPET) chunks.push(chunk);
        size += chunk.length;
      });
      const end = () => {
        if (status >= 200 && status < 300) return finish(done(true, status, null));
        const text = Buffer.concat(chunks).toString('utf8').slice(0, RESPONSE_SNIPPET).trim();
        const location = res.headers.location;
        const why = status >= 300 && status < 400
          ? `redirect ${status}${location ? ` to ${location}` : ''} (not followed)`
          : `HTTP ${status}${text ? `: ${text}` : ''}`;
        finish(done(false, status, why));
      };
      res.on('end', end);
      res.on('error', end);
      res.on('close', end);
    });
    const timer = setTimeout(() => {
      finish(done(false, null, `timeout after ${opts.timeoutMs} ms`));
      req.destroy();
    }, opts.timeoutMs);
    req.on('error', (err) => {
      const refused = err instanceof DeliveryRefused || (err as any)?.cause instanceof DeliveryRefused;
      finish(done(false, null, refused ? `refused: ${err.message}` : `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}`));
    });
    req.end(opts.body);
  });
}
