-- Webhooks and integrations (spec 04, "Webhooks and integrations").
--
-- Secrets are stored sealed by the service (AEAD with a key derived from K12_SECRET_KEY;
-- src/outbound.rs): the database never holds a webhook or integration secret in clear.

CREATE TABLE webhook_endpoints (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    url               text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events            text[] NOT NULL DEFAULT '{}',
    active            boolean NOT NULL DEFAULT true,
    secret_encrypted  bytea NOT NULL,
    created_by        bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by)
);
CREATE INDEX webhook_endpoints_created_by_idx ON webhook_endpoints (tenant_id, created_by);
-- emit() finds the active endpoints subscribed to an event.
CREATE INDEX webhook_endpoints_events_idx ON webhook_endpoints USING gin (events) WHERE active;

CREATE TABLE webhook_deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id         bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    endpoint_id       bigint NOT NULL,
    event             text NOT NULL,
    payload           jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    last_status_code  integer,
    last_error        text,
    next_attempt_at   timestamptz,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_endpoint_id_idx ON webhook_deliveries (tenant_id, endpoint_id, id);

CREATE TABLE integration_configs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    provider           text NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
    settings           jsonb NOT NULL DEFAULT '{}',
    secrets_encrypted  bytea,
    -- The names of the secrets set (never their values), for the API to show.
    secret_keys        text[] NOT NULL DEFAULT '{}',
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX integration_configs_provider_idx ON integration_configs (tenant_id, provider);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_deliveries', 'integration_configs']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
