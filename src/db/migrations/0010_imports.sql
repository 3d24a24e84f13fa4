-- CSV/XLSX imports of customers and orders (issue 6, items 1 and 14).

-- One uploaded file and its progress. The file itself lives in DATA_DIR/imports/<id> until the job
-- has read it (file_path); counts grow batch by batch so GET /imports/{id} shows progress.
CREATE TABLE imports (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  type text NOT NULL CHECK (type IN ('customers', 'orders')),
  status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  dry_run boolean NOT NULL DEFAULT false,
  file_name text,
  file_path text,
  file_format text NOT NULL CHECK (file_format IN ('csv', 'xlsx')),
  file_bytes bigint NOT NULL DEFAULT 0,
  encoding text,
  delimiter text,
  -- column header → profile/order field, as resolved (auto-mapping plus the explicit override)
  mapping jsonb NOT NULL DEFAULT '{}',
  total_rows integer NOT NULL DEFAULT 0,
  created integer NOT NULL DEFAULT 0,
  updated integer NOT NULL DEFAULT 0,
  rejected integer NOT NULL DEFAULT 0,
  -- rows applied before (an order imported again: same idempotency key)
  unchanged integer NOT NULL DEFAULT 0,
  -- rows already applied: a retried job resumes after them
  processed_rows integer NOT NULL DEFAULT 0,
  error_code text,
  error_message text,
  actor text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX imports_list_idx ON imports (tenant_id, created_at DESC, id DESC);

-- Rows an import rejected, with the reason and the raw cells (scrubbed by erasure, see privacy).
CREATE TABLE import_errors (
  tenant_id uuid NOT NULL,
  import_id uuid NOT NULL,
  row_number integer NOT NULL,
  reason text NOT NULL,
  raw jsonb,
  PRIMARY KEY (tenant_id, import_id, row_number),
  FOREIGN KEY (tenant_id, import_id) REFERENCES imports (tenant_id, id) ON DELETE CASCADE
);
