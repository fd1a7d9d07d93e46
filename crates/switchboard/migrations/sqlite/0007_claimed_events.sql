-- An event signed by one tenant's account for a call another tenant owns is refused and
-- kept for admins: stored with no tenant (so it is never folded) and the tenant that
-- claimed it here.
ALTER TABLE call_events ADD COLUMN claimed_tenant_id TEXT;
