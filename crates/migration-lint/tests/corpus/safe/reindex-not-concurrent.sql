-- no-transaction
REINDEX INDEX CONCURRENTLY users_nickname_idx;
