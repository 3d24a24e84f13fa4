-- Indexes for the customer listing, notes and the customer's order history (issue 2, item 3).

-- Sort by name: last name, first name, company, case-insensitive; customers with no name at all
-- have NULL and sort last in both directions (the listing reads them in a second, id-ordered pass).
-- The expression must stay identical to NAME_SORT_KEY in src/modules/customers/customers.repository.ts.
CREATE INDEX customers_sort_name_idx ON customers (
  tenant_id,
  (nullif(btrim(lower(coalesce(last_name, '') || ' ' || coalesce(first_name, '') || ' ' || coalesce(company_name, ''))), '')),
  id
);

-- Equality filters of the listing (status, customer_type, loyalty_tier, country, city) in any
-- combination: one multi-column GIN (btree_gin) index answers every subset with a bitmap scan.
CREATE INDEX customers_filters_idx ON customers USING gin (tenant_id, status, customer_type, loyalty_tier, country, city);

-- A customer's notes: pinned first, newest first, id as tie-breaker for keyset pagination.
CREATE INDEX customer_notes_list_idx ON customer_notes (tenant_id, customer_id, pinned DESC, created_at DESC, id DESC);

-- A customer's orders and check-ins are read through orders_customer_idx and the attendance
-- primary key (a customer has tens of rows, not millions); no extra index slows ingestion.
