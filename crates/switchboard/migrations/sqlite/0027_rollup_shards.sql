-- A rollup key's figures may be split over shards, which readers sum (they always
-- summed over rows): PostgreSQL's concurrent event writers each add to a shard of their
-- own. SQLite's one writer uses shard 0; the column keeps one schema and one upsert for
-- both databases. SQLite cannot change a primary key, so the table is rebuilt.
CREATE TABLE call_rollups_sharded (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day            INTEGER NOT NULL,
    twilio_number  TEXT NOT NULL,
    direction      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    menu_choice    TEXT NOT NULL,
    calls          INTEGER NOT NULL,
    talk_seconds   INTEGER NOT NULL,
    booked         INTEGER NOT NULL,
    shard          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, twilio_number, direction, outcome, menu_choice, shard)
);
INSERT INTO call_rollups_sharded (tenant_id, day, twilio_number, direction, outcome, menu_choice, calls, talk_seconds, booked)
    SELECT tenant_id, day, twilio_number, direction, outcome, menu_choice, calls, talk_seconds, booked
    FROM call_rollups;
DROP TABLE call_rollups;
ALTER TABLE call_rollups_sharded RENAME TO call_rollups;
