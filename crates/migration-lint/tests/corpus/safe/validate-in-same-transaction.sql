SET LOCAL lock_timeout = '5s';
ALTER TABLE courses VALIDATE CONSTRAINT courses_owner_fk;
