-- Audit log, suppressions, consent ledger, privacy requests and retention runs (issue 6, items 8–13).

-- Append-only audit trail. Entries are inserted unsealed (chain_seq and hash NULL) by the
-- transaction that makes the change; a sealer later numbers committed entries of a tenant in one
-- order and chains them: hash = sha256(prev_hash || canonical_json(entry)). Inserting transactions
-- cannot chain themselves, because they commit in a different order than they insert.
-- The chained entry holds digests of before/after rather than the snapshots themselves, so an
-- erasure can remove a person's data from old entries (redacted_at) without breaking the chain;
-- an entry that is not redacted must still match its digests.
CREATE TABLE audit_log (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  -- insertion order (global identity: no per-tenant counter row for every writer to queue on)
  seq bigint GENERATED ALWAYS AS IDENTITY,
  actor text NOT NULL,
  action text NOT NULL,
  entity_type text NOT NULL,
  entity_id text,
  before jsonb,
  after jsonb,
  request_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- set once by the sealer: sha256 of canonical JSON of before/after, position, link hash
  before_digest text,
  after_digest text,
  chain_seq bigint,
  hash text,
  -- set once when an erasure removed before/after (the digests and the chain stay)
  redacted_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX audit_log_chain_idx ON audit_log (tenant_id, chain_seq) WHERE chain_seq IS NOT NULL;
CREATE INDEX audit_log_unsealed_idx ON audit_log (tenant_id, seq) WHERE chain_seq IS NULL;
-- GET /audit: newest first, optionally one entity's or one actor's history (entity ids are uuids or
-- platform ids, so entity_type is left to a recheck rather than leading the index).
CREATE INDEX audit_log_list_idx ON audit_log (tenant_id, created_at DESC, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, entity_id, created_at DESC, id DESC) WHERE entity_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (tenant_id, actor, created_at DESC, id DESC);

-- The last sealed link of each tenant: deleting the newest entries leaves the head pointing past
-- the end of the chain, so truncation is detected too.
CREATE TABLE audit_chain_heads (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
  chain_seq bigint NOT NULL,
  hash text NOT NULL,
  sealed_at timestamptz NOT NULL DEFAULT now()
);

-- Rejects every UPDATE and DELETE except two: the seal (chain_seq, hash and the digests go from
-- NULL to a value, nothing else changes) and the redaction of an erasure (before/after go to NULL,
-- redacted_at is set, nothing else changes).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND (NEW.tenant_id, NEW.id, NEW.seq, NEW.actor, NEW.action, NEW.entity_type, NEW.entity_id, NEW.request_id, NEW.created_at)
         IS NOT DISTINCT FROM
         (OLD.tenant_id, OLD.id, OLD.seq, OLD.actor, OLD.action, OLD.entity_type, OLD.entity_id, OLD.request_id, OLD.created_at) THEN
    IF OLD.chain_seq IS NULL AND OLD.hash IS NULL
       AND NEW.chain_seq IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.before_digest IS NOT NULL AND NEW.after_digest IS NOT NULL
       AND OLD.before_digest IS NULL AND OLD.after_digest IS NULL
       AND NEW.before IS NOT DISTINCT FROM OLD.before AND NEW.after IS NOT DISTINCT FROM OLD.after
       AND NEW.redacted_at IS NOT DISTINCT FROM OLD.redacted_at THEN
      RETURN NEW;
    END IF;
    IF OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL AND NEW.before IS NULL AND NEW.after IS NULL
       AND (NEW.chain_seq, NEW.hash, NEW.before_digest, NEW.after_digest)
           IS NOT DISTINCT FROM (OLD.chain_seq, OLD.hash, OLD.before_digest, OLD.after_digest) THEN
      RETURN NEW;
    END IF;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only (% rejected)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Set when the person was erased (GDPR art. 17): the row stays, anonymised and deleted, so
-- de-identified orders keep their customer and revenue figures stay right.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;

-- Addresses that must not be contacted. value_hash = hex SHA-256 of the normalized address
-- (lower-cased e-mail, E.164 phone), so an erased person leaves no clear-text address behind.
CREATE TABLE suppressions (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  channel text NOT NULL CHECK (channel IN ('email', 'sms')),
  value_hash text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('unsubscribed', 'hard_bounce', 'complaint', 'erased', 'manual')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, channel, value_hash)
);

-- Consent ledger: every grant and withdrawal; customers.consent holds the current state.
CREATE TABLE consent_events (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  customer_id uuid NOT NULL,
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'phone', 'push')),
  purpose text NOT NULL CHECK (purpose IN ('marketing', 'transactional', 'profiling')),
  granted boolean NOT NULL,
  source text NOT NULL,
  text_version text,
  ip text,
  occurred_at timestamptz NOT NULL DEFAULT now(),
  recorded_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX consent_events_customer_idx ON consent_events (tenant_id, customer_id, occurred_at DESC, id DESC);

-- Requests under GDPR articles 15 (access) and 17 (erasure), and retention erasures.
CREATE TABLE privacy_requests (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  type text NOT NULL CHECK (type IN ('access', 'erasure')),
  -- no foreign key: the customer row stays (anonymised), but the request must outlive any change
  customer_id uuid,
  status text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
  reason text,
  requested_by text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX privacy_requests_customer_idx ON privacy_requests (tenant_id, customer_id, created_at DESC);

-- One row per tenant per run of the retention job.
CREATE TABLE retention_runs (
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  inactive_years integer NOT NULL,
  cutoff timestamptz NOT NULL,
  customers_erased integer NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX retention_runs_list_idx ON retention_runs (tenant_id, finished_at DESC);
