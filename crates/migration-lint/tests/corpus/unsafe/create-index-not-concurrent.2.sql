-- A comment that says CONCURRENTLY does not make the statement concurrent.
SET LOCAL lock_timeout = '5s';
CREATE INDEX /* CONCURRENTLY */ users_nickname_idx ON users (nickname);
