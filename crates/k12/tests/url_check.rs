//! `k12 url-check` runs the server's guard: verdicts, reasons, JSON, exit codes.

use std::process::{Command, Output};

use serde_json::Value;

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn url_check(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(K12);
    cmd.arg("url-check").args(args);
    for var in [
        "K12_ENV",
        "K12_DNS_SERVERS",
        "K12_URL_ALLOWED_PORTS",
        "K12_URL_ALLOW_HTTP",
        "K12_URL_ALLOWLIST",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn verdicts(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn refuses_unsafe_urls_naming_the_rule_and_exits_1() {
    let out = url_check(
        &[
            "--json",
            "https://93.184.215.14/hook",
            "http://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://user:pw@93.184.215.14/",
            "https://93.184.215.14:8443/",
            "file:///etc/passwd",
            "https://[::ffff:10.0.0.1]/",
            "https://0x7f.1/",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let v = verdicts(&out);
    assert_eq!(v.len(), 8);
    assert_eq!(v[0]["allowed"], true);
    assert_eq!(v[0]["reason"], Value::Null);
    assert_eq!(v[0]["addresses"][0], "93.184.215.14");
    let reasons: Vec<&str> = v[1..]
        .iter()
        .map(|x| x["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "scheme_not_allowed",
            "metadata_address",
            "userinfo_not_allowed",
            "port_not_allowed",
            "scheme_not_allowed",
            "private_address",
            "loopback_address",
        ]
    );
    for x in &v[1..] {
        assert_eq!(x["allowed"], false);
        assert_eq!(x["addresses"], serde_json::json!([]));
    }
}

#[test]
fn allowed_urls_exit_0_and_text_output_names_the_rule() {
    let ok = url_check(&["https://93.184.215.14/"], &[]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("allowed"));
    let dev_http = url_check(&["http://93.184.215.14/"], &[("K12_ENV", "development")]);
    assert_eq!(
        dev_http.status.code(),
        Some(0),
        "development allows plain http"
    );
    let refused = url_check(&["https://10.1.2.3/"], &[]);
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.starts_with("refused") && text.contains("private_address"),
        "{text}"
    );
}

#[test]
fn names_needing_dns_use_the_configured_resolver() {
    // A name server that is not there: the name cannot be judged, so it is refused.
    let out = url_check(
        &["--json", "https://hooks.slack.com/services/x"],
        &[("K12_DNS_SERVERS", "127.0.0.1:9")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(verdicts(&out)[0]["reason"], "resolution_failed");
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    assert_eq!(url_check(&[], &[]).status.code(), Some(2));
    let bad = url_check(
        &["https://93.184.215.14/"],
        &[("K12_URL_ALLOWED_PORTS", "http")],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("K12_URL_ALLOWED_PORTS"));
}
