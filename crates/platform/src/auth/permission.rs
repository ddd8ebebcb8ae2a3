//! The permission catalogue, the access rule every route declares, and the default
//! grants of the five built-in roles.

use std::fmt;

/// A (resource, action) pair granted to roles through the `permissions` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action)
    }
}

macro_rules! permissions {
    ($($name:ident = $resource:literal : $action:literal;)*) => {
        $(pub const $name: Permission = Permission { resource: $resource, action: $action };)*
        /// Every permission the platform knows, in a stable order.
        pub const ALL: &[Permission] = &[$($name),*];
    };
}

/// Permission constants, used by route declarations and role defaults.
pub mod perm {
    use super::Permission;
    permissions! {
        USERS_READ = "users":"read";
        USERS_MANAGE = "users":"manage";
        ROLES_READ = "roles":"read";
        AUDIT_READ = "audit_logs":"read";
        SETTINGS_MANAGE = "settings":"manage";
        COURSES_READ = "courses":"read";
        COURSES_MANAGE = "courses":"manage";
        ASSIGNMENTS_READ = "assignments":"read";
        ASSIGNMENTS_MANAGE = "assignments":"manage";
        SUBMISSIONS_READ = "submissions":"read";
        SUBMISSIONS_CREATE = "submissions":"create";
        SUBMISSIONS_GRADE = "submissions":"grade";
        DISCUSSIONS_READ = "discussions":"read";
        DISCUSSIONS_POST = "discussions":"post";
        DISCUSSIONS_MANAGE = "discussions":"manage";
        QUESTION_BANKS_READ = "question_banks":"read";
        QUESTION_BANKS_MANAGE = "question_banks":"manage";
        QUIZZES_READ = "quizzes":"read";
        QUIZZES_MANAGE = "quizzes":"manage";
        QUIZZES_ATTEMPT = "quizzes":"attempt";
        STANDARDS_READ = "standards":"read";
        STANDARDS_MANAGE = "standards":"manage";
        AI_USE = "ai":"use";
        ANALYTICS_READ = "analytics":"read";
    }
}

/// The five default roles of every tenant and what each may do. `admin` holds every
/// permission without rows (see [`grants`]); the others get these rows at tenant creation.
pub const DEFAULT_ROLES: &[(&str, &str, &[Permission])] = {
    use perm::*;
    &[
        (
            "admin",
            "Tenant administrator: every permission in the school",
            &[],
        ),
        (
            "teacher",
            "Runs courses: assignments, grading, discussions, quizzes",
            &[
                COURSES_READ,
                COURSES_MANAGE,
                ASSIGNMENTS_READ,
                ASSIGNMENTS_MANAGE,
                SUBMISSIONS_READ,
                SUBMISSIONS_GRADE,
                DISCUSSIONS_READ,
                DISCUSSIONS_POST,
                DISCUSSIONS_MANAGE,
                QUESTION_BANKS_READ,
                QUESTION_BANKS_MANAGE,
                QUIZZES_READ,
                QUIZZES_MANAGE,
                STANDARDS_READ,
                AI_USE,
            ],
        ),
        // Spec 08 gives curriculum leads curriculum artifacts only (unit plans,
        // templates, standards, approvals), never students' work: no submissions and no
        // discussions (README "Default permissions").
        (
            "curriculum_lead",
            "Curriculum: every course, standards, question banks",
            &[
                COURSES_READ,
                COURSES_MANAGE,
                ASSIGNMENTS_READ,
                ASSIGNMENTS_MANAGE,
                QUESTION_BANKS_READ,
                QUESTION_BANKS_MANAGE,
                QUIZZES_READ,
                QUIZZES_MANAGE,
                STANDARDS_READ,
                STANDARDS_MANAGE,
                AI_USE,
            ],
        ),
        (
            "student",
            "Learner: own submissions and quiz attempts",
            &[
                COURSES_READ,
                ASSIGNMENTS_READ,
                SUBMISSIONS_READ,
                SUBMISSIONS_CREATE,
                DISCUSSIONS_READ,
                DISCUSSIONS_POST,
                QUIZZES_READ,
                QUIZZES_ATTEMPT,
                STANDARDS_READ,
            ],
        ),
        (
            "guardian",
            "Parent or guardian: read-only view of linked students",
            &[
                COURSES_READ,
                ASSIGNMENTS_READ,
                SUBMISSIONS_READ,
                QUIZZES_READ,
                STANDARDS_READ,
            ],
        ),
    ]
};

/// Whether a holder of `roles` and `held` permissions has `wanted`.
pub fn grants(roles: &[String], held: &[String], wanted: Permission) -> bool {
    roles.iter().any(|r| r == "admin") || held.iter().any(|p| *p == wanted.to_string())
}

/// Who may call a route. Every route declares one; there is no default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (health, login, the OpenAPI document).
    Public,
    /// Any signed-in user of a tenant, or an operator.
    Authenticated,
    /// A signed-in user of a tenant, whatever their roles.
    TenantMember,
    /// A user of a tenant holding the permission (`admin` holds all).
    Tenant(Permission),
    /// A district administrator (acts on the tenants of their district).
    DistrictAdmin,
    /// A platform operator.
    Operator,
    /// A signed-in user of a tenant, or a tenant API key holding this scope
    /// (`crate::api_keys`). The only rule that admits keys: every other route refuses
    /// them as unknown tokens.
    TenantMemberOrKey(&'static str),
}

impl Access {
    pub fn describe(&self) -> String {
        match self {
            Self::Public => "public".into(),
            Self::Authenticated => "any signed-in user or operator".into(),
            Self::TenantMember => "any signed-in user of the tenant".into(),
            Self::Tenant(p) => format!("tenant users with permission {p}"),
            Self::DistrictAdmin => "district administrators".into(),
            Self::Operator => "platform operators".into(),
            Self::TenantMemberOrKey(scope) => {
                format!("any signed-in user of the tenant, or a tenant API key with scope {scope}")
            }
        }
    }
}
