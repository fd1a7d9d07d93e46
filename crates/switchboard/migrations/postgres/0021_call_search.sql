-- Free-text search over calls (`q`: a caller's name or a fragment of their number),
-- answered by trigram indexes instead of a scan: PostgreSQL uses them for the
-- `LIKE '%…%'` of calls/queries.rs directly. pg_trgm is a trusted extension: the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX calls_caller_name_trgm ON calls USING gin (LOWER(caller_name) gin_trgm_ops);
CREATE INDEX calls_from_number_trgm ON calls USING gin (LOWER(from_number) gin_trgm_ops);
