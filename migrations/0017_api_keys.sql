-- Tenant-scoped API keys (issue 16: OFREP "authenticated by a tenant-scoped API key or
-- the session").
--
-- A key is `k12k_<prefix>_<rest>`: 256 random bits, base64url, of which the first 8
-- characters (`prefix`) are kept in clear to tell keys apart. Only the SHA-256 of the
-- whole key is stored: the secret is high-entropy, so a fast hash is enough (no argon2).
-- A tenant's admins manage their keys (tenant_isolation_policy); the API process resolves
-- a presented key through the system context by its exact hash (system_policy), caches
-- the answer per process, and drops that cache on `NOTIFY api_keys_changed`, heard on
-- the same LISTEN connection as `feature_flags_changed`.

-- The foreign keys to tenants and users take a lock on them: fail fast rather than queue
-- behind a long transaction (and everything else behind us).
SET LOCAL lock_timeout = '5s';

CREATE TABLE api_keys (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix         text NOT NULL CHECK (prefix ~ '^[A-Za-z0-9_-]{8}$'),
    secret_sha256  bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    -- `resource:action` names; the API accepts only the scopes it knows.
    scopes         text[] NOT NULL
                   CHECK (cardinality(scopes) BETWEEN 1 AND 16
                          AND array_position(scopes, NULL) IS NULL
                          AND array_to_string(scopes, ',')
                              ~ '^[a-z_]{1,32}:[a-z_]{1,32}(,[a-z_]{1,32}:[a-z_]{1,32})*$'),
    created_by     bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz,
    revoked_at     timestamptz,
    -- Written at most once a minute per key, off the request path.
    last_used_at   timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX api_keys_created_by_idx ON api_keys (tenant_id, created_by);

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY system_policy ON api_keys
    USING (app_is_system()) WITH CHECK (app_is_system());
CREATE POLICY tenant_isolation_policy ON api_keys
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());

-- Every process caches resolved keys; a new, revoked or changed key tells them all to
-- forget. Not on last_used_at: that bookkeeping changes nothing a process caches.
CREATE FUNCTION api_keys_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('api_keys_changed', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR TRUNCATE
       OR UPDATE OF tenant_id, secret_sha256, scopes, expires_at, revoked_at ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
