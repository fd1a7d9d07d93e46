-- Text messages, inbound and outbound, keyed by Twilio's MessageSid.

CREATE TABLE messages (
    message_sid   TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    direction     TEXT NOT NULL,
    from_number   TEXT NOT NULL,
    to_number     TEXT NOT NULL,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL,
    error_code    TEXT,
    num_media     BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX messages_tenant_created ON messages(tenant_id, created_at DESC);
