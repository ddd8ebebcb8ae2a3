-- Alert rules, their events and the notification outbox (spec 07, "Alert rules" and
-- "Notifications").
--
-- alert_configurations and alert_events carry a NULLABLE tenant_id: NULL is a
-- system-wide rule (and its events), seen only in a system transaction (operators, the
-- evaluator); a tenant's rows are seen by that tenant through the usual isolation policy
-- (NULL never equals current_tenant_id(), so a tenant never sees system rows). The
-- system context sees every row: the evaluator reads every tenant's rules in one pass,
-- and the operator routes filter on tenant_id IS NULL themselves.
-- notification_outbox is a system table: what the evaluation decided to send, delivered
-- by the deliver_notifications job.

-- The foreign keys to tenants take a lock on it: fail fast rather than queue behind a
-- long transaction (and everything else behind us).
SET LOCAL lock_timeout = '5s';

CREATE TABLE alert_configurations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          bigint REFERENCES tenants ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    metric             text NOT NULL CHECK (metric IN (
                           'db_connection_pool', 'db_response_time', 'response_time_p95',
                           'error_rate_5m', 'job_queue_depth', 'job_latency',
                           'disk_usage_percent', 'memory_usage_percent', 'redis_memory',
                           'storage_health', 'ai_gateway_health', 'backup_age_hours')),
    comparison         text NOT NULL CHECK (comparison IN ('gt', 'lt', 'gte', 'lte', 'eq')),
    threshold          double precision NOT NULL
                       CHECK (threshold BETWEEN -1e15 AND 1e15),
    severity           text NOT NULL DEFAULT 'warning'
                       CHECK (severity IN ('info', 'warning', 'critical')),
    enabled            boolean NOT NULL DEFAULT true,
    channel            text NOT NULL DEFAULT 'slack' CHECK (channel IN ('slack', 'email')),
    -- A Slack incoming-webhook URL or an email address; NULL only on system rules, which
    -- then go to K12_SLACK_WEBHOOK_URL (or are logged only).
    target             text CHECK (length(target) BETWEEN 1 AND 2048),
    cooldown_minutes   integer NOT NULL DEFAULT 30 CHECK (cooldown_minutes BETWEEN 0 AND 10080),
    last_triggered_at  timestamptz,
    trigger_count      integer NOT NULL DEFAULT 0 CHECK (trigger_count >= 0),
    -- Fired and not yet resolved: the next false evaluation records one `resolved` event.
    firing             boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (tenant_id IS NULL OR target IS NOT NULL)
);
CREATE UNIQUE INDEX alert_configurations_system_name_key
    ON alert_configurations (name) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX alert_configurations_tenant_name_key
    ON alert_configurations (tenant_id, name) WHERE tenant_id IS NOT NULL;

CREATE TABLE alert_events (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id            bigint REFERENCES tenants ON DELETE CASCADE,
    -- NULL once the rule is deleted; the event keeps its name and figures.
    alert_configuration_id bigint REFERENCES alert_configurations ON DELETE SET NULL,
    rule_name            text NOT NULL,
    metric               text NOT NULL,
    comparison           text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('fired', 'resolved')),
    value                double precision NOT NULL,
    threshold            double precision NOT NULL,
    severity             text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    fired_at             timestamptz NOT NULL,
    resolved_at          timestamptz,
    -- pending (in the outbox), sent, failed (gave up; error says why), logged (no target).
    notification_status  text NOT NULL DEFAULT 'pending'
                         CHECK (notification_status IN ('pending', 'sent', 'failed', 'logged')),
    notification_error   text,
    notified_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_tenant_id_idx ON alert_events (tenant_id, id);
CREATE INDEX alert_events_alert_configuration_id_idx ON alert_events (alert_configuration_id);

CREATE TABLE notification_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel          text NOT NULL CHECK (channel IN ('slack', 'email')),
    -- NULL: the deployment's default target, read at delivery (K12_SLACK_WEBHOOK_URL),
    -- so that URL is never stored.
    target           text,
    kind             text NOT NULL CHECK (kind IN ('fired', 'resolved')),
    -- The alerts of the message, the overall health and the evaluation time.
    payload          jsonb NOT NULL,
    event_ids        bigint[] NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed', 'logged')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_outbox_pending_idx ON notification_outbox (id) WHERE status = 'pending';

-- The spec's system-wide defaults, seeded before RLS is switched on. Idempotent: a rule
-- of that name that exists is left as it is.
INSERT INTO alert_configurations (tenant_id, name, metric, comparison, threshold, severity)
VALUES
    (NULL, 'High DB Connection Pool Usage', 'db_connection_pool', 'gt', 80, 'warning'),
    (NULL, 'Critical DB Connection Pool', 'db_connection_pool', 'gt', 95, 'critical'),
    (NULL, 'Slow DB Response', 'db_response_time', 'gt', 500, 'warning'),
    (NULL, 'Job Queue Backlog', 'job_queue_depth', 'gt', 100, 'warning'),
    (NULL, 'Critical Job Queue Backlog', 'job_queue_depth', 'gt', 1000, 'critical'),
    (NULL, 'Job Queue High Latency', 'job_latency', 'gt', 60, 'warning'),
    (NULL, 'High Memory Usage', 'memory_usage_percent', 'gt', 85, 'warning'),
    (NULL, 'Stale Backup', 'backup_age_hours', 'gt', 48, 'critical')
ON CONFLICT (name) WHERE tenant_id IS NULL DO NOTHING;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['alert_configurations', 'alert_events', 'notification_outbox']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_policy ON %I
                          USING (app_is_system()) WITH CHECK (app_is_system())', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['alert_configurations', 'alert_events']
    LOOP
        EXECUTE format('CREATE POLICY tenant_isolation_policy ON %I
                          USING (tenant_id = current_tenant_id())
                          WITH CHECK (tenant_id = current_tenant_id())', t);
    END LOOP;
END
$$;
