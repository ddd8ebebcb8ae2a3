SET LOCAL lock_timeout = '5s';
ALTER TABLE courses ADD CONSTRAINT courses_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id) NOT VALID;
ALTER TABLE courses VALIDATE CONSTRAINT courses_owner_fk;
