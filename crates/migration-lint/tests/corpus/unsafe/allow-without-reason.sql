-- expect: allow-without-reason, truncate
SET LOCAL lock_timeout = '5s';
-- k12-lint: allow truncate
TRUNCATE users;
