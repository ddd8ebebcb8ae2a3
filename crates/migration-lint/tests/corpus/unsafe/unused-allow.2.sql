SET LOCAL lock_timeout = '5s';
SELECT 1;
-- k12-lint: allow truncate because nothing follows
