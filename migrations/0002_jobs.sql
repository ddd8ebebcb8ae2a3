-- Durable background jobs and cron schedules (spec 03).
--
-- All tables here are system tables: no tenant_id, RLS enabled and forced with
-- system_policy, so only a system transaction sees them. Tenant code enqueues through
-- enqueue_job(), which raises app.system for the duration of that one INSERT only.
--
-- A job row's life: pending (scheduled while run_at is in the future, ready after) ->
-- running (claimed with FOR UPDATE SKIP LOCKED; leased until locked_until, which the
-- worker's heartbeat pushes forward) -> completed | pending again (retry with backoff) |
-- failed (after max_attempts). A running job whose lease expired is put back to pending
-- by any worker, so a dead worker's job runs again (at-least-once delivery).

CREATE TABLE jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,79}$'),
    queue           text NOT NULL CHECK (queue IN ('critical', 'default', 'low')),
    priority        smallint NOT NULL DEFAULT 0,
    payload         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'completed', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    unique_key      text CHECK (length(unique_key) <= 200),
    schedule_name   text,
    run_at          timestamptz NOT NULL DEFAULT now(),
    worker          text,
    locked_until    timestamptz,
    last_error      text,
    started_at      timestamptz,
    finished_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'running' OR locked_until IS NOT NULL)
);
-- Claiming: the ready jobs of a queue, most urgent first, oldest first.
CREATE INDEX jobs_claim_idx ON jobs (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- Finding expired leases.
CREATE INDEX jobs_lease_idx ON jobs (locked_until) WHERE state = 'running';
-- The operator's failed list and "failed in the last hour".
CREATE INDEX jobs_failed_idx ON jobs (finished_at) WHERE state = 'failed';
-- Pruning finished jobs.
CREATE INDEX jobs_completed_idx ON jobs (finished_at) WHERE state = 'completed';
-- Unique jobs: at most one pending job per (kind, key); a second enqueue is a no-op.
CREATE UNIQUE INDEX jobs_unique_pending_key ON jobs (kind, unique_key)
    WHERE state = 'pending' AND unique_key IS NOT NULL;

-- Processed totals per queue and kind (the jobs table itself is pruned).
CREATE TABLE job_counters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue       text NOT NULL,
    kind        text NOT NULL,
    completed   bigint NOT NULL DEFAULT 0,
    retried     bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (queue, kind)
);

-- The state of each schedule declared in code. Workers lock a schedule's row
-- (FOR UPDATE SKIP LOCKED) to decide its due tick, so one worker decides per tick.
CREATE TABLE job_schedules (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    cron          text NOT NULL,
    timezone      text NOT NULL DEFAULT 'UTC',
    catch_up      boolean NOT NULL DEFAULT false,
    last_tick_at  timestamptz,
    next_run_at   timestamptz,
    last_job_id   bigint REFERENCES jobs ON DELETE SET NULL,
    skipped_ticks bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_schedules_last_job_id_idx ON job_schedules (last_job_id);

-- One row per fired tick: the database's guarantee that a tick fires exactly once,
-- whatever the number of workers and however their clocks differ.
CREATE TABLE job_schedule_ticks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_name  text NOT NULL REFERENCES job_schedules (name) ON DELETE CASCADE,
    tick_at        timestamptz NOT NULL,
    catch_up       boolean NOT NULL DEFAULT false,
    job_id         bigint REFERENCES jobs ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (schedule_name, tick_at)
);
CREATE INDEX job_schedule_ticks_job_id_idx ON job_schedule_ticks (job_id);
CREATE INDEX job_schedule_ticks_created_at_idx ON job_schedule_ticks (created_at);

-- Effects of the diagnostic probe job: one row per probe key, written idempotently.
CREATE TABLE job_probes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    probe       text NOT NULL UNIQUE CHECK (length(probe) BETWEEN 1 AND 200),
    job_id      bigint NOT NULL,
    attempt     integer NOT NULL,
    worker      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_probes_created_at_idx ON job_probes (created_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs','job_counters','job_schedules','job_schedule_ticks','job_probes']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_policy ON %I
                          USING (app_is_system()) WITH CHECK (app_is_system())', t);
    END LOOP;
END
$$;

-- Enqueues a job in the caller's transaction, from a system or a tenant transaction.
--
-- It raises app.system for its own statements and restores the caller's value before
-- returning (on an error, the aborted statement or savepoint reverts the setting too), so
-- a tenant transaction can add a job but never read or change the queue. It is not
-- SECURITY DEFINER: it runs with the caller's privileges and needs none beyond
-- INSERT/SELECT on jobs. (A `SET app.system = 'on'` clause would be tidier, but
-- PostgreSQL lets only superusers attach placeholder settings to functions.) With a
-- unique key, a pending job of the same kind and key makes this a no-op answering that
-- job's id.
CREATE FUNCTION enqueue_job(
    p_kind text, p_queue text, p_priority smallint, p_payload jsonb, p_max_attempts integer,
    p_unique_key text, p_run_at timestamptz, p_schedule_name text
) RETURNS TABLE (job_id bigint, inserted boolean)
    LANGUAGE plpgsql VOLATILE
    SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    caller_system text := coalesce(current_setting('app.system', true), '');
BEGIN
    PERFORM set_config('app.system', 'on', true);
    LOOP
        INSERT INTO jobs (kind, queue, priority, payload, max_attempts, unique_key, run_at, schedule_name)
        VALUES (p_kind, p_queue, p_priority, p_payload, p_max_attempts, p_unique_key,
                coalesce(p_run_at, now()), p_schedule_name)
        ON CONFLICT (kind, unique_key) WHERE state = 'pending' AND unique_key IS NOT NULL
        DO NOTHING
        RETURNING id INTO job_id;
        IF job_id IS NOT NULL THEN
            inserted := true;
            PERFORM pg_notify('k12_jobs', p_queue);
            PERFORM set_config('app.system', caller_system, true);
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT j.id INTO job_id FROM jobs j
         WHERE j.kind = p_kind AND j.unique_key = p_unique_key AND j.state = 'pending';
        IF job_id IS NOT NULL THEN
            inserted := false;
            PERFORM set_config('app.system', caller_system, true);
            RETURN NEXT;
            RETURN;
        END IF;
        -- The pending duplicate was claimed between the two statements: insert again.
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION enqueue_job(text, text, smallint, jsonb, integer, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enqueue_job(text, text, smallint, jsonb, integer, text, timestamptz, text) TO k12_service;
