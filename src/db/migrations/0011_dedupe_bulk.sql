-- Duplicate detection and merge, bulk operations, enrichment (issue 6, items 4–7).

-- Blocking keys of duplicate detection. IMMUTABLE single-expression SQL functions: the planner
-- inlines them, and the expression indexes below answer the incremental check of a few customers.

-- E-mail key: lower-cased, "+tag" dropped from the local part, and for Gmail the dots too
-- (ion.popescu+concerte@googlemail.com and ionpopescu@gmail.com are one mailbox).
CREATE FUNCTION crm_email_key(email text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN email IS NULL OR strpos(email, '@') = 0 THEN NULL
    WHEN split_part(lower(email), '@', 2) IN ('gmail.com', 'googlemail.com')
      THEN replace(split_part(split_part(lower(email), '@', 1), '+', 1), '.', '') || '@gmail.com'
    ELSE split_part(split_part(lower(email), '@', 1), '+', 1) || '@' || split_part(lower(email), '@', 2)
  END
$$;

-- Name or city key: lower-cased, Romanian and common Latin diacritics folded, spaces and
-- punctuation dropped ("Ștefănescu" = "stefanescu", "Cluj-Napoca" = "cluj napoca" = "clujnapoca");
-- NULL when nothing is left. translate() deletes the characters past the end of its third argument;
-- it is several times faster than a regular expression, which counts at a million rows.
CREATE FUNCTION crm_name_key(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT nullif(translate(lower(value),
    'ăâîșşțţáàäãåéèëêíìïóòöôõúùüûçñ -''.,_/()',
    'aaissttaaaaaeeeeiiiooooouuuucn'), '')
$$;

-- Live customers by e-mail key, by last name and city, by first name and city, by birth date and
-- by the last seven digits of the phone: the blocks a changed customer is compared within.
CREATE INDEX customers_dedupe_email_idx ON customers (tenant_id, crm_email_key(email))
  WHERE email IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;
CREATE INDEX customers_dedupe_last_city_idx ON customers (tenant_id, crm_name_key(last_name), crm_name_key(city))
  WHERE last_name IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;
CREATE INDEX customers_dedupe_first_city_idx ON customers (tenant_id, crm_name_key(first_name), crm_name_key(city))
  WHERE first_name IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;
CREATE INDEX customers_dedupe_dob_idx ON customers (tenant_id, date_of_birth)
  WHERE date_of_birth IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;
CREATE INDEX customers_dedupe_phone_suffix_idx ON customers (tenant_id, right(phone, 7))
  WHERE phone IS NOT NULL AND deleted_at IS NULL AND merged_into IS NULL;

-- Candidate pairs (customer_a < customer_b), with a score in [0, 1] and the rules that matched.
CREATE TABLE duplicate_candidates (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_a uuid NOT NULL,
  customer_b uuid NOT NULL,
  score numeric(5, 4) NOT NULL CHECK (score >= 0 AND score <= 1),
  reasons text[] NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'merged')),
  detected_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  resolved_by text,
  resolved_at timestamptz,
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, customer_a, customer_b),
  CHECK (customer_a < customer_b),
  FOREIGN KEY (tenant_id, customer_a) REFERENCES customers (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_b) REFERENCES customers (tenant_id, id)
);
-- GET /duplicates: by status, best score first, id as tie-breaker (keyset pagination).
CREATE INDEX duplicate_candidates_list_idx ON duplicate_candidates (tenant_id, status, score DESC, id);
CREATE INDEX duplicate_candidates_b_idx ON duplicate_candidates (tenant_id, customer_b);

-- Customers changed since duplicate detection last looked at them (ingestion, create): drained by
-- the dedupe.incremental job. One row per customer, whatever the number of changes.
CREATE TABLE dedupe_queue (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  customer_id uuid NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, customer_id)
);

-- Identifiers of merged-away customers, pointing at the survivor, so later events that still
-- carry them resolve to the survivor (ingestion's identity resolution reads this table).
CREATE TABLE customer_aliases (
  tenant_id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('external_id', 'email', 'phone')),
  value text NOT NULL,
  customer_id uuid NOT NULL,
  merged_from uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, kind, value),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX customer_aliases_customer_idx ON customer_aliases (tenant_id, customer_id);

-- Derived facts (phone country and line type, free-mail or company domain, time zone, age …),
-- kept apart from the client-written custom_fields so re-enrichment never overwrites client data.
ALTER TABLE customers ADD COLUMN enrichment jsonb NOT NULL DEFAULT '{}';

-- Bulk operations, run as jobs; progress and the per-customer error report live here.
CREATE TABLE bulk_operations (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  action text NOT NULL CHECK (action IN ('tag', 'untag', 'add_to_segment', 'update_field', 'delete')),
  params jsonb NOT NULL DEFAULT '{}',
  target jsonb NOT NULL,
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  total integer,
  processed integer NOT NULL DEFAULT 0,
  succeeded integer NOT NULL DEFAULT 0,
  failed integer NOT NULL DEFAULT 0,
  -- per-customer errors (capped) and, for a failed operation, why
  report jsonb NOT NULL DEFAULT '{"errors": []}',
  -- where a resumed run (a redelivered job) continues: the last customer id done for ids and
  -- segment targets, the customer listing's cursor for a filter
  resume_cursor text,
  created_by text NOT NULL,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX bulk_operations_list_idx ON bulk_operations (tenant_id, created_at DESC, id DESC);

-- Full duplicate scans, run as jobs.
CREATE TABLE dedupe_scans (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  pairs integer,
  auto_merged integer,
  error text,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
