SET LOCAL lock_timeout = '5s';
REINDEX INDEX users_nickname_idx;
