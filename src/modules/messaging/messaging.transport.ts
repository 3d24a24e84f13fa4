import nodemailer, { type Transporter, type TransportOptions } from 'nodemailer';
import type { Config } from '../../config.js';
import { simpleEmail } from './messaging.mime.js';

/** One e-mail as the transport sends it. */
export interface OutgoingEmail {
  from: string;
  to: string;
  subject: string;
  html: string | null;
  text: string;
  /** Message-ID header (with angle brackets); kept across retries so receivers can dedupe. */
  messageId: string;
  headers: Record<string, string>;
}

/**
 * `permanent`: the server refused the message for good (5xx); `transient`: refused for now (4xx);
 * `unknown`: the connection failed mid-way, so the server may or may not have accepted it.
 */
export type SendFailure = 'permanent' | 'transient' | 'unknown';

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: SendFailure,
    readonly responseCode?: number,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface EmailTransport {
  /** "smtp" sends; "local" only stores (no SMTP_URL: nothing leaves the machine). */
  readonly kind: 'smtp' | 'local';
  send(msg: OutgoingEmail): Promise<{ providerId: string | null }>;
  close(): void;
}

export interface SmsProvider {
  readonly kind: 'twilio' | 'local';
  send(msg: { to: string; body: string }): Promise<{ providerId: string | null }>;
}

class LocalEmailTransport implements EmailTransport {
  readonly kind = 'local' as const;
  async send(): Promise<{ providerId: string | null }> {
    return { providerId: null };
  }
  close(): void {}
}

function classify(err: unknown): TransportError {
  const e = err as { responseCode?: number; code?: string; message?: string };
  const code = e.responseCode;
  if (typeof code === 'number' && code >= 500) return new TransportError(e.message ?? 'rejected', 'permanent', code);
  if (typeof code === 'number' && code >= 400) return new TransportError(e.message ?? 'deferred', 'transient', code);
  return new TransportError(e.message ?? 'connection failed', 'unknown');
}

class SmtpTransport implements EmailTransport {
  readonly kind = 'smtp' as const;
  private readonly transporter: Transporter;

  private readonly dkim: boolean;

  constructor(config: Config['marketing']) {
    const rate = config.smtpRatePerSecond;
    this.dkim = !!config.dkim;
    this.transporter = nodemailer.createTransport({
      url: config.smtpUrl!,
      pool: true,
      maxConnections: config.smtpPoolSize,
      maxMessages: Infinity,
      ...(rate > 0 ? { rateDelta: 1000, rateLimit: rate } : {}),
      ...(config.dkim ? { dkim: config.dkim } : {}),
      // a local sink or relay on a private network often has a self-signed certificate
      tls: { rejectUnauthorized: false },
    } as TransportOptions);
  }

  async send(msg: OutgoingEmail): Promise<{ providerId: string | null }> {
    try {
      // a plain message is written in one string (see messaging.mime.ts); DKIM signing stays with nodemailer's composer
      const simple = this.dkim ? null : simpleEmail({ ...msg, html: msg.html ?? null });
      const info = await this.transporter.sendMail(
        simple
          ? { envelope: { from: simple.sender, to: [msg.to] }, raw: simple.raw }
          : { from: msg.from, to: msg.to, subject: msg.subject, html: msg.html ?? undefined, text: msg.text, messageId: msg.messageId, headers: msg.headers },
      );
      if (info.rejected?.length) throw Object.assign(new Error(`recipient rejected: ${String(info.response)}`), { responseCode: 550 });
      return { providerId: simple ? msg.messageId : (info.messageId ?? null) };
    } catch (err) {
      throw classify(err);
    }
  }

  close(): void {
    this.transporter.close();
  }
}

class LocalSmsProvider implements SmsProvider {
  readonly kind = 'local' as const;
  async send(): Promise<{ providerId: string | null }> {
    return { providerId: null };
  }
}

/** Twilio Messages API: POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic auth. */
class TwilioProvider implements SmsProvider {
  readonly kind = 'twilio' as const;
  constructor(private readonly c: NonNullable<Config['marketing']['twilio']>) {}

  async send(msg: { to: string; body: string }): Promise<{ providerId: string | null }> {
    const url = `${this.c.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(this.c.accountSid)}/Messages.json`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${this.c.accountSid}:${this.c.authToken}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ To: msg.to, From: this.c.from, Body: msg.body }).toString(),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      throw new TransportError(`SMS provider unreachable: ${(err as Error).message}`, 'unknown');
    }
    const body = (await res.json().catch(() => ({}))) as { sid?: string; message?: string; code?: number };
    if (res.ok) return { providerId: body.sid ?? null };
    const text = `SMS provider answered ${res.status}${body.message ? `: ${body.message}` : ''}`;
    if (res.status === 429 || res.status >= 500) throw new TransportError(text, 'transient', res.status);
    throw new TransportError(text, 'permanent', res.status);
  }
}

export interface Transports {
  email: EmailTransport;
  sms: SmsProvider;
}

// One pool per configuration (the app and its worker share it); closed when the app closes.
const byConfig = new WeakMap<Config, Transports>();

export function transportsFor(config: Config): Transports {
  let t = byConfig.get(config);
  if (!t) {
    const m = config.marketing;
    t = {
      email: m.smtpUrl ? new SmtpTransport(m) : new LocalEmailTransport(),
      sms: m.twilio ? new TwilioProvider(m.twilio) : new LocalSmsProvider(),
    };
    byConfig.set(config, t);
  }
  return t;
}

export function closeTransports(config: Config): void {
  const t = byConfig.get(config);
  if (t) {
    t.email.close();
    byConfig.delete(config);
  }
}

// ---------------------------------------------------------------------------------------------
// SMS segments

// GSM 03.38 basic set and the extension table (extension characters take two septets).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM_EXTENDED = new Set('^{}\\[~]|€\f');

/** Encoding and number of SMS segments: GSM-7 160 (153 per part), UCS-2 70 (67 per part). */
export function smsSegments(text: string): { encoding: 'GSM-7' | 'UCS-2'; units: number; segments: number } {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return { encoding: 'GSM-7', units: septets, segments: septets === 0 ? 1 : septets <= 160 ? 1 : Math.ceil(septets / 153) };
  // UCS-2 counts UTF-16 code units (a character outside the BMP takes two)
  const units = text.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

// ---------------------------------------------------------------------------------------------
// Quiet hours

function localClock(at: Date, timeZone: string): { hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  return { hour: Number(parts.find((p) => p.type === 'hour')!.value), minute: Number(parts.find((p) => p.type === 'minute')!.value) };
}

function inQuiet(hour: number, q: { start: number; end: number }): boolean {
  return q.start > q.end ? hour >= q.start || hour < q.end : hour >= q.start && hour < q.end;
}

/** null when `now` is outside quiet hours in the time zone, else the next allowed time. */
export function quietHoursDeferral(now: Date, timeZone: string, quiet: { start: number; end: number } | null): Date | null {
  if (!quiet) return null;
  let tz = timeZone;
  try {
    localClock(now, tz);
  } catch {
    tz = 'UTC';
  }
  let t = new Date(now);
  if (!inQuiet(localClock(t, tz).hour, quiet)) return null;
  for (let i = 0; i < 48; i++) {
    const { minute } = localClock(t, tz);
    t = new Date(Math.floor(t.getTime() / 60_000) * 60_000 + (60 - minute) * 60_000);
    if (!inQuiet(localClock(t, tz).hour, quiet)) return t;
  }
  return t;
}
