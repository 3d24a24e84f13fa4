-- Work tables of a whole-tenant scores refresh (issue 4, item 14). A refresh computes every customer's
-- scores in ONE set-based statement (each source table read once, grouped by hash) into
-- score_refresh_changes, keeping only the customers whose values change, then writes those in short
-- transactions of a few thousand rows each. The rows live only while their run lasts (`run_id`); they are
-- scratch data, rebuilt by the next run, hence UNLOGGED (no WAL; emptied after a crash).

-- The CLV model's per-buyer predictions (computed in the service), staged for the set-based statement, which
-- reads a run's rows once, whole (no index to maintain; the table is emptied after each run).
CREATE UNLOGGED TABLE score_refresh_clv (
  run_id uuid NOT NULL,
  customer_id uuid NOT NULL,
  p_alive float8 NOT NULL,
  predicted_clv float8 NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);

-- The new values of each customer whose scores change, with its row's version (`row_version`, the xmin) when
-- the values were computed: a row written since (an ingestion, a merge…) is skipped, its own refresh wins.
-- `sweep`, `line`, `page` place the row in the table (page = block, line = item of the page, sweep = a run of
-- neighbouring pages): the writes go sweep by sweep and, within a sweep, one line number per transaction, so a
-- transaction writes at most one row per page (the page keeps room for the new version, a HOT update) and a
-- page's rows are all written within a few consecutive transactions (one full-page image per page in the WAL,
-- the pages stay in the buffer cache).
CREATE UNLOGGED TABLE score_refresh_changes (
  run_id uuid NOT NULL,
  sweep integer NOT NULL,
  line integer NOT NULL,
  page integer NOT NULL,
  customer_id uuid NOT NULL,
  row_version xid NOT NULL,
  old_stage text,
  rfm_recency smallint,
  rfm_frequency smallint,
  rfm_monetary smallint,
  rfm_segment text,
  p_alive numeric,
  predicted_clv numeric,
  churn_risk numeric,
  lifecycle_stage text,
  engagement_score smallint,
  rfm_changed boolean NOT NULL,
  clv_changed boolean NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, sweep, line, page)
);
