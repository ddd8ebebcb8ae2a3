-- Feature flags (spec 10, "Feature flags"): global rows, tenant overrides, percentage
-- rollouts, scheduled changes and cross-process cache invalidation.
--
-- feature_flags and feature_flag_schedules carry a NULLABLE tenant_id: NULL is a global
-- row (an operator's), a tenant's rows are its overrides. A tenant transaction reads its
-- own rows and the global flags (feature_flags_read_globals_policy, SELECT only) and
-- writes only its own rows (tenant_isolation_policy); the system context sees and writes
-- every row (operators, the cache loader, the scheduling job). Global schedules are not
-- shown to tenants. Changes are audited in audit_logs / platform_audit_logs with the old
-- and new value, so there is no separate change table.

-- The foreign keys to tenants take a lock on it: fail fast rather than queue behind a
-- long transaction (and everything else behind us).
SET LOCAL lock_timeout = '5s';

CREATE TABLE feature_flags (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint REFERENCES tenants ON DELETE CASCADE,
    key          text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    enabled      boolean NOT NULL,
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- Rollouts: {"percentage": 0..100} on a global row turns the flag on for that share
    -- of tenants (Unleash's bucketing of "{key}:{tenant id}"). Tenant rows carry none.
    metadata     jsonb NOT NULL DEFAULT '{}'
                 CHECK (jsonb_typeof(metadata) = 'object'
                        AND (NOT metadata ? 'percentage'
                             OR (jsonb_typeof(metadata -> 'percentage') = 'number'
                                 AND (metadata ->> 'percentage')::numeric BETWEEN 0 AND 100
                                 AND (metadata ->> 'percentage')::numeric
                                     = trunc((metadata ->> 'percentage')::numeric)))),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (tenant_id IS NULL OR metadata = '{}'::jsonb)
);
CREATE UNIQUE INDEX feature_flags_global_key_key
    ON feature_flags (key) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX feature_flags_tenant_key_key
    ON feature_flags (tenant_id, key) WHERE tenant_id IS NOT NULL;

-- A change to apply later: set (enabled, for globals optionally a percentage) or clear
-- (back to the global row / the hard-coded default). apply_at is the instant; local_time
-- and timezone are what the admin asked for (a school's wall clock), kept for display.
CREATE TABLE feature_flag_schedules (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint REFERENCES tenants ON DELETE CASCADE,
    key                text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    action             text NOT NULL CHECK (action IN ('set', 'clear')),
    enabled            boolean,
    percentage         smallint CHECK (percentage BETWEEN 0 AND 100),
    apply_at           timestamptz NOT NULL,
    local_time         timestamp NOT NULL,
    timezone           text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
    actor_user_id      bigint,
    actor_operator_id  bigint,
    applied_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((action = 'set') = (enabled IS NOT NULL)),
    CHECK (tenant_id IS NULL OR percentage IS NULL)
);
CREATE INDEX feature_flag_schedules_due_idx
    ON feature_flag_schedules (apply_at) WHERE applied_at IS NULL;
CREATE INDEX feature_flag_schedules_tenant_id_idx
    ON feature_flag_schedules (tenant_id, key);

-- Every process caches the flags; a change anywhere tells them all to reload.
CREATE FUNCTION feature_flags_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('feature_flags_changed', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER feature_flags_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON feature_flags
    FOR EACH STATEMENT EXECUTE FUNCTION feature_flags_notify();

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feature_flags', 'feature_flag_schedules']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_policy ON %I
                          USING (app_is_system()) WITH CHECK (app_is_system())', t);
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;

-- A tenant reads the global flags (never writes them: this policy is SELECT only).
CREATE POLICY feature_flags_read_globals_policy ON feature_flags
    FOR SELECT USING (tenant_id IS NULL AND current_tenant_id() IS NOT NULL);
