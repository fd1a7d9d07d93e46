-- The missed-call text-back (see messaging.rs): a tenant may text callers it missed,
-- with its own template; the text remembers the call it answers.
ALTER TABLE tenant_telephony ADD COLUMN text_back_enabled INTEGER;
ALTER TABLE tenant_telephony ADD COLUMN text_back_message TEXT;
ALTER TABLE messages ADD COLUMN call_sid TEXT;
CREATE INDEX messages_call ON messages(call_sid);
