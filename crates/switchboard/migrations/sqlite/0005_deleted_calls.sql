-- Calls whose logs a tenant deleted. Late callbacks for them are still stored as events
-- but never bring the call back into `calls`.

CREATE TABLE deleted_calls (
    call_sid    TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    deleted_at  INTEGER NOT NULL
);
