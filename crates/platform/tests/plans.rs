//! The main list queries use the composite indexes (tenant first, then filter and sort
//! columns): on a school seeded at a realistic size and analysed, `EXPLAIN` of each
//! query — run as the service role, so the row-level-security filter is part of the
//! plan — must not scan a large table sequentially.

use platform::assignments::{self, submissions};
use platform::auth::session::USER_SESSION_SQL;
use platform::courses::{self, access::CourseRole, access::COURSE_ROLE_SQL};
use serde_json::Value;
use testkit::TestApp;

/// Tables big enough here that a sequential scan means a missing index.
const LARGE: &[&str] = &[
    "users",
    "sessions",
    "courses",
    "sections",
    "enrollments",
    "assignments",
    "submissions",
    "discussion_posts",
];

/// Replaces `$n` with literals, highest first so `$1` does not eat `$10`.
fn bind(sql: &str, values: &[&str]) -> String {
    let mut out = sql.to_string();
    for (i, v) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), v);
    }
    out
}

/// Rows an index may hand over before it counts as reading a table wholesale (each of
/// the seeded schools has 4,000 users, 20,000 enrollments and 46,000 submissions).
const WHOLESALE_ROWS: f64 = 3000.0;

/// Collects scans that read a large table wholesale: sequential scans, and index scans
/// expected to return more than [`WHOLESALE_ROWS`] rows where no `LIMIT` above them can
/// stop them early (an index on `tenant_id` alone would be such a scan).
fn wholesale_scans(plan: &Value, found: &mut Vec<String>) {
    walk(plan, false, found);
}

fn walk(plan: &Value, under_limit: bool, found: &mut Vec<String>) {
    let node = plan["Node Type"].as_str().unwrap_or_default();
    let rows = plan["Plan Rows"].as_f64().unwrap_or_default();
    let rel = plan["Relation Name"].as_str().unwrap_or_default();
    if node == "Seq Scan" && LARGE.contains(&rel) {
        found.push(rel.to_string());
    }
    let wholesale = match node {
        "Bitmap Index Scan" => rows > WHOLESALE_ROWS,
        "Index Scan" | "Index Only Scan" => rows > WHOLESALE_ROWS && !under_limit,
        _ => false,
    };
    if wholesale {
        found.push(format!(
            "{} via {} ({rows} rows)",
            if rel.is_empty() { "index" } else { rel },
            plan["Index Name"]
        ));
    }
    let under_limit = under_limit || node == "Limit";
    if let Some(children) = plan["Plans"].as_array() {
        for c in children {
            walk(c, under_limit, found);
        }
    }
}

#[tokio::test]
async fn list_queries_use_indexes_at_realistic_size() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("big", None).await;
    // Another school of the same size, so the tenant filter matters too.
    let other = app.create_tenant("other", None).await;
    for t in [tenant, other] {
        let mut tx = app.tenant_tx(t).await;
        sqlx::raw_sql(
            "INSERT INTO users (tenant_id, email, first_name, last_name)
               SELECT current_tenant_id(), 'u' || i || '@big.test', 'First' || i, 'Last' || i FROM generate_series(1, 4000) i;
             INSERT INTO courses (tenant_id, name, code)
               SELECT current_tenant_id(), 'Course ' || lpad(i::text, 4, '0'), 'C' || i FROM generate_series(1, 600) i;
             INSERT INTO sections (tenant_id, course_id, name) SELECT current_tenant_id(), id, 'P1' FROM courses;
             -- Users 1-150 teach four courses each; the rest are students in six.
             INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
               SELECT current_tenant_id(), u.id, s.id, s.course_id, 'teacher'
                 FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users) u
                 JOIN (SELECT id, course_id, row_number() OVER (ORDER BY id) AS n FROM sections) s
                   ON u.n <= 150 AND s.n BETWEEN (u.n - 1) * 4 + 1 AND u.n * 4;
             INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
               SELECT current_tenant_id(), u.id, s.id, s.course_id, 'student'
                 FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users) u
                 CROSS JOIN generate_series(0, 5) k
                 JOIN (SELECT id, course_id, row_number() OVER (ORDER BY id) AS n FROM sections) s
                   ON s.n = 1 + (u.n * 7 + k * 101) % 600
                WHERE u.n > 150
               ON CONFLICT DO NOTHING;
             INSERT INTO assignments (tenant_id, course_id, title, status, due_at)
               SELECT current_tenant_id(), c.id, 'A' || k, 'published', now() + k * interval '1 day'
                 FROM courses c, generate_series(1, 5) k;
             INSERT INTO submissions (tenant_id, assignment_id, user_id, attempt_number, body, submitted_at)
               SELECT current_tenant_id(), a.id, e.user_id, 1, 'work', now()
                 FROM assignments a JOIN enrollments e ON e.course_id = a.course_id AND e.role = 'student'
                WHERE a.title IN ('A1', 'A2');
             INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at)
               SELECT current_tenant_id(), id, sha256(('t' || id || current_tenant_id())::bytea), now() + interval '1 hour' FROM users;",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.owner_url())
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(&mut owner).await.unwrap();

    let mut tx = app.tenant_tx(tenant).await;
    let (teacher, student, course, assignment): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT min(user_id) FROM enrollments WHERE role = 'teacher'),
                (SELECT min(user_id) FROM enrollments WHERE role = 'student'),
                (SELECT min(course_id) FROM enrollments WHERE role = 'teacher'),
                (SELECT min(a.id) FROM assignments a JOIN enrollments e ON e.course_id = a.course_id AND e.role = 'teacher')",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let (submissions_seeded,): (i64,) = sqlx::query_as("SELECT count(*) FROM submissions")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(
        submissions_seeded > 5000,
        "the school is not realistic: {submissions_seeded} submissions"
    );
    let (t, s, c, a) = (
        teacher.to_string(),
        student.to_string(),
        course.to_string(),
        assignment.to_string(),
    );
    let queries: Vec<(&str, String)> = vec![
        (
            "session lookup",
            bind(USER_SESSION_SQL, &["sha256('t1'::bytea)"]),
        ),
        ("course role", bind(COURSE_ROLE_SQL, &[&c, &t])),
        (
            "courses as teacher",
            bind(
                &courses::list_sql(false),
                &[&t, "false", "NULL", "NULL", "NULL", "51"],
            ),
        ),
        (
            "courses as student",
            bind(
                &courses::list_sql(false),
                &[&s, "false", "NULL", "NULL", "NULL", "51"],
            ),
        ),
        (
            "courses as admin",
            bind(
                &courses::list_sql(true),
                &[&t, "false", "NULL", "NULL", "NULL", "51"],
            ),
        ),
        (
            "courses as admin, page 2",
            bind(
                &courses::list_sql(true),
                &[&t, "false", "NULL", "'Course 0300'", "1", "51"],
            ),
        ),
        ("one course", bind(&courses::find_sql(), &[&c])),
        (
            "assignments of a course",
            bind(
                &assignments::list_sql(),
                &[&c, "NULL", "NULL", "NULL", "51"],
            ),
        ),
        (
            "submissions as staff",
            bind(
                &submissions::list_sql(CourseRole::Staff),
                &[&a, &t, "NULL", "NULL", "NULL", "NULL", "51"],
            ),
        ),
        (
            "submissions as student",
            bind(
                &submissions::list_sql(CourseRole::Learner),
                &[&a, &s, "NULL", "NULL", "NULL", "NULL", "51"],
            ),
        ),
    ];
    // The detector itself: a filter no index serves is reported.
    let (control,): (Value,) =
        sqlx::query_as("EXPLAIN (FORMAT JSON) SELECT * FROM submissions WHERE body = 'x'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let mut found = Vec::new();
    wholesale_scans(&control[0]["Plan"], &mut found);
    assert_eq!(
        found.len(),
        1,
        "the control query reads submissions wholesale: {control}"
    );

    let mut problems = Vec::new();
    for (name, sql) in queries {
        let (plan,): (Value,) = sqlx::query_as(&format!("EXPLAIN (FORMAT JSON) {sql}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}\n{sql}"));
        let mut found = Vec::new();
        wholesale_scans(&plan[0]["Plan"], &mut found);
        if !found.is_empty() {
            problems.push(format!(
                "{name}: sequential scan of {found:?}\n{}",
                serde_json::to_string_pretty(&plan).unwrap()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
