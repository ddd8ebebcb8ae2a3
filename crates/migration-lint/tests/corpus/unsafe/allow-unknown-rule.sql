-- expect: allow-unknown-rule, truncate
SET LOCAL lock_timeout = '5s';
-- k12-lint: allow truncat because the cache is rebuilt on start
TRUNCATE users;
