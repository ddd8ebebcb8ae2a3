//! `k12 provision` and `k12 import` against a real database: a school from the command
//! line, every bad field named at once, and a roster CSV imported twice (the second run
//! changes nothing).

use std::process::{Command, Output};

use serde_json::Value;

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn k12(db: &testkit::TestDb, args: &[&str]) -> Output {
    Command::new(K12)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.app_url())
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn provision_then_import_a_roster_twice() {
    let db = testkit::TestDb::new().await;
    let out = k12(
        &db,
        &[
            "provision",
            "--name",
            "Maple Elementary",
            "--subdomain",
            "maple",
            "--admin-email",
            "head@maple.example.org",
            "--json",
        ],
    );
    let p = json(&out);
    assert_eq!(p["slug"], "maple");
    assert!(p["setup_token"].as_str().unwrap().starts_with("k12s_"));

    let bad = k12(
        &db,
        &[
            "provision",
            "--name",
            "Again",
            "--subdomain",
            "maple",
            "--admin-email",
            "nope",
            "--primary-color",
            "red",
        ],
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    for field in ["subdomain", "admin_email", "primary_color"] {
        assert!(err.contains(field), "{field} not named: {err}");
    }

    let dir = std::env::temp_dir().join(format!("k12-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.csv");
    std::fs::write(
        &file,
        "email,first_name,last_name,role\nt1@maple.test,Tia,One,teacher\nbad,B,C,student\ns1@maple.test,Sol,One,student\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "import", "--tenant", "maple", "--type", "users", file, "--json",
    ];
    let first = json(&k12(&db, &args));
    assert_eq!(
        (first["created"].as_u64(), first["errors_total"].as_u64()),
        (Some(2), Some(1)),
        "{first}"
    );
    assert_eq!(first["errors"][0]["row"], 3);
    let again = json(&k12(&db, &args));
    assert_eq!(
        (again["created"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(2)),
        "{again}"
    );
    let unknown = k12(
        &db,
        &["import", "--tenant", "nowhere", "--type", "users", file],
    );
    assert!(!unknown.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn import_a_oneroster_archive_twice() {
    use std::io::Write;
    let db = testkit::TestDb::new().await;
    json(&k12(
        &db,
        &[
            "provision",
            "--name",
            "Oak High",
            "--subdomain",
            "oak",
            "--admin-email",
            "head@oak.example.org",
            "--json",
        ],
    ));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in [
        (
            "manifest.csv",
            "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\nfile.users,bulk\n",
        ),
        ("orgs.csv", "sourcedId,name,type\norg-1,Oak High,school\n"),
        (
            "users.csv",
            "sourcedId,enabledUser,orgSourcedIds,role,username,givenName,familyName,email\n\
             t1,true,org-1,teacher,tia,Tia,One,tia@oak.test\n\
             s1,true,org-9,student,sol,Sol,One,sol@oak.test\n",
        ),
    ] {
        w.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(content.as_bytes()).unwrap();
    }
    let bytes = w.finish().unwrap().into_inner();
    let dir = std::env::temp_dir().join(format!("k12-oneroster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("roster.zip");
    std::fs::write(&file, bytes).unwrap();
    let file = file.to_str().unwrap();
    let args = [
        "import",
        "--tenant",
        "oak",
        "--type",
        "oneroster",
        file,
        "--json",
    ];
    let first = json(&k12(&db, &args));
    assert_eq!(
        (first["created"].as_u64(), first["errors_total"].as_u64()),
        (Some(2), Some(1)),
        "{first}"
    );
    assert_eq!(first["errors"][0]["column"], "orgSourcedIds");
    let again = json(&k12(&db, &args));
    assert_eq!(
        (again["created"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(2)),
        "{again}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
