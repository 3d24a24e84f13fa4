import { describe, expect, it } from 'vitest';
import { signatureHeader } from '../../../src/modules/webhooks/webhooks.delivery.js';
import { parseWebhook, verifyWebhook, WebhookVerificationError } from '../src/index.js';

// Signed exactly as the service signs deliveries (src/modules/webhooks/webhooks.delivery.ts).
const secret = 'whsec_0123456789abcdefghijklmnop';
const body = JSON.stringify({
  id: '8b1e0000-0000-4000-8000-000000000001', type: 'customer.tier_changed', occurred_at: '2025-01-10T18:30:00.123Z',
  tenant_id: 'a8190000-0000-4000-8000-000000000002',
  data: { customer_id: 'c1', old_tier: 'bronze', new_tier: 'silver', points_earned: 1200, cause: 'adjusted', name: 'Ștefan Iași' },
});
const now = Math.floor(Date.now() / 1000);

describe('verifyWebhook', () => {
  it('accepts the server\'s signature (string and Buffer bodies)', () => {
    const header = signatureHeader(secret, body, now);
    expect(verifyWebhook(body, header, secret)).toBe(true);
    expect(verifyWebhook(Buffer.from(body), header, secret)).toBe(true);
  });

  it('rejects a wrong secret, a modified body, an old or future timestamp, a bad header', () => {
    const header = signatureHeader(secret, body, now);
    expect(verifyWebhook(body, header, secret + 'x')).toBe(false);
    expect(verifyWebhook(body.replace('silver', 'gold'), header, secret)).toBe(false);
    expect(verifyWebhook(body, signatureHeader(secret, body, now - 301), secret)).toBe(false);
    expect(verifyWebhook(body, signatureHeader(secret, body, now + 301), secret)).toBe(false);
    // the timestamp is signed: moving it invalidates the signature
    expect(verifyWebhook(body, header.replace(`t=${now}`, `t=${now - 1}`), secret)).toBe(false);
    expect(verifyWebhook(body, '', secret)).toBe(false);
    expect(verifyWebhook(body, 'garbage', secret)).toBe(false);
    expect(verifyWebhook(body, `t=${now},v1=zz`, secret)).toBe(false);
    expect(verifyWebhook(body, `t=${now}`, secret)).toBe(false);
  });

  it('honours toleranceSeconds and now', () => {
    const old = now - 3600;
    const header = signatureHeader(secret, body, old);
    expect(verifyWebhook(body, header, secret)).toBe(false);
    expect(verifyWebhook(body, header, secret, { toleranceSeconds: 7200 })).toBe(true);
    expect(verifyWebhook(body, header, secret, { now: old + 10 })).toBe(true);
  });
});

describe('parseWebhook', () => {
  it('answers the typed event', () => {
    const event = parseWebhook(body, signatureHeader(secret, body, now), secret);
    expect(event.type).toBe('customer.tier_changed');
    if (event.type === 'customer.tier_changed') {
      // typed payload
      const newTier: string | null = event.data.new_tier;
      expect(newTier).toBe('silver');
    }
  });

  it('throws WebhookVerificationError on a bad signature', () => {
    expect(() => parseWebhook(body, signatureHeader('whsec_other_secret_000000000', body, now), secret)).toThrow(WebhookVerificationError);
  });
});
