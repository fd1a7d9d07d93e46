-- The event writer notes new and renamed calls for the search index itself
-- (calls/store.rs) instead of these triggers: a trigger on `calls` makes every write of
-- a call a statement that may write more rows and may abort, and SQLite then copies
-- each page the statement touches into a statement journal before changing it — a
-- tenth of the writer's time. A deletion still leaves the index by its trigger (0022).
DROP TRIGGER calls_search_insert;
DROP TRIGGER calls_search_update;
