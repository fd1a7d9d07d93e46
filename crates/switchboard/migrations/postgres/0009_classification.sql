-- Classification of a call (see intelligence/): folded from classification and
-- correction events like every other column of the row. A correction wins; the
-- classifier's version and the hash of the text it read tell when to classify again.
ALTER TABLE calls ADD COLUMN transcript_source TEXT;
ALTER TABLE calls ADD COLUMN vi_call_reason TEXT;
ALTER TABLE calls ADD COLUMN classification_source TEXT;
ALTER TABLE calls ADD COLUMN classification_evidence TEXT;
ALTER TABLE calls ADD COLUMN classifier_version TEXT;
ALTER TABLE calls ADD COLUMN classified_hash TEXT;
ALTER TABLE calls ADD COLUMN corrected_by TEXT;
ALTER TABLE calls ADD COLUMN corrected_at BIGINT;
CREATE INDEX calls_tenant_booked_started ON calls(tenant_id, appointment_booked, started_at DESC);
CREATE INDEX calls_tenant_reason_started ON calls(tenant_id, call_reason, started_at DESC);

-- Whether a tenant lets its calls' text go to the configured LLM endpoint (off: the
-- local classifier only).
ALTER TABLE tenant_telephony ADD COLUMN llm_classification BIGINT;
