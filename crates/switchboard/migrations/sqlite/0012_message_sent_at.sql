-- When Twilio accepted a text we sent (the notifications list shows it as sentAt).
ALTER TABLE messages ADD COLUMN sent_at INTEGER;
