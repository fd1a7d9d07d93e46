-- The AI receptionist (see receptionist/): the tenant's knowledge base, each call's
-- conversation and what the receptionist achieved, and the appointment request a call
-- made (one per call at most).
ALTER TABLE tenant_telephony ADD COLUMN ai_agent TEXT;
ALTER TABLE calls ADD COLUMN conversation TEXT;
ALTER TABLE calls ADD COLUMN ai_outcome TEXT;
CREATE INDEX calls_tenant_ai ON calls(tenant_id, started_at) WHERE ai_outcome IS NOT NULL;
ALTER TABLE appointments ADD COLUMN requested_on_call TEXT;
CREATE UNIQUE INDEX appointments_requested_on_call ON appointments(requested_on_call);
