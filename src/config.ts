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
