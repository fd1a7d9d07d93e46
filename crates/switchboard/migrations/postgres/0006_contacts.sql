-- A tenant's contacts; calls link to them by the caller's number when they are read.

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    phone       TEXT NOT NULL,
    email       TEXT,
    notes       TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, phone)
);
