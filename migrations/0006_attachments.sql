-- Attachments (spec 04, "File uploads"): files uploaded to the object store and the record
-- they belong to. The row is written only after the object is stored and every check
-- passed; the object key is made by the platform, never taken from the filename.

CREATE TABLE attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    owner_type      text NOT NULL CHECK (owner_type IN ('submission')),
    owner_id        bigint NOT NULL,
    filename        text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type    text NOT NULL CHECK (length(content_type) <= 255),
    byte_size       bigint NOT NULL CHECK (byte_size >= 0),
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key     text NOT NULL CHECK (length(storage_key) <= 900),
    uploaded_by     bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, uploaded_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (uploaded_by)
);
CREATE INDEX attachments_owner_idx ON attachments (tenant_id, owner_type, owner_id, id);
CREATE INDEX attachments_uploaded_by_idx ON attachments (tenant_id, uploaded_by);

ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;
ALTER TABLE attachments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_policy ON attachments
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
