-- Per-tenant call counts by local day, tracking number, direction, outcome and menu
-- choice, kept in step with `calls` by the event writer. Stats and list totals read
-- these instead of scanning millions of calls.

CREATE TABLE call_rollups (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    day            BIGINT NOT NULL,
    twilio_number  TEXT NOT NULL,
    direction      TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    menu_choice    TEXT NOT NULL,
    calls          BIGINT NOT NULL,
    talk_seconds   BIGINT NOT NULL,
    booked         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, day, twilio_number, direction, outcome, menu_choice)
);
