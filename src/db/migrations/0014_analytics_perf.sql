-- Scores refresh at a million customers (issue 4, item 14).

-- Room on every customers page for new row versions: a score write (no indexed column changes) can then
-- stay on its page as a HOT update instead of adding an entry to each of the table's dozen indexes
-- (trigram and btree_gin among them). The full refresh writes in id-range slices, a few rows of each page
-- per slice, so the headroom suffices. Applies to pages filled from now on; `VACUUM FULL customers`
-- repacks an existing table with it.
ALTER TABLE customers SET (fillfactor = 85);

-- Per tenant: the monetary quintile cuts of the last full refresh, so refreshing a few customers after an
-- ingestion scores them against the same quintiles (as the CLV model stays as last fitted).
CREATE TABLE customer_score_state (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  -- [{spend, id}, …]: where quintiles 2..5 start, by (total_spend, id)
  monetary_cuts jsonb NOT NULL,
  refreshed_at timestamptz NOT NULL DEFAULT now()
);

-- Customers whose data changed since their scores were computed (ingestion adds them; the
-- analytics.refresh_queued_scores ticker refreshes and removes them a few seconds later).
CREATE TABLE score_refresh_queue (
  tenant_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX score_refresh_queue_age_idx ON score_refresh_queue (queued_at);
