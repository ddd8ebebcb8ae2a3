-- Foundation: tenancy helpers, the organisation schema, identity and audit.
--
-- Every table with a tenant_id column has row-level security ENABLED and FORCED and a
-- policy named tenant_isolation_policy. System tables (no tenant_id) are readable only
-- inside a system transaction (app.system = 'on'), see app_is_system().
-- Privileges go to the group role k12_service; the service's login role is a member.

CREATE FUNCTION current_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::bigint $$;

CREATE FUNCTION app_is_system() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Counter caches, kept exact by statement-level triggers with transition tables, so a
-- bulk insert or a cascading delete updates each parent row once per statement.
-- Arguments: parent table, foreign-key column in the child, counter column in the parent.
CREATE FUNCTION counter_cache_insert() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format(
        'UPDATE %1$I p SET %3$I = p.%3$I + d.n
           FROM (SELECT %2$I AS parent_id, count(*) AS n FROM counter_new_rows
                  WHERE %2$I IS NOT NULL GROUP BY 1) d
          WHERE p.id = d.parent_id',
        TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]);
    RETURN NULL;
END
$$;

CREATE FUNCTION counter_cache_delete() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format(
        'UPDATE %1$I p SET %3$I = p.%3$I - d.n
           FROM (SELECT %2$I AS parent_id, count(*) AS n FROM counter_old_rows
                  WHERE %2$I IS NOT NULL GROUP BY 1) d
          WHERE p.id = d.parent_id',
        TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]);
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------- system tables

CREATE TABLE districts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](-?[a-z0-9])*$' AND length(slug) <= 63),
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_id    bigint REFERENCES districts ON DELETE RESTRICT,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug           text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9](-?[a-z0-9])*$' AND length(slug) <= 63),
    settings       jsonb NOT NULL DEFAULT '{}',
    users_count    integer NOT NULL DEFAULT 0,
    schools_count  integer NOT NULL DEFAULT 0,
    courses_count  integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenants_district_id_idx ON tenants (district_id);

CREATE TABLE operators (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name           text NOT NULL DEFAULT '',
    password_hash  text,
    disabled_at    timestamptz,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX operators_email_key ON operators (lower(email));

CREATE TABLE operator_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    ip           inet,
    user_agent   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_sessions_operator_id_idx ON operator_sessions (operator_id);
CREATE INDEX operator_sessions_expires_at_idx ON operator_sessions (expires_at);

CREATE TABLE operator_setup_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id  bigint NOT NULL REFERENCES operators ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_setup_tokens_operator_id_idx ON operator_setup_tokens (operator_id);
CREATE INDEX operator_setup_tokens_expires_at_idx ON operator_setup_tokens (expires_at);

-- Operator actions, operator logins and logins naming no known tenant.
CREATE TABLE platform_audit_logs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operator_id     bigint REFERENCES operators ON DELETE SET NULL,
    event_type      text NOT NULL,
    auditable_type  text,
    auditable_id    bigint,
    metadata        jsonb NOT NULL DEFAULT '{}',
    ip              inet,
    user_agent      text,
    request_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX platform_audit_logs_operator_id_idx ON platform_audit_logs (operator_id);
CREATE INDEX platform_audit_logs_created_at_idx ON platform_audit_logs (created_at);

-- ---------------------------------------------------------------- tenant tables

CREATE TABLE schools (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'UTC',
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);

CREATE TABLE academic_years (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    start_date  date NOT NULL,
    end_date    date NOT NULL CHECK (end_date > start_date),
    current     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE UNIQUE INDEX academic_years_one_current ON academic_years (tenant_id) WHERE current;

CREATE TABLE terms (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    academic_year_id  bigint NOT NULL,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    start_date        date NOT NULL,
    end_date          date NOT NULL CHECK (end_date > start_date),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, academic_year_id) REFERENCES academic_years (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX terms_academic_year_id_idx ON terms (tenant_id, academic_year_id);

CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    first_name           text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name            text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    password_hash        text,
    district_admin       boolean NOT NULL DEFAULT false,
    onboarding_complete  boolean NOT NULL DEFAULT false,
    preferences          jsonb NOT NULL DEFAULT '{}',
    disabled_at          timestamptz,
    last_login_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));

CREATE TABLE roles (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE permissions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    role_id     bigint NOT NULL,
    resource    text NOT NULL,
    action      text NOT NULL,
    granted     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, role_id, resource, action),
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE user_roles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    role_id     bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id, role_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role_id) REFERENCES roles (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_roles_role_id_idx ON user_roles (tenant_id, role_id);

CREATE TABLE guardian_links (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    guardian_id   bigint NOT NULL,
    student_id    bigint NOT NULL,
    relationship  text NOT NULL DEFAULT 'guardian',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, guardian_id, student_id),
    CHECK (guardian_id <> student_id),
    FOREIGN KEY (tenant_id, guardian_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, student_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX guardian_links_student_id_idx ON guardian_links (tenant_id, student_id);

-- Append-only for the service role (UPDATE and DELETE are revoked below).
CREATE TABLE audit_logs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    actor_user_id      bigint,
    actor_operator_id  bigint REFERENCES operators ON DELETE SET NULL,
    event_type         text NOT NULL,
    auditable_type     text,
    auditable_id       bigint,
    metadata           jsonb NOT NULL DEFAULT '{}',
    ip                 inet,
    user_agent         text,
    request_id         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, actor_user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (actor_user_id)
);
CREATE INDEX audit_logs_tenant_created_idx ON audit_logs (tenant_id, created_at);
CREATE INDEX audit_logs_actor_user_id_idx ON audit_logs (tenant_id, actor_user_id);
CREATE INDEX audit_logs_actor_operator_id_idx ON audit_logs (actor_operator_id);

CREATE TABLE sessions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    ip          inet,
    user_agent  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_id_idx ON sessions (tenant_id, user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (tenant_id, expires_at);

CREATE TABLE setup_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    user_id     bigint NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX setup_tokens_user_id_idx ON setup_tokens (tenant_id, user_id);
CREATE INDEX setup_tokens_expires_at_idx ON setup_tokens (tenant_id, expires_at);

-- ---------------------------------------------------------------- counters

CREATE TRIGGER users_count_insert AFTER INSERT ON users
    REFERENCING NEW TABLE AS counter_new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION counter_cache_insert('tenants', 'tenant_id', 'users_count');
CREATE TRIGGER users_count_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS counter_old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION counter_cache_delete('tenants', 'tenant_id', 'users_count');
CREATE TRIGGER schools_count_insert AFTER INSERT ON schools
    REFERENCING NEW TABLE AS counter_new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION counter_cache_insert('tenants', 'tenant_id', 'schools_count');
CREATE TRIGGER schools_count_delete AFTER DELETE ON schools
    REFERENCING OLD TABLE AS counter_old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION counter_cache_delete('tenants', 'tenant_id', 'schools_count');

-- ---------------------------------------------------------------- updated_at

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['districts','tenants','operators','operator_sessions',
        'operator_setup_tokens','schools','academic_years','terms','users','roles',
        'permissions','user_roles','guardian_links','sessions','setup_tokens']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------- row-level security

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['schools','academic_years','terms','users','roles','permissions',
        'user_roles','guardian_links','audit_logs','sessions','setup_tokens']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;

    FOREACH t IN ARRAY ARRAY['districts','operators','operator_sessions',
        'operator_setup_tokens','platform_audit_logs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_policy ON %I
                          USING (app_is_system()) WITH CHECK (app_is_system())', t);
    END LOOP;
END
$$;

-- A tenant transaction sees (and its counters update) its own tenant row; everything
-- else about tenants is system work.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY system_policy ON tenants
    USING (app_is_system() OR id = current_tenant_id())
    WITH CHECK (app_is_system() OR id = current_tenant_id());

-- ---------------------------------------------------------------- privileges

GRANT USAGE ON SCHEMA public TO k12_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO k12_service;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO k12_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO k12_service;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO k12_service;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs, platform_audit_logs FROM k12_service;
REVOKE ALL ON _sqlx_migrations FROM k12_service;
