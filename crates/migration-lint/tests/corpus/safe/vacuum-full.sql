-- no-transaction
VACUUM (ANALYZE) users;
