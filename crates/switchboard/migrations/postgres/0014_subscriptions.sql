-- A tenant's subscription (none, trialing, active, past_due, canceled), set by an admin
-- or a billing system; becoming trialing or active provisions a number (purchases.rs).
ALTER TABLE tenants ADD COLUMN subscription_status TEXT NOT NULL DEFAULT 'none';
