-- Provisioning and onboarding (spec 08).
--
-- A tenant's branding, features and AI safety level live in tenants.settings (jsonb):
-- provisioning writes them, tenant admins change the branding part of their own row.
--
-- onboarding_checklists(tenant ids) answers the ten checklist items of each tenant in ONE
-- statement, so the operator and district tenant lists need no query per tenant. It
-- crosses tenants the only way row-level security allows: for each tenant it narrows
-- the transaction to that tenant (app.tenant_id, transaction-local) and reads that
-- tenant's rows under the isolation policies, then restores the caller's settings. A
-- tenant transaction may only ask about its own tenant; a system transaction about any.

SET LOCAL lock_timeout = '5s';

CREATE FUNCTION onboarding_checklists(p_tenants bigint[])
    RETURNS TABLE (tenant_id bigint, items jsonb)
    LANGUAGE plpgsql
    AS $$
DECLARE
    prev_tenant text := coalesce(current_setting('app.tenant_id', true), '');
    prev_system text := coalesce(current_setting('app.system', true), '');
    t bigint;
BEGIN
    IF prev_system <> 'on' AND EXISTS (
        SELECT 1 FROM unnest(p_tenants) AS x(id) WHERE x.id IS DISTINCT FROM nullif(prev_tenant, '')::bigint
    ) THEN
        RAISE EXCEPTION 'onboarding_checklists: a tenant transaction may only read its own checklist'
            USING ERRCODE = '42501';
    END IF;
    FOREACH t IN ARRAY p_tenants LOOP
        PERFORM set_config('app.system', '', true), set_config('app.tenant_id', t::text, true);
        tenant_id := t;
        SELECT jsonb_build_object(
            'admin_created', EXISTS (
                SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'admin'),
            'school_configured', EXISTS (SELECT 1 FROM schools),
            'academic_year', EXISTS (SELECT 1 FROM terms),
            'teachers_added', EXISTS (
                SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'teacher'),
            'students_added', EXISTS (
                SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.name = 'student'),
            'course_created', EXISTS (SELECT 1 FROM courses),
            'standards_imported', EXISTS (SELECT 1 FROM standards),
            'google_configured', EXISTS (
                SELECT 1 FROM integration_configs WHERE provider = 'google' AND status = 'active'),
            'ai_configured', coalesce((SELECT (settings #>> '{features,ai_enabled}')::boolean
                                         FROM tenants WHERE id = t), false)
                AND EXISTS (
                SELECT 1 FROM integration_configs
                 WHERE provider IN ('openai', 'anthropic', 'azure_openai', 'gemini', 'ollama')
                   AND status = 'active'),
            'branding_set', coalesce((SELECT settings #>> '{branding,logo_url}'
                                        FROM tenants WHERE id = t), '') <> '')
          INTO items;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('app.tenant_id', prev_tenant, true), set_config('app.system', prev_system, true);
END
$$;

-- Roster imports (CSV and OneRoster). The file waits in `file` while a large import runs
-- as a job (and is dropped when it finishes); the job reports its progress in
-- rows_processed and errors_so_far, and the final report in `report`.
CREATE TABLE imports (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('users', 'courses', 'enrollments', 'oneroster')),
    dry_run         boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'completed', 'failed')),
    file            bytea,
    rows_total      integer NOT NULL DEFAULT 0,
    rows_processed  integer NOT NULL DEFAULT 0,
    errors_so_far   integer NOT NULL DEFAULT 0,
    report          jsonb,
    created_by      bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX imports_created_by_idx ON imports (tenant_id, created_by);

CREATE TRIGGER imports_updated_at BEFORE UPDATE ON imports
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
ALTER TABLE imports ENABLE ROW LEVEL SECURITY;
ALTER TABLE imports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_policy ON imports
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
