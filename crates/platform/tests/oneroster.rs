//! OneRoster 1.1 CSV archives through the import API against a real PostgreSQL: the
//! archives are written here from the specification (manifest, orgs, academicSessions,
//! courses, classes, users, enrollments), then a delta that updates and deletes, then
//! broken archives. Checks the report, the tables, and that another tenant is untouched.

use std::io::{Cursor, Write};

use serde_json::Value;
use testkit::{School, TestApp};

/// A zip of `(name, content)` entries.
fn archive(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn manifest(modes: &[(&str, &str)]) -> String {
    let mut m = String::from(
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nsource.systemName,Test SIS\n",
    );
    for (file, mode) in modes {
        m.push_str(&format!("file.{file},{mode}\n"));
    }
    m
}

const ORGS: &str = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
    dist-1,,,North District,district,ND,\n\
    org-1,,,North High,school,NH,dist-1\n\
    org-2,,,North Middle,school,NM,dist-1\n";

const SESSIONS: &str =
    "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n\
    term-1,,,Fall 2026,term,2026-08-20,2026-12-20,year-1,2027\n\
    term-2,,,Spring 2027,semester,2027-01-05,2027-06-10,year-1,2027\n\
    year-1,,,OneRoster 2026-27,schoolYear,2026-08-20,2027-06-10,,2027\n\
    term-bad,,,Broken,term,2026-09-01,2026-08-01,year-1,2027\n";

const COURSES: &str = "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n\
    course-math,,,year-1,Algebra I,MATH-1,09,org-1,math,\n\
    course-art,,,year-1,Drawing,ART-1,07,org-2,art,\n\
    course-lost,,,year-1,Lost,LOST-1,07,org-9,art,\n";

const CLASSES: &str = "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n\
    class-math,,,Algebra I - P1,09,course-math,M1,scheduled,R1,org-1,term-1,math,,1\n\
    class-art,,,Drawing - P2,07,course-art,A1,scheduled,R2,org-2,\"term-2,term-1\",art,,2\n\
    class-ghost,,,Ghost,07,course-none,G1,scheduled,R3,org-2,term-1,art,,3\n";

const USERS: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
    u-admin,,,true,dist-1,administrator,padmin,,Pat,Admin,,,pat.admin@or.test,,,,,\n\
    u-teacher,,,true,org-1,teacher,tteach,,Tess,Teacher,,,tess@or.test,,,,,\n\
    u-aide,,,true,org-1,aide,aaide,,Al,Aide,,,al@or.test,,,,,\n\
    u-s1,,,true,\"org-1,org-2\",student,s1,,Sam,Student,,,sam@or.test,,,u-parent,09,\n\
    u-s2,,,true,org-2,student,s2,,Sue,Student,,,sue@or.test,,,u-guard,07,\n\
    u-parent,,,true,org-1,parent,par,,Paul,Parent,,,paul@or.test,,,u-s1,,\n\
    u-guard,,,true,org-2,guardian,gua,,Gina,Guardian,,,gina@or.test,,,u-s2,,\n\
    u-noemail,,,true,org-1,student,nomail,,Nora,Nomail,,,,,,,,\n\
    u-wizard,,,true,org-1,wizard,wiz,,Will,Wizard,,,will@or.test,,,,,\n";

const ENROLLMENTS: &str = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n\
    e-t,,,class-math,org-1,u-teacher,teacher,true,,\n\
    e-a,,,class-math,org-1,u-aide,aide,false,,\n\
    e-s1,,,class-math,org-1,u-s1,student,false,,\n\
    e-s1b,,,class-art,org-2,u-s1,student,false,,\n\
    e-s2,,,class-art,org-2,u-s2,student,false,,\n\
    e-nouser,,,class-art,org-2,u-nobody,student,false,,\n\
    e-noclass,,,class-ghost,org-2,u-s2,student,false,,\n";

fn bulk() -> Vec<u8> {
    let m = manifest(&[
        ("academicSessions", "bulk"),
        ("categories", "absent"),
        ("classes", "bulk"),
        ("courses", "bulk"),
        ("demographics", "absent"),
        ("enrollments", "bulk"),
        ("orgs", "bulk"),
        ("users", "bulk"),
    ]);
    archive(&[
        ("manifest.csv", &m),
        ("orgs.csv", ORGS),
        ("academicSessions.csv", SESSIONS),
        ("courses.csv", COURSES),
        ("classes.csv", CLASSES),
        ("users.csv", USERS),
        ("enrollments.csv", ENROLLMENTS),
    ])
}

/// A delta: Sam renamed, the teacher and Sue's art enrollment deleted, Drawing deleted
/// (archived), the math class renamed, one new student enrolled.
fn delta() -> Vec<u8> {
    let m = manifest(&[
        ("courses", "delta"),
        ("classes", "delta"),
        ("users", "delta"),
        ("enrollments", "delta"),
    ]);
    archive(&[
        ("manifest.csv", &m),
        ("courses.csv", "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes\n\
            course-art,tobedeleted,2026-10-01T00:00:00Z,year-1,Drawing,ART-1,07,org-2,art,\n"),
        ("classes.csv", "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods\n\
            class-math,active,2026-10-01T00:00:00Z,Algebra I - Period 1,09,course-math,M1,scheduled,R1,org-1,term-1,math,,1\n"),
        ("users.csv", "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
            u-s1,active,2026-10-01T00:00:00Z,true,org-1,student,s1,,Samuel,Student,,,sam@or.test,,,,09,\n\
            u-teacher,tobedeleted,2026-10-01T00:00:00Z,true,org-1,teacher,tteach,,Tess,Teacher,,,tess@or.test,,,,,\n\
            u-new,active,2026-10-01T00:00:00Z,true,org-1,student,new,,Nia,New,,,nia@or.test,,,,09,\n"),
        ("enrollments.csv", "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n\
            e-s2,tobedeleted,2026-10-01T00:00:00Z,class-art,org-2,u-s2,student,false,,\n\
            e-new,active,2026-10-01T00:00:00Z,class-math,org-1,u-new,student,false,,\n"),
    ])
}

async fn post(app: &TestApp, query: &str, token: &str, ct: &str, body: Vec<u8>) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/api/v1/admin/imports?{query}", app.base_url))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn oneroster(app: &TestApp, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    post(
        app,
        &format!("type=oneroster{query}"),
        token,
        "application/zip",
        body,
    )
    .await
}

/// Row counts of every table an import writes, in one tenant.
async fn counts(app: &TestApp, tenant: i64) -> Vec<i64> {
    let mut tx = app.tenant_tx(tenant).await;
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_roles),
                (SELECT count(*) FROM academic_years), (SELECT count(*) FROM terms),
                (SELECT count(*) FROM courses), (SELECT count(*) FROM sections),
                (SELECT count(*) FROM enrollments), (SELECT count(*) FROM oneroster_sources),
                (SELECT count(*) FROM users WHERE disabled_at IS NOT NULL)
                  + (SELECT count(*) FROM courses WHERE archived_at IS NOT NULL)",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    vec![
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
    ]
}

fn errors(report: &Value) -> Vec<(String, u64, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_string(),
                e["row"].as_u64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn tally(r: &Value) -> (u64, u64, u64, u64) {
    (
        r["created"].as_u64().unwrap(),
        r["updated"].as_u64().unwrap(),
        r["skipped"].as_u64().unwrap(),
        r["errors_total"].as_u64().unwrap(),
    )
}

async fn query_rows(app: &TestApp, tenant: i64, sql: &str) -> Vec<(String, String)> {
    let mut tx = app.tenant_tx(tenant).await;
    let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    rows
}

#[tokio::test]
async fn bulk_then_delta_maps_the_roster_and_never_touches_another_tenant() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let before = counts(&app, s.tenant_id).await;
    let other_before = counts(&app, other.tenant_id).await;

    // A dry run reports what it would do and writes nothing.
    let (st, dry) = oneroster(&app, &s.admin.token, "&dry_run=true", bulk()).await;
    assert_eq!(st, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&app, s.tenant_id).await, before);

    let (st, r) = oneroster(&app, &s.admin.token, "", bulk()).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        errors(&r),
        [
            ("academicSessions.csv".into(), 5, "endDate".into()),
            ("classes.csv".into(), 4, "courseSourcedId".into()),
            ("courses.csv".into(), 4, "orgSourcedId".into()),
            ("enrollments.csv".into(), 7, "userSourcedId".into()),
            ("enrollments.csv".into(), 8, "classSourcedId".into()),
            ("users.csv".into(), 9, "email".into()),
            ("users.csv".into(), 10, "role".into()),
        ],
        "{r}"
    );
    // 3 orgs, 3 sessions, 2 courses, 2 classes, 7 users, 5 enrollments.
    assert_eq!(tally(&r), (22, 0, 0, 7), "{r}");
    assert_eq!(tally(&dry), tally(&r));
    assert_eq!(r["rows"], 29);
    let after = counts(&app, s.tenant_id).await;
    assert_eq!(
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        [7, 7, 1, 2, 2, 2, 5, 22, 0]
    );

    // The role mapping, the sections' terms and the enrollment roles.
    let roles = query_rows(
        &app,
        s.tenant_id,
        "SELECT u.email, r.name FROM oneroster_sources o JOIN users u ON u.id = o.target_id
           JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
          WHERE o.kind = 'user' ORDER BY u.email",
    )
    .await;
    let want: Vec<(String, String)> = [
        ("al@or.test", "teacher"),
        ("gina@or.test", "guardian"),
        ("pat.admin@or.test", "admin"),
        ("paul@or.test", "guardian"),
        ("sam@or.test", "student"),
        ("sue@or.test", "student"),
        ("tess@or.test", "teacher"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(roles, want);
    let sections = query_rows(
        &app,
        s.tenant_id,
        "SELECT c.code || '/' || s.name, t.name || '/' || y.name FROM sections s
           JOIN courses c ON c.id = s.course_id JOIN terms t ON t.id = s.term_id
           JOIN academic_years y ON y.id = c.academic_year_id AND y.id = t.academic_year_id
          WHERE c.code IN ('ART-1', 'MATH-1') ORDER BY 1",
    )
    .await;
    assert_eq!(
        sections,
        [
            (
                "ART-1/Drawing - P2".to_string(),
                "Spring 2027/OneRoster 2026-27".to_string()
            ),
            (
                "MATH-1/Algebra I - P1".to_string(),
                "Fall 2026/OneRoster 2026-27".to_string()
            ),
        ]
    );
    let enrollments = query_rows(
        &app,
        s.tenant_id,
        "SELECT u.email || '@' || c.code, e.role FROM enrollments e JOIN users u ON u.id = e.user_id
           JOIN courses c ON c.id = e.course_id WHERE c.code IN ('ART-1', 'MATH-1') ORDER BY 1",
    )
    .await;
    assert_eq!(
        enrollments
            .iter()
            .map(|(a, b)| format!("{a}={b}"))
            .collect::<Vec<_>>(),
        [
            "al@or.test@MATH-1=ta",
            "sam@or.test@ART-1=student",
            "sam@or.test@MATH-1=student",
            "sue@or.test@ART-1=student",
            "tess@or.test@MATH-1=teacher",
        ]
    );

    // The same archive again changes nothing.
    let (st, again) = oneroster(&app, &s.admin.token, "", bulk()).await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(tally(&again), (0, 0, 22, 7), "{again}");
    assert_eq!(counts(&app, s.tenant_id).await, after);

    // The delta, dry first.
    let (st, dry) = oneroster(&app, &s.admin.token, "&dry_run=1", delta()).await;
    assert_eq!(st, 200, "{dry}");
    assert_eq!(counts(&app, s.tenant_id).await, after);
    let (st, d) = oneroster(&app, &s.admin.token, "", delta()).await;
    assert_eq!(st, 200, "{d}");
    assert_eq!(errors(&d), []);
    // Created: Nia and her enrollment; updated: Drawing archived, the class renamed, Sam
    // renamed, Tess deactivated, Sue's enrollment deleted.
    assert_eq!(tally(&d), (2, 5, 0, 0), "{d}");
    assert_eq!(tally(&dry), tally(&d));
    let state = query_rows(
        &app,
        s.tenant_id,
        "SELECT email, first_name || (CASE WHEN disabled_at IS NULL THEN '' ELSE ' (disabled)' END)
           FROM users WHERE email IN ('sam@or.test', 'tess@or.test', 'nia@or.test') ORDER BY 1",
    )
    .await;
    assert_eq!(
        state,
        [
            ("nia@or.test".to_string(), "Nia".to_string()),
            ("sam@or.test".to_string(), "Samuel".to_string()),
            ("tess@or.test".to_string(), "Tess (disabled)".to_string()),
        ]
    );
    let courses = query_rows(
        &app,
        s.tenant_id,
        "SELECT code, (archived_at IS NOT NULL)::text FROM courses WHERE code IN ('ART-1', 'MATH-1') ORDER BY 1",
    )
    .await;
    assert_eq!(
        courses,
        [
            ("ART-1".to_string(), "true".to_string()),
            ("MATH-1".to_string(), "false".to_string())
        ]
    );
    let after_delta = counts(&app, s.tenant_id).await;
    // One user and one enrollment more, one enrollment fewer, two sources more and one
    // fewer, a disabled user and an archived course.
    assert_eq!(
        after_delta
            .iter()
            .zip(&after)
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        [1, 1, 0, 0, 0, 0, 0, 1, 2]
    );
    let (st, d2) = oneroster(&app, &s.admin.token, "", delta()).await;
    assert_eq!(st, 200, "{d2}");
    assert_eq!(tally(&d2), (0, 0, 7, 0), "{d2}");
    assert_eq!(counts(&app, s.tenant_id).await, after_delta);

    // The other tenant was never touched.
    assert_eq!(counts(&app, other.tenant_id).await, other_before);
}

#[tokio::test]
async fn broken_archives_are_refused_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let before = counts(&app, s.tenant_id).await;
    let users_only = manifest(&[("users", "bulk")]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a zip", b"sourcedId,name\n1,x\n".to_vec(), "not a readable zip"),
        (
            "no manifest",
            archive(&[("users.csv", USERS)]),
            "no manifest.csv",
        ),
        (
            "wrong version",
            archive(&[(
                "manifest.csv",
                "propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n",
            )]),
            "oneroster.version must be 1.1",
        ),
        (
            "listed but missing",
            archive(&[("manifest.csv", &users_only)]),
            "archive has no such file",
        ),
        (
            "missing required column",
            archive(&[
                ("manifest.csv", &users_only),
                (
                    "users.csv",
                    "sourcedId,enabledUser,orgSourcedIds,role,username,givenName\nu1,true,o,student,u,A\n",
                ),
            ]),
            "users.csv: missing required column(s): familyName",
        ),
        (
            "delta without status",
            archive(&[
                ("manifest.csv", &manifest(&[("users", "delta")])),
                ("users.csv", "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName\nu1,true,o,student,u,A,B\n"),
            ]),
            "missing required column(s): status, dateLastModified",
        ),
    ];
    for (what, body, message) in cases {
        let (st, r) = oneroster(&app, &s.admin.token, "", body).await;
        assert_eq!(st, 400, "{what}: {r}");
        assert!(
            r.to_string().contains(message),
            "{what}: expected {message:?} in {r}"
        );
    }
    // A zip sent as CSV, and an unknown dry_run value.
    let (st, _) = post(&app, "type=oneroster", &s.admin.token, "text/csv", bulk()).await;
    assert_eq!(st, 415);
    let (st, _) = oneroster(&app, &s.admin.token, "&dry_run=maybe", bulk()).await;
    assert_eq!(st, 400);
    assert_eq!(counts(&app, s.tenant_id).await, before);
}

#[tokio::test]
async fn a_large_archive_runs_as_a_job() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let users = platform::imports::sync_rows() + 10;
    let mut csv = String::from(
        "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName,email\n",
    );
    for i in 0..users {
        csv.push_str(&format!(
            "u{i},true,org-1,student,kid{i},Kid,{i},kid{i}@or.test\n"
        ));
    }
    let m = manifest(&[("orgs", "bulk"), ("users", "bulk")]);
    let body = archive(&[
        ("manifest.csv", &m),
        ("orgs.csv", "sourcedId,name,type\norg-1,North High,school\n"),
        ("users.csv", &csv),
    ]);
    let (st, q) = oneroster(&app, &s.admin.token, "", body).await;
    assert_eq!(st, 202, "{q}");
    let id = q["id"].as_i64().unwrap();
    assert_eq!(q["rows_total"].as_u64(), Some(users as u64 + 1));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = platform::jobs::WorkerConfig {
        poll_interval: std::time::Duration::from_millis(20),
        run_schedules: false,
        ..platform::jobs::WorkerConfig::default()
    };
    let worker = tokio::spawn(
        platform::jobs::Worker::new(app.pool().clone(), config).run(async {
            let _ = stopped.await;
        }),
    );
    let mut view = Value::Null;
    for _ in 0..3000 {
        let (_, v) = app
            .get(&format!("/api/v1/admin/imports/{id}"), &s.admin.token)
            .await;
        view = v;
        if view["state"] == "completed" || view["state"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    assert_eq!(view["state"], "completed", "{view}");
    assert_eq!(view["type"], "oneroster");
    assert_eq!(view["rows_processed"].as_u64(), Some(users as u64 + 1));
    assert_eq!(view["report"]["created"].as_u64(), Some(users as u64 + 1));
    assert_eq!(view["errors_so_far"], 0);
}

/// A zip of `(name, bytes)` entries, deflated.
fn deflated(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in files {
        w.start_file(*name, options).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Overwrites the uncompressed size of every entry, in the local headers and the central
/// directory, with `size`: an archive that lies about what it expands to.
fn lie_about_sizes(mut zip: Vec<u8>, size: u32) -> Vec<u8> {
    let mut i = 0;
    while i + 30 <= zip.len() {
        let at = match &zip[i..i + 4] {
            b"PK\x03\x04" => Some(i + 22),
            b"PK\x01\x02" => Some(i + 24),
            _ => None,
        };
        if let Some(at) = at {
            zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
        }
        i += 1;
    }
    zip
}

/// Every body a fuzzer or an attacker may send as a OneRoster archive (garbage, empty,
/// truncated, zip bombs, path tricks) answers a 4xx JSON error naming the problem, on
/// every import route, and writes nothing.
#[tokio::test]
async fn hostile_archives_are_clear_4xx_json_errors_on_every_route() {
    let app = TestApp::spawn().await;
    let district = app.create_district("district-one").await;
    let s = School::build(&app, "alpha").await;
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE tenants SET district_id = $1 WHERE slug = 'alpha'")
        .bind(district)
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    let op = app.create_operator("ops@example.org").await;
    let district_admin = app.create_user("alpha", "boss", &["teacher"], true).await;
    let before = counts(&app, s.tenant_id).await;

    let good = bulk();
    let users_only = manifest(&[("users", "bulk")]);
    let zeros = vec![b'0'; 20 * 1024 * 1024];
    let big_users = format!(
        "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName\n{}",
        "u1,true,o,student,u,A,B\n".repeat(200_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "not a readable zip"),
        (
            "garbage",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "not a readable zip",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "the archive is refused",
        ),
        (
            "only the local header",
            good[..40].to_vec(),
            "the archive is refused",
        ),
        (
            "zip bomb (ratio)",
            deflated(&[
                ("manifest.csv", users_only.as_bytes()),
                ("users.csv", &zeros),
            ]),
            "expands",
        ),
        (
            "zip bomb (lying sizes)",
            lie_about_sizes(
                deflated(&[
                    ("manifest.csv", users_only.as_bytes()),
                    ("users.csv", big_users.as_bytes()),
                ]),
                64,
            ),
            "the archive is refused",
        ),
        (
            "path traversal",
            archive(&[("manifest.csv", &users_only), ("../users.csv", "x")]),
            "unsafe path",
        ),
        (
            "nested archive",
            deflated(&[
                ("manifest.csv", users_only.as_bytes()),
                ("users.zip", &good),
            ]),
            "nested archive",
        ),
        (
            "binary manifest",
            deflated(&[("manifest.csv", &[0xff, 0xfe, 0x00, 0x41])]),
            "not UTF-8",
        ),
    ];
    let routes = [
        ("/api/v1/admin/imports", &s.admin.token),
        ("/api/v1/operator/tenants/alpha/imports", &op),
        (
            "/api/v1/district/tenants/alpha/imports",
            &district_admin.token,
        ),
    ];
    for (what, body, message) in &cases {
        for (path, token) in routes {
            let res = app
                .client
                .post(format!("{}{path}?type=oneroster", app.base_url))
                .bearer_auth(token)
                .header("content-type", "application/zip")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let st = res.status().as_u16();
            let ct = res.headers()["content-type"].to_str().unwrap().to_string();
            let r: Value = res.json().await.unwrap();
            assert_eq!(st, 400, "{what} via {path}: {r}");
            assert_eq!(ct, "application/json", "{what} via {path}");
            assert_eq!(r["error"]["code"], "bad_request", "{what} via {path}: {r}");
            let m = r["error"]["message"].as_str().unwrap();
            assert!(m.contains(message), "{what} via {path}: {m:?}");
        }
    }
    // A zip as CSV: a CSV type with the zip's media type is 415, with text/csv a 400.
    let (st, r) = post(
        &app,
        "type=users",
        &s.admin.token,
        "application/zip",
        good.clone(),
    )
    .await;
    assert_eq!(
        (st, &r["error"]["code"]),
        (415, &Value::from("unsupported_media_type"))
    );
    let (st, r) = post(&app, "type=users", &s.admin.token, "text/csv", good).await;
    assert_eq!(st, 400, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not UTF-8"),
        "{r}"
    );
    assert_eq!(counts(&app, s.tenant_id).await, before);
}
