-- Ring the tenant's staff in their browsers (the softphone) alongside the forward number.
ALTER TABLE tenant_telephony ADD COLUMN ring_browsers BIGINT;
