//! CSV roster imports (spec 08, "Data import") through the API against a real
//! PostgreSQL: headers, BOM, per-row errors with line numbers, idempotent re-runs, dry
//! runs that write nothing, 400s before anything is written, tenant isolation, and large
//! files as a job with progress.

use std::time::Duration;

use platform::jobs::{Worker, WorkerConfig};
use serde_json::{json, Value};
use testkit::{School, TestApp};

async fn import(app: &TestApp, path: &str, token: &str, body: impl Into<String>) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(body.into())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// Row counts of the tables an import writes, in one tenant.
async fn counts(app: &TestApp, tenant: i64) -> Vec<i64> {
    let mut tx = app.tenant_tx(tenant).await;
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_roles),
                (SELECT count(*) FROM courses), (SELECT count(*) FROM sections),
                (SELECT count(*) FROM enrollments)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    vec![row.0, row.1, row.2, row.3, row.4]
}

fn errors(report: &Value) -> Vec<(u64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const USERS: &str = "\u{feff}Email,FIRST_NAME, Last_Name ,Role\r\n\
    ann@alpha.test,Ann,Archer,student\r\n\
    bad-email,Bob,Baker,student\r\n\
    cy@alpha.test,Cy,Cole,wizard\r\n\
    dee@alpha.test,\"=HYPERLINK(\"\"http://x\"\")\",Dunn,Teacher\r\n\
    \"eve@alpha.test\",\"Eve, Jr.\",Evans,student\r\n";

#[tokio::test]
async fn users_import_reports_bad_rows_keeps_good_ones_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let before = counts(&app, s.tenant_id).await;
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        &s.admin.token,
        USERS,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (
            r["created"].as_u64(),
            r["updated"].as_u64(),
            r["skipped"].as_u64()
        ),
        (Some(3), Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(
        errors(&r),
        [(3, "email".to_string()), (4, "role".to_string())]
    );
    assert_eq!(r["errors"][0]["file"], "users.csv");
    let after = counts(&app, s.tenant_id).await;
    assert_eq!(after[0], before[0] + 3);
    assert_eq!(after[1], before[1] + 3);

    // The formula-leading name is stored as typed (text), the role mapped.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (first, roles): (String, Vec<String>) = sqlx::query_as(
        "SELECT u.first_name, array_agg(r.name) FROM users u
           JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
          WHERE u.email = 'dee@alpha.test' GROUP BY u.id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(first, "=HYPERLINK(\"http://x\")");
    assert_eq!(roles, ["teacher"]);
    assert_eq!(
        roster::export_field(&first),
        "\"'=HYPERLINK(\"\"http://x\"\")\""
    );

    // The same file again changes nothing.
    let (st, again) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        &s.admin.token,
        USERS,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            again["created"].as_u64(),
            again["updated"].as_u64(),
            again["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(3)),
        "{again}"
    );
    assert_eq!(counts(&app, s.tenant_id).await, after);

    // A changed name and a new role are updates.
    let (st, upd) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        &s.admin.token,
        "email,first_name,last_name,role\nANN@alpha.test,Annie,Archer,student\neve@alpha.test,\"Eve, Jr.\",Evans,guardian\n",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        (upd["created"].as_u64(), upd["updated"].as_u64()),
        (Some(0), Some(2)),
        "{upd}"
    );

    // Every import is in the audit trail.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_logs WHERE event_type = 'import.completed' AND actor_user_id = $1",
    )
    .bind(s.admin.id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let before = counts(&app, s.tenant_id).await;
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=users&dry_run=true",
        &s.admin.token,
        USERS,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["created"], 3);
    assert_eq!(r["dry_run"], true);
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=courses&dry_run=true",
        &s.admin.token,
        "name,description,section_name\nChemistry,Atoms,P1\n",
    )
    .await;
    assert_eq!((st, &r["created"]), (200, &json!(1)));
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=enrollments&dry_run=true",
        &s.admin.token,
        "email,course_name\noutsider@alpha.test,Biology 7\n",
    )
    .await;
    assert_eq!((st, &r["created"]), (200, &json!(1)), "{r}");
    assert_eq!(counts(&app, s.tenant_id).await, before);
}

#[tokio::test]
async fn unusable_files_are_400_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let before = counts(&app, s.tenant_id).await;
    let t = &s.admin.token;
    let (st, b) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        t,
        "email,first_name,role\na@b.org,A,student\n",
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("last_name"),
        "{b}"
    );
    let (st, _) = import(&app, "/api/v1/admin/imports?type=grades", t, USERS).await;
    assert_eq!(st, 400);
    let (st, _) = import(&app, "/api/v1/admin/imports", t, USERS).await;
    assert_eq!(st, 400);
    let (st, _) = import(&app, "/api/v1/admin/imports?type=users", t, "").await;
    assert_eq!(st, 400);
    // Invalid UTF-8 (Latin-1 é) in a later row: nothing of the file goes in.
    let mut bytes =
        b"email,first_name,last_name,role\nok@alpha.test,Ok,Fine,student\nzo@alpha.test,Zo"
            .to_vec();
    bytes.extend_from_slice(&[0xe9]);
    bytes.extend_from_slice(b",X,student\n");
    let res = app
        .client
        .post(format!("{}/api/v1/admin/imports?type=users", app.base_url))
        .bearer_auth(t)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Not CSV.
    let res = app
        .client
        .post(format!("{}/api/v1/admin/imports?type=users", app.base_url))
        .bearer_auth(t)
        .json(&json!({"email": "x@y.org"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(counts(&app, s.tenant_id).await, before);
}

#[tokio::test]
async fn courses_and_enrollments_resolve_names_and_report_dangling_references() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let t = &s.admin.token;
    let courses = "name,description,section_name\n\
                   Algebra I,Equations,Period 1\n\
                   Algebra I,Equations,Period 2\n\
                   biology 7,Cells,\n\
                   ,No name,\n\
                   World History,,\n";
    let (st, r) = import(&app, "/api/v1/admin/imports?type=courses", t, courses).await;
    assert_eq!(st, 200, "{r}");
    // Algebra I and World History are new; Biology 7 exists (case-insensitive) and gets
    // a description.
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(2), Some(1)),
        "{r}"
    );
    assert_eq!(errors(&r), [(5, "name".to_string())]);
    let (st, again) = import(&app, "/api/v1/admin/imports?type=courses", t, courses).await;
    assert_eq!(st, 200);
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );

    let enrollments = "Email,Course_Name,Section_Name,Role\n\
                       student@alpha.test,Algebra I,Period 2,student\n\
                       outsider@alpha.test,Algebra I,,\n\
                       teacher@alpha.test,algebra i,period 1,teacher\n\
                       ghost@alpha.test,Algebra I,Period 1,student\n\
                       student@alpha.test,Astronomy,,student\n\
                       student@alpha.test,Algebra I,Period 9,student\n\
                       student@alpha.test,Biology 7,,principal\n\
                       student@alpha.test,Biology 7,,\n";
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=enrollments",
        t,
        enrollments,
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        errors(&r),
        [
            (5, "email".to_string()),
            (6, "course_name".to_string()),
            (7, "section_name".to_string()),
            (8, "role".to_string())
        ]
    );
    // The student is already in Biology 7: skipped.
    assert_eq!(
        (r["created"].as_u64(), r["skipped"].as_u64()),
        (Some(3), Some(1)),
        "{r}"
    );
    let before = counts(&app, s.tenant_id).await;
    let (_, again) = import(
        &app,
        "/api/v1/admin/imports?type=enrollments",
        t,
        enrollments,
    )
    .await;
    assert_eq!(
        (again["created"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(counts(&app, s.tenant_id).await, before);
}

#[tokio::test]
async fn an_import_touches_its_own_tenant_only() {
    let app = TestApp::spawn().await;
    let district = app.create_district("district-one").await;
    let alpha = School::build(&app, "alpha").await;
    let beta = School::build(&app, "beta").await;
    app.create_tenant("gamma", Some(district)).await;
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE tenants SET district_id = $1 WHERE slug = 'beta'")
        .bind(district)
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    let op = app.create_operator("ops@example.org").await;
    let alpha_before = counts(&app, alpha.tenant_id).await;
    let beta_before = counts(&app, beta.tenant_id).await;
    // alpha's users' emails, imported into beta: new users of beta, nothing in alpha.
    let file = "email,first_name,last_name,role\nstudent@alpha.test,Sam,Smith,student\n";
    let (st, r) = import(
        &app,
        "/api/v1/operator/tenants/beta/imports?type=users",
        &op,
        file,
    )
    .await;
    assert_eq!((st, &r["created"]), (200, &json!(1)), "{r}");
    // beta's admin names alpha's course: it does not exist in beta.
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=enrollments",
        &beta.admin.token,
        "email,course_name\nstudent@alpha.test,Biology 7\n",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(r["created"], 1, "beta has its own Biology 7: {r}");
    assert_eq!(counts(&app, alpha.tenant_id).await, alpha_before);
    let beta_after = counts(&app, beta.tenant_id).await;
    assert_eq!(beta_after[0], beta_before[0] + 1);
    assert_eq!(beta_after[4], beta_before[4] + 1);

    // A district admin imports into a school of the district, not into another.
    let district_admin = app.create_user("gamma", "boss", &["teacher"], true).await;
    let file = "email,first_name,last_name,role\nnew@beta.test,New,Kid,student\n";
    let (st, r) = import(
        &app,
        "/api/v1/district/tenants/beta/imports?type=users",
        &district_admin.token,
        file,
    )
    .await;
    assert_eq!((st, &r["created"]), (200, &json!(1)), "{r}");
    let (st, _) = import(
        &app,
        "/api/v1/district/tenants/alpha/imports?type=users",
        &district_admin.token,
        file,
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(counts(&app, alpha.tenant_id).await, alpha_before);
}

#[tokio::test]
async fn a_large_file_runs_as_a_job_with_progress() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let rows = platform::imports::sync_rows() + 20;
    let mut file = String::from("email,first_name,last_name,role\n");
    for i in 0..rows {
        if i == 7 {
            file.push_str("broken,X,Y,student\n");
        } else {
            file.push_str(&format!("kid{i}@alpha.test,Kid,{i},student\n"));
        }
    }
    let (st, q) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        &s.admin.token,
        file,
    )
    .await;
    assert_eq!(st, 202, "{q}");
    let id = q["id"].as_i64().unwrap();
    assert_eq!(q["rows_total"].as_u64(), Some(rows as u64));
    let (st, v) = app
        .get(&format!("/api/v1/admin/imports/{id}"), &s.admin.token)
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("queued")), "{v}");
    assert_eq!(v["rows_total"].as_u64(), Some(rows as u64));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        run_schedules: false,
        ..WorkerConfig::default()
    };
    let worker = tokio::spawn(Worker::new(app.pool().clone(), config).run(async {
        let _ = stopped.await;
    }));
    let mut view = Value::Null;
    for _ in 0..1500 {
        let (_, v) = app
            .get(&format!("/api/v1/admin/imports/{id}"), &s.admin.token)
            .await;
        view = v;
        if view["state"] == "completed" || view["state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(view["rows_processed"].as_u64(), Some(rows as u64));
    assert_eq!(view["rows_total"].as_u64(), Some(rows as u64));
    assert_eq!(view["errors_so_far"], 1);
    assert_eq!(view["report"]["created"].as_u64(), Some(rows as u64 - 1));
    assert_eq!(view["report"]["errors"][0]["row"], 9);
    // Another school cannot see it.
    let other = School::build(&app, "beta").await;
    let (st, _) = app
        .get(&format!("/api/v1/admin/imports/{id}"), &other.admin.token)
        .await;
    assert_eq!(st, 404);
}

/// A GET of a CSV export: (status, content type, body).
async fn get_csv(app: &TestApp, path: &str, token: &str) -> (u16, String, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    (status, ct, res.text().await.unwrap())
}

/// The records of a CSV text, read back with the import's own reader.
fn records(csv: &str) -> Vec<Vec<String>> {
    roster::Records::new(csv)
        .map(|r| r.unwrap().fields)
        .collect()
}

/// Formula-leading values are stored as typed and leave only escaped, through both CSV
/// exports (the roster and an import's row errors), which share one escaping helper.
#[tokio::test]
async fn exports_escape_formulas_that_are_stored_verbatim() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let t = &s.admin.token;
    let (st, r) = import(&app, "/api/v1/admin/imports?type=users", t, USERS).await;
    assert_eq!(st, 200, "{r}");
    let import_id = r["id"].as_i64().expect("the report names its import");
    let (st, r2) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        t,
        "email,first_name,last_name,role\n\
         at@alpha.test,@SUM(1+1),+1555,guardian\n\
         minus@alpha.test,-Minus,\"-2+3\",student\n",
    )
    .await;
    assert_eq!((st, &r2["created"]), (200, &json!(2)), "{r2}");

    // Stored verbatim.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let stored: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT email, first_name, last_name FROM users
          WHERE email IN ('dee@alpha.test', 'at@alpha.test', 'minus@alpha.test') ORDER BY email",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let (active,): (i64,) = sqlx::query_as("SELECT count(*) FROM users WHERE disabled_at IS NULL")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        stored,
        [
            ("at@alpha.test".into(), "@SUM(1+1)".into(), "+1555".into()),
            (
                "dee@alpha.test".into(),
                "=HYPERLINK(\"http://x\")".into(),
                "Dunn".into()
            ),
            ("minus@alpha.test".into(), "-Minus".into(), "-2+3".into()),
        ]
    );

    // Exported escaped: a `'` before every formula-leading cell, nothing else changed.
    let (st, ct, csv) = get_csv(&app, "/api/v1/admin/users/export.csv", t).await;
    assert_eq!(st, 200, "{csv}");
    assert_eq!(ct, "text/csv; charset=utf-8");
    assert!(
        csv.contains("dee@alpha.test,\"'=HYPERLINK(\"\"http://x\"\")\",Dunn,teacher\r\n"),
        "{csv}"
    );
    let rows = records(&csv);
    assert_eq!(rows[0], ["email", "first_name", "last_name", "roles"]);
    assert_eq!(rows.len() as i64, active + 1, "every active user, once");
    let row = |email: &str| rows.iter().find(|r| r[0] == email).unwrap().clone();
    assert_eq!(
        row("at@alpha.test"),
        ["at@alpha.test", "'@SUM(1+1)", "'+1555", "guardian"]
    );
    assert_eq!(
        row("minus@alpha.test"),
        ["minus@alpha.test", "'-Minus", "'-2+3", "student"]
    );
    assert_eq!(
        row("ann@alpha.test"),
        ["ann@alpha.test", "Ann", "Archer", "student"]
    );
    for r in &rows {
        for cell in r {
            assert!(
                !roster::is_formula(cell),
                "unescaped cell {cell:?} in {r:?}"
            );
        }
    }

    // The first import's row errors, as CSV.
    let (st, ct, csv) = get_csv(
        &app,
        &format!("/api/v1/admin/imports/{import_id}/errors.csv"),
        t,
    )
    .await;
    assert_eq!((st, ct.as_str()), (200, "text/csv; charset=utf-8"), "{csv}");
    let rows = records(&csv);
    assert_eq!(rows[0], ["file", "row", "column", "message"]);
    let cells: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        cells,
        [("users.csv", "3", "email"), ("users.csv", "4", "role")]
    );
    // Its record: completed, with the same counts as the answer.
    let (st, view) = app
        .get(&format!("/api/v1/admin/imports/{import_id}"), t)
        .await;
    assert_eq!(st, 200);
    assert_eq!(view["state"], "completed");
    assert_eq!(view["errors_so_far"], 2);
    assert_eq!(view["report"]["created"], 3);

    // A dry run is kept too, so its errors can be read before the real run.
    let (st, dry) = import(
        &app,
        "/api/v1/admin/imports?type=users&dry_run=true",
        t,
        "email,first_name,last_name,role\nnot-an-email,X,Y,student\n",
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, csv) = get_csv(
        &app,
        &format!("/api/v1/admin/imports/{}/errors.csv", dry["id"]),
        t,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(records(&csv)[1][..3], ["users.csv", "2", "email"]);

    // An import still waiting for its job has no errors yet: 409.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (queued,): (i64,) = sqlx::query_as(
        "INSERT INTO imports (tenant_id, kind, state) VALUES (current_tenant_id(), 'users', 'queued')
         RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (st, _, body) = get_csv(
        &app,
        &format!("/api/v1/admin/imports/{queued}/errors.csv"),
        t,
    )
    .await;
    assert_eq!(st, 409);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "import_not_finished");
}

/// The roster export pages through the users (a statement per page, streamed), so a
/// school of any size is exported whole with bounded memory; disabled users are left out.
#[tokio::test]
async fn the_roster_export_pages_through_every_active_user() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let page = platform::imports::export::EXPORT_PAGE as usize;
    let n = 2 * page + 7;
    let mut file = String::from("email,first_name,last_name,role\n");
    for i in 0..n {
        file.push_str(&format!("kid{i}@alpha.test,Kid,{i},student\n"));
    }
    let (st, r) = import(
        &app,
        "/api/v1/admin/imports?type=users",
        &s.admin.token,
        file,
    )
    .await;
    assert_eq!((st, &r["created"]), (200, &json!(n)), "{r}");
    let mut tx = app.tenant_tx(s.tenant_id).await;
    sqlx::query("UPDATE users SET disabled_at = now() WHERE email = 'kid5@alpha.test'")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (active,): (i64,) = sqlx::query_as("SELECT count(*) FROM users WHERE disabled_at IS NULL")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (st, _, csv) = get_csv(&app, "/api/v1/admin/users/export.csv", &s.admin.token).await;
    assert_eq!(st, 200);
    let rows = records(&csv);
    assert_eq!(rows.len() as i64 - 1, active);
    let emails: std::collections::BTreeSet<&str> =
        rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(emails.len() as i64, active, "no user twice");
    assert!(emails.contains("kid0@alpha.test"));
    assert!(emails.contains(format!("kid{}@alpha.test", n - 1).as_str()));
    assert!(!emails.contains("kid5@alpha.test"));
}
