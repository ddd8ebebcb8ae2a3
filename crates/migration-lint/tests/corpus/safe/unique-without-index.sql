SET LOCAL lock_timeout = '5s';
ALTER TABLE users ADD CONSTRAINT users_nickname_key UNIQUE USING INDEX users_nickname_idx;
