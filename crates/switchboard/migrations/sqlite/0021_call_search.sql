-- Free-text search over calls (`q`: a caller's name or a fragment of their number),
-- answered by an index instead of a scan (calls/queries.rs). A trigram FTS5 index
-- finds any substring of three characters or more, case-insensitively; it reads its
-- text from `calls` (external content) and is kept in step by these triggers, which
-- touch it only when the name or number changes.
CREATE VIRTUAL TABLE calls_search USING fts5(
    caller_name, from_number, content = 'calls', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO calls_search(rowid, caller_name, from_number)
    SELECT rowid, caller_name, from_number FROM calls;
CREATE TRIGGER calls_search_insert AFTER INSERT ON calls BEGIN
    INSERT INTO calls_search(rowid, caller_name, from_number)
        VALUES (new.rowid, new.caller_name, new.from_number);
END;
CREATE TRIGGER calls_search_delete AFTER DELETE ON calls BEGIN
    INSERT INTO calls_search(calls_search, rowid, caller_name, from_number)
        VALUES ('delete', old.rowid, old.caller_name, old.from_number);
END;
CREATE TRIGGER calls_search_update AFTER UPDATE OF caller_name, from_number ON calls
WHEN old.caller_name IS NOT new.caller_name OR old.from_number IS NOT new.from_number
BEGIN
    INSERT INTO calls_search(calls_search, rowid, caller_name, from_number)
        VALUES ('delete', old.rowid, old.caller_name, old.from_number);
    INSERT INTO calls_search(rowid, caller_name, from_number)
        VALUES (new.rowid, new.caller_name, new.from_number);
END;
