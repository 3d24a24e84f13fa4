-- Indexes for interactions, the show catalog and the statistics (issue 2, items 4, 7, 8).

-- A customer's interactions, newest first, with the id as tie-breaker for keyset pagination.
CREATE INDEX interactions_customer_list_idx ON interactions (tenant_id, customer_id, occurred_at DESC, id DESC)
  WHERE deleted_at IS NULL;

-- Tenant-wide "interactions in the last N days" (GET /stats).
CREATE INDEX interactions_recent_idx ON interactions (tenant_id, occurred_at)
  WHERE deleted_at IS NULL;

-- The catalog listing is sorted by starts_at, then id.
CREATE INDEX catalog_events_list_idx ON catalog_events (tenant_id, starts_at, id);

