SET LOCAL lock_timeout = '5s';

-- The onboarding checklist's `ai_configured` item follows spec 08: at least one enabled AI
-- task policy and an active provider (ai_task_policies and ai_provider_configs of 0012),
-- and a daily token budget that is not 0 (0 turns the tenant's AI off). 0013 read the
-- provisioning flag `features.ai_enabled` and provider rows of integration_configs, which
-- the AI does not use. Everything else is unchanged: one statement for any number of
-- tenants, each tenant's rows read under its own isolation policies.

CREATE OR REPLACE FUNCTION onboarding_checklists(p_tenants bigint[])
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
            'ai_configured', EXISTS (SELECT 1 FROM ai_task_policies WHERE enabled)
                AND EXISTS (SELECT 1 FROM ai_provider_configs WHERE status = 'active')
                AND NOT EXISTS (SELECT 1 FROM ai_settings WHERE daily_token_budget = 0),
            'branding_set', coalesce((SELECT settings #>> '{branding,logo_url}'
                                        FROM tenants WHERE id = t), '') <> '')
          INTO items;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('app.tenant_id', prev_tenant, true), set_config('app.system', prev_system, true);
END
$$;

-- The curriculum_lead default role no longer reads students' work (spec 08's permission
-- table gives curriculum leads no submissions and no discussions; DEFAULT_ROLES in
-- auth/permission.rs now agrees). Existing tenants lose the same three grants, each
-- tenant's rows changed under its own isolation policy.
DO $$
DECLARE
    t bigint;
BEGIN
    PERFORM set_config('app.system', 'on', true);
    FOR t IN SELECT id FROM tenants ORDER BY id LOOP
        PERFORM set_config('app.system', '', true), set_config('app.tenant_id', t::text, true);
        DELETE FROM permissions p
         USING roles r
         WHERE r.id = p.role_id
           AND r.name = 'curriculum_lead'
           AND (p.resource, p.action) IN (('submissions', 'read'), ('discussions', 'read'),
                                          ('discussions', 'post'));
        PERFORM set_config('app.system', 'on', true);
    END LOOP;
    PERFORM set_config('app.system', '', true), set_config('app.tenant_id', '', true);
END
$$;
