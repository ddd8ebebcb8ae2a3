SET LOCAL lock_timeout = '5s';
CREATE INDEX users_nickname_idx ON users (nickname);
