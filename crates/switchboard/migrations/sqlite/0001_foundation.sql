-- Tenants, users, sessions, phone numbers and per-tenant telephony settings.
-- Times are unix milliseconds; flags are 0/1 integers (sqlx Any cannot decode BOOLEAN).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'customer', 'receptionist')),
    tenant_id      TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    allowed_pages  TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE phone_numbers (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    e164           TEXT NOT NULL UNIQUE,
    friendly_name  TEXT,
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    is_primary     INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
);
CREATE INDEX phone_numbers_tenant ON phone_numbers(tenant_id);

CREATE TABLE tenant_telephony (
    tenant_id                TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    account_sid              TEXT,
    auth_token_enc           TEXT,
    api_key_sid              TEXT,
    api_key_secret_enc       TEXT,
    call_routing_mode        TEXT,
    forward_number           TEXT,
    forward_number_new       TEXT,
    forward_number_existing  TEXT,
    menu_message             TEXT,
    voice                    TEXT,
    recording_enabled        INTEGER,
    transcription_enabled    INTEGER,
    whisper_message          TEXT,
    auto_reply_message       TEXT,
    business_hours           TEXT,
    updated_at               INTEGER NOT NULL
);
CREATE INDEX tenant_telephony_account ON tenant_telephony(account_sid);
