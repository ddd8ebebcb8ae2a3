-- Backups (spec 06): one row per full backup, a system table (no tenant_id; RLS enabled and
-- forced with system_policy, so only a system transaction sees it).
--
-- The lifecycle, enforced by backup_records_lifecycle() below:
--   in_progress -> completed | failed
--   completed   -> verified | verification_failed
-- A row is inserted as in_progress; failed, verified and verification_failed are final.
-- Once a row leaves in_progress, what identifies the stored object (storage_key, sha256,
-- size_bytes, metadata) no longer changes. Retention deletes the object and sets
-- deleted_at; the status stays what it was.

CREATE TABLE backup_records (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    backup_type         text NOT NULL DEFAULT 'full' CHECK (backup_type IN ('full')),
    status              text NOT NULL DEFAULT 'in_progress'
                        CHECK (status IN ('in_progress', 'completed', 'failed', 'verified',
                                          'verification_failed')),
    storage_key         text NOT NULL CHECK (length(storage_key) BETWEEN 1 AND 1024),
    -- Where the object lives (e.g. s3://bucket/prefix or file:///dir), for operators.
    storage_location    text NOT NULL DEFAULT '',
    size_bytes          bigint CHECK (size_bytes >= 0),
    sha256              text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    duration_seconds    double precision CHECK (duration_seconds >= 0),
    -- PostgreSQL version, database size, tool versions, encryption, and
    -- row_counts: {"schema.table": n} counted in the snapshot the dump used.
    metadata            jsonb NOT NULL DEFAULT '{}',
    error_message       text,
    verified_at         timestamptz,
    -- {"tables": {"schema.table": {"expected", "actual", "match"}}, "reason", ...}
    verification_result jsonb,
    verification_seconds double precision CHECK (verification_seconds >= 0),
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'completed' OR (size_bytes IS NOT NULL AND sha256 IS NOT NULL)),
    CHECK (status <> 'verified' OR verified_at IS NOT NULL)
);
CREATE UNIQUE INDEX backup_records_storage_key ON backup_records (storage_key);
CREATE INDEX backup_records_created_at_idx ON backup_records (created_at DESC);

CREATE FUNCTION backup_records_lifecycle() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'in_progress' THEN
            RAISE EXCEPTION 'a backup record starts in_progress, not %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
           (OLD.status = 'in_progress' AND NEW.status IN ('completed', 'failed'))
        OR (OLD.status = 'completed' AND NEW.status IN ('verified', 'verification_failed'))
    ) THEN
        RAISE EXCEPTION 'backup record %: status % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status <> 'in_progress' AND (
           NEW.storage_key IS DISTINCT FROM OLD.storage_key
        OR NEW.sha256 IS DISTINCT FROM OLD.sha256
        OR NEW.size_bytes IS DISTINCT FROM OLD.size_bytes
        OR NEW.metadata IS DISTINCT FROM OLD.metadata
    ) THEN
        RAISE EXCEPTION 'backup record %: the stored object''s identity is fixed once %', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER backup_records_lifecycle BEFORE INSERT OR UPDATE ON backup_records
    FOR EACH ROW EXECUTE FUNCTION backup_records_lifecycle();
CREATE TRIGGER backup_records_updated_at BEFORE UPDATE ON backup_records
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE backup_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE backup_records FORCE ROW LEVEL SECURITY;
CREATE POLICY system_policy ON backup_records
    USING (app_is_system()) WITH CHECK (app_is_system());

-- The service role reads and writes records (API, worker, CLI) but never deletes them:
-- retention keeps the row and sets deleted_at.
GRANT SELECT, INSERT, UPDATE ON backup_records TO k12_service;
REVOKE DELETE, TRUNCATE ON backup_records FROM k12_service;
