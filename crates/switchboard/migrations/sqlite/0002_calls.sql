-- The call record: append-only events and the projection folded from them.

CREATE TABLE call_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    call_sid     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX call_events_call ON call_events(call_sid);
-- Verified requests for numbers no tenant owns, for admins to see.
CREATE INDEX call_events_unrouted ON call_events(received_at) WHERE tenant_id IS NULL;

CREATE TABLE calls (
    call_sid            TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    twilio_number       TEXT,
    from_number         TEXT,
    to_number           TEXT,
    direction           TEXT,
    status              TEXT,
    dial_status         TEXT,
    outcome             TEXT NOT NULL,
    talk_seconds        INTEGER NOT NULL DEFAULT 0,
    call_seconds        INTEGER,
    menu_choice         TEXT,
    started_at          INTEGER NOT NULL,
    answered_at         INTEGER,
    ended_at            INTEGER,
    ringing_seconds     INTEGER,
    recording_sid       TEXT,
    recording_url       TEXT,
    recording_seconds   INTEGER,
    voicemail_sid       TEXT,
    voicemail_url       TEXT,
    voicemail_seconds   INTEGER,
    caller_name         TEXT,
    caller_city         TEXT,
    caller_state        TEXT,
    caller_zip          TEXT,
    caller_country      TEXT,
    price               TEXT,
    price_unit          TEXT,
    quality_metrics     TEXT,
    transcript_sid      TEXT,
    transcript_text     TEXT,
    summary_text        TEXT,
    appointment_booked  INTEGER,
    call_reason         TEXT,
    contact_id          TEXT,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX calls_tenant_started ON calls(tenant_id, started_at DESC, call_sid DESC);
CREATE INDEX calls_tenant_outcome_started ON calls(tenant_id, outcome, started_at DESC);
CREATE INDEX calls_tenant_number_started ON calls(tenant_id, twilio_number, started_at DESC);
CREATE INDEX calls_recording ON calls(recording_sid);

CREATE TABLE notification_reads (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    section       TEXT NOT NULL,
    last_read_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, section)
);
