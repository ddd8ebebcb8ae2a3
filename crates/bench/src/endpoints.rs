//! The endpoints under test: the HTTP request, and the statements the service runs for
//! it, taken from the service's own SQL constants so the pgbench scripts cannot drift.

use platform::courses::access::{CourseRole, COURSE_ROLE_SQL};
use platform::http::page::DEFAULT_LIMIT;

/// Whose session a request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Teacher,
    Student,
}

impl Who {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::Student => "student",
        }
    }
}

/// One row of `bench.targets`: a signed-in user and the objects they may read.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Target {
    pub course_id: i64,
    pub assignment_id: i64,
    pub token: String,
}

/// A value for a statement's `$n`: a column of the target (a pgbench variable), a
/// pgbench `-D` constant, or SQL NULL (pgbench variables cannot be NULL).
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    Var(&'static str),
    Null,
}

/// A statement with the values of its parameters, in order.
#[derive(Clone, Debug)]
pub struct Statement {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Statement {
    fn new(sql: impl Into<String>, args: &[Arg]) -> Self {
        Self {
            sql: sql.into(),
            args: args.to_vec(),
        }
    }
}

pub struct Endpoint {
    pub name: &'static str,
    pub who: Who,
    path: fn(&Target) -> String,
    /// The statements of the handler's tenant transaction after `set_config`.
    pub handler: Vec<Statement>,
    /// A list route (the stampede and the refresh traffic mix these).
    pub list: bool,
}

impl Endpoint {
    pub fn path(&self, target: &Target) -> String {
        (self.path)(target)
    }

    /// The name as a file name (pgbench scripts and logs).
    pub fn file_name(&self) -> String {
        self.name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    }
}

use Arg::{Null, Var};

/// The `limit + 1` a list binds for the default page size (pgbench `-D` variable).
pub const LIMIT_VAR: &str = "limit_plus_one";
pub fn limit_plus_one() -> i64 {
    DEFAULT_LIMIT + 1
}

/// The include-archived flag the course list binds by default (pgbench `-D` variable).
pub const FALSE_VAR: &str = "false_flag";

/// The session lookup every authenticated request runs in its own tenant transaction.
pub fn session_lookup() -> Vec<Statement> {
    vec![Statement::new(
        platform::auth::session::USER_SESSION_SQL,
        &[Var("token_hash")],
    )]
}

/// The statement that opens every tenant transaction.
pub fn set_tenant() -> Statement {
    Statement::new(platform::db::SET_TENANT_SQL, &[Var("tenant_id")])
}

fn course_role() -> Statement {
    Statement::new(COURSE_ROLE_SQL, &[Var("course_id"), Var("user_id")])
}

fn course_list() -> Statement {
    // A teacher or student (not admin): `sees_all_courses` is false.
    Statement::new(
        platform::courses::list_sql(false),
        &[
            Var("user_id"),
            Var(FALSE_VAR),
            Null,
            Null,
            Null,
            Var(LIMIT_VAR),
        ],
    )
}

pub fn all() -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: "GET /api/v1/courses (teacher)",
            list: true,
            who: Who::Teacher,
            path: |_| "/api/v1/courses".into(),
            handler: vec![course_list()],
        },
        Endpoint {
            name: "GET /api/v1/courses (student)",
            list: true,
            who: Who::Student,
            path: |_| "/api/v1/courses".into(),
            handler: vec![course_list()],
        },
        Endpoint {
            name: "GET /api/v1/courses/{id} (student)",
            list: false,
            who: Who::Student,
            path: |t| format!("/api/v1/courses/{}", t.course_id),
            handler: vec![
                course_role(),
                Statement::new(platform::courses::find_sql(), &[Var("course_id")]),
            ],
        },
        Endpoint {
            name: "GET /api/v1/courses/{id}/assignments (teacher)",
            list: true,
            who: Who::Teacher,
            path: |t| format!("/api/v1/courses/{}/assignments", t.course_id),
            handler: vec![
                course_role(),
                // Staff see every status: `$2` (status filter) is NULL.
                Statement::new(
                    platform::assignments::list_sql(),
                    &[Var("course_id"), Null, Null, Null, Var(LIMIT_VAR)],
                ),
            ],
        },
        Endpoint {
            name: "GET /api/v1/assignments/{id}/submissions (teacher)",
            list: true,
            who: Who::Teacher,
            path: |t| format!("/api/v1/assignments/{}/submissions", t.assignment_id),
            handler: vec![
                Statement::new(platform::assignments::find_sql(), &[Var("assignment_id")]),
                course_role(),
                Statement::new(
                    platform::assignments::submissions::list_sql(CourseRole::Staff),
                    &[
                        Var("assignment_id"),
                        Var("user_id"),
                        Null,
                        Null,
                        Null,
                        Null,
                        Var(LIMIT_VAR),
                    ],
                ),
            ],
        },
    ]
}
