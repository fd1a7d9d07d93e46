-- A rollup key's figures may be split over shards, which readers sum (they always
-- summed over rows). Each of PostgreSQL's event writers adds to a shard of its own, so
-- concurrent batches — of one process or of several — no longer queue on the day's
-- one row for each other's commits. Rows written elsewhere (a rebuild) go to shard 0.
ALTER TABLE call_rollups ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE call_rollups DROP CONSTRAINT call_rollups_pkey;
ALTER TABLE call_rollups ADD PRIMARY KEY (tenant_id, day, twilio_number, direction, outcome, menu_choice, shard);
