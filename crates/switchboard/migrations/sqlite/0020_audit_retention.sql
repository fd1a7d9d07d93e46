-- Who did what (audit.rs): append-only; rows outlive the users and tenants they name.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id TEXT,
    actor_email TEXT,
    tenant_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    ip TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_tenant_at ON audit_log(tenant_id, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Retention (telephony.rs owns the setting): recordings, voicemails and transcripts
-- older than this many days are deleted, here and at Twilio. NULL: kept.
ALTER TABLE tenant_telephony ADD COLUMN retention_days INTEGER;
-- When a call's media was erased (calls/): its audio routes answer 410 Gone.
ALTER TABLE calls ADD COLUMN media_erased_at INTEGER;
