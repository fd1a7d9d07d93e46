-- One index on call_events for both its uses instead of two: the dedupe key is unique
-- within its call (it is a digest of the call's sid, the kind and the parameters, so
-- this is the same rule as before), and the call's events are read by its prefix.
-- Every event went into two random places of two indexes; now one (a page less for
-- each event's commit to write and each checkpoint to copy). SQLite cannot drop a
-- column's UNIQUE, so the table is rebuilt, its rows and ids kept.
CREATE TABLE call_events_rebuilt (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id          TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    call_sid           TEXT NOT NULL,
    kind               TEXT NOT NULL,
    dedupe_key         TEXT NOT NULL,
    payload            TEXT NOT NULL,
    received_at        INTEGER NOT NULL,
    claimed_tenant_id  TEXT,
    UNIQUE (call_sid, dedupe_key)
);
INSERT INTO call_events_rebuilt (id, tenant_id, call_sid, kind, dedupe_key, payload, received_at, claimed_tenant_id)
    SELECT id, tenant_id, call_sid, kind, dedupe_key, payload, received_at, claimed_tenant_id
    FROM call_events;
-- The ids go on from where the old table's left off (the rebuilt table's own counter
-- only knows the largest id still stored).
DELETE FROM sqlite_sequence WHERE name = 'call_events_rebuilt';
UPDATE sqlite_sequence SET name = 'call_events_rebuilt' WHERE name = 'call_events';
DROP TABLE call_events;
ALTER TABLE call_events_rebuilt RENAME TO call_events;
-- Verified requests for numbers no tenant owns, for admins to see.
CREATE INDEX call_events_unrouted ON call_events(received_at) WHERE tenant_id IS NULL;
