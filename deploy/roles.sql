-- One-time database setup for production, run by an administrator (psql -f roles.sql).
-- Replace the passwords. The service login role owns nothing and has neither SUPERUSER
-- nor BYPASSRLS; it gets its privileges through the group role k12_service, which the
-- migrations grant to.
CREATE ROLE k12_owner LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD 'change-me-owner';
CREATE ROLE k12_service NOLOGIN NOSUPERUSER NOBYPASSRLS;
CREATE ROLE k12_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT PASSWORD 'change-me-app';
GRANT k12_service TO k12_app;
CREATE DATABASE k12 OWNER k12_owner;
-- Then: DATABASE_OWNER_URL=postgres://k12_owner:...@host/k12 k12 migrate
--       DATABASE_URL=postgres://k12_app:...@host/k12 k12 serve
-- Backups (k12 backup / k12 restore, K12_BACKUP_DATABASE_URL): reads every row whatever the
-- row-level security (BYPASSRLS, pg_read_all_data) and creates the temporary databases that
-- verification restores into (CREATEDB). It cannot write to the k12 database.
CREATE ROLE k12_backup LOGIN NOSUPERUSER BYPASSRLS CREATEDB NOCREATEROLE PASSWORD 'change-me-backup';
GRANT pg_read_all_data TO k12_backup;
-- Then: K12_BACKUP_DATABASE_URL=postgres://k12_backup:...@host/k12 k12 backup create

-- Query insight (optional; spec 05): load the module in postgresql.conf
--   shared_preload_libraries = 'pg_stat_statements'
-- restart the server, then, connected to the k12 database as a superuser, BEFORE the
-- first `k12 migrate` (pg_stat_statements is not a trusted extension). Without these
-- lines the migrations still succeed and the slow-query routes answer "available": false.
\c k12
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
-- The owner's SECURITY DEFINER functions (slow_queries, slow_queries_reset) read every
-- role's statement text and reset this database's statistics; the service role itself
-- gets neither privilege.
GRANT pg_read_all_stats TO k12_owner;
GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO k12_owner;
