-- Automated journeys (workflows): definitions, per-customer enrollments with their durable
-- position, the log of every step run, and incentive codes issued by send steps.

CREATE TABLE workflows (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  description text,
  trigger_type text NOT NULL CHECK (trigger_type IN (
    'purchase', 'signup', 'event_day', 'post_event', 'birthday', 'anniversary', 'inactivity',
    'cart_abandoned', 'segment_entered', 'segment_exited', 'custom')),
  trigger_config jsonb NOT NULL DEFAULT '{}',
  -- the step graph as one document: [{ id, type, config, next, yes, no }], entry = first element;
  -- validated (references, no cycles) before it is stored
  steps jsonb NOT NULL DEFAULT '[]',
  active boolean NOT NULL DEFAULT false,
  reentry text NOT NULL DEFAULT 'once' CHECK (reentry IN ('once', 'after_exit', 'always')),
  reentry_cooldown_minutes integer NOT NULL DEFAULT 0 CHECK (reentry_cooldown_minutes >= 0),
  -- the ready-made use case this workflow was created from, if any
  template_key text,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX workflows_trigger_idx ON workflows (tenant_id, trigger_type) WHERE active AND deleted_at IS NULL;
CREATE INDEX workflows_active_idx ON workflows (trigger_type) WHERE active AND deleted_at IS NULL;

CREATE TABLE workflow_enrollments (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  workflow_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'exited', 'failed')),
  current_step_id text,
  next_run_at timestamptz,
  -- a worker that claimed the enrollment owns it until then (a crashed worker's claim expires)
  lease_until timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  -- what triggered it (order, show, cart, segment, custom data), given to message templates
  context jsonb NOT NULL DEFAULT '{}',
  -- the occurrence that enrolled the customer (e.g. "birthday:2026", "cart:c1:…"): one enrollment per occurrence
  trigger_key text,
  -- the re-entry policy as a unique key: 'once' forever, 'active' while running (after_exit), NULL (always)
  reentry_key text,
  exit_reason text,
  enrolled_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE UNIQUE INDEX workflow_enrollments_trigger_key ON workflow_enrollments (tenant_id, workflow_id, customer_id, trigger_key)
  WHERE trigger_key IS NOT NULL;
CREATE UNIQUE INDEX workflow_enrollments_reentry_key ON workflow_enrollments (tenant_id, workflow_id, customer_id, reentry_key)
  WHERE reentry_key IS NOT NULL;
CREATE INDEX workflow_enrollments_due_idx ON workflow_enrollments (next_run_at) WHERE status = 'active';
CREATE INDEX workflow_enrollments_workflow_idx ON workflow_enrollments (tenant_id, workflow_id, enrolled_at DESC, id DESC);
CREATE INDEX workflow_enrollments_customer_idx ON workflow_enrollments (tenant_id, customer_id);

CREATE TABLE workflow_step_runs (
  tenant_id uuid NOT NULL,
  id bigint GENERATED ALWAYS AS IDENTITY,
  enrollment_id uuid NOT NULL,
  workflow_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  step_id text NOT NULL,
  step_type text NOT NULL,
  status text NOT NULL CHECK (status IN ('succeeded', 'skipped', 'failed')),
  outcome jsonb NOT NULL DEFAULT '{}',
  error text,
  ran_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, enrollment_id) REFERENCES workflow_enrollments (tenant_id, id) ON DELETE CASCADE
);
-- step graphs are acyclic: a step succeeds at most once per enrollment (a repeated run is a no-op)
CREATE UNIQUE INDEX workflow_step_runs_once ON workflow_step_runs (tenant_id, enrollment_id, step_id) WHERE status <> 'failed';
CREATE INDEX workflow_step_runs_enrollment_idx ON workflow_step_runs (tenant_id, enrollment_id, id);

-- Time-limited incentive codes (abandoned cart, birthday): one per enrollment and step, unique per tenant.
CREATE TABLE workflow_incentives (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  code text NOT NULL,
  enrollment_id uuid NOT NULL,
  step_id text NOT NULL,
  workflow_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  percent_off numeric(5, 2),
  amount_off numeric(14, 2),
  expires_at timestamptz NOT NULL,
  redeemed_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, code),
  UNIQUE (tenant_id, enrollment_id, step_id),
  FOREIGN KEY (tenant_id, enrollment_id) REFERENCES workflow_enrollments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX workflow_incentives_customer_idx ON workflow_incentives (tenant_id, customer_id);
