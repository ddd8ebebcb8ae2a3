-- no-transaction
DROP INDEX CONCURRENTLY users_nickname_idx;
