SET LOCAL lock_timeout = '5s';
-- k12-lint: allow truncate because report_cache is rebuilt by the nightly job
TRUNCATE report_cache;
