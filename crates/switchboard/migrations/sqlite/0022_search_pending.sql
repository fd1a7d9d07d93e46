-- The trigram index of calls (0021) is kept in step in batches, not by every write:
-- FTS5 writes a segment per transaction (and merges them), which made it most of the
-- cost of storing a webhook. A new or renamed call is noted here (a row id, appended)
-- and the event writer moves what is noted into the index about once a second
-- (calls/store.rs); search reads the index and checks the noted rows directly
-- (calls/queries.rs), so it finds them meanwhile. A deletion still leaves the index at
-- once, since the index needs the old text to forget it.
CREATE TABLE calls_search_pending (call_rowid INTEGER PRIMARY KEY);
DROP TRIGGER calls_search_insert;
DROP TRIGGER calls_search_delete;
DROP TRIGGER calls_search_update;
CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
    INSERT OR IGNORE INTO calls_search_pending(call_rowid) VALUES (new.rowid);
END;
CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
    INSERT INTO calls_search(calls_search, rowid, caller_name, from_number)
        SELECT 'delete', old.rowid, old.caller_name, old.from_number
        WHERE NOT EXISTS (SELECT 1 FROM calls_search_pending WHERE call_rowid = old.rowid);
    DELETE FROM calls_search_pending WHERE call_rowid = old.rowid;
END;
CREATE TRIGGER calls_search_update AFTER UPDATE OF caller_name, from_number ON calls
WHEN old.caller_name IS NOT new.caller_name OR old.from_number IS NOT new.from_number
BEGIN
    INSERT INTO calls_search(calls_search, rowid, caller_name, from_number)
        SELECT 'delete', old.rowid, old.caller_name, old.from_number
        WHERE NOT EXISTS (SELECT 1 FROM calls_search_pending WHERE call_rowid = old.rowid);
    INSERT OR IGNORE INTO calls_search_pending(call_rowid) VALUES (new.rowid);
END;
