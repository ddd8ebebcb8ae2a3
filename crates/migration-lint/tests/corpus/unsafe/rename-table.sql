SET LOCAL lock_timeout = '5s';
ALTER TABLE courses RENAME TO classes;
