-- Durable jobs (see jobs.rs): a lease-based claim, retries with backoff, dead after
-- max_attempts, a run-at time and a dedupe key.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    payload       TEXT NOT NULL,
    dedupe_key    TEXT UNIQUE,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    run_at        INTEGER NOT NULL,
    locked_by     TEXT,
    locked_until  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at);
CREATE INDEX jobs_created ON jobs(created_at);
