-- Monitoring: what readiness and the health report need from the database.

-- Readiness: the newest migration applied. The service role cannot read
-- _sqlx_migrations (0001 revokes it); this function answers only the version.
CREATE FUNCTION applied_schema_version() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT max(version) FROM _sqlx_migrations WHERE success $$;
REVOKE ALL ON FUNCTION applied_schema_version() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION applied_schema_version() TO k12_service;
