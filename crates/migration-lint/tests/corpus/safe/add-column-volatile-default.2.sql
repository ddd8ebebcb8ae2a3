CREATE TABLE tokens (id bigint PRIMARY KEY);
ALTER TABLE tokens ADD COLUMN token uuid DEFAULT gen_random_uuid();
