SET LOCAL lock_timeout = '5s';
-- The core's side of the AI (spec 09, "In the core service"): per-tenant settings (the
-- safety level and the daily token budget), provider configurations (no keys: those stay
-- in the gateway's environment), task policies, the record of every invocation (a hash
-- of the input, never the text) and the safety events found while screening it.
-- Every table is a tenant table: row-level security enabled and forced, one
-- tenant_isolation_policy each.

CREATE TABLE ai_settings (
    tenant_id           bigint PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    -- How strictly the content classifier judges students' prompts and every answer.
    safety_level        text NOT NULL DEFAULT 'strict'
                        CHECK (safety_level IN ('strict', 'moderate', 'standard')),
    -- Tokens (prompt + completion) the whole tenant may use per UTC day; 0 turns AI off.
    daily_token_budget  integer NOT NULL DEFAULT 200000
                        CHECK (daily_token_budget BETWEEN 0 AND 1000000000),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ai_provider_configs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    provider          text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'demo')),
    display_name      text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    default_model     text NOT NULL CHECK (length(default_model) BETWEEN 1 AND 200),
    available_models  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(available_models) <= 100),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, provider)
);

CREATE TABLE ai_task_policies (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    task_type          text NOT NULL CHECK (task_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    enabled            boolean NOT NULL DEFAULT true,
    allowed_roles      text[] NOT NULL DEFAULT '{teacher,curriculum_lead,admin}'
                       CHECK (allowed_roles <@ '{student,guardian,teacher,curriculum_lead,admin}'::text[]),
    requires_review    boolean NOT NULL DEFAULT false,
    max_tokens_limit   integer NOT NULL DEFAULT 2048 CHECK (max_tokens_limit BETWEEN 1 AND 32768),
    temperature_limit  real NOT NULL DEFAULT 1.0 CHECK (temperature_limit BETWEEN 0 AND 2),
    model_override     text CHECK (length(model_override) BETWEEN 1 AND 200),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, task_type)
);

CREATE TABLE ai_invocations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    -- NULL once the user is deleted; the record and its tokens stay.
    user_id            bigint,
    user_role          text NOT NULL,
    task_type          text NOT NULL,
    provider           text,
    model              text,
    streamed           boolean NOT NULL DEFAULT false,
    status             text NOT NULL CHECK (status IN ('completed', 'blocked', 'escalated', 'failed')),
    prompt_tokens      integer NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens  integer NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    duration_ms        integer NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),
    -- SHA-256 of the prompt as sent (hex); the text itself is never stored.
    input_sha256       text NOT NULL CHECK (input_sha256 ~ '^[0-9a-f]{64}$'),
    error              text,
    -- The gateway's verdicts: {"input": ..., "output": ...}, without any text.
    safety             jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id)
);
-- Today's tokens (the budget) and the stats window: tenant first, then time.
CREATE INDEX ai_invocations_tenant_id_created_at_idx ON ai_invocations (tenant_id, created_at);
CREATE INDEX ai_invocations_user_id_idx ON ai_invocations (tenant_id, user_id);

-- One row per finding worth showing a tenant admin: anything not allowed, and input
-- personal data (recorded, not blocked). `flagged` marks escalations (self-harm) for
-- the tenant's designated staff.
CREATE TABLE ai_safety_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    invocation_id  bigint NOT NULL REFERENCES ai_invocations ON DELETE CASCADE,
    user_id        bigint,
    task_type      text NOT NULL,
    direction      text NOT NULL CHECK (direction IN ('input', 'output')),
    category       text NOT NULL CHECK (category IN ('injection', 'xss', 'pii', 'inappropriate', 'self_harm')),
    subcategory    text,
    action         text NOT NULL CHECK (action IN ('allowed', 'sanitized', 'redacted', 'blocked', 'escalated')),
    confidence     real NOT NULL DEFAULT 0 CHECK (confidence BETWEEN 0 AND 1),
    detail         text NOT NULL DEFAULT '',
    flagged        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (user_id)
);
CREATE INDEX ai_safety_events_tenant_id_created_at_idx ON ai_safety_events (tenant_id, created_at, id);
CREATE INDEX ai_safety_events_invocation_id_idx ON ai_safety_events (invocation_id);
CREATE INDEX ai_safety_events_user_id_idx ON ai_safety_events (tenant_id, user_id);

-- The defaults every tenant starts with (called by tenant creation and below for the
-- tenants that exist). Students are allowed only where a tenant turns it on: `tutoring`
-- lists them but starts disabled.
CREATE FUNCTION ai_create_defaults(tenant bigint) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO ai_settings (tenant_id) VALUES (tenant) ON CONFLICT DO NOTHING;
    INSERT INTO ai_task_policies
           (tenant_id, task_type, enabled, allowed_roles, requires_review, max_tokens_limit, temperature_limit)
    VALUES (tenant, 'lesson_plan', true, '{teacher,curriculum_lead,admin}', false, 4096, 1.0),
           (tenant, 'unit_plan', true, '{teacher,curriculum_lead,admin}', false, 8192, 1.0),
           (tenant, 'differentiation', true, '{teacher,curriculum_lead,admin}', false, 4096, 1.0),
           (tenant, 'quiz_generation', true, '{teacher,curriculum_lead,admin}', true, 4096, 0.7),
           (tenant, 'rewrite', true, '{teacher,curriculum_lead,admin}', false, 2048, 0.7),
           (tenant, 'feedback', true, '{teacher,curriculum_lead,admin}', true, 2048, 0.7),
           (tenant, 'tutoring', false, '{student,teacher,curriculum_lead,admin}', false, 1024, 0.7)
    ON CONFLICT (tenant_id, task_type) DO NOTHING;
$$;

-- Existing tenants get the defaults before row-level security is switched on (reading
-- tenants is system work).
SELECT set_config('app.system', 'on', true);
SELECT ai_create_defaults(id) FROM tenants;
SELECT set_config('app.system', '', true);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ai_settings', 'ai_provider_configs', 'ai_task_policies']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['ai_settings', 'ai_provider_configs', 'ai_task_policies',
        'ai_invocations', 'ai_safety_events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
