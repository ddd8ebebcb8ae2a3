//! The `k12` binary as a person or a script uses it: `k12 dev` end to end, `operator
//! create`, `migrate`, and configuration errors at start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start_dev(dir: &Path) -> Child {
    Command::new(K12)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--gateway-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap()
}

async fn wait_for_dev_json(dir: &Path, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join("dev.json")) {
            return serde_json::from_str(&text).unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "k12 dev exited early ({status}): {}",
                std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "dev.json did not appear: {}",
            std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "k12 dev did not stop within 60 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let res = client.post(url).json(&body).send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn dev_runs_the_product_reuses_its_data_and_stops_cleanly() {
    let dir = temp_dir("k12-dev-test");
    let client = reqwest::Client::new();

    let mut dev = start_dev(&dir);
    let first = wait_for_dev_json(&dir, &mut dev).await;
    let api = first["api_url"].as_str().unwrap().to_string();
    assert!(
        !api.ends_with(":0"),
        "dev.json reports the real port: {api}"
    );
    let tenants = first["tenants"].as_array().unwrap();
    let slugs: Vec<&str> = tenants
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["demo", "demo-north"]);
    // The in-process AI gateway: real URL, its token, the demo provider answering.
    let gateway = first["gateway_url"].as_str().unwrap().to_string();
    assert!(!gateway.ends_with(":0"), "{gateway}");
    let gateway_token = first["gateway_token"].as_str().unwrap();
    let res = client
        .post(format!("{gateway}/v1/generate"))
        .json(
            &json!({"prompt": "A lesson on fractions", "task_type": "lesson_plan",
            "context": {"tenant_id": "demo", "safety_level": "strict", "user_role": "teacher"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the gateway wants its token");
    let res = client
        .post(format!("{gateway}/v1/generate"))
        .bearer_auth(gateway_token)
        .json(
            &json!({"prompt": "A lesson on fractions", "task_type": "lesson_plan",
            "context": {"tenant_id": "demo", "safety_level": "strict", "user_role": "teacher"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["provider"], "demo");
    assert!(answer["content"]
        .as_str()
        .unwrap()
        .contains("demo provider"));
    let mut admin_token = String::new();
    let mut teacher_token = String::new();
    for tenant in tenants {
        let roles: Vec<&str> = tenant["logins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["admin", "teacher", "student", "student", "guardian"]
        );
        for login in tenant["logins"].as_array().unwrap() {
            let (s, b) = post(&client, format!("{api}/api/v1/auth/login"),
                json!({"tenant": tenant["slug"], "email": login["email"], "password": login["password"]})).await;
            assert_eq!(s, 200, "{login}: {b}");
            assert!(b["user"]["roles"]
                .as_array()
                .unwrap()
                .contains(&login["role"]));
            if tenant["slug"] == "demo" && login["role"] == "admin" {
                admin_token = b["token"].as_str().unwrap().to_string();
            }
            if tenant["slug"] == "demo" && login["role"] == "teacher" {
                teacher_token = b["token"].as_str().unwrap().to_string();
            }
        }
    }
    let (s, _) = post(
        &client,
        format!("{api}/api/v1/operator/login"),
        json!({"email": first["operator"]["email"], "password": first["operator"]["password"]}),
    )
    .await;
    assert_eq!(s, 200);
    // A teacher's generate call goes through the core to the in-process gateway and its
    // demo provider, and is recorded.
    let res = client
        .post(format!("{api}/api/v1/ai/generate"))
        .bearer_auth(&teacher_token)
        .json(&json!({"task_type": "lesson_plan", "prompt": "A lesson on fractions for grade 4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["provider"], "demo", "{answer}");
    assert!(answer["content"]
        .as_str()
        .unwrap()
        .contains("demo provider"));
    assert!(answer["invocation_id"].as_i64().is_some(), "{answer}");
    let users = client
        .get(format!("{api}/api/v1/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    let users: Value = users.json().await.unwrap();
    assert_eq!(users["data"].as_array().unwrap().len(), 5, "{users}");
    // The analytics views were refreshed once after seeding: the demo school has figures.
    let analytics: Value = client
        .get(format!("{api}/api/v1/admin/analytics/courses"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !analytics["data"].as_array().unwrap().is_empty() && analytics["refreshed_at"].is_string(),
        "{analytics}"
    );
    for key in ["database_url", "owner_database_url"] {
        assert!(
            first[key].as_str().unwrap().starts_with("postgres://"),
            "{key}"
        );
    }

    // A living school: courses, assignments with submissions, threaded discussions, a quiz.
    let student = &tenants[0]["logins"][2];
    let (_, b) = post(
        &client,
        format!("{api}/api/v1/auth/login"),
        json!({"tenant": "demo", "email": student["email"], "password": student["password"]}),
    )
    .await;
    let student_token = b["token"].as_str().unwrap().to_string();
    let get = |path: String, token: String| {
        let client = client.clone();
        async move {
            client
                .get(path)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let courses = get(format!("{api}/api/v1/courses"), student_token.clone()).await;
    assert_eq!(courses["data"].as_array().unwrap().len(), 4, "{courses}");
    let course = courses["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Mathematics 5")
        .expect("the math course")
        .clone();
    assert_eq!(course["sections"].as_array().unwrap().len(), 2);
    let assignments = get(
        format!("{api}/api/v1/courses/{}/assignments", course["id"]),
        student_token.clone(),
    )
    .await;
    assert_eq!(
        assignments["data"].as_array().unwrap().len(),
        2,
        "students see the published ones: {assignments}"
    );
    let submissions = get(
        format!(
            "{api}/api/v1/assignments/{}/submissions",
            assignments["data"][0]["id"]
        ),
        admin_token.clone(),
    )
    .await;
    assert_eq!(
        submissions["data"].as_array().unwrap().len(),
        2,
        "{submissions}"
    );
    let discussions = get(
        format!("{api}/api/v1/courses/{}/discussions", course["id"]),
        student_token.clone(),
    )
    .await;
    assert_eq!(discussions["data"][0]["posts_count"], 3);
    let quizzes = get(
        format!("{api}/api/v1/courses/{}/quizzes", course["id"]),
        student_token.clone(),
    )
    .await;
    let quiz = quizzes["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["title"] == "Fractions quiz")
        .expect("the demo quiz")
        .clone();
    let res = client
        .post(format!("{api}/api/v1/quizzes/{}/attempts", quiz["id"]))
        .bearer_auth(&student_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        201,
        "the demo student can take the quiz a second time"
    );
    let items = get(
        format!("{api}/api/v1/quizzes/{}/items", quiz["id"]),
        student_token.clone(),
    )
    .await;
    assert_eq!(items["data"].as_array().map(Vec::len), Some(4), "{items}");
    let check = Command::new(K12)
        .args(["maintenance", "recount", "--check", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "the seeded counters are exact: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let status = terminate(&mut dev);
    assert!(status.success(), "k12 dev exit status {status}");
    // Logs to a file carry no terminal colour codes.
    let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\x1b'), "ANSI escapes in a redirected log");
    assert!(
        !dir.join("pg/postmaster.pid").exists(),
        "PostgreSQL was stopped with k12 dev"
    );
    assert!(
        !dir.join("dev.json").exists(),
        "dev.json is removed when the product stops"
    );

    // `operator create --data-dir` works against the stopped dev data directory.
    let out = Command::new(K12)
        .args([
            "operator",
            "create",
            "--email",
            "second-ops@example.org",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let setup_token = stdout.lines().last().unwrap().trim().to_string();
    assert!(setup_token.starts_with("k12p_"), "{stdout}");
    assert!(
        !dir.join("pg/postmaster.pid").exists(),
        "operator create stops the cluster it started"
    );

    // A second run reuses the data: same logins, no duplicates, the new operator exists.
    let mut dev = start_dev(&dir);
    let second = wait_for_dev_json(&dir, &mut dev).await;
    assert_eq!(first["tenants"], second["tenants"]);
    assert_eq!(first["operator"], second["operator"]);
    let api = second["api_url"].as_str().unwrap().to_string();
    let login = &second["tenants"][0]["logins"][0];
    let (s, b) = post(
        &client,
        format!("{api}/api/v1/auth/login"),
        json!({"tenant": "demo", "email": login["email"], "password": login["password"]}),
    )
    .await;
    assert_eq!(s, 200);
    let users = client
        .get(format!("{api}/api/v1/users"))
        .bearer_auth(b["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let users: Value = users.json().await.unwrap();
    assert_eq!(
        users["data"].as_array().unwrap().len(),
        5,
        "no duplicate seeding: {users}"
    );
    let (s, b) = post(
        &client,
        format!("{api}/api/v1/auth/setup"),
        json!({"token": setup_token, "password": "second-operator-pw"}),
    )
    .await;
    assert_eq!((s, b["kind"].as_str()), (200, Some("operator")), "{b}");
    assert!(terminate(&mut dev).success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Containers and CI hand out private, root-owned directories (mode 0700); the cluster,
/// run as `postgres` when we are root, must still start inside one.
#[tokio::test]
async fn dev_starts_in_a_private_root_owned_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("k12-dev-private");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut child = start_dev(&dir);
    let dev = wait_for_dev_json(&dir, &mut child).await;
    let api = dev["api_url"].as_str().unwrap().to_string();
    let health = reqwest::get(format!("{api}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    let mode = |name: &str| {
        std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("dev.json"), 0o600, "dev.json holds passwords");
    assert_eq!(mode("dev-state.json"), 0o600);
    let traverse = if is_root() { 0o001 } else { 0 };
    assert_eq!(mode("."), 0o700 | traverse);
    assert!(terminate(&mut child).success());
    let _ = std::fs::remove_dir_all(&dir);
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

#[tokio::test]
async fn migrate_applies_migrations_idempotently() {
    let db = testkit::TestDb::new().await;
    for _ in 0..2 {
        let out = Command::new(K12)
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db.app_url())
            .env("DATABASE_OWNER_URL", db.owner_url())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn invalid_configuration_stops_serve_naming_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "DATABASE_URL"),
        (&[("DATABASE_URL", "mysql://x/y")], "DATABASE_URL"),
        (
            &[("DATABASE_URL", "postgres://a@127.0.0.1/b")],
            "K12_SECRET_KEY",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a@127.0.0.1/b"),
                ("K12_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("K12_LISTEN", "nowhere"),
            ],
            "K12_LISTEN",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a@127.0.0.1/b"),
                ("K12_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("K12_ENV", "staging"),
            ],
            "K12_ENV",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a@127.0.0.1/b"),
                ("K12_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("K12_RATE_LIMITS", "api=300"),
            ],
            "K12_RATE_LIMITS",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a@127.0.0.1/b"),
                ("K12_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("K12_TRUSTED_PROXIES", "10.0.0.0/99"),
            ],
            "K12_TRUSTED_PROXIES",
        ),
        (
            &[
                ("DATABASE_URL", "postgres://a@127.0.0.1/b"),
                ("K12_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
                ("K12_LOGIN_LOCKOUT", "ten"),
            ],
            "K12_LOGIN_LOCKOUT",
        ),
    ];
    for (vars, named) in cases {
        let out = Command::new(K12)
            .arg("serve")
            .env_clear()
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "expected {named} in: {stderr}");
    }
}

#[tokio::test]
async fn maintenance_recount_reports_and_fixes_drift() {
    let db = testkit::TestDb::new().await;
    let sys = db.db.system().await.unwrap();
    let school = platform::tenancy::NewSchool {
        district_id: None,
        name: "Alpha",
        slug: &platform::tenancy::Slug::parse("alpha").unwrap(),
        timezone: "UTC",
        address: None,
    };
    let (mut tx, _) = platform::tenancy::create_school(sys, &school)
        .await
        .unwrap();
    sqlx::query("INSERT INTO courses (tenant_id, name) VALUES (current_tenant_id(), 'C')")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE tenants SET courses_count = 7")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let run = |args: &[&str]| {
        Command::new(K12)
            .args(["maintenance", "recount"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db.app_url())
            .output()
            .unwrap()
    };
    let check = run(&["--check"]);
    assert!(!check.status.success(), "drift makes --check fail");
    let line: Value = serde_json::from_str(
        String::from_utf8_lossy(&check.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            line["counter"].as_str(),
            line["stored"].as_i64(),
            line["actual"].as_i64()
        ),
        (Some("courses_count"), Some(7), Some(1))
    );
    let fix = run(&[]);
    assert!(
        fix.status.success(),
        "{}",
        String::from_utf8_lossy(&fix.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&fix.stdout).lines().count(), 1);
    let again = run(&["--check"]);
    assert!(again.status.success());
    assert_eq!(again.stdout.len(), 0);
}
