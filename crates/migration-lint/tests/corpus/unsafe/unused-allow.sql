SET LOCAL lock_timeout = '5s';
-- k12-lint: allow truncate because the cache is rebuilt on start
SELECT 1;
