-- Indexes of columns a new call leaves empty hold only the calls that have a value:
-- storing a call's first event then writes none of them (the webhook write path), and
-- the filters on these columns (`= value`) still use them.
DROP INDEX calls_recording;
CREATE INDEX calls_recording ON calls(recording_sid) WHERE recording_sid IS NOT NULL;
DROP INDEX calls_tenant_booked_started;
CREATE INDEX calls_tenant_booked_started ON calls(tenant_id, appointment_booked, started_at DESC)
    WHERE appointment_booked IS NOT NULL;
DROP INDEX calls_tenant_reason_started;
CREATE INDEX calls_tenant_reason_started ON calls(tenant_id, call_reason, started_at DESC)
    WHERE call_reason IS NOT NULL;
