-- Segments (issue 4, items 1-5): definitions, materialized membership, membership history,
-- and the score columns that later analytics fill, so segment rules can name them today.

-- Scores on the profile. All nullable (not computed yet) except the VIP flag.
ALTER TABLE customers ADD COLUMN rfm_segment text;
ALTER TABLE customers ADD COLUMN rfm_recency smallint;
ALTER TABLE customers ADD COLUMN rfm_frequency smallint;
ALTER TABLE customers ADD COLUMN rfm_monetary smallint;
ALTER TABLE customers ADD COLUMN churn_risk numeric(5, 4);
ALTER TABLE customers ADD COLUMN p_alive numeric(5, 4);
ALTER TABLE customers ADD COLUMN lifecycle_stage text;
ALTER TABLE customers ADD COLUMN engagement_score smallint;
ALTER TABLE customers ADD COLUMN predicted_clv numeric(14, 2);
ALTER TABLE customers ADD COLUMN is_vip boolean NOT NULL DEFAULT false;

CREATE TABLE segments (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  description text,
  type text NOT NULL CHECK (type IN ('dynamic', 'static')),
  -- normalized rule tree (src/modules/segments/segments.rules.ts); NULL for static segments
  rules jsonb,
  auto_update boolean NOT NULL DEFAULT true,
  customer_count integer NOT NULL DEFAULT 0,
  last_refreshed_at timestamptz,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  CHECK (type = 'static' OR rules IS NOT NULL)
);
-- Names identify segments on the profile ("segments": ["vip", …]): unique among live segments.
CREATE UNIQUE INDEX segments_name_key ON segments (tenant_id, lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE segment_members (
  tenant_id uuid NOT NULL,
  segment_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, segment_id, customer_id),
  FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
-- A customer's segments (profile, re-evaluation of changed customers, `segment` rule leaves).
CREATE INDEX segment_members_customer_idx ON segment_members (tenant_id, customer_id);
-- Members newest first (GET /segments/{id}/customers keyset pagination).
CREATE INDEX segment_members_added_idx ON segment_members (tenant_id, segment_id, added_at DESC, customer_id DESC);

-- Append-only log of entries and exits (analytics: size over time, entries/exits per day).
CREATE TABLE segment_membership_history (
  tenant_id uuid NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY,
  segment_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  change text NOT NULL CHECK (change IN ('entered', 'exited')),
  at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX segment_membership_history_segment_idx ON segment_membership_history (tenant_id, segment_id, at);
CREATE INDEX segment_membership_history_customer_idx ON segment_membership_history (tenant_id, customer_id, at);
