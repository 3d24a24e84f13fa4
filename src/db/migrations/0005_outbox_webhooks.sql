-- Transactional outbox and webhook subscriptions/deliveries (issue 3, items 1, 2, 5).

-- Published domain events, written in the same transaction as the change that caused them.
-- seq orders the events: a transaction that changes a customer locks the customer row before it
-- writes the event, so for one customer seq order is commit order. One identity for all tenants
-- (not a per-tenant counter) keeps the insert free of a shared counter row that every writer of a
-- tenant would queue on.
CREATE TABLE outbox (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY,
  type text NOT NULL,
  customer_id uuid,
  payload jsonb NOT NULL DEFAULT '{}'::jsonb,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when the event was fanned out into webhook_deliveries. Other consumers of the outbox
  -- (the RabbitMQ publisher) keep their own marker column.
  webhooks_dispatched_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);

CREATE UNIQUE INDEX outbox_seq_idx ON outbox (seq);
-- What the dispatcher reads: events not fanned out yet, in seq order.
CREATE INDEX outbox_webhooks_pending_idx ON outbox (seq) WHERE webhooks_dispatched_at IS NULL;

CREATE TABLE webhook_subscriptions (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  url text NOT NULL,
  -- exact types (customer.created), namespace wildcards (customer.*) or * for everything
  event_types text[] NOT NULL,
  -- Kept readable: every delivery is signed with it.
  secret text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE INDEX webhook_subscriptions_list_idx ON webhook_subscriptions (tenant_id, created_at, id);

CREATE TABLE webhook_deliveries (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  subscription_id uuid NOT NULL,
  -- The outbox event (outbox rows may be purged before their deliveries, so no foreign key).
  event_id uuid NOT NULL,
  event_seq bigint NOT NULL,
  event_type text NOT NULL,
  customer_id uuid,
  -- The exact JSON body sent (id, type, occurred_at, tenant_id, data).
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'dead')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  response_ms integer,
  -- Set on a replay: the delivery this one repeats.
  replay_of uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, subscription_id) REFERENCES webhook_subscriptions (tenant_id, id) ON DELETE CASCADE
);

-- One delivery per (subscription, event), so a dispatcher that runs twice creates nothing twice;
-- replays are the exception and carry replay_of.
CREATE UNIQUE INDEX webhook_deliveries_event_idx ON webhook_deliveries (tenant_id, subscription_id, event_id)
  WHERE replay_of IS NULL;
-- Due deliveries, across tenants (the worker serves every tenant).
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
  WHERE status IN ('pending', 'failed');
-- "Is an earlier delivery for this customer still open?" (per-customer order).
CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (tenant_id, subscription_id, customer_id, event_seq)
  WHERE status IN ('pending', 'failed');
-- GET /webhooks/{id}/deliveries, newest first.
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (tenant_id, subscription_id, created_at DESC, event_seq DESC, id DESC);
