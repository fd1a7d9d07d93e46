-- Sending texts (see messaging.rs): a text is stored QUEUED under our own id before a
-- job sends it; Twilio's MessageSid replaces that id once Twilio accepts it. `party` is
-- the other side of the conversation (the customer), for threads.
ALTER TABLE messages ADD COLUMN local_id TEXT;
ALTER TABLE messages ADD COLUMN party TEXT;
ALTER TABLE messages ADD COLUMN failure_reason TEXT;
ALTER TABLE messages ADD COLUMN sent_by TEXT;
UPDATE messages SET party = CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END;
CREATE UNIQUE INDEX messages_local_id ON messages(local_id);
CREATE INDEX messages_tenant_party ON messages(tenant_id, party, created_at DESC);

-- Numbers that texted STOP (or STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) to a tenant: no
-- text goes to them until they text START or UNSTOP.
CREATE TABLE sms_opt_outs (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    phone         TEXT NOT NULL,
    keyword       TEXT NOT NULL,
    opted_out_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

-- The tenant's answer to HELP, and the longest text it may send (in segments).
ALTER TABLE tenant_telephony ADD COLUMN sms_help_text TEXT;
ALTER TABLE tenant_telephony ADD COLUMN sms_max_segments INTEGER;
