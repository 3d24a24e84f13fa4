-- VIP identification (issue 4, item 7): one editable rule per tenant. No row = the default rule
-- (top 5 % of buyers by total_spend, or total_spend >= 5000). customers.is_vip exists since 0004.
CREATE TABLE vip_rules (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  -- share of buyers (customers with a completed order), ranked by total_spend, that are VIP; 0 = none
  top_percent numeric(5, 2) NOT NULL CHECK (top_percent >= 0 AND top_percent <= 50),
  -- total_spend from which a customer is VIP whatever the ranking; NULL = no threshold
  min_total_spend numeric(14, 2) CHECK (min_total_spend >= 0),
  -- optional extra condition (normalized segment rule tree), ANDed with the two criteria above
  rules jsonb,
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);
