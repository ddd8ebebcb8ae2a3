//! Walks every route in the OpenAPI document (which the registry builds from every
//! registered route) with every kind of actor, and compares each status with the table
//! of who may do what. A new route fails this test until it is added to the table.
//!
//! Ids in paths point at one school's records (tenant `alpha`); routes that destroy or
//! change the state of their target get a fresh target for every call, so the order of
//! the walk does not matter.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp};

/// Actor order in the table.
const ACTORS: [&str; 7] = [
    "anonymous",
    "student",
    "teacher",
    "tenant_admin",
    "other_tenant_admin",
    "district_admin",
    "operator",
];

/// (method, path) -> expected status per actor, in [`ACTORS`] order. `student` is
/// enrolled in the course, `teacher` teaches it, `district_admin` is a teacher of another
/// school of the same district, `other_tenant_admin` administers another school.
fn expectations() -> BTreeMap<(&'static str, &'static str), [u16; 7]> {
    BTreeMap::from([
        (
            ("GET", "/api/v1/health"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            ("GET", "/api/v1/ready"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            ("GET", "/api/v1/operator/health"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/openapi.json"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        // Wrong credentials for everyone: public routes, 401 from the handler.
        (
            ("POST", "/api/v1/auth/login"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (
            ("POST", "/api/v1/auth/setup"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (
            ("POST", "/api/v1/operator/login"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (("GET", "/api/v1/me"), [401, 200, 200, 200, 200, 200, 200]),
        (
            ("POST", "/api/v1/auth/logout"),
            [401, 204, 204, 204, 204, 204, 204],
        ),
        (
            ("GET", "/api/v1/users"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/users"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/users/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/users/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/district/tenants"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        (
            ("GET", "/api/v1/operator/tenants"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        // Courses, sections, enrollments.
        (
            ("GET", "/api/v1/courses"),
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            ("POST", "/api/v1/courses"),
            [401, 403, 201, 201, 201, 201, 403],
        ),
        (
            ("GET", "/api/v1/courses/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/courses/{id}"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/courses/{id}/archive"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/courses/{id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/courses/{id}/sections"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/courses/{id}/sections"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/sections/{id}/enrollments"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/sections/{id}/enrollments"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/enrollments/{id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        // Assignments and submissions (targets of state changes are fresh drafts, which
        // students cannot see).
        (
            ("GET", "/api/v1/courses/{id}/assignments"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/courses/{id}/assignments"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/assignments/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/assignments/{id}"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/assignments/{id}/publish"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/assignments/{id}/archive"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/assignments/{id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/assignments/{id}/submissions"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/assignments/{id}/submissions"),
            [401, 201, 403, 403, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/submissions/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/submissions/{id}/grade"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/submissions/{id}/return"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        // Attachments (targets: a fresh submission of the student's, and a file on one).
        // The walk sends JSON, so the author's upload is a 415: past every access check.
        (
            ("POST", "/api/v1/submissions/{id}/attachments"),
            [401, 415, 403, 403, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/attachments/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/attachments/{id}"),
            [401, 204, 403, 403, 404, 403, 403],
        ),
        // Discussions.
        (
            ("GET", "/api/v1/courses/{id}/discussions"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/courses/{id}/discussions"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/discussions/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/discussions/{id}/posts"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/discussions/{id}/posts"),
            [401, 201, 201, 201, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/discussion_posts/{id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        // Question banks (staff tools, tenant-wide), quizzes, attempts, standards. Targets
        // come from `QuizWalk`.
        (
            ("GET", "/api/v1/question_banks"),
            [401, 403, 200, 200, 200, 200, 403],
        ),
        (
            ("POST", "/api/v1/question_banks"),
            [401, 403, 201, 201, 201, 201, 403],
        ),
        (
            ("GET", "/api/v1/question_banks/{id}"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/question_banks/{id}/questions"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/question_banks/{id}/questions"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/questions/{id}"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/questions/{id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/courses/{id}/quizzes"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/courses/{id}/quizzes"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/quizzes/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/quizzes/{id}"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/quizzes/{id}/publish"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        // The student has attempted the quiz, so sees its items (without answer keys).
        (
            ("GET", "/api/v1/quizzes/{id}/items"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/quizzes/{id}/items"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/quizzes/{id}/items/{item_id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/quizzes/{id}/items/order"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        // Only enrolled students take quizzes; an admin sees the quiz but may not.
        (
            ("POST", "/api/v1/quizzes/{id}/attempts"),
            [401, 201, 403, 403, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/quizzes/{id}/attempts"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/attempts/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("PUT", "/api/v1/attempts/{id}/answers"),
            [401, 200, 403, 403, 404, 403, 403],
        ),
        (
            ("POST", "/api/v1/attempts/{id}/submit"),
            [401, 200, 403, 403, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/standard_frameworks"),
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            ("POST", "/api/v1/standard_frameworks"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/standard_frameworks/{id}"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/standard_frameworks/{id}/standards"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/standard_frameworks/{id}/standards"),
            [401, 403, 403, 201, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/assignments/{id}/standards"),
            [401, 200, 200, 200, 404, 404, 403],
        ),
        (
            ("POST", "/api/v1/assignments/{id}/standards"),
            [401, 403, 201, 201, 404, 404, 403],
        ),
        (
            ("DELETE", "/api/v1/assignments/{id}/standards/{standard_id}"),
            [401, 403, 204, 204, 404, 404, 403],
        ),
        // The school calendar, guardian links and the audit trails.
        (
            ("GET", "/api/v1/academic_years"),
            [401, 200, 200, 200, 200, 200, 403],
        ),
        (
            ("POST", "/api/v1/academic_years"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("POST", "/api/v1/academic_years/{id}/terms"),
            [401, 403, 403, 201, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/guardian_links"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        // Only the school's admin can link its users; elsewhere the ids name nobody.
        (
            ("POST", "/api/v1/guardian_links"),
            [401, 403, 403, 201, 422, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/guardian_links/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/audit_logs"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/operator/audit_logs"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        // Jobs (operators only).
        (
            ("GET", "/api/v1/operator/jobs"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/operator/jobs/{id}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/jobs/{id}/retry"),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        (
            ("DELETE", "/api/v1/operator/jobs/{id}"),
            [401, 403, 403, 403, 403, 403, 204],
        ),
        (
            ("GET", "/api/v1/operator/schedules"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/schedules/{name}/run"),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        // Alert rules and events: operators (system-wide), tenant admins (their school's).
        (
            ("GET", "/api/v1/operator/alert_configurations"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/alert_configurations"),
            [401, 403, 403, 403, 403, 403, 201],
        ),
        (
            ("GET", "/api/v1/operator/alert_configurations/{id}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("PUT", "/api/v1/operator/alert_configurations/{id}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("DELETE", "/api/v1/operator/alert_configurations/{id}"),
            [401, 403, 403, 403, 403, 403, 204],
        ),
        (
            ("GET", "/api/v1/operator/alert_events"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/alerts/evaluate"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/admin/alert_configurations"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/alert_configurations"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/alert_configurations/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/alert_configurations/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/alert_configurations/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/alert_events"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        // Backups (operators only; a restore is never done by the API).
        (
            ("GET", "/api/v1/operator/backups"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/operator/backups/status"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/operator/backups/{id}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/backups"),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        (
            ("POST", "/api/v1/operator/backups/{id}/verify"),
            [401, 403, 403, 403, 403, 403, 202],
        ),
        (
            ("POST", "/api/v1/operator/backups/{id}/restore_plan"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        // Webhooks and integrations: tenant admins (settings:manage) of the target's school.
        (
            ("GET", "/api/v1/admin/analytics/daily"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/analytics/courses"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/courses/{id}/analytics"),
            [401, 403, 200, 200, 404, 404, 403],
        ),
        (
            ("GET", "/api/v1/operator/db/slow_queries"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/db/slow_queries/reset"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/operator/db/stats"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/admin/webhook_endpoints"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/webhook_endpoints"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/webhook_endpoints/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/webhook_endpoints/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/webhook_endpoints/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/webhook_endpoints/{id}/test"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/webhook_endpoints/{id}/deliveries"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/integrations"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/integrations"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/integrations/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/integrations/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/integrations/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        // Deploy windows: school hours for tenant admins, the verdict for operators.
        (
            ("GET", "/api/v1/admin/school_hours"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/school_hours"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/operator/deploy/window"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/operator/deploy/overrides"),
            [401, 403, 403, 403, 403, 403, 201],
        ),
        // Provisioning, onboarding and branding (spec 08).
        (
            ("POST", "/api/v1/operator/provisioning/schools"),
            [401, 403, 403, 403, 403, 403, 201],
        ),
        (
            ("POST", "/api/v1/operator/provisioning/bulk_create"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/operator/provisioning/tenants"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/district/provisioning/schools"),
            [401, 403, 403, 403, 403, 201, 403],
        ),
        (
            ("POST", "/api/v1/district/provisioning/bulk_create"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        (
            ("GET", "/api/v1/district/provisioning/tenants"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        (
            ("GET", "/api/v1/operator/tenants/{slug}/onboarding"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("GET", "/api/v1/district/tenants/{slug}/onboarding"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        (
            ("GET", "/api/v1/admin/onboarding"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/branding"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/branding"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/tenants/{slug}/branding"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        // Imports (a CSV body; see `import_csv`).
        (
            ("POST", "/api/v1/admin/imports"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/imports/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/imports/{id}/errors.csv"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/users/export.csv"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/operator/tenants/{slug}/imports"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/api/v1/district/tenants/{slug}/imports"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        // AI: generate for members (the task policy decides by role; no gateway is
        // configured in the walk, so allowed callers get 503), settings for admins.
        (
            ("POST", "/api/v1/ai/generate"),
            [401, 403, 503, 503, 503, 503, 403],
        ),
        (
            ("POST", "/api/v1/ai/generate_stream"),
            [401, 403, 503, 503, 503, 503, 403],
        ),
        (
            ("GET", "/api/v1/admin/safety/events"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/safety/stats"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/safety/config"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/safety/config"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/ai/providers"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/ai/providers"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/ai/providers/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/ai/providers/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/ai/providers/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/ai/task_policies"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/ai/task_policies"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/admin/ai/task_policies/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/ai/task_policies/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/ai/task_policies/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        // Feature flags: overrides for tenant admins, globals for operators, OFREP for any
        // tenant user whose targetingKey is their own tenant (the body names alpha's).
        (
            ("GET", "/api/v1/admin/feature_flags"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("PUT", "/api/v1/admin/feature_flags/{key}"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/feature_flags/{key}"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("GET", "/api/v1/operator/feature_flags"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("PUT", "/api/v1/operator/feature_flags/{key}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("DELETE", "/api/v1/operator/feature_flags/{key}"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
        (
            ("POST", "/ofrep/v1/evaluate/flags/{key}"),
            [401, 200, 200, 200, 400, 400, 403],
        ),
        (
            ("POST", "/ofrep/v1/evaluate/flags"),
            [401, 200, 200, 200, 400, 400, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/feature_flags/{key}/schedules/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
        (
            (
                "DELETE",
                "/api/v1/operator/feature_flags/{key}/schedules/{id}",
            ),
            [401, 403, 403, 403, 403, 403, 204],
        ),
        // API keys: tenant admins manage their school's; another school's id is 404.
        (
            ("GET", "/api/v1/admin/api_keys"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/admin/api_keys"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("DELETE", "/api/v1/admin/api_keys/{id}"),
            [401, 403, 403, 204, 404, 403, 403],
        ),
    ])
}

/// A valid body for routes that take one (unique per call where it matters).
fn body(method: &str, path: &str, n: usize, s: &School) -> Option<Value> {
    let v = match (method, path) {
        ("POST", "/api/v1/auth/login") => {
            json!({"tenant": "alpha", "email": "nobody@alpha.test", "password": "wrong-password"})
        }
        ("POST", "/api/v1/auth/setup") => {
            json!({"token": "k12s_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password": "a-long-password"})
        }
        ("POST", "/api/v1/operator/login") => {
            json!({"email": "nobody@example.org", "password": "wrong-password"})
        }
        ("POST", "/api/v1/users") => {
            json!({"email": format!("walk{n}@example.org"), "roles": ["student"]})
        }
        ("PUT", "/api/v1/users/{id}") => json!({"first_name": format!("Walk {n}")}),
        ("POST", "/api/v1/courses") => json!({"name": format!("Walk course {n}")}),
        ("PUT", "/api/v1/courses/{id}") => json!({"description": format!("Walk {n}")}),
        ("POST", "/api/v1/courses/{id}/sections") => json!({"name": format!("Walk {n}")}),
        ("POST", "/api/v1/sections/{id}/enrollments") => {
            json!({"user_ids": [s.student.id], "role": "student"})
        }
        ("POST", "/api/v1/courses/{id}/assignments") => json!({"title": format!("Walk {n}")}),
        ("PUT", "/api/v1/assignments/{id}") => json!({"instructions": format!("Walk {n}")}),
        ("POST", "/api/v1/assignments/{id}/submissions") => json!({"body": format!("Walk {n}")}),
        ("PUT", "/api/v1/submissions/{id}/grade") => json!({"grade": 7, "feedback": "ok"}),
        ("POST", "/api/v1/courses/{id}/discussions") => json!({"title": format!("Walk {n}")}),
        ("POST", "/api/v1/discussions/{id}/posts") => json!({"content": format!("Walk {n}")}),
        ("POST", "/api/v1/academic_years") => {
            json!({"name": format!("Walk year {n}"), "start_date": "2031-08-01", "end_date": "2032-06-30"})
        }
        ("POST", "/api/v1/academic_years/{id}/terms") => {
            json!({"name": format!("Walk term {n}"), "start_date": "2030-09-01", "end_date": "2030-12-20"})
        }
        ("POST", "/api/v1/guardian_links") => {
            json!({"guardian_id": s.guardian.id, "student_id": s.outsider.id})
        }
        ("POST", "/api/v1/admin/webhook_endpoints") => {
            json!({"url": format!("https://93.184.215.14/walk/{n}"), "events": ["submission.created"]})
        }
        ("PUT", "/api/v1/admin/webhook_endpoints/{id}") => json!({"active": false}),
        ("POST", "/api/v1/operator/alert_configurations") => {
            json!({"name": format!("Walk rule {n}"), "metric": "job_queue_depth", "comparison": "gt", "threshold": 5})
        }
        ("POST", "/api/v1/admin/alert_configurations") => json!({
            "name": format!("Walk rule {n}"), "metric": "error_rate_5m", "comparison": "gte",
            "threshold": 5, "channel": "email", "target": "alerts@example.org"
        }),
        ("PUT", "/api/v1/operator/alert_configurations/{id}")
        | ("PUT", "/api/v1/admin/alert_configurations/{id}") => json!({"enabled": false}),
        ("POST", "/api/v1/admin/integrations") => {
            json!({"provider": "walk", "settings": {"base_url": "https://93.184.215.14/"}, "secrets": {"k": "v"}})
        }
        ("PUT", "/api/v1/admin/integrations/{id}") => json!({"status": "disabled"}),
        ("PUT", "/api/v1/admin/school_hours") => {
            json!({"start": "08:00", "end": "15:00", "days": ["mon", "tue", "wed", "thu", "fri"]})
        }
        ("POST", "/api/v1/operator/deploy/overrides") => {
            json!({"reason": format!("walk {n}"), "minutes": 5})
        }
        ("POST", "/api/v1/operator/provisioning/schools")
        | ("POST", "/api/v1/district/provisioning/schools") => walk_school(n),
        ("POST", "/api/v1/operator/provisioning/bulk_create")
        | ("POST", "/api/v1/district/provisioning/bulk_create") => {
            json!({"schools": [walk_school(n)]})
        }
        ("PUT", "/api/v1/admin/branding") => json!({"primary_color": "#123456"}),
        ("POST", "/api/v1/ai/generate") | ("POST", "/api/v1/ai/generate_stream") => {
            json!({"task_type": "lesson_plan", "prompt": "A lesson on fractions for grade 4"})
        }
        ("PUT", "/api/v1/admin/safety/config") => json!({"level": "moderate"}),
        ("POST", "/api/v1/admin/ai/providers") => {
            json!({"provider": "demo", "default_model": "demo", "display_name": format!("Walk {n}")})
        }
        ("PUT", "/api/v1/admin/ai/providers/{id}") => json!({"status": "disabled"}),
        ("POST", "/api/v1/admin/ai/task_policies") => {
            json!({"task_type": format!("walk_{n}"), "allowed_roles": ["teacher"]})
        }
        ("PUT", "/api/v1/admin/ai/task_policies/{id}") => json!({"enabled": false}),
        ("PUT", "/api/v1/admin/feature_flags/{key}") => json!({"enabled": n.is_multiple_of(2)}),
        ("PUT", "/api/v1/operator/feature_flags/{key}") => {
            json!({"enabled": true, "percentage": n % 101})
        }
        ("POST", "/api/v1/admin/api_keys") => json!({"name": format!("Walk key {n}")}),
        ("POST", "/ofrep/v1/evaluate/flags/{key}") | ("POST", "/ofrep/v1/evaluate/flags") => {
            json!({"context": {"targetingKey": s.tenant_id.to_string()}})
        }
        (m, p) if QuizWalk::covers(p) => return QuizWalk::body(m, p, n),
        (m, _) if m == "POST" || m == "PUT" => json!({}),
        _ => return None,
    };
    Some(v)
}

/// A school to provision, unique per call.
fn walk_school(n: usize) -> Value {
    json!({
        "school_name": format!("Walk school {n}"),
        "subdomain": format!("walk-school-{n}"),
        "admin_email": format!("admin{n}@walk.example.org"),
        "admin_first_name": "Walk",
        "admin_last_name": "Admin",
    })
}

/// Fixed targets of the walk, and factories for routes that change their target.
struct Targets<'a> {
    app: &'a TestApp,
    school: &'a School,
}

impl Targets<'_> {
    async fn id(&self, method: &str, path: &str) -> String {
        let (app, s) = (self.app, self.school);
        let created = |(status, body): (u16, Value)| {
            assert!(status == 201 || status == 202, "fixture: {body}");
            body["id"]
                .as_i64()
                .unwrap_or_else(|| body["job_id"].as_i64().expect("an id"))
        };
        let id = match (method, path) {
            (_, p) if QuizWalk::covers(p) => return QuizWalk::target(app, s, method, p).await,
            (_, "/api/v1/users/{id}") => s.student.id,
            ("POST", "/api/v1/courses/{id}/archive") | ("DELETE", "/api/v1/courses/{id}") => {
                let c = app
                    .post(
                        "/api/v1/courses",
                        &s.teacher.token,
                        json!({"name": "Doomed"}),
                    )
                    .await;
                assert_eq!(c.0, 201);
                let section = c.1["sections"][0]["id"].as_i64().unwrap();
                app.post(
                    &format!("/api/v1/sections/{section}/enrollments"),
                    &s.teacher.token,
                    json!({"user_ids": [s.student.id], "role": "student"}),
                )
                .await;
                c.1["id"].as_i64().unwrap()
            }
            (_, p) if p.starts_with("/api/v1/courses/{id}") => s.course_id,
            (_, p) if p.starts_with("/api/v1/sections/{id}") => s.section_id,
            ("DELETE", "/api/v1/enrollments/{id}") => {
                let kid = app
                    .create_user(
                        "alpha",
                        &format!("kid-{}", rand_suffix()),
                        &["student"],
                        false,
                    )
                    .await;
                let (_, e) = app
                    .post(
                        &format!("/api/v1/sections/{}/enrollments", s.section_id),
                        &s.teacher.token,
                        json!({"user_ids": [kid.id], "role": "student"}),
                    )
                    .await;
                e["created"][0]["id"].as_i64().unwrap()
            }
            ("POST", "/api/v1/assignments/{id}/publish")
            | ("POST", "/api/v1/assignments/{id}/archive")
            | ("DELETE", "/api/v1/assignments/{id}") => created(
                app.post(
                    &format!("/api/v1/courses/{}/assignments", s.course_id),
                    &s.teacher.token,
                    json!({"title": "Draft"}),
                )
                .await,
            ),
            (_, p) if p.starts_with("/api/v1/assignments/{id}") => s.assignment_id,
            ("POST", "/api/v1/submissions/{id}/attachments") => fresh_submission(app, s).await,
            (_, "/api/v1/attachments/{id}") => {
                let submission = fresh_submission(app, s).await;
                // JSON content, so the walk can read the download as JSON.
                let boundary = "walk-boundary";
                let res = app
                    .client
                    .post(format!(
                        "{}/api/v1/submissions/{submission}/attachments",
                        app.base_url
                    ))
                    .bearer_auth(&s.student.token)
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                         filename=\"walk.txt\"\r\nContent-Type: text/plain\r\n\r\n\
                         {{\"walk\": true}}\r\n--{boundary}--\r\n"
                    ))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                created((status, res.json().await.unwrap()))
            }
            (_, p) if p.starts_with("/api/v1/submissions/{id}") => s.submission_id,
            (_, p) if p.starts_with("/api/v1/discussions/{id}") => s.discussion_id,
            ("DELETE", "/api/v1/discussion_posts/{id}") => created(
                app.post(
                    &format!("/api/v1/discussions/{}/posts", s.discussion_id),
                    &s.teacher.token,
                    json!({"content": "bye"}),
                )
                .await,
            ),
            (_, p) if p.starts_with("/api/v1/operator/jobs/{id}") => {
                let mut sys = app.pool().system().await.unwrap();
                let job = platform::jobs::enqueue(
                    &mut sys,
                    &platform::jobs::kinds::Probe::new(format!("walk-{}", rand_suffix())),
                )
                .await
                .unwrap();
                sqlx::query("UPDATE jobs SET state = 'failed', attempts = 1, last_error = 'walk', finished_at = now() WHERE id = $1")
                    .bind(job.id)
                    .execute(&mut *sys)
                    .await
                    .unwrap();
                sys.commit().await.unwrap();
                job.id
            }
            ("POST", "/api/v1/academic_years/{id}/terms") => {
                let mut tx = app.tenant_tx(s.tenant_id).await;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO academic_years (tenant_id, name, start_date, end_date)
                     VALUES (current_tenant_id(), $1, '2030-08-01', '2031-06-30') RETURNING id",
                )
                .bind(format!("Year {}", rand_suffix()))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                id
            }
            ("DELETE", "/api/v1/guardian_links/{id}") => {
                let kid = app
                    .create_user(
                        "alpha",
                        &format!("kid-{}", rand_suffix()),
                        &["student"],
                        false,
                    )
                    .await;
                let mut tx = app.tenant_tx(s.tenant_id).await;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO guardian_links (tenant_id, guardian_id, student_id)
                     VALUES (current_tenant_id(), $1, $2) RETURNING id",
                )
                .bind(s.guardian.id)
                .bind(kid.id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                id
            }
            (_, p) if p.starts_with("/api/v1/admin/webhook_endpoints/{id}") => created(
                app.post(
                    "/api/v1/admin/webhook_endpoints",
                    &s.admin.token,
                    json!({"url": "https://93.184.215.14/hook", "events": ["enrollment.created"]}),
                )
                .await,
            ),
            (_, "/api/v1/operator/alert_configurations/{id}") => {
                let mut sys = app.pool().system().await.unwrap();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO alert_configurations (name, metric, comparison, threshold)
                     VALUES ($1, 'job_latency', 'gt', 60) RETURNING id",
                )
                .bind(format!("Walk {}", rand_suffix()))
                .fetch_one(&mut *sys)
                .await
                .unwrap();
                sys.commit().await.unwrap();
                id
            }
            (_, "/api/v1/admin/alert_configurations/{id}") => created(
                app.post(
                    "/api/v1/admin/alert_configurations",
                    &s.admin.token,
                    json!({"name": format!("Walk {}", rand_suffix()), "metric": "job_latency",
                           "comparison": "gt", "threshold": 60, "channel": "email",
                           "target": "alerts@example.org"}),
                )
                .await,
            ),
            (_, p) if p.starts_with("/api/v1/admin/integrations/{id}") => created(
                app.post(
                    "/api/v1/admin/integrations",
                    &s.admin.token,
                    json!({"provider": "walk"}),
                )
                .await,
            ),
            (_, p) if p.starts_with("/api/v1/operator/backups/{id}") => {
                // A completed backup (its object need not exist for these routes).
                let mut sys = app.pool().system().await.unwrap();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO backup_records (storage_key) VALUES ($1) RETURNING id",
                )
                .bind(format!("backups/walk/k12_full_{}.dump", rand_suffix()))
                .fetch_one(&mut *sys)
                .await
                .unwrap();
                sqlx::query(
                    "UPDATE backup_records SET status = 'completed', size_bytes = 1,
                            sha256 = repeat('0', 64) WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *sys)
                .await
                .unwrap();
                sys.commit().await.unwrap();
                id
            }
            (_, p) if p.starts_with("/api/v1/admin/imports/{id}") => {
                let mut tx = app.tenant_tx(s.tenant_id).await;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO imports (tenant_id, kind, state, report)
                     VALUES (current_tenant_id(), 'users', 'completed', '{}') RETURNING id",
                )
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                id
            }
            (_, p) if p.starts_with("/api/v1/admin/ai/providers/{id}") => {
                // One configuration per provider and school: a fresh `anthropic` one.
                let mut tx = app.tenant_tx(s.tenant_id).await;
                sqlx::query("DELETE FROM ai_provider_configs WHERE provider = 'anthropic'")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO ai_provider_configs (tenant_id, provider, display_name, default_model)
                     VALUES (current_tenant_id(), 'anthropic', 'Walk', 'walk-model') RETURNING id",
                )
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                id
            }
            (_, p) if p.starts_with("/api/v1/admin/ai/task_policies/{id}") => created(
                app.post(
                    "/api/v1/admin/ai/task_policies",
                    &s.admin.token,
                    json!({"task_type": format!("walk_target_{}", rand_suffix())}),
                )
                .await,
            ),
            (_, "/api/v1/admin/feature_flags/{key}/schedules/{id}") => {
                let mut tx = app.tenant_tx(s.tenant_id).await;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO feature_flag_schedules
                            (tenant_id, key, action, enabled, apply_at, local_time, timezone)
                     VALUES (current_tenant_id(), 'portfolio_enabled', 'set', false,
                             now() + interval '1 day', '2030-01-01T00:00', 'UTC') RETURNING id",
                )
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                id
            }
            (_, "/api/v1/operator/feature_flags/{key}/schedules/{id}") => {
                let mut sys = app.pool().system().await.unwrap();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO feature_flag_schedules
                            (tenant_id, key, action, enabled, apply_at, local_time, timezone)
                     VALUES (NULL, 'portfolio_enabled', 'set', false,
                             now() + interval '1 day', '2030-01-01T00:00', 'UTC') RETURNING id",
                )
                .fetch_one(&mut *sys)
                .await
                .unwrap();
                sys.commit().await.unwrap();
                id
            }
            (_, "/api/v1/admin/api_keys/{id}") => created(
                app.post(
                    "/api/v1/admin/api_keys",
                    &s.admin.token,
                    json!({"name": format!("Walk target {}", rand_suffix())}),
                )
                .await,
            ),
            (_, p) if p.contains("{id}") => panic!("no walk target for {method} {p}"),
            _ => 0,
        };
        path.replace("{id}", &id.to_string())
            .replace("{name}", "cleanup-expired")
            .replace("{slug}", "alpha")
            .replace("{key}", "portfolio_enabled")
    }
}

/// Import routes take a CSV body: one new user per call.
async fn import_csv(app: &TestApp, path: &str, token: Option<&str>, n: usize) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}?type=users", app.base_url))
        .header("content-type", "text/csv")
        .body(format!(
            "email,first_name,last_name,role\nwalk-import{n}@example.org,Walk,Import,student\n"
        ));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// CSV exports: a 200 is `text/csv` (returned as a string), anything else a JSON error.
async fn get_csv(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(format!("{}{path}", app.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/csv"), "{path}: {ct}");
        return (status, Value::String(res.text().await.unwrap()));
    }
    (status, res.json().await.unwrap())
}

/// A new submission (the next attempt) of the student's, not graded.
async fn fresh_submission(app: &TestApp, s: &School) -> i64 {
    let (status, body) = app
        .post(
            &format!("/api/v1/assignments/{}/submissions", s.assignment_id),
            &s.student.token,
            json!({"body": "walk attempt"}),
        )
        .await;
    assert_eq!(status, 201, "fixture: {body}");
    body["id"].as_i64().unwrap()
}

fn rand_suffix() -> String {
    platform::auth::token::random_password()
        .to_lowercase()
        .replace(['_', '-'], "x")[..10]
        .to_string()
}

#[tokio::test]
async fn every_route_answers_every_actor_as_the_table_says() {
    let app = TestApp::spawn().await;
    let district = app.create_district("district-one").await;
    let school = School::build(&app, "alpha").await;
    // The grade/return routes need graded work to act on.
    let (st, _) = app
        .put(
            &format!("/api/v1/submissions/{}/grade", school.submission_id),
            &school.teacher.token,
            json!({"grade": 5}),
        )
        .await;
    assert_eq!(st, 200);
    let other = School::build(&app, "beta").await;
    app.create_tenant("gamma", Some(district)).await;
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE tenants SET district_id = $1 WHERE slug = 'alpha'")
        .bind(district)
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    let district_admin = app
        .create_user("gamma", "district", &["teacher"], true)
        .await;
    let operator = app.create_operator("ops@example.org").await;
    let tokens = [
        None,
        Some(school.student.token.clone()),
        Some(school.teacher.token.clone()),
        Some(school.admin.token.clone()),
        Some(other.admin.token.clone()),
        Some(district_admin.token.clone()),
        Some(operator.clone()),
    ];
    let targets = Targets {
        app: &app,
        school: &school,
    };

    let (_, doc) = app
        .request(Method::GET, "/api/v1/openapi.json", Actor::Anonymous, None)
        .await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    // Logging out revokes the actor's token: walk it last.
    routes.sort_by_key(|(_, p)| p.ends_with("/logout"));
    let table = expectations();
    let mut mismatches = Vec::new();
    let mut n = 0;
    for (method, path) in &routes {
        let Some(expected) = table.get(&(method.as_str(), path.as_str())) else {
            mismatches.push(format!("{method} {path}: not in the access table"));
            continue;
        };
        for (i, token) in tokens.iter().enumerate() {
            n += 1;
            let concrete = targets.id(method, path).await;
            let actor = token
                .as_deref()
                .map(Actor::Token)
                .unwrap_or(Actor::Anonymous);
            let (status, b) = if method == "POST" && path.ends_with("/imports") {
                import_csv(&app, &concrete, token.as_deref(), n).await
            } else if method == "GET" && path.ends_with(".csv") {
                get_csv(&app, &concrete, token.as_deref()).await
            } else {
                app.request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete,
                    actor,
                    body(method, path, n, &school),
                )
                .await
            };
            if status != expected[i] {
                mismatches.push(format!(
                    "{method} {path} as {}: got {status}, want {} ({b})",
                    ACTORS[i], expected[i]
                ));
            }
            if status >= 400 {
                assert!(
                    b["error"]["code"].is_string(),
                    "{method} {path}: error body not in the JSON format: {b}"
                );
            }
        }
    }
    let registered: std::collections::BTreeSet<(String, String)> = routes.into_iter().collect();
    let stale: Vec<_> = table
        .keys()
        .filter(|(m, p)| !registered.contains(&(m.to_string(), p.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "the table lists routes that are not registered: {stale:?}"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Walk targets for question banks, quizzes, attempts and standards: fixed records made
/// once (kept in a static, since [`body`] needs their ids too) and fresh records for
/// routes that change or consume their target.
struct QuizWalk {
    bank: i64,
    /// A true/false question (answer `true`) on `quiz`.
    question: i64,
    /// Published; the student has made (and submitted) its one allowed attempt.
    quiz: i64,
    item: i64,
    attempt: i64,
    framework: i64,
    standard: i64,
}

static QUIZ_WALK: std::sync::OnceLock<QuizWalk> = std::sync::OnceLock::new();

fn made((status, body): (u16, Value)) -> i64 {
    assert!(status == 200 || status == 201, "fixture: {body}");
    body["id"].as_i64().expect("an id")
}

impl QuizWalk {
    fn covers(path: &str) -> bool {
        [
            "/api/v1/question_banks",
            "/api/v1/questions/",
            "/api/v1/quizzes/",
            "/api/v1/attempts/",
            "/api/v1/standard_frameworks",
            "/api/v1/courses/{id}/quizzes",
            "/api/v1/assignments/{id}/standards",
        ]
        .iter()
        .any(|prefix| path.starts_with(prefix))
    }

    fn get() -> &'static QuizWalk {
        QUIZ_WALK
            .get()
            .expect("walk fixtures are made by the first target")
    }

    fn body(method: &str, path: &str, n: usize) -> Option<Value> {
        let f = Self::get();
        let v = match (method, path) {
            ("POST", "/api/v1/question_banks") => json!({"title": format!("Walk {n}")}),
            ("POST", "/api/v1/question_banks/{id}/questions") => {
                json!({"type": "essay", "prompt": format!("Walk {n}")})
            }
            ("PUT", "/api/v1/questions/{id}") => json!({"prompt": format!("Walk {n}?")}),
            ("POST", "/api/v1/courses/{id}/quizzes") => json!({"title": format!("Walk {n}")}),
            ("PUT", "/api/v1/quizzes/{id}") => json!({"instructions": format!("Walk {n}")}),
            ("POST", "/api/v1/quizzes/{id}/items") => json!({"question_id": f.question}),
            ("PUT", "/api/v1/quizzes/{id}/items/order") => json!({"item_ids": [f.item]}),
            ("PUT", "/api/v1/attempts/{id}/answers") => {
                json!({"answers": [{"question_id": f.question, "answer": true}]})
            }
            ("POST", "/api/v1/standard_frameworks") => json!({"name": format!("Walk {n}")}),
            ("POST", "/api/v1/standard_frameworks/{id}/standards") => {
                json!({"code": format!("W.{n}")})
            }
            ("POST", "/api/v1/assignments/{id}/standards") => {
                json!({"standard_id": f.standard})
            }
            ("POST", _) | ("PUT", _) => json!({}),
            _ => return None,
        };
        Some(v)
    }

    /// A quiz of the school's course asking the walk's question, published if asked.
    async fn fresh_quiz(app: &TestApp, s: &School, question: i64, publish: bool) -> (i64, i64) {
        let t = &s.teacher.token;
        let quiz = made(
            app.post(
                &format!("/api/v1/courses/{}/quizzes", s.course_id),
                t,
                json!({"title": "Walk quiz"}),
            )
            .await,
        );
        let item = made(
            app.post(
                &format!("/api/v1/quizzes/{quiz}/items"),
                t,
                json!({"question_id": question}),
            )
            .await,
        );
        if publish {
            made(
                app.post(&format!("/api/v1/quizzes/{quiz}/publish"), t, json!({}))
                    .await,
            );
        }
        (quiz, item)
    }

    async fn ensure(app: &TestApp, s: &School) -> &'static QuizWalk {
        if let Some(f) = QUIZ_WALK.get() {
            return f;
        }
        let t = &s.teacher.token;
        let bank = made(
            app.post("/api/v1/question_banks", t, json!({"title": "Walk"}))
                .await,
        );
        let question = made(
            app.post(
                &format!("/api/v1/question_banks/{bank}/questions"),
                t,
                json!({"type": "true_false", "prompt": "Walk?", "correct_answer": true}),
            )
            .await,
        );
        let (quiz, item) = Self::fresh_quiz(app, s, question, true).await;
        let attempt = made(
            app.post(
                &format!("/api/v1/quizzes/{quiz}/attempts"),
                &s.student.token,
                json!({}),
            )
            .await,
        );
        made(
            app.post(
                &format!("/api/v1/attempts/{attempt}/submit"),
                &s.student.token,
                json!({}),
            )
            .await,
        );
        let framework = made(
            app.post(
                "/api/v1/standard_frameworks",
                &s.admin.token,
                json!({"name": "Walk"}),
            )
            .await,
        );
        let standard = made(
            app.post(
                &format!("/api/v1/standard_frameworks/{framework}/standards"),
                &s.admin.token,
                json!({"code": "WALK"}),
            )
            .await,
        );
        QUIZ_WALK.get_or_init(|| QuizWalk {
            bank,
            question,
            quiz,
            item,
            attempt,
            framework,
            standard,
        })
    }

    /// The concrete path for one call.
    async fn target(app: &TestApp, s: &School, method: &str, path: &str) -> String {
        let f = Self::ensure(app, s).await;
        let t = &s.teacher.token;
        let draft_assignment = || async {
            made(
                app.post(
                    &format!("/api/v1/courses/{}/assignments", s.course_id),
                    t,
                    json!({"title": "Walk draft"}),
                )
                .await,
            )
        };
        let (id, second) = match (method, path) {
            ("DELETE", "/api/v1/questions/{id}") => (
                made(
                    app.post(
                        &format!("/api/v1/question_banks/{}/questions", f.bank),
                        t,
                        json!({"type": "essay", "prompt": "Doomed"}),
                    )
                    .await,
                ),
                0,
            ),
            (_, "/api/v1/questions/{id}") => (f.question, 0),
            (_, p) if p.starts_with("/api/v1/question_banks/{id}") => (f.bank, 0),
            (_, "/api/v1/courses/{id}/quizzes") => (s.course_id, 0),
            // Items change only on quizzes nobody has attempted.
            ("POST", "/api/v1/quizzes/{id}/items") => {
                let quiz = made(
                    app.post(
                        &format!("/api/v1/courses/{}/quizzes", s.course_id),
                        t,
                        json!({"title": "Walk empty"}),
                    )
                    .await,
                );
                (quiz, 0)
            }
            ("DELETE", "/api/v1/quizzes/{id}/items/{item_id}") => {
                Self::fresh_quiz(app, s, f.question, false).await
            }
            // The student's one attempt at the fixed quiz is used: a fresh quiz each call.
            ("POST", "/api/v1/quizzes/{id}/attempts") => {
                (Self::fresh_quiz(app, s, f.question, true).await.0, 0)
            }
            (_, p) if p.starts_with("/api/v1/quizzes/{id}") => (f.quiz, 0),
            ("PUT", "/api/v1/attempts/{id}/answers") | ("POST", "/api/v1/attempts/{id}/submit") => {
                let (quiz, _) = Self::fresh_quiz(app, s, f.question, true).await;
                let attempt = made(
                    app.post(
                        &format!("/api/v1/quizzes/{quiz}/attempts"),
                        &s.student.token,
                        json!({}),
                    )
                    .await,
                );
                (attempt, 0)
            }
            (_, "/api/v1/attempts/{id}") => (f.attempt, 0),
            (_, p) if p.starts_with("/api/v1/standard_frameworks/{id}") => (f.framework, 0),
            ("POST", "/api/v1/assignments/{id}/standards") => (draft_assignment().await, 0),
            ("DELETE", "/api/v1/assignments/{id}/standards/{standard_id}") => {
                let assignment = draft_assignment().await;
                let (st, body) = app
                    .post(
                        &format!("/api/v1/assignments/{assignment}/standards"),
                        t,
                        json!({"standard_id": f.standard}),
                    )
                    .await;
                assert_eq!(st, 201, "fixture: {body}");
                (assignment, f.standard)
            }
            (_, "/api/v1/assignments/{id}/standards") => (s.assignment_id, 0),
            (_, p) if p.contains('{') => panic!("no walk target for {method} {p}"),
            _ => (0, 0),
        };
        path.replace("{id}", &id.to_string())
            .replace("{item_id}", &second.to_string())
            .replace("{standard_id}", &second.to_string())
    }
}
