SET LOCAL lock_timeout = '5s';
-- Deploy windows (spec 10): per-tenant school hours, and operator overrides.
-- The hours apply to every school of the tenant in that school's own time zone
-- (schools.timezone); a tenant without a row has the default Mon-Fri 08:00-15:00.

CREATE TABLE school_hours (
    tenant_id   bigint PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    start_time  time NOT NULL DEFAULT '08:00',
    end_time    time NOT NULL DEFAULT '15:00',
    days        text[] NOT NULL DEFAULT '{mon,tue,wed,thu,fri}'
                CHECK (days <@ ARRAY['mon','tue','wed','thu','fri','sat','sun'] AND cardinality(days) BETWEEN 1 AND 7),
    holidays    date[] NOT NULL DEFAULT '{}' CHECK (cardinality(holidays) <= 366),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (end_time > start_time)
);

ALTER TABLE school_hours ENABLE ROW LEVEL SECURITY;
ALTER TABLE school_hours FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_policy ON school_hours
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

-- An operator's time-limited permission to deploy during school hours: a system table.
CREATE TABLE deploy_overrides (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason       text NOT NULL CHECK (length(reason) BETWEEN 3 AND 500),
    starts_at    timestamptz NOT NULL DEFAULT now(),
    ends_at      timestamptz NOT NULL,
    operator_id  bigint REFERENCES operators ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX deploy_overrides_ends_at_idx ON deploy_overrides (ends_at);
CREATE INDEX deploy_overrides_operator_id_idx ON deploy_overrides (operator_id);

ALTER TABLE deploy_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE deploy_overrides FORCE ROW LEVEL SECURITY;
CREATE POLICY system_policy ON deploy_overrides
    USING (app_is_system()) WITH CHECK (app_is_system());
