-- Customer analytics (issue 4, items 8-14): the latest CLV model fit per tenant, acquisition cost per
-- source (ROI in GET /analytics/ltv).

-- The tenant's latest BG/NBD + Gamma-Gamma fit (written by the analytics.refresh_scores job), so
-- per-customer CLV and churn read a model without refitting on every request.
CREATE TABLE clv_models (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  time_unit text NOT NULL CHECK (time_unit IN ('day', 'week')),
  as_of date NOT NULL,
  -- {"bgnbd": {r, alpha, a, b}, "gamma_gamma": {p, q, v}, "repeat_customers": n}
  params jsonb NOT NULL,
  log_likelihood double precision NOT NULL,
  customers integer NOT NULL,
  fitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, time_unit)
);

-- What the tenant spent to acquire customers of a source (customers.source), for ROI.
CREATE TABLE acquisition_costs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  source text NOT NULL,
  cost numeric(14, 2) NOT NULL CHECK (cost >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, source)
);

