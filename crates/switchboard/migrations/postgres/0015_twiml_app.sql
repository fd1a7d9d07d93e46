-- The TwiML App a tenant's browser softphone calls through (its own account's; tenants on
-- the platform's account use TWILIO_TWIML_APP_SID).
ALTER TABLE tenant_telephony ADD COLUMN twiml_app_sid TEXT;
