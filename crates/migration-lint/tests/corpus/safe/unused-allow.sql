SET LOCAL lock_timeout = '5s';
-- k12-lint: allow drop-column because release 41 stopped reading it
ALTER TABLE users DROP COLUMN legacy_flag;
