-- no-transaction
BEGIN;
DROP INDEX CONCURRENTLY users_nickname_idx;
COMMIT;
