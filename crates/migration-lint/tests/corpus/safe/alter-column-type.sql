SET LOCAL lock_timeout = '5s';
-- k12-lint: allow alter-column-type because varchar(100) to text is binary-coercible: no rewrite
ALTER TABLE users ALTER COLUMN nickname TYPE text;
