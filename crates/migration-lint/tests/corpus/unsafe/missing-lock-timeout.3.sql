SET LOCAL lock_timeout = '5s';
RESET lock_timeout;
CREATE TABLE notes (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
