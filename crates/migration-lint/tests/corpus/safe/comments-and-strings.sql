SET LOCAL lock_timeout = '5s';
-- CREATE INDEX users_x ON users (x); TRUNCATE users; DROP TABLE users;
/* ALTER TABLE users DROP COLUMN email;
   ALTER TABLE users RENAME TO people; */
INSERT INTO notes (body) VALUES ('ALTER TABLE users DROP COLUMN email; TRUNCATE users; -- k12-lint: allow truncate');
COMMENT ON TABLE users IS 'DROP TABLE users; VACUUM FULL users';
CREATE FUNCTION wipe() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
    -- not executed by the migration: only defined
    RAISE NOTICE 'TRUNCATE users';
END
$body$;
SELECT E'it''s; CLUSTER users', $$DROP INDEX users_pkey$$;
