SET LOCAL lock_timeout = '5s';
ALTER TABLE users RENAME COLUMN nickname TO display_name;
