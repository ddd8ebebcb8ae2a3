-- no-transaction
-- The marker above is the file's first bytes, so sqlx honours it.
CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);
