//! Property test for the counter caches: random sequences of creates and deletes
//! (including bulk inserts and cascading deletes) in two tenants, then every counter
//! equals `COUNT(*)`. Also checks that the backfill finds and fixes drift.

use platform::counters;
use platform::db::{TenantId, TenantTx};
use testkit::TestApp;

/// A small deterministic PRNG (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

async fn random_id(tx: &mut TenantTx, table: &str, rng: &mut Rng) -> Option<i64> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!("SELECT id FROM {table} ORDER BY id"))
        .fetch_all(&mut **tx)
        .await
        .unwrap();
    if ids.is_empty() {
        None
    } else {
        Some(ids[rng.below(ids.len() as u64) as usize].0)
    }
}

async fn exec(tx: &mut TenantTx, sql: &str, binds: &[i64]) {
    let mut q = sqlx::query(sql);
    for b in binds {
        q = q.bind(*b);
    }
    q.execute(&mut **tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One random operation in its own transaction.
async fn step(app: &TestApp, tenant: i64, rng: &mut Rng, n: usize) {
    let mut tx = app.pool().tenant(TenantId(tenant)).await.unwrap();
    let t = &mut tx;
    match rng.below(20) {
        0 => exec(t, &format!("INSERT INTO users (tenant_id, email) VALUES (current_tenant_id(), 'u{n}@x.test')"), &[]).await,
        // A bulk import: many users in one statement.
        1 => exec(t, &format!("INSERT INTO users (tenant_id, email) SELECT current_tenant_id(), 'bulk{n}-' || i || '@x.test' FROM generate_series(1, 40) i"), &[]).await,
        2 => if let Some(u) = random_id(t, "users", rng).await { exec(t, "DELETE FROM users WHERE id = $1", &[u]).await },
        3 | 4 => {
            exec(t, &format!("WITH c AS (INSERT INTO courses (tenant_id, name) VALUES (current_tenant_id(), 'C{n}') RETURNING id)
                              INSERT INTO sections (tenant_id, course_id, name) SELECT current_tenant_id(), c.id, 'S' || i FROM c, generate_series(1, 3) i"), &[]).await
        }
        // A cascading delete: sections, enrollments, assignments, submissions, discussions, posts, quizzes, attempts.
        5 => if let Some(c) = random_id(t, "courses", rng).await { exec(t, "DELETE FROM courses WHERE id = $1", &[c]).await },
        6 => if let Some(s) = random_id(t, "sections", rng).await { exec(t, "DELETE FROM sections WHERE id = $1", &[s]).await },
        // A bulk enrollment of every third user.
        7 | 8 => if let Some(s) = random_id(t, "sections", rng).await {
            exec(t, "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
                     SELECT current_tenant_id(), u.id, s.id, s.course_id, 'student' FROM users u, sections s
                      WHERE s.id = $1 AND u.id % 3 = $2 ON CONFLICT DO NOTHING", &[s, rng.below(3) as i64]).await
        },
        9 => if let Some(e) = random_id(t, "enrollments", rng).await { exec(t, "DELETE FROM enrollments WHERE id = $1", &[e]).await },
        10 => if let Some(c) = random_id(t, "courses", rng).await {
            exec(t, "INSERT INTO assignments (tenant_id, course_id, title) VALUES (current_tenant_id(), $1, 'A')", &[c]).await
        },
        11 => if let Some(a) = random_id(t, "assignments", rng).await { exec(t, "DELETE FROM assignments WHERE id = $1", &[a]).await },
        12 | 13 => if let (Some(a), Some(u)) = (random_id(t, "assignments", rng).await, random_id(t, "users", rng).await) {
            exec(t, "INSERT INTO submissions (tenant_id, assignment_id, user_id, attempt_number, body)
                     SELECT current_tenant_id(), $1, $2, coalesce(max(attempt_number), 0) + 1, 'x'
                       FROM submissions WHERE assignment_id = $1 AND user_id = $2", &[a, u]).await
        },
        14 => if let Some(s) = random_id(t, "submissions", rng).await { exec(t, "DELETE FROM submissions WHERE id = $1", &[s]).await },
        15 => if let Some(c) = random_id(t, "courses", rng).await {
            exec(t, "WITH d AS (INSERT INTO discussions (tenant_id, course_id, title) VALUES (current_tenant_id(), $1, 'D') RETURNING id)
                     INSERT INTO discussion_posts (tenant_id, discussion_id, content) SELECT current_tenant_id(), d.id, 'p' || i FROM d, generate_series(1, 3) i", &[c]).await
        },
        16 => if let Some(p) = random_id(t, "discussion_posts", rng).await {
            // A reply, or deleting a post with its replies.
            if rng.below(2) == 0 {
                exec(t, "INSERT INTO discussion_posts (tenant_id, discussion_id, parent_post_id, content)
                         SELECT current_tenant_id(), discussion_id, id, 'reply' FROM discussion_posts WHERE id = $1", &[p]).await
            } else {
                exec(t, "DELETE FROM discussion_posts WHERE id = $1", &[p]).await
            }
        },
        17 => {
            exec(t, "WITH b AS (INSERT INTO question_banks (tenant_id, title) VALUES (current_tenant_id(), 'B') RETURNING id)
                     INSERT INTO questions (tenant_id, question_bank_id, type, prompt) SELECT current_tenant_id(), b.id, 'essay', 'q' || i FROM b, generate_series(1, 4) i", &[]).await;
            if let Some(b) = random_id(t, "question_banks", rng).await { exec(t, "DELETE FROM question_banks WHERE id = $1", &[b]).await }
        }
        18 => if let (Some(c), Some(u)) = (random_id(t, "courses", rng).await, random_id(t, "users", rng).await) {
            exec(t, "WITH q AS (INSERT INTO quizzes (tenant_id, course_id, title) VALUES (current_tenant_id(), $1, 'Q') RETURNING id)
                     INSERT INTO quiz_attempts (tenant_id, quiz_id, user_id, attempt_number, status)
                     SELECT current_tenant_id(), q.id, $2, i, 'submitted' FROM q, generate_series(1, 2) i", &[c, u]).await
        },
        _ => if let Some(q) = random_id(t, "quizzes", rng).await { exec(t, "DELETE FROM quizzes WHERE id = $1", &[q]).await },
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn counters_equal_count_after_random_creates_and_deletes() {
    let app = TestApp::spawn().await;
    let tenants = [
        app.create_tenant("alpha", None).await,
        app.create_tenant("beta", None).await,
    ];
    for seed in [0x9E37_79B9_7F4A_7C15_u64, 42, 7_777_777, 0xDEAD_BEEF] {
        let mut rng = Rng(seed);
        for n in 0..120 {
            let tenant = tenants[rng.below(2) as usize];
            step(&app, tenant, &mut rng, n + (seed as usize % 100_000) * 1000).await;
        }
        let drift = counters::drift(app.pool()).await.unwrap();
        assert!(drift.is_empty(), "seed {seed:#x}: {drift:#?}");
    }
    // The check is not vacuous: the schema's counters were exercised.
    let mut tx = app.tenant_tx(tenants[0]).await;
    let found = counters::counters(&mut tx).await.unwrap();
    assert_eq!(found.len(), 12, "every counter of spec 02: {found:#?}");
    let (users, enrollments): (i32, i64) =
        sqlx::query_as("SELECT users_count, (SELECT count(*) FROM enrollments) FROM tenants")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert!(
        users > 0 && enrollments > 0,
        "the random walk created rows ({users} users, {enrollments} enrollments)"
    );
}

#[tokio::test]
async fn recount_reports_and_fixes_drift() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    let mut tx = app.tenant_tx(t).await;
    exec(&mut tx, "WITH c AS (INSERT INTO courses (tenant_id, name) VALUES (current_tenant_id(), 'C') RETURNING id)
                   INSERT INTO assignments (tenant_id, course_id, title) SELECT current_tenant_id(), c.id, 'A' || i FROM c, generate_series(1, 3) i", &[]).await;
    tx.commit().await.unwrap();
    // Simulate drift (as rows restored around the triggers would leave it).
    let mut owner = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.owner_url())
        .await
        .unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', $1, false)")
        .bind(t.to_string())
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("UPDATE courses SET assignments_count = 99")
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("UPDATE tenants SET courses_count = 5")
        .execute(&mut owner)
        .await
        .unwrap();

    let drift = counters::drift(app.pool()).await.unwrap();
    assert_eq!(drift.len(), 2, "{drift:#?}");
    let fixed = counters::recount(app.pool()).await.unwrap();
    assert_eq!(fixed, drift);
    let by_counter: Vec<(&str, i64, i64)> = fixed
        .iter()
        .map(|d| (d.counter.as_str(), d.stored, d.actual))
        .collect();
    assert!(by_counter.contains(&("assignments_count", 99, 3)));
    assert!(by_counter.contains(&("courses_count", 5, 1)));
    assert!(counters::drift(app.pool()).await.unwrap().is_empty());
}
