//! Seeds the benchmark district with set-based SQL: one transaction per school, opened as
//! production opens them (`create_tenant` from a system transaction, then the tenant
//! transaction), so row-level security and the counter triggers run as they do in
//! production. Also the `bench.targets` table pgbench and the HTTP clients draw from, and
//! the bulk-import measurement.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use platform::db::{Db, TenantId, TenantTx};
use platform::tenancy::{self, Slug};

use crate::endpoints::{Target, Who};
use crate::Urls;

/// How big the district is (per school, except `tenants`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub tenants: usize,
    pub teachers: i64,
    pub students: i64,
    pub courses: i64,
    pub sections_per_course: i64,
    pub courses_per_student: i64,
    pub assignments_per_course: i64,
    /// Of which the first `published_per_course` are published, the rest drafts.
    pub published_per_course: i64,
    pub submissions: i64,
    pub posts_per_discussion: i64,
    /// Students with a session (all teachers have one).
    pub student_sessions: i64,
    /// Rows of the bulk-import measurement.
    pub bulk_users: i64,
}

impl Shape {
    /// 20 schools: 2,000 teachers, 40,000 students, 6,000 courses, 200,000 submissions.
    pub fn full() -> Self {
        Self {
            tenants: 20,
            teachers: 100,
            students: 2_000,
            courses: 300,
            sections_per_course: 2,
            courses_per_student: 6,
            assignments_per_course: 5,
            published_per_course: 3,
            submissions: 10_000,
            posts_per_discussion: 3,
            student_sessions: 250,
            bulk_users: 100_000,
        }
    }

    pub fn smoke() -> Self {
        Self {
            tenants: 2,
            teachers: 4,
            students: 60,
            courses: 12,
            submissions: 200,
            student_sessions: 20,
            bulk_users: 2_000,
            ..Self::full()
        }
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// What seeding did (or found).
pub struct Seeding {
    pub reused: bool,
    pub seed_seconds: f64,
    pub vacuum_seconds: f64,
    /// Rows per table, counted as the superuser (across tenants).
    pub counts: Vec<(&'static str, i64)>,
}

pub const COUNTED_TABLES: &[&str] = &[
    "tenants",
    "users",
    "user_roles",
    "sessions",
    "courses",
    "sections",
    "enrollments",
    "assignments",
    "submissions",
    "discussions",
    "discussion_posts",
];

const BENCH_SCHEMA: &[&str] = &[
    "CREATE SCHEMA bench",
    "CREATE TABLE bench.meta (shape text NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now(),
                              seed_seconds float8 NOT NULL, vacuum_seconds float8 NOT NULL)",
    "CREATE TABLE bench.targets (
         id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         kind           text NOT NULL CHECK (kind IN ('teacher', 'student')),
         n              integer,
         tenant_id      bigint NOT NULL,
         user_id        bigint NOT NULL,
         course_id      bigint NOT NULL,
         assignment_id  bigint NOT NULL,
         token          text NOT NULL,
         token_hash     bytea NOT NULL)",
    "GRANT USAGE ON SCHEMA bench TO k12_service",
    "GRANT SELECT, INSERT ON bench.targets TO k12_service",
    "GRANT USAGE ON ALL SEQUENCES IN SCHEMA bench TO k12_service",
];

/// Seeds the district unless a previous run (`--data-dir`) did with the same shape.
pub async fn ensure(db: &Db, urls: &Urls, shape: &Shape) -> anyhow::Result<Seeding> {
    let mut owner = PgConnection::connect(&urls.owner).await?;
    let meta: Option<(String, f64, f64)> = if schema_exists(&mut owner).await? {
        sqlx::query_as("SELECT shape, seed_seconds, vacuum_seconds FROM bench.meta")
            .fetch_optional(&mut owner)
            .await?
            .context("a previous seeding did not finish; remove the --data-dir and run again")
            .map(Some)?
    } else {
        None
    };
    if let Some((seeded, seed_seconds, vacuum_seconds)) = meta {
        if seeded != shape.describe() {
            bail!("the --data-dir holds a district of another shape ({seeded}); use another directory");
        }
        eprintln!("reusing the seeded district");
        refresh_sessions(db).await?;
        return Ok(Seeding {
            reused: true,
            seed_seconds,
            vacuum_seconds,
            counts: count_rows(urls).await?,
        });
    }

    for statement in BENCH_SCHEMA {
        sqlx::query(statement).execute(&mut owner).await?;
    }
    eprintln!(
        "seeding {} schools ({} teachers, {} students, {} courses, {} submissions each)",
        shape.tenants, shape.teachers, shape.students, shape.courses, shape.submissions
    );
    let started = Instant::now();
    let password_hash = platform::auth::password::hash("k12-bench-password".into()).await?;
    let mut sys = db.system().await?;
    let district = tenancy::create_district(
        &mut sys,
        "Bench Unified",
        &Slug::parse("bench").expect("valid"),
    )
    .await?;
    sys.commit().await?;
    // Two schools at a time: distinct tenants touch distinct counter rows.
    let mut tasks = tokio::task::JoinSet::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(2));
    for i in 1..=shape.tenants {
        let (db, shape, hash) = (db.clone(), shape.clone(), password_hash.clone());
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            seed_school(&db, district, i, &shape, &hash)
                .await
                .with_context(|| format!("seeding school {i}"))
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    // The scratch school of the bulk-import measurement, empty.
    let sys = db.system().await?;
    let scratch = tenancy::NewSchool {
        district_id: Some(district),
        name: "Bench Bulk Import",
        slug: &Slug::parse("bench-bulk").expect("valid"),
        timezone: "America/Chicago",
        address: None,
    };
    tenancy::create_school(sys, &scratch)
        .await?
        .0
        .commit()
        .await?;
    sqlx::query(
        "UPDATE bench.targets t SET n = x.n
           FROM (SELECT id, row_number() OVER (PARTITION BY kind ORDER BY id) AS n FROM bench.targets) x
          WHERE x.id = t.id",
    )
    .execute(&mut owner)
    .await?;
    sqlx::query("CREATE UNIQUE INDEX targets_kind_n ON bench.targets (kind, n)")
        .execute(&mut owner)
        .await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    eprintln!("seeded in {seed_seconds:.1} s; VACUUM ANALYZE");

    let started = Instant::now();
    let mut superuser = PgConnection::connect(&urls.superuser).await?;
    // Simple protocol: VACUUM cannot run inside the implicit transaction of a prepared one.
    sqlx::Executor::execute(&mut superuser, "VACUUM (ANALYZE)").await?;
    let vacuum_seconds = started.elapsed().as_secs_f64();
    sqlx::query("INSERT INTO bench.meta (shape, seed_seconds, vacuum_seconds) VALUES ($1, $2, $3)")
        .bind(shape.describe())
        .bind(seed_seconds)
        .bind(vacuum_seconds)
        .execute(&mut owner)
        .await?;
    Ok(Seeding {
        reused: false,
        seed_seconds,
        vacuum_seconds,
        counts: count_rows(urls).await?,
    })
}

async fn schema_exists(conn: &mut PgConnection) -> anyhow::Result<bool> {
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'bench')")
            .fetch_one(conn)
            .await?;
    Ok(exists)
}

async fn count_rows(urls: &Urls) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut superuser = PgConnection::connect(&urls.superuser).await?;
    let mut counts = Vec::new();
    for table in COUNTED_TABLES {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut superuser)
            .await?;
        counts.push((*table, n));
    }
    Ok(counts)
}

/// Sessions live 12 hours; a reused district gets its sessions renewed.
async fn refresh_sessions(db: &Db) -> anyhow::Result<()> {
    let tenants: Vec<(i64,)> = sqlx::query_as("SELECT DISTINCT tenant_id FROM bench.targets")
        .fetch_all(db.pool())
        .await?;
    for (tenant,) in tenants {
        let mut tx = db.tenant(TenantId(tenant)).await?;
        sqlx::query(
            "UPDATE sessions SET expires_at = now() + interval '12 hours' WHERE user_agent = 'k12-bench'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

const FIRST_NAMES: &str = "ARRAY['Ava','Ben','Chloe','Diego','Emma','Farid','Grace','Hiro','Isla','Jamal',\
    'Kara','Liam','Maya','Noah','Olivia','Priya','Quinn','Rosa','Sam','Tariq','Uma','Victor','Wen','Zoe']";
const LAST_NAMES: &str = "ARRAY['Adams','Baker','Chen','Diaz','Evans','Fischer','Garcia','Hughes','Ito',\
    'Jones','Khan','Lopez','Murphy','Nguyen','Okafor','Patel','Quist','Rossi','Smith','Tanaka','Usman',\
    'Vargas','Walsh','Young']";
const SUBJECTS: &str =
    "ARRAY['Algebra I','Geometry','Biology','Chemistry','World History','English 9',\
    'Spanish I','Art','Music','Physics','Economics','Computer Science']";

/// One school, in one transaction. Every number is ours (never user input), so it is
/// written into the SQL; the strings are bound.
async fn seed_school(
    db: &Db,
    district: i64,
    i: usize,
    s: &Shape,
    password_hash: &str,
) -> anyhow::Result<()> {
    let slug = format!("bench-{i:02}");
    let sys = db.system().await?;
    let (mut tx, _) = tenancy::create_school(
        sys,
        &tenancy::NewSchool {
            district_id: Some(district),
            name: &format!("Bench School {i:02}"),
            slug: &Slug::parse(&slug).expect("valid"),
            timezone: "America/Chicago",
            address: Some("1 Bench Way"),
        },
    )
    .await?;
    let (t, st, c) = (s.teachers, s.students, s.courses);
    let spc = s.sections_per_course;
    // Student j takes courses j, j + stride, j + 2 stride, ...: distinct and balanced.
    let stride = (c / s.courses_per_student).max(1);
    let statements: Vec<String> = vec![
        "INSERT INTO academic_years (tenant_id, name, start_date, end_date, current)
         VALUES (current_tenant_id(), '2026-2027', '2026-08-24', '2027-06-18', true)"
            .into(),
        "INSERT INTO terms (tenant_id, academic_year_id, name, start_date, end_date)
         SELECT current_tenant_id(), y.id, x.name, x.s, x.e
           FROM academic_years y,
                (VALUES ('Fall 2026', date '2026-08-24', date '2027-01-15'),
                        ('Spring 2027', date '2027-01-19', date '2027-06-18')) x(name, s, e)"
            .into(),
        // Everyone in one statement: the users_count trigger updates the tenant row once.
        format!(
            "INSERT INTO users (tenant_id, email, first_name, last_name, password_hash, onboarding_complete)
             SELECT current_tenant_id(),
                    CASE WHEN g = 0 THEN 'admin' WHEN g <= {t} THEN 'teacher' || g ELSE 'student' || (g - {t}) END
                      || '@' || $1 || '.bench.test',
                    ({FIRST_NAMES})[1 + (g * 7) % 24], ({LAST_NAMES})[1 + (g * 13) % 24], $2, true
               FROM generate_series(0, {t} + {st}) g"
        ),
        "INSERT INTO user_roles (tenant_id, user_id, role_id)
         SELECT current_tenant_id(), u.id, r.id
           FROM users u JOIN roles r ON r.name = CASE WHEN u.email LIKE 'admin@%' THEN 'admin'
                                                      WHEN u.email LIKE 'teacher%' THEN 'teacher'
                                                      ELSE 'student' END"
            .into(),
        "CREATE TEMP TABLE seed_teachers ON COMMIT DROP AS
         SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE email LIKE 'teacher%'"
            .into(),
        "CREATE TEMP TABLE seed_students ON COMMIT DROP AS
         SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE email LIKE 'student%'"
            .into(),
        format!(
            "INSERT INTO courses (tenant_id, academic_year_id, created_by_id, name, code, description)
             SELECT current_tenant_id(), (SELECT id FROM academic_years WHERE current), t.id,
                    ({SUBJECTS})[1 + k % 12] || ' ' || k, 'C' || k,
                    'A year-long course: weekly homework, two projects and a lab or essay per unit.'
               FROM generate_series(1, {c}) k JOIN seed_teachers t ON t.n = 1 + (k - 1) % {t}"
        ),
        "CREATE TEMP TABLE seed_courses ON COMMIT DROP AS
         SELECT id, created_by_id AS teacher_id, row_number() OVER (ORDER BY id) AS n FROM courses"
            .into(),
        format!(
            "INSERT INTO sections (tenant_id, course_id, term_id, name)
             SELECT current_tenant_id(), c.id, (SELECT min(id) FROM terms), 'Period ' || p
               FROM seed_courses c, generate_series(1, {spc}) p"
        ),
        "CREATE TEMP TABLE seed_sections ON COMMIT DROP AS
         SELECT id, course_id, row_number() OVER (PARTITION BY course_id ORDER BY id) AS k FROM sections"
            .into(),
        // Teachers in every section of their courses, students in one section of each
        // of their courses; one statement, so each counter row is updated once.
        format!(
            "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
             SELECT current_tenant_id(), c.teacher_id, sec.id, c.id, 'teacher'
               FROM seed_courses c JOIN seed_sections sec ON sec.course_id = c.id
             UNION ALL
             SELECT current_tenant_id(), s.id, sec.id, c.id, 'student'
               FROM seed_students s
              CROSS JOIN generate_series(0, {cps} - 1) m
               JOIN seed_courses c ON c.n = 1 + ((s.n - 1) + m * {stride}) % {c}
               JOIN seed_sections sec ON sec.course_id = c.id AND sec.k = 1 + s.n % {spc}",
            cps = s.courses_per_student
        ),
        // Due dates from six weeks ago to six weeks ahead; one in ten undated.
        format!(
            "INSERT INTO assignments (tenant_id, course_id, created_by_id, title, description, instructions,
                                      assignment_type, points_possible, due_at, allow_late_submission, status)
             SELECT current_tenant_id(), c.id, c.teacher_id,
                    (ARRAY['Homework','Essay','Project','Lab report','Presentation'])[1 + (a - 1) % 5] || ' ' || a,
                    'Practise what we covered this week and bring questions to class.',
                    'Submit a document or a link. Show your working; cite your sources.',
                    (ARRAY['homework','essay','project','lab','presentation'])[1 + (a - 1) % 5],
                    (ARRAY[10, 50, 100, 25, 20])[1 + (a - 1) % 5],
                    CASE WHEN (c.n + a) % 10 = 0 THEN NULL
                         ELSE date_trunc('day', now()) + make_interval(days => ((a - 3) * 14 + c.n % 14)::int)
                              + interval '23 hours 59 minutes' END,
                    a % 2 = 0,
                    CASE WHEN a <= {published} THEN 'published' ELSE 'draft' END
               FROM seed_courses c, generate_series(1, {apc}) a",
            published = s.published_per_course,
            apc = s.assignments_per_course
        ),
        // Submissions: a pseudo-random choice among (published assignment, enrolled
        // student) pairs; two in three graded or returned.
        format!(
            "INSERT INTO submissions (tenant_id, assignment_id, user_id, attempt_number, body, status, late,
                                      submitted_at, grade, feedback, graded_by_id, graded_at)
             SELECT current_tenant_id(), x.aid, x.uid, 1,
                    repeat('My answer, with my reasoning and the sources I used. ', 1 + (x.h % 6)::int),
                    x.status, x.due_at IS NOT NULL AND x.at > x.due_at, x.at,
                    CASE WHEN x.status <> 'submitted' THEN round(x.points * (50 + x.h % 51) / 100.0, 2) END,
                    CASE WHEN x.status <> 'submitted' THEN 'Good work; see my comments in the margin.' END,
                    CASE WHEN x.status <> 'submitted' THEN x.teacher END,
                    CASE WHEN x.status <> 'submitted' THEN x.at + interval '2 days' END
               FROM (SELECT p.*, least(coalesce(p.due_at, now()) - make_interval(hours => (p.h % 96)::int)
                                       + interval '12 hours', now()) AS at,
                            CASE WHEN p.h % 3 = 0 THEN 'submitted' WHEN p.h % 7 = 0 THEN 'returned'
                                 ELSE 'graded' END AS status
                       FROM (SELECT a.id AS aid, e.user_id AS uid, a.created_by_id AS teacher, a.due_at,
                                    a.points_possible AS points,
                                    (a.id * 7919 + e.user_id * 104729) % 1000003 AS h
                               FROM assignments a
                               JOIN enrollments e ON e.course_id = a.course_id AND e.role = 'student'
                              WHERE a.status = 'published'
                              ORDER BY h LIMIT {subs}) p) x",
            subs = s.submissions
        ),
        "INSERT INTO discussions (tenant_id, course_id, created_by_id, title, description, pinned)
         SELECT current_tenant_id(), c.id, c.teacher_id, 'Week 1: introduce yourself',
                'Tell the class one thing you hope to learn this year.', true
           FROM seed_courses c"
            .into(),
        format!(
            "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, content)
             SELECT current_tenant_id(), d.id, e.user_id, 'Hi everyone! I hope to get better at this subject.'
               FROM discussions d
               JOIN LATERAL (SELECT user_id FROM enrollments e
                              WHERE e.course_id = d.course_id AND e.role = 'student'
                              ORDER BY user_id LIMIT {ppd}) e ON true",
            ppd = s.posts_per_discussion
        ),
        "INSERT INTO discussion_posts (tenant_id, discussion_id, created_by_id, parent_post_id, content)
         SELECT current_tenant_id(), p.discussion_id, d.created_by_id, p.id, 'Welcome! Glad to have you.'
           FROM discussion_posts p JOIN discussions d ON d.id = p.discussion_id
          WHERE p.parent_post_id IS NULL"
            .into(),
        // Known session tokens (k12u_<tenant>_<43 base64url characters>), stored as
        // SHA-256 like auth/token.rs does: every teacher and some students.
        format!(
            "CREATE TEMP TABLE seed_tokens ON COMMIT DROP AS
             SELECT x.id AS user_id, x.token, sha256(convert_to(x.token, 'UTF8')) AS token_hash
               FROM (SELECT u.id,
                            'k12u_' || current_tenant_id() || '_' ||
                            translate(rtrim(encode(sha256(convert_to('k12-bench/' || current_tenant_id() || '/' || u.id,
                                                                      'UTF8')), 'base64'), '='), '+/', '-_') AS token
                       FROM users u
                      WHERE u.id IN (SELECT id FROM seed_teachers
                                     UNION ALL SELECT id FROM seed_students WHERE n <= {ss})) x",
            ss = s.student_sessions
        ),
        "INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at, user_agent)
         SELECT current_tenant_id(), user_id, token_hash, now() + interval '12 hours', 'k12-bench'
           FROM seed_tokens"
            .into(),
        // Targets: each teacher with one of their courses and its busiest published
        // assignment; each student with one of their courses.
        format!(
            "INSERT INTO bench.targets (kind, tenant_id, user_id, course_id, assignment_id, token, token_hash)
         SELECT 'teacher', current_tenant_id(), t.id, c.id, a.id, k.token, k.token_hash
           FROM seed_teachers t
           JOIN seed_tokens k ON k.user_id = t.id
           JOIN LATERAL (SELECT id FROM seed_courses c WHERE c.teacher_id = t.id ORDER BY c.n LIMIT 1) c ON true
           JOIN LATERAL (SELECT id FROM assignments a WHERE a.course_id = c.id AND a.status = 'published'
                          ORDER BY a.submissions_count DESC, a.id LIMIT 1) a ON true
         UNION ALL
         SELECT 'student', current_tenant_id(), s.id, e.course_id, a.id, k.token, k.token_hash
           FROM seed_students s
           JOIN seed_tokens k ON k.user_id = s.id
           JOIN LATERAL (SELECT course_id FROM enrollments e WHERE e.user_id = s.id
                          ORDER BY e.course_id OFFSET s.n % {cps} LIMIT 1) e ON true
           JOIN LATERAL (SELECT id FROM assignments a WHERE a.course_id = e.course_id AND a.status = 'published'
                          ORDER BY a.id LIMIT 1) a ON true",
            cps = s.courses_per_student
        ),
    ];
    for sql in &statements {
        run(&mut tx, sql, &slug, password_hash)
            .await
            .with_context(|| sql.lines().next().unwrap_or_default().trim().to_string())?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs one seeding statement, binding the strings it mentions (`$1` slug, `$2` hash).
async fn run(tx: &mut TenantTx, sql: &str, slug: &str, hash: &str) -> anyhow::Result<()> {
    let mut q = sqlx::query(sql).persistent(false);
    if sql.contains("$1") {
        q = q.bind(slug);
    }
    if sql.contains("$2") {
        q = q.bind(hash);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The 100k-user bulk import, with and without the counter trigger on the tenant row.
pub struct BulkImport {
    pub users: i64,
    pub with_trigger: Vec<Duration>,
    pub without_trigger: Vec<Duration>,
    /// A one-user insert into the same school while the import statement runs (None if
    /// it could not finish before the import's counter update: too small an import).
    pub probe_during_statement: Option<Duration>,
    /// The same while the import transaction stays open [`HOLD`] after its statement.
    pub probe_after_statement: Duration,
}

/// How long the first import transaction stays open after its statement.
pub const HOLD: Duration = Duration::from_millis(200);

/// Inserts one user into `tenant` and times the statement (its counter trigger updates
/// the same tenant row as the import's); rolled back. With `lock_timeout` it gives up
/// rather than wait for a lock that long.
async fn probe_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    lock_timeout: Option<&str>,
) -> anyhow::Result<Duration> {
    let mut tx = conn.begin().await?;
    sqlx::query(platform::db::SET_TENANT_SQL)
        .bind(tenant.0.to_string())
        .execute(&mut *tx)
        .await?;
    if let Some(timeout) = lock_timeout {
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(timeout)
            .execute(&mut *tx)
            .await?;
    }
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO users (tenant_id, email) VALUES (current_tenant_id(), 'probe@bulk.bench.test')",
    )
    .execute(&mut *tx)
    .await?;
    let took = started.elapsed();
    tx.rollback().await?;
    Ok(took)
}

/// Times `INSERT ... SELECT` of `users` users into the empty scratch school in one
/// statement, alternately with the users_count trigger and without it (disabled inside
/// the transaction, which the owner may do); the same connection and role (the owner,
/// under the same forced row-level security) for both, every attempt rolled back.
pub async fn bulk_import(db: &Db, urls: &Urls, users: i64) -> anyhow::Result<BulkImport> {
    let mut sys = db.system().await?;
    let scratch = tenancy::tenant_id_by_slug(&mut sys, "bench-bulk")
        .await?
        .context("the scratch school bench-bulk is missing")?;
    sys.commit().await?;
    let sql = format!(
        "INSERT INTO users (tenant_id, email, first_name, last_name, password_hash)
         SELECT current_tenant_id(), 'import' || g || '@bulk.bench.test', 'Imported', 'Student ' || g, $1
           FROM generate_series(1, {users}) g"
    );
    let hash = platform::auth::password::hash("k12-bench-password".into()).await?;
    let mut owner = PgConnection::connect(&urls.owner).await?;
    let mut probe = PgConnection::connect(&urls.owner).await?;
    let mut out = BulkImport {
        users,
        with_trigger: Vec::new(),
        without_trigger: Vec::new(),
        probe_during_statement: None,
        probe_after_statement: Duration::ZERO,
    };
    for round in 0..3 {
        eprintln!("bulk import of {users} users, round {}", round + 1);
        for trigger in [true, false] {
            let mut tx = owner.begin().await?;
            sqlx::query(platform::db::SET_TENANT_SQL)
                .bind(scratch.0.to_string())
                .execute(&mut *tx)
                .await?;
            if !trigger {
                sqlx::query("ALTER TABLE users DISABLE TRIGGER users_count_insert")
                    .execute(&mut *tx)
                    .await?;
            }
            let started = Instant::now();
            let import = async {
                sqlx::query(&sql).bind(&hash).execute(&mut *tx).await?;
                anyhow::Ok(started.elapsed())
            };
            let took = if round == 0 && trigger {
                // Started with the import; if the import's counter update gets to the
                // tenant row first, the probe would wait for this very transaction: the
                // lock timeout ends that wait and the probe reports nothing.
                let (took, during) =
                    tokio::join!(import, probe_insert(&mut probe, scratch, Some("2s")));
                out.probe_during_statement = during.ok();
                took?
            } else {
                import.await?
            };
            let (count,): (i32,) = sqlx::query_as("SELECT users_count FROM tenants")
                .fetch_one(&mut *tx)
                .await?;
            let expected = if trigger { users } else { 0 };
            if i64::from(count) != expected {
                bail!("users_count is {count} after importing {users} users (trigger: {trigger})");
            }
            if round == 0 && trigger {
                let (probe, rolled_back) =
                    tokio::join!(probe_insert(&mut probe, scratch, None), async {
                        tokio::time::sleep(HOLD).await;
                        tx.rollback().await
                    });
                out.probe_after_statement = probe?;
                rolled_back?;
            } else {
                tx.rollback().await?;
            }
            if trigger {
                out.with_trigger.push(took);
            } else {
                out.without_trigger.push(took);
            }
        }
    }
    Ok(out)
}

/// The targets the HTTP clients draw from (the same rows the pgbench scripts read).
pub struct Targets {
    teachers: Vec<Target>,
    students: Vec<Target>,
}

impl Targets {
    pub fn of(&self, who: Who) -> &[Target] {
        match who {
            Who::Teacher => &self.teachers,
            Who::Student => &self.students,
        }
    }
}

pub async fn load_targets(db: &Db) -> anyhow::Result<Targets> {
    let load = |kind: &'static str| async move {
        sqlx::query_as::<_, Target>(
            "SELECT course_id, assignment_id, token FROM bench.targets WHERE kind = $1 ORDER BY n",
        )
        .bind(kind)
        .fetch_all(db.pool())
        .await
    };
    Ok(Targets {
        teachers: load("teacher").await?,
        students: load("student").await?,
    })
}
