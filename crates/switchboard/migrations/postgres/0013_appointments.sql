-- Appointments (see appointments.rs): the tenant's staff members and the bookings made
-- with them, times stored as unix ms UTC. A booking may name a contact or only a name
-- and a phone, and the call it was booked on. The reminder's state lives on the row:
-- scheduled (for reminder_due_at), sent, skipped (reminder_detail says why) or dropped.
CREATE TABLE staff_members (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    phone              TEXT,
    sms_notifications  BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX staff_members_tenant ON staff_members(tenant_id, name);

CREATE TABLE appointments (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    contact_id       TEXT,
    customer_name    TEXT NOT NULL,
    customer_phone   TEXT NOT NULL,
    staff_id         TEXT REFERENCES staff_members(id) ON DELETE SET NULL,
    starts_at        BIGINT NOT NULL,
    ends_at          BIGINT NOT NULL,
    notes            TEXT,
    status           TEXT NOT NULL,
    call_sid         TEXT,
    confirmation_sent_at BIGINT,
    reminder_state   TEXT NOT NULL,
    reminder_due_at  BIGINT,
    reminder_detail  TEXT,
    reminder_message_id TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX appointments_tenant_time ON appointments(tenant_id, starts_at);
CREATE INDEX appointments_staff_time ON appointments(staff_id, starts_at);

-- The appointment a text was about (confirmations, reminders, staff notices).
ALTER TABLE messages ADD COLUMN appointment_id TEXT;

-- The tenant's appointment texts and how long before a booking its reminder goes.
ALTER TABLE tenant_telephony ADD COLUMN confirmation_message TEXT;
ALTER TABLE tenant_telephony ADD COLUMN reminder_message TEXT;
ALTER TABLE tenant_telephony ADD COLUMN reminder_lead_minutes BIGINT;
