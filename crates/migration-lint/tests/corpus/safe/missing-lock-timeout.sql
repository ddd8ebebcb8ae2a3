SET LOCAL lock_timeout = '5s';
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE TABLE notes (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
