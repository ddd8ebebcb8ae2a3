SET LOCAL lock_timeout = '5s';
DROP INDEX users_nickname_idx;
