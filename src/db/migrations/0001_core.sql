-- Core schema: tenants and access, customer profiles, catalog, orders, attendance, carts,
-- timeline, interactions, loyalty, ingestion idempotency.
-- Every tenant-owned table leads its keys with tenant_id (see DESIGN.md, "Multi-tenant").

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  currency text NOT NULL DEFAULT 'RON',
  timezone text NOT NULL DEFAULT 'Europe/Bucharest',
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'employee', 'viewer')),
  -- first characters of the key, shown in listings so people can tell keys apart
  key_prefix text NOT NULL,
  -- SHA-256 of the whole key; keys are 256-bit random, so a fast hash is enough
  key_hash text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
-- The key is how a request finds its tenant, so this lookup is global.
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);

CREATE TABLE users (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  email text NOT NULL,
  name text,
  role text NOT NULL CHECK (role IN ('admin', 'employee', 'viewer')),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  disabled_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE sessions (
  token_hash text PRIMARY KEY,
  tenant_id uuid NOT NULL,
  user_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE customers (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  external_id text,
  email text,
  phone text,
  first_name text,
  last_name text,
  company_name text,
  customer_type text NOT NULL DEFAULT 'individual' CHECK (customer_type IN ('individual', 'business')),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'prospect')),
  date_of_birth date,
  gender text,
  addresses jsonb NOT NULL DEFAULT '[]',
  city text,
  state text,
  country text,
  postal_code text,
  source text,
  tags text[] NOT NULL DEFAULT '{}',
  preferences jsonb NOT NULL DEFAULT '{}',
  -- current consent state {marketing_email, marketing_sms, updated_at}; history is on the timeline
  consent jsonb NOT NULL DEFAULT '{}',
  custom_fields jsonb NOT NULL DEFAULT '{}',
  loyalty_tier text,
  loyalty_points integer NOT NULL DEFAULT 0,
  -- points earned net of refund reversals (redemptions do not lower it); the tier follows it
  loyalty_points_earned integer NOT NULL DEFAULT 0,
  total_orders integer NOT NULL DEFAULT 0,
  total_spend numeric(14, 2) NOT NULL DEFAULT 0,
  events_attended integer NOT NULL DEFAULT 0,
  average_order_value numeric(14, 2) NOT NULL DEFAULT 0,
  lifetime_value numeric(14, 2) NOT NULL DEFAULT 0,
  first_purchase timestamptz,
  last_purchase timestamptz,
  last_contact_at timestamptz,
  last_activity_at timestamptz,
  merged_into uuid,
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- what free-text search matches: name, e-mail, phone, company
  search_text text GENERATED ALWAYS AS (
    lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
          coalesce(phone, '') || ' ' || coalesce(company_name, ''))
  ) STORED,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX customers_external_id_key ON customers (tenant_id, external_id)
  WHERE external_id IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;
CREATE INDEX customers_email_idx ON customers (tenant_id, email) WHERE email IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX customers_phone_idx ON customers (tenant_id, phone) WHERE phone IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX customers_search_trgm_idx ON customers USING gin (tenant_id, search_text gin_trgm_ops);
CREATE INDEX customers_tags_idx ON customers USING gin (tenant_id, tags);
CREATE INDEX customers_created_idx ON customers (tenant_id, created_at DESC, id DESC);
CREATE INDEX customers_last_purchase_idx ON customers (tenant_id, last_purchase DESC NULLS LAST, id DESC);
CREATE INDEX customers_total_spend_idx ON customers (tenant_id, total_spend DESC, id DESC);
CREATE INDEX customers_ltv_idx ON customers (tenant_id, lifetime_value DESC, id DESC);

CREATE TABLE customer_notes (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  body text NOT NULL,
  pinned boolean NOT NULL DEFAULT false,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_notes_customer_idx ON customer_notes (tenant_id, customer_id, created_at DESC);

-- The organizer's shows. id is the platform's event id (e.g. "ev_9") or one generated here.
CREATE TABLE catalog_events (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id text NOT NULL,
  name text NOT NULL,
  genres text[] NOT NULL DEFAULT '{}',
  venue text,
  city text,
  starts_at timestamptz,
  ends_at timestamptz,
  status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'on_sale', 'sold_out', 'cancelled', 'completed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX catalog_events_starts_idx ON catalog_events (tenant_id, starts_at);
CREATE INDEX catalog_events_genres_idx ON catalog_events USING gin (tenant_id, genres);

-- id is the platform's order id.
CREATE TABLE orders (
  tenant_id uuid NOT NULL,
  id text NOT NULL,
  customer_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'completed', 'refunded', 'cancelled')),
  total numeric(14, 2) NOT NULL CHECK (total >= 0),
  refunded_amount numeric(14, 2) NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
  currency text NOT NULL,
  placed_at timestamptz NOT NULL,
  completed_at timestamptz,
  cancelled_at timestamptz,
  source text,
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX orders_customer_idx ON orders (tenant_id, customer_id, placed_at DESC);
CREATE INDEX orders_completed_idx ON orders (tenant_id, completed_at) WHERE status IN ('completed', 'refunded');

CREATE TABLE order_items (
  tenant_id uuid NOT NULL,
  order_id text NOT NULL,
  line_no integer NOT NULL,
  event_id text,
  ticket_type text,
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price numeric(14, 2) NOT NULL CHECK (unit_price >= 0),
  PRIMARY KEY (tenant_id, order_id, line_no),
  FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX order_items_event_idx ON order_items (tenant_id, event_id);

-- id is the ingested event's id (or generated), so a refund is recorded once.
CREATE TABLE refunds (
  tenant_id uuid NOT NULL,
  id text NOT NULL,
  order_id text NOT NULL,
  customer_id uuid NOT NULL,
  amount numeric(14, 2) NOT NULL CHECK (amount > 0),
  reason text,
  refunded_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);
CREATE INDEX refunds_order_idx ON refunds (tenant_id, order_id);

-- One row per admitted ticket. ticket_id is '' when the platform sends none.
CREATE TABLE attendance (
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  event_id text NOT NULL,
  ticket_id text NOT NULL DEFAULT '',
  order_id text,
  checked_in_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, customer_id, event_id, ticket_id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX attendance_event_idx ON attendance (tenant_id, event_id);

CREATE TABLE carts (
  tenant_id uuid NOT NULL,
  id text NOT NULL,
  customer_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'checked_out', 'abandoned')),
  items jsonb NOT NULL DEFAULT '[]',
  total numeric(14, 2) NOT NULL DEFAULT 0,
  currency text NOT NULL,
  order_id text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  checked_out_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX carts_customer_idx ON carts (tenant_id, customer_id);
CREATE INDEX carts_open_idx ON carts (tenant_id, updated_at) WHERE status = 'open';

-- The customer timeline (seed 002's customer_activities).
CREATE TABLE activities (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  type text NOT NULL,
  occurred_at timestamptz NOT NULL,
  summary text,
  data jsonb NOT NULL DEFAULT '{}',
  -- the ingested event, note, interaction … this entry comes from
  source_id text,
  actor text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX activities_customer_idx ON activities (tenant_id, customer_id, occurred_at DESC, id DESC);

-- Idempotency of ingestion: an event id is applied once per tenant.
CREATE TABLE ingested_events (
  tenant_id uuid NOT NULL,
  id text NOT NULL,
  type text NOT NULL,
  customer_id uuid,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE interactions (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  type text NOT NULL CHECK (type IN ('call', 'email', 'meeting', 'support', 'sale', 'follow_up', 'other')),
  subject text NOT NULL,
  description text,
  outcome text,
  priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'cancelled')),
  duration_minutes integer CHECK (duration_minutes >= 0),
  follow_up_at timestamptz,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  created_by text,
  source_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX interactions_customer_idx ON interactions (tenant_id, customer_id, occurred_at DESC);
CREATE INDEX interactions_follow_up_idx ON interactions (tenant_id, follow_up_at)
  WHERE status = 'pending' AND follow_up_at IS NOT NULL AND deleted_at IS NULL;

CREATE TABLE loyalty_tiers (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  min_points integer NOT NULL CHECK (min_points >= 0),
  benefits jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (tenant_id, name),
  UNIQUE (tenant_id, min_points)
);

-- Points ledger: positive = earned, negative = reversed or redeemed. (reason, ref) makes an
-- entry idempotent: ref is the order id for earning, the refund id for a reversal.
CREATE TABLE loyalty_ledger (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  points integer NOT NULL,
  reason text NOT NULL CHECK (reason IN ('order_completed', 'order_refunded', 'order_cancelled', 'redeemed', 'adjusted')),
  ref text,
  note text,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE UNIQUE INDEX loyalty_ledger_ref_key ON loyalty_ledger (tenant_id, reason, ref) WHERE ref IS NOT NULL;
CREATE INDEX loyalty_ledger_customer_idx ON loyalty_ledger (tenant_id, customer_id, created_at DESC);
