-- Failed sign-ins per account and client address (spec 04, "Rate limiting"; K12_LOGIN_LOCKOUT).
-- After N failures for one account from one address within the window, that address is
-- refused for the account until locked_until; the same account from elsewhere still signs
-- in. Failures from many addresses are summed per account to slow every attempt on it.
-- A success from an address deletes its row; rows older than the window are pruned.

CREATE TABLE login_failures (
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    email              text NOT NULL,
    ip                 inet NOT NULL,
    failures           integer NOT NULL CHECK (failures > 0),
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at     timestamptz NOT NULL DEFAULT now(),
    locked_until       timestamptz,
    PRIMARY KEY (tenant_id, email, ip)
);
CREATE INDEX login_failures_last_failed_at_idx ON login_failures (tenant_id, last_failed_at);

ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_policy ON login_failures
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

-- The same for platform operators: a system table.
CREATE TABLE operator_login_failures (
    email              text NOT NULL,
    ip                 inet NOT NULL,
    failures           integer NOT NULL CHECK (failures > 0),
    window_started_at  timestamptz NOT NULL DEFAULT now(),
    last_failed_at     timestamptz NOT NULL DEFAULT now(),
    locked_until       timestamptz,
    PRIMARY KEY (email, ip)
);
CREATE INDEX operator_login_failures_last_failed_at_idx ON operator_login_failures (last_failed_at);

ALTER TABLE operator_login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE operator_login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY system_policy ON operator_login_failures
    USING (app_is_system()) WITH CHECK (app_is_system());
