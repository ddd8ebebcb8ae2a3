-- Analytics (materialized views served through tenant-filtering functions) and query
-- insight (pg_stat_statements, where the server provides it). Spec 05.
--
-- Materialized views cannot carry row-level security, so the service role gets no
-- privilege on them at all: it reads them only through the SECURITY DEFINER functions
-- below, which filter by current_tenant_id() exactly like tenant_isolation_policy does.
-- A refresh runs the views' queries as their owner, which forced RLS limits too: the
-- owner-only policy `analytics_refresh_policy` lets it read every tenant's rows while
-- (and only while) refresh_analytics() has set app.analytics_refresh in its transaction.

-- ---------------------------------------------------------------- system tables

-- One row per refresh of both views; the newest finished_at is the answers' refreshed_at.
CREATE TABLE analytics_refreshes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    duration_ms  double precision NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_refreshes_finished_at_idx ON analytics_refreshes (finished_at);

-- What the migrations found out about optional extensions (pg_stat_statements).
CREATE TABLE db_extension_status (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    installed   boolean NOT NULL,
    detail      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['analytics_refreshes','db_extension_status']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       t || '_updated_at', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY system_policy ON %I
                          USING (app_is_system()) WITH CHECK (app_is_system())', t);
    END LOOP;
    -- The refresh times hold no tenant data; the owner's reader functions may see them
    -- from a tenant transaction.
    EXECUTE format('CREATE POLICY owner_read_policy ON analytics_refreshes FOR SELECT TO %I USING (true)',
                   current_user);
END
$$;

-- ---------------------------------------------------------------- refresh access

CREATE FUNCTION app_is_analytics_refresh() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.analytics_refresh', true), '') = 'on' $$;

-- For the owner role only (the migrations run as the owner): the service role never
-- matches these policies, whatever it sets.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['submissions','assignments','enrollments','quiz_attempts','quizzes','courses']
    LOOP
        EXECUTE format('CREATE POLICY analytics_refresh_policy ON %I FOR SELECT TO %I
                          USING (app_is_analytics_refresh())', t, current_user);
    END LOOP;
END
$$;

-- Populate the views now, with every tenant's rows (this transaction only).
SELECT set_config('app.analytics_refresh', 'on', true);

-- ---------------------------------------------------------------- views

-- Per tenant and UTC day of the last 90 days: distinct students who submitted, the
-- submissions made and how many of those are graded.
CREATE MATERIALIZED VIEW tenant_daily_stats AS
SELECT s.tenant_id,
       (s.submitted_at AT TIME ZONE 'UTC')::date              AS stat_date,
       count(DISTINCT s.user_id)                              AS active_students,
       count(*)                                               AS submissions_count,
       count(*) FILTER (WHERE s.status IN ('graded', 'returned') OR s.graded_at IS NOT NULL)
                                                              AS graded_count
  FROM submissions s
 WHERE s.submitted_at IS NOT NULL
   AND s.submitted_at >= ((now() AT TIME ZONE 'UTC')::date - 89)::timestamp AT TIME ZONE 'UTC'
 GROUP BY 1, 2;
CREATE UNIQUE INDEX tenant_daily_stats_key ON tenant_daily_stats (tenant_id, stat_date);

-- Per course: enrolled students, students active in the last 30 days (a submission or a
-- quiz attempt), the average grade of graded submissions as a percentage of the
-- assignment's points, and the students who attempted any quiz of the course.
CREATE MATERIALIZED VIEW course_engagement_stats AS
WITH enrolled AS (
    SELECT e.tenant_id, e.course_id, count(DISTINCT e.user_id) AS n
      FROM enrollments e WHERE e.role = 'student'
     GROUP BY 1, 2
), submitted AS (
    SELECT a.tenant_id, a.course_id, s.user_id, s.submitted_at, s.grade, a.points_possible
      FROM submissions s JOIN assignments a ON a.tenant_id = s.tenant_id AND a.id = s.assignment_id
), attempts AS (
    SELECT q.tenant_id, q.course_id, qa.user_id, qa.started_at
      FROM quiz_attempts qa JOIN quizzes q ON q.tenant_id = qa.tenant_id AND q.id = qa.quiz_id
), active AS (
    SELECT tenant_id, course_id, count(DISTINCT user_id) AS n
      FROM (SELECT tenant_id, course_id, user_id FROM submitted
             WHERE submitted_at >= now() - interval '30 days'
            UNION ALL
            SELECT tenant_id, course_id, user_id FROM attempts
             WHERE started_at >= now() - interval '30 days') x
     GROUP BY 1, 2
), grades AS (
    SELECT tenant_id, course_id, round(avg(grade * 100 / points_possible), 2) AS average
      FROM submitted WHERE grade IS NOT NULL AND points_possible > 0
     GROUP BY 1, 2
), quizzers AS (
    SELECT tenant_id, course_id, count(DISTINCT user_id) AS n FROM attempts GROUP BY 1, 2
)
SELECT c.id                        AS course_id,
       c.tenant_id,
       coalesce(en.n, 0)           AS enrolled_students,
       coalesce(ac.n, 0)           AS active_students,
       g.average                   AS average_grade,
       coalesce(qz.n, 0)           AS quiz_participants
  FROM courses c
  LEFT JOIN enrolled en ON en.tenant_id = c.tenant_id AND en.course_id = c.id
  LEFT JOIN active   ac ON ac.tenant_id = c.tenant_id AND ac.course_id = c.id
  LEFT JOIN grades    g ON g.tenant_id = c.tenant_id AND g.course_id = c.id
  LEFT JOIN quizzers qz ON qz.tenant_id = c.tenant_id AND qz.course_id = c.id;
CREATE UNIQUE INDEX course_engagement_stats_key ON course_engagement_stats (tenant_id, course_id);

SELECT set_config('app.analytics_refresh', '', true);

-- No direct access for the service role (the default privileges granted it SELECT).
REVOKE ALL ON tenant_daily_stats, course_engagement_stats FROM k12_service;

SELECT set_config('app.system', 'on', true);
INSERT INTO analytics_refreshes (started_at, finished_at, duration_ms)
    VALUES (now(), now(), 0);
SELECT set_config('app.system', '', true);

-- ---------------------------------------------------------------- functions

-- Refreshes both views concurrently (reads never block on it) and records when. Only
-- from a system transaction (the refresh job). Answers the refresh time.
CREATE FUNCTION refresh_analytics() RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
DECLARE
    started timestamptz := clock_timestamp();
    finished timestamptz;
BEGIN
    IF NOT app_is_system() THEN
        RAISE EXCEPTION 'refresh_analytics() runs only in a system transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('app.analytics_refresh', 'on', true);
    -- CONCURRENTLY needs a populated view; a restored database has its views empty
    -- (backups do not dump their rows), so the first refresh there is a plain one.
    IF (SELECT relispopulated FROM pg_class WHERE oid = 'tenant_daily_stats'::regclass) THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY tenant_daily_stats;
    ELSE
        REFRESH MATERIALIZED VIEW tenant_daily_stats;
    END IF;
    IF (SELECT relispopulated FROM pg_class WHERE oid = 'course_engagement_stats'::regclass) THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY course_engagement_stats;
    ELSE
        REFRESH MATERIALIZED VIEW course_engagement_stats;
    END IF;
    PERFORM set_config('app.analytics_refresh', '', true);
    finished := clock_timestamp();
    INSERT INTO analytics_refreshes (started_at, finished_at, duration_ms)
        VALUES (started, finished, extract(epoch FROM finished - started) * 1000);
    RETURN finished;
END
$$;

-- When the views were last refreshed.
CREATE FUNCTION analytics_refreshed_at() RETURNS timestamptz
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT max(finished_at) FROM analytics_refreshes $$;

-- The caller's tenant's days from the last p_days days (days without submissions are
-- absent), oldest first.
CREATE FUNCTION analytics_daily(p_days integer)
    RETURNS TABLE (stat_date date, active_students bigint, submissions_count bigint, graded_count bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
BEGIN
    -- A restored database has its views empty until the first refresh (backups do not
    -- dump their rows): no rows then, not an error.
    IF NOT (SELECT relispopulated FROM pg_class WHERE oid = 'tenant_daily_stats'::regclass) THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.stat_date, d.active_students, d.submissions_count, d.graded_count
      FROM tenant_daily_stats d
     WHERE d.tenant_id = current_tenant_id()
       AND d.stat_date > (now() AT TIME ZONE 'UTC')::date - p_days
     ORDER BY d.stat_date;
END
$$;

-- The caller's tenant's courses by id after p_after (at most p_limit), or only course
-- p_course when given. Joined to courses, which forced RLS limits to the tenant as well.
CREATE FUNCTION analytics_courses(p_after bigint, p_limit integer, p_course bigint DEFAULT NULL)
    RETURNS TABLE (course_id bigint, name text, code text, enrolled_students bigint,
                   active_students bigint, average_grade double precision, quiz_participants bigint)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
BEGIN
    IF NOT (SELECT relispopulated FROM pg_class WHERE oid = 'course_engagement_stats'::regclass) THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT s.course_id, c.name, c.code, s.enrolled_students, s.active_students,
           s.average_grade::double precision, s.quiz_participants
      FROM course_engagement_stats s
      JOIN courses c ON c.tenant_id = s.tenant_id AND c.id = s.course_id
     WHERE s.tenant_id = current_tenant_id()
       AND c.tenant_id = current_tenant_id()
       AND (p_course IS NULL OR s.course_id = p_course)
       AND s.course_id > p_after
     ORDER BY s.course_id
     LIMIT p_limit;
END
$$;

REVOKE ALL ON FUNCTION refresh_analytics(), analytics_refreshed_at(), analytics_daily(integer),
    analytics_courses(bigint, integer, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION refresh_analytics(), analytics_refreshed_at(), analytics_daily(integer),
    analytics_courses(bigint, integer, bigint) TO k12_service;

-- ---------------------------------------------------------------- query insight

-- pg_stat_statements is not a trusted extension: only a superuser can create it. `k12 dev`,
-- the test harness and deploy/roles.sql create it (and grant the owner what reading and
-- resetting it needs) before the migrations run, so here IF NOT EXISTS finds it. On a
-- server without it, or without a superuser's help, the outcome is recorded and the
-- migration goes on: the slow-query routes then answer "available": false.
SELECT set_config('app.system', 'on', true);
DO $$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
        INSERT INTO db_extension_status (name, installed, detail)
            VALUES ('pg_stat_statements', true, 'installed');
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO db_extension_status (name, installed, detail)
            VALUES ('pg_stat_statements', false, SQLERRM);
    END;
END
$$;
SELECT set_config('app.system', '', true);

-- The schema pg_stat_statements is installed in, if it is.
CREATE FUNCTION query_insight_schema() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_stat_statements'
$$;

-- Whether pg_stat_statements can be read now: installed in this database and loaded by
-- the server (shared_preload_libraries).
CREATE FUNCTION query_insight_available() RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE s text := public.query_insight_schema();
BEGIN
    IF s IS NULL THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('SELECT 1 FROM %I.pg_stat_statements LIMIT 1', s);
    EXCEPTION WHEN OTHERS THEN
        RETURN false;
    END;
    RETURN true;
END
$$;

-- This database's statements by mean execution time, slowest first; the statements of
-- these functions (and so the caller's own query) are left out. Operators only (system
-- transaction). Without the extension: no rows.
CREATE FUNCTION slow_queries(p_limit integer)
    RETURNS TABLE (queryid bigint, query text, calls bigint, total_ms double precision,
                   mean_ms double precision, max_ms double precision, rows bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE s text := public.query_insight_schema();
BEGIN
    IF NOT public.app_is_system() THEN
        RAISE EXCEPTION 'slow_queries() runs only in a system transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT public.query_insight_available() THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT p.queryid, left(p.query, 200), p.calls, p.total_exec_time, p.mean_exec_time,
                p.max_exec_time, p.rows
           FROM %I.pg_stat_statements p
          WHERE p.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND p.query NOT LIKE ''%%slow_queries%%''
            AND p.query NOT LIKE ''%%query_insight_%%''
            AND p.query NOT LIKE ''%%pg_stat_statements%%''
          ORDER BY p.mean_exec_time DESC, p.queryid
          LIMIT $1', s) USING p_limit;
END
$$;

-- Forgets this database's statement statistics. Operators only. Answers false when the
-- extension is unavailable or the owner may not reset it (see deploy/roles.sql).
CREATE FUNCTION slow_queries_reset() RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE s text := public.query_insight_schema();
BEGIN
    IF NOT public.app_is_system() THEN
        RAISE EXCEPTION 'slow_queries_reset() runs only in a system transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT public.query_insight_available() THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('SELECT %I.pg_stat_statements_reset(0, (SELECT oid FROM pg_database
                         WHERE datname = current_database()), 0)', s);
    EXCEPTION WHEN insufficient_privilege THEN
        RETURN false;
    END;
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION query_insight_schema(), query_insight_available(), slow_queries(integer),
    slow_queries_reset() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION query_insight_available(), slow_queries(integer), slow_queries_reset()
    TO k12_service;
