CREATE TABLE badges (id bigint PRIMARY KEY, user_id bigint NOT NULL);
CREATE INDEX badges_user_id_idx ON badges (user_id);
