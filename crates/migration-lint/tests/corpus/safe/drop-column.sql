SET LOCAL lock_timeout = '5s';
-- k12-lint: allow drop-column because release 41 stopped reading nickname
ALTER TABLE users DROP COLUMN nickname;
