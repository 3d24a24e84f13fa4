-- Marketing (issue 5 items 1-8): templates, the message log (e-mail and SMS, every source),
-- tracking events, campaigns and their recipients.

-- Per-tenant keys of tracking/unsubscribe tokens when TRACKING_SECRET is not configured.
CREATE TABLE marketing_keys (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  tracking_secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE templates (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  subject text,
  preheader text,
  format text NOT NULL CHECK (format IN ('mjml', 'html', 'text')),
  body text NOT NULL,
  -- MJML compiled to HTML once at save time; Liquid tags pass through and are rendered per recipient
  compiled_html text,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX templates_name_key ON templates (tenant_id, lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE campaigns (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
  segment_ids uuid[] NOT NULL DEFAULT '{}',
  exclude_segment_ids uuid[] NOT NULL DEFAULT '{}',
  template_id uuid,
  subject text,
  preheader text,
  content text,
  content_format text CHECK (content_format IN ('mjml', 'html', 'text')),
  compiled_html text,
  -- {subjects: [a, b], split_percent, metric, wait_hours}
  ab_test jsonb,
  ab_winner text CHECK (ab_winner IN ('a', 'b')),
  ab_decide_at timestamptz,
  send_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz,
  audience_size integer,
  -- one send job at a time: the job holding an unexpired lease sends, a crashed one's lease runs out
  lease_id uuid,
  lease_until timestamptz,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, template_id) REFERENCES templates (tenant_id, id)
);
CREATE INDEX campaigns_list_idx ON campaigns (tenant_id, created_at DESC, id DESC);
CREATE INDEX campaigns_due_idx ON campaigns (send_at) WHERE status = 'scheduled';

-- Every message sent or refused, whatever its source (campaign, workflow, test, transactional).
-- idempotency_key makes a send happen once: a second delivery with the same key finds this row.
CREATE TABLE messages (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  idempotency_key text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  customer_id uuid,
  to_address text,
  source_kind text NOT NULL CHECK (source_kind IN ('campaign', 'workflow', 'test', 'transactional')),
  source_id text NOT NULL,
  source_step text,
  campaign_id uuid,
  variant text,
  -- queued: waits for send_after (quiet hours) or a retry; sending: handed to the transport, outcome
  -- not recorded yet (a crash here resends with the same Message-ID); sent: accepted by the transport
  status text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'suppressed', 'skipped')),
  reason text,
  -- Message-ID header (e-mail), kept across retries so a receiver can drop a duplicate
  message_id_header text,
  provider_id text,
  transport text,
  subject text,
  html text,
  text text,
  headers jsonb NOT NULL DEFAULT '{}',
  -- campaign messages over a real transport keep no body: a resend renders it again from this
  content_ref jsonb,
  sms_segments integer,
  sms_encoding text,
  send_after timestamptz,
  lease_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  delivered_at timestamptz,
  opened_at timestamptz,
  clicked_at timestamptz,
  bounced_at timestamptz,
  complained_at timestamptz,
  unsubscribed_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX messages_list_idx ON messages (tenant_id, created_at DESC, id DESC);
CREATE INDEX messages_customer_idx ON messages (tenant_id, customer_id, sent_at DESC);
CREATE INDEX messages_pending_idx ON messages (coalesce(send_after, lease_until)) WHERE status IN ('queued', 'sending');
CREATE INDEX messages_provider_idx ON messages (tenant_id, provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_header_idx ON messages (tenant_id, message_id_header) WHERE message_id_header IS NOT NULL;

-- Engagement and delivery events (opens, clicks with their URL, bounces, complaints, unsubscribes).
CREATE TABLE message_events (
  tenant_id uuid NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY,
  message_id uuid NOT NULL,
  campaign_id uuid,
  customer_id uuid,
  variant text,
  type text NOT NULL CHECK (type IN ('delivered', 'open', 'click', 'bounce', 'complaint', 'unsubscribe')),
  url text,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  data jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, message_id) REFERENCES messages (tenant_id, id)
);
CREATE INDEX message_events_campaign_idx ON message_events (tenant_id, campaign_id, type, occurred_at) WHERE campaign_id IS NOT NULL;
CREATE INDEX message_events_message_idx ON message_events (tenant_id, message_id);

-- The audience of a campaign, snapshotted when sending starts, and each recipient's progress.
CREATE TABLE campaign_recipients (
  tenant_id uuid NOT NULL,
  campaign_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  -- A/B: 'a' or 'b' for the test groups, NULL for the rest until the winner is known
  variant text,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN (
    'queued', 'sending', 'sent', 'delivered', 'bounced', 'opened', 'clicked', 'unsubscribed', 'converted',
    'suppressed', 'skipped', 'failed')),
  reason text,
  message_id uuid,
  queued_at timestamptz NOT NULL DEFAULT now(),
  sent_at timestamptz,
  delivered_at timestamptz,
  bounced_at timestamptz,
  opened_at timestamptz,
  clicked_at timestamptz,
  unsubscribed_at timestamptz,
  converted_at timestamptz,
  PRIMARY KEY (tenant_id, campaign_id, customer_id),
  FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns (tenant_id, id)
);
-- the send job walks one status in customer order (keyset), batch after batch
CREATE INDEX campaign_recipients_status_idx ON campaign_recipients (tenant_id, campaign_id, status, customer_id);
CREATE INDEX campaign_recipients_customer_idx ON campaign_recipients (tenant_id, customer_id);
