-- Adds an index without locking users.
-- no-transaction
-- expect: no-transaction-marker-misplaced, concurrently-in-transaction
CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);
