-- no-transaction
-- Two statements: sqlx sends them as one query, run as one implicit transaction.
CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
