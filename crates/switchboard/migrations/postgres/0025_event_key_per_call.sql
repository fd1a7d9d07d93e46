-- One index on call_events for both its uses instead of two: the dedupe key is unique
-- within its call (it is a digest of the call's sid, the kind and the parameters, so
-- this is the same rule as before), and the call's events are read by its prefix.
ALTER TABLE call_events ADD CONSTRAINT call_events_call_dedupe UNIQUE (call_sid, dedupe_key);
ALTER TABLE call_events DROP CONSTRAINT call_events_dedupe_key_key;
DROP INDEX call_events_call;
