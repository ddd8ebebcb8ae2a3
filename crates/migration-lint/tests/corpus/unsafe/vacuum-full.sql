-- no-transaction
-- expect: vacuum-full, missing-lock-timeout
VACUUM FULL users;
