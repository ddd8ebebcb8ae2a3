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
