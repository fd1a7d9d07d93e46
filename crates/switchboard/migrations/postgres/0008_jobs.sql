-- Durable jobs (see jobs.rs): a lease-based claim, retries with backoff, dead after
-- max_attempts, a run-at time and a dedupe key.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    tenant_id     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    payload       TEXT NOT NULL,
    dedupe_key    TEXT UNIQUE,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    max_attempts  BIGINT NOT NULL,
    run_at        BIGINT NOT NULL,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(state, run_at);
CREATE INDEX jobs_created ON jobs(created_at);
