SET LOCAL lock_timeout = '5s';
-- k12-lint: allow drop-table because nothing has read legacy_imports since release 38
DROP TABLE legacy_imports;
