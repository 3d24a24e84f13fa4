import path from 'node:path';

/** The whole service configuration, parsed once from the environment and passed down. */
export interface Config {
  port: number;
  host: string;
  /** postgres://… when set; otherwise the embedded PGlite database in dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  logLevel: string;
  defaultPhoneRegion: string;
  defaultCurrency: string;
  ltvCalculationPeriodDays: number;
  /** Days without a purchase after which a customer counts as churned (lifecycle "lost", churn risk 1 without a model). */
  churnThresholdDays: number;
  /** Annual discount rate of predicted CLV (0.10 = 10 % a year). */
  clvDiscountRate: number;
  loyaltyPointsPerUnit: number;
  segmentRefreshIntervalMinutes: number;
  /** An open cart untouched this long is marked abandoned. */
  cartAbandonMinutes: number;
  bodyLimitBytes: number;
  /** Largest CSV/XLSX file an import accepts (upload and CLI). */
  importMaxFileBytes: number;
  sessionTtlHours: number;
  /** Secure flag on the session cookie (set when served over HTTPS). */
  cookieSecure: boolean;
  bootstrap: {
    apiKey: string | null;
    adminEmail: string | null;
    adminPassword: string | null;
    tenantName: string;
  };
  /** Run the background worker inside `serve`. */
  runWorker: boolean;
  shutdownTimeoutMs: number;
  /**
   * On SIGTERM, /readyz answers 503 for this long before the listener closes, so a load balancer
   * polling readiness stops routing here first (0 = close at once).
   */
  shutdownDelayMs: number;
  /** Deliver webhooks to loopback/private/link-local addresses (tests, trusted networks only). */
  webhookAllowPrivateNetworks: boolean;
  /** One webhook attempt (connect to the end of the response) may take this long. */
  webhookTimeoutMs: number;
  /** Attempts before a delivery is marked dead. */
  webhookMaxAttempts: number;
  /** How often the worker fans out the outbox and sends due webhooks. */
  outboxPollIntervalSeconds: number;
  /** RabbitMQ integration; null when RABBITMQ_URL is unset (off). */
  rabbitmq: RabbitmqConfig | null;
  /** External enrichment provider (HTTP POST of the contact data); null when ENRICHMENT_URL is unset (off). */
  enrichmentUrl: string | null;
  /** One call to the enrichment provider may take this long. */
  enrichmentTimeoutMs: number;
  /** How often the worker chains (seals) new audit entries. */
  auditSealIntervalSeconds: number;
  /** Customers inactive this many years are anonymised by the retention job; 0 = off. */
  retentionInactiveYears: number;
  /** E-mail/SMS sending, tracking and campaigns (src/modules/messaging, tracking, campaigns). */
  marketing: MarketingConfig;
}

export interface RabbitmqConfig {
  url: string;
  /** Topic exchange the platform publishes its events to (consumed). */
  eventsExchange: string;
  /** Durable queue the CRM consumes from, bound to eventsExchange. */
  eventsQueue: string;
  /** Binding key of eventsQueue on eventsExchange (`#` = everything). */
  eventsBinding: string;
  /** Topic exchange the outbox's events are published to (routing key = event type). */
  publishExchange: string;
  /** Exchange (fanout) and queue that receive poison messages. */
  deadLetterExchange: string;
  deadLetterQueue: string;
  /** The tenant whose events the queue carries; null: every message names its tenant. */
  tenantId: string | null;
  /** Unacknowledged messages in flight per consumer. */
  prefetch: number;
  /** Wait before a message that failed on a transient error is requeued. */
  retryDelayMs: number;
  /** Longest wait between reconnect attempts (the backoff doubles from 500 ms up to this). */
  reconnectMaxDelayMs: number;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function num(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new ConfigError(`${name} must be a number >= ${min}, got "${raw}"`);
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

function str(env: Env, name: string): string | null {
  const raw = env[name]?.trim();
  return raw ? raw : null;
}

function httpUrl(env: Env, name: string): string | null {
  const raw = str(env, name);
  if (raw && !/^https?:\/\/[^\s]+$/.test(raw)) throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  return raw;
}

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = str(env, 'DATABASE_URL');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const region = (str(env, 'DEFAULT_PHONE_REGION') ?? 'RO').toUpperCase();
  if (!/^[A-Z]{2}$/.test(region)) throw new ConfigError(`DEFAULT_PHONE_REGION must be an ISO country code, got "${region}"`);
  const currency = (str(env, 'DEFAULT_CURRENCY') ?? 'RON').toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) throw new ConfigError(`DEFAULT_CURRENCY must be an ISO 4217 code, got "${currency}"`);
  const apiKey = str(env, 'CRM_BOOTSTRAP_API_KEY');
  if (apiKey && apiKey.length < 24) throw new ConfigError('CRM_BOOTSTRAP_API_KEY must be at least 24 characters');
  const adminEmail = str(env, 'CRM_BOOTSTRAP_ADMIN_EMAIL');
  const adminPassword = str(env, 'CRM_BOOTSTRAP_ADMIN_PASSWORD');
  if ((adminEmail === null) !== (adminPassword === null)) {
    throw new ConfigError('CRM_BOOTSTRAP_ADMIN_EMAIL and CRM_BOOTSTRAP_ADMIN_PASSWORD must be set together');
  }
  if (adminPassword && adminPassword.length < 8) throw new ConfigError('CRM_BOOTSTRAP_ADMIN_PASSWORD must be at least 8 characters');

  return {
    port: int(env, 'PORT', 8084, 0, 65535),
    host: str(env, 'HOST') ?? '0.0.0.0',
    databaseUrl,
    dataDir: path.resolve(str(env, 'DATA_DIR') ?? './data'),
    logLevel: str(env, 'LOG_LEVEL') ?? 'info',
    defaultPhoneRegion: region,
    defaultCurrency: currency,
    ltvCalculationPeriodDays: int(env, 'LTV_CALCULATION_PERIOD_DAYS', 365, 1, 36500),
    churnThresholdDays: int(env, 'CHURN_THRESHOLD_DAYS', 180, 2, 36500),
    clvDiscountRate: num(env, 'CLV_DISCOUNT_RATE', 0.1, 0),
    loyaltyPointsPerUnit: num(env, 'LOYALTY_POINTS_PER_UNIT', 1, 0),
    segmentRefreshIntervalMinutes: int(env, 'SEGMENT_REFRESH_INTERVAL', 60, 1, 10080),
    cartAbandonMinutes: int(env, 'CART_ABANDON_MINUTES', 60, 1, 43200),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 5 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    importMaxFileBytes: int(env, 'IMPORT_MAX_FILE_BYTES', 1024 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    sessionTtlHours: int(env, 'SESSION_TTL_HOURS', 12, 1, 24 * 90),
    cookieSecure: bool(env, 'COOKIE_SECURE', false),
    bootstrap: {
      apiKey,
      adminEmail: adminEmail?.toLowerCase() ?? null,
      adminPassword,
      tenantName: str(env, 'CRM_BOOTSTRAP_TENANT_NAME') ?? 'Default',
    },
    runWorker: bool(env, 'RUN_WORKER', true),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 15000, 0, 600000),
    shutdownDelayMs: int(env, 'SHUTDOWN_DELAY_MS', 0, 0, 600000),
    webhookAllowPrivateNetworks: bool(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
    webhookTimeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10000, 100, 120000),
    webhookMaxAttempts: int(env, 'WEBHOOK_MAX_ATTEMPTS', 12, 1, 50),
    outboxPollIntervalSeconds: int(env, 'OUTBOX_POLL_INTERVAL_SECONDS', 2, 1, 60),
    rabbitmq: loadRabbitmqConfig(env),
    enrichmentUrl: httpUrl(env, 'ENRICHMENT_URL'),
    enrichmentTimeoutMs: int(env, 'ENRICHMENT_TIMEOUT_MS', 3000, 100, 60000),
    auditSealIntervalSeconds: int(env, 'AUDIT_SEAL_INTERVAL_SECONDS', 5, 1, 3600),
    retentionInactiveYears: int(env, 'RETENTION_INACTIVE_YEARS', 0, 0, 100),
    marketing: loadMarketingConfig(env),
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function loadRabbitmqConfig(env: Env): RabbitmqConfig | null {
  const url = str(env, 'RABBITMQ_URL');
  if (!url) return null;
  if (!/^amqps?:\/\//.test(url)) throw new ConfigError('RABBITMQ_URL must start with amqp:// or amqps://');
  const tenantId = str(env, 'RABBITMQ_TENANT_ID');
  if (tenantId && !UUID_RE.test(tenantId)) throw new ConfigError(`RABBITMQ_TENANT_ID must be a tenant id (uuid), got "${tenantId}"`);
  const name = (variable: string, fallback: string) => {
    const v = str(env, variable) ?? fallback;
    if (v.length > 255) throw new ConfigError(`${variable} must be at most 255 characters`);
    return v;
  };
  return {
    url,
    eventsExchange: name('RABBITMQ_EVENTS_EXCHANGE', 'crm.platform'),
    eventsQueue: name('RABBITMQ_EVENTS_QUEUE', 'crm.events'),
    eventsBinding: name('RABBITMQ_EVENTS_BINDING', '#'),
    publishExchange: name('RABBITMQ_PUBLISH_EXCHANGE', 'crm.events.out'),
    deadLetterExchange: name('RABBITMQ_DEAD_LETTER_EXCHANGE', 'crm.dead-letter'),
    deadLetterQueue: name('RABBITMQ_DEAD_LETTER_QUEUE', 'crm.events.dead'),
    tenantId: tenantId?.toLowerCase() ?? null,
    prefetch: int(env, 'RABBITMQ_PREFETCH', 10, 1, 1000),
    retryDelayMs: int(env, 'RABBITMQ_RETRY_DELAY_MS', 5000, 0, 600000),
    reconnectMaxDelayMs: int(env, 'RABBITMQ_RECONNECT_MAX_DELAY_MS', 30000, 100, 600000),
  };
}

export interface MarketingConfig {
  /** smtp:// or smtps:// URL; null: messages are only stored in the local outbox (nothing leaves). */
  smtpUrl: string | null;
  /** Pooled SMTP connections. */
  smtpPoolSize: number;
  /** Messages per second over SMTP (0 = unlimited). */
  smtpRatePerSecond: number;
  /** From: header of marketing e-mail. */
  emailFrom: string;
  /** DKIM signing; null unless DKIM_PRIVATE_KEY, DKIM_DOMAIN and DKIM_SELECTOR are all set. */
  dkim: { privateKey: string; domainName: string; keySelector: string } | null;
  /** Twilio-shaped SMS provider; null: SMS are only stored in the local outbox. */
  twilio: { accountSid: string; authToken: string; from: string; baseUrl: string } | null;
  /** SMS are not sent between these local hours (tenant time zone); null: no quiet hours. */
  smsQuietHours: { start: number; end: number } | null;
  /** At most `count` marketing messages per customer within `windowMs`; null: no cap. */
  frequencyCap: { count: number; windowMs: number; text: string } | null;
  /** HMAC key of tracking/unsubscribe tokens; null: a random key per tenant, kept in the database. */
  trackingSecret: string | null;
  /** Absolute base URL of this service as recipients reach it (tracking, unsubscribe links). */
  publicUrl: string;
  /** Optional mailto: target of List-Unsubscribe. */
  unsubscribeMailto: string | null;
  /** Orders within this many days of an open or click count as conversions of the campaign. */
  attributionWindowDays: number;
  /** Recipients claimed and sent per batch of a campaign send job. */
  campaignBatchSize: number;
}

const DURATION_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

function loadMarketingConfig(env: Env): MarketingConfig {
  const smtpUrl = str(env, 'SMTP_URL');
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');
  const dkimKey = str(env, 'DKIM_PRIVATE_KEY');
  const dkimDomain = str(env, 'DKIM_DOMAIN');
  const dkimSelector = str(env, 'DKIM_SELECTOR');
  const dkimSet = [dkimKey, dkimDomain, dkimSelector].filter((v) => v !== null).length;
  if (dkimSet !== 0 && dkimSet !== 3) throw new ConfigError('DKIM_PRIVATE_KEY, DKIM_DOMAIN and DKIM_SELECTOR must be set together');
  const sid = str(env, 'TWILIO_ACCOUNT_SID');
  const token = str(env, 'TWILIO_AUTH_TOKEN');
  const from = str(env, 'TWILIO_FROM');
  const twilioSet = [sid, token, from].filter((v) => v !== null).length;
  if (twilioSet !== 0 && twilioSet !== 3) throw new ConfigError('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM must be set together');
  const baseUrl = (str(env, 'TWILIO_BASE_URL') ?? 'https://api.twilio.com').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) throw new ConfigError('TWILIO_BASE_URL must be an http(s) URL');

  let smsQuietHours: MarketingConfig['smsQuietHours'] = null;
  const quiet = str(env, 'SMS_QUIET_HOURS') ?? 'off';
  if (!['off', 'none', '0'].includes(quiet.toLowerCase())) {
    const m = /^(\d{1,2})-(\d{1,2})$/.exec(quiet);
    if (!m || Number(m[1]) > 23 || Number(m[2]) > 23 || m[1] === m[2]) {
      throw new ConfigError(`SMS_QUIET_HOURS must be "<start hour>-<end hour>" (e.g. 21-9) or off, got "${quiet}"`);
    }
    smsQuietHours = { start: Number(m[1]), end: Number(m[2]) };
  }

  let frequencyCap: MarketingConfig['frequencyCap'] = null;
  const cap = str(env, 'FREQUENCY_CAP') ?? 'off';
  if (!['off', 'none', '0'].includes(cap.toLowerCase())) {
    const m = /^(\d+)\/(\d+)([mhdw])$/.exec(cap);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new ConfigError(`FREQUENCY_CAP must look like 3/7d (count/window, m h d w) or off, got "${cap}"`);
    frequencyCap = { count: Number(m[1]), windowMs: Number(m[2]) * DURATION_MS[m[3]], text: cap };
  }

  const publicUrl = (str(env, 'PUBLIC_URL') ?? `http://localhost:${str(env, 'PORT') ?? '8084'}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(publicUrl)) throw new ConfigError('PUBLIC_URL must be an absolute http(s) URL');
  const trackingSecret = str(env, 'TRACKING_SECRET');
  if (trackingSecret && trackingSecret.length < 32) throw new ConfigError('TRACKING_SECRET must be at least 32 characters');
  const mailto = str(env, 'UNSUBSCRIBE_MAILTO');
  if (mailto && !/^[^\s@]+@[^\s@]+$/.test(mailto)) throw new ConfigError('UNSUBSCRIBE_MAILTO must be an e-mail address');

  return {
    smtpUrl,
    smtpPoolSize: int(env, 'SMTP_POOL_SIZE', 5, 1, 100),
    smtpRatePerSecond: int(env, 'SMTP_RATE_PER_SECOND', 0, 0, 100000),
    emailFrom: str(env, 'EMAIL_FROM') ?? 'Encore CRM <no-reply@localhost>',
    dkim: dkimSet === 3 ? { privateKey: dkimKey!.replace(/\\n/g, '\n'), domainName: dkimDomain!, keySelector: dkimSelector! } : null,
    twilio: twilioSet === 3 ? { accountSid: sid!, authToken: token!, from: from!, baseUrl } : null,
    smsQuietHours,
    frequencyCap,
    trackingSecret,
    publicUrl,
    unsubscribeMailto: mailto,
    attributionWindowDays: int(env, 'ATTRIBUTION_WINDOW_DAYS', 5, 0, 365),
    campaignBatchSize: int(env, 'CAMPAIGN_BATCH_SIZE', 500, 1, 10000),
  };
}
