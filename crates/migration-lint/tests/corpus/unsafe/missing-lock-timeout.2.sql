-- A timeout of 0 disables the timeout.
SET LOCAL lock_timeout = 0;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
