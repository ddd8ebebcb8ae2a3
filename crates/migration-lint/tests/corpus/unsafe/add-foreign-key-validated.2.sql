SET LOCAL lock_timeout = '5s';
ALTER TABLE courses ADD COLUMN owner_id bigint REFERENCES users (id);
