SET LOCAL lock_timeout = '5s';

-- OneRoster imports: which of our records each `sourcedId` became, per tenant and kind
-- (org, session, course, class, user, enrollment). Re-importing an archive finds its
-- records here instead of creating them again. `target_id` points into the table the
-- kind names (schools, academic_years/terms, courses, sections, users, enrollments).
CREATE TABLE oneroster_sources (
    tenant_id   bigint NOT NULL REFERENCES tenants ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('org', 'year', 'term', 'course', 'class', 'user', 'enrollment')),
    source_id   text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 255),
    target_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, source_id)
);

CREATE TRIGGER oneroster_sources_updated_at BEFORE UPDATE ON oneroster_sources
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
ALTER TABLE oneroster_sources ENABLE ROW LEVEL SECURITY;
ALTER TABLE oneroster_sources FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation_policy ON oneroster_sources
    USING (tenant_id = current_tenant_id())
    WITH CHECK (tenant_id = current_tenant_id());
