SET LOCAL lock_timeout = '5s';
ALTER TABLE courses ADD CONSTRAINT courses_name_len CHECK (length(name) < 300) NOT VALID;
