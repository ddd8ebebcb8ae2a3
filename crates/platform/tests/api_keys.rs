//! Tenant API keys: the admin routes (isolation, validation, audit without the secret),
//! OFREP with a key (no SQL once the key is known, scope, revocation, expiry,
//! `last_used_at`), a key refused by every other route, and revocation reaching a second
//! process within a second.

use std::time::{Duration, Instant};

use platform::http::statements::count_async;
use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, TestApp, TwoSchools};

/// Creates a key through the API; answers (id, secret).
async fn create_key(app: &TestApp, admin: &str, body: Value) -> (i64, String) {
    let (st, v) = app.post("/api/v1/admin/api_keys", admin, body).await;
    assert_eq!(st, 201, "{v}");
    (
        v["id"].as_i64().unwrap(),
        v["secret"].as_str().unwrap().to_string(),
    )
}

/// An OFREP call: (status, server-timing statement count, body).
async fn ofrep(app: &TestApp, path: &str, token: &str, tenant: i64) -> (u16, Option<u64>, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .json(&json!({"context": {"targetingKey": tenant.to_string()}}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let statements = res
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("desc=\"").nth(1))
        .and_then(|v| v.split(' ').next())
        .and_then(|n| n.parse().ok());
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, statements, body)
}

const ONE: &str = "/ofrep/v1/evaluate/flags/webhook_events";
const BULK: &str = "/ofrep/v1/evaluate/flags";

/// Polls `$done` (which may `.await`) until it holds, at most `$limit`; answers how long
/// it took.
macro_rules! within {
    ($limit:expr, $done:expr) => {{
        let start = Instant::now();
        loop {
            if $done {
                break Some(start.elapsed());
            }
            if start.elapsed() >= $limit {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }};
}

#[tokio::test]
async fn admins_create_list_and_revoke_their_own_keys_with_an_audit_trail() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    let (st, v) = app
        .post(
            "/api/v1/admin/api_keys",
            &f.admin,
            json!({"name": "  Flag reader  "}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("k12k_"), "{secret}");
    assert_eq!(secret.len(), 5 + 8 + 1 + 35);
    assert_eq!(v["prefix"].as_str().unwrap(), &secret[5..13]);
    assert_eq!(v["name"], "Flag reader");
    assert_eq!(v["scopes"], json!(["flags:evaluate"]));
    assert_eq!(v["expires_at"], Value::Null);
    assert_eq!(v["revoked_at"], Value::Null);
    assert!(v["created_by"].is_i64());

    // The list never shows a secret; it pages like the other admin lists.
    for n in 0..2 {
        create_key(app, &f.admin, json!({"name": format!("more {n}")})).await;
    }
    let (st, page) = app.get("/api/v1/admin/api_keys?limit=2", &f.admin).await;
    assert_eq!(st, 200, "{page}");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["data"][0]["id"], id);
    assert!(!page.to_string().contains(&secret[14..]), "{page}");
    assert!(page["data"][0].get("secret").is_none());
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app
        .get(
            &format!("/api/v1/admin/api_keys?limit=2&cursor={cursor}"),
            &f.admin,
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    // Another school sees none of them and cannot revoke them.
    let (_, beta_list) = app.get("/api/v1/admin/api_keys", &f.beta_admin).await;
    assert_eq!(beta_list["data"], json!([]));
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/admin/api_keys/{id}"),
            Actor::Token(&f.beta_admin),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .request(
            Method::DELETE,
            "/api/v1/admin/api_keys/987654321",
            Actor::Token(&f.admin),
            None,
        )
        .await;
    assert_eq!(st, 404);
    // Teachers manage no keys.
    let (st, _) = app.get("/api/v1/admin/api_keys", &f.teacher).await;
    assert_eq!(st, 403);

    // Validation.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["roster:read"]}), "scopes"),
        (json!({"name": "k", "expires_at": past}), "expires_at"),
    ] {
        let (st, v) = app
            .post("/api/v1/admin/api_keys", &f.admin, body.clone())
            .await;
        assert_eq!(st, 422, "{body}: {v}");
        assert!(v.to_string().contains(field), "{body}: {v}");
    }
    for body in [
        json!({"name": "k", "expires_at": "tomorrow"}),
        json!({"name": "k", "extra": 1}),
        json!({}),
    ] {
        let (st, v) = app
            .post("/api/v1/admin/api_keys", &f.admin, body.clone())
            .await;
        assert_eq!(st, 422, "{body}: {v}");
    }
    let res = app
        .client
        .post(format!("{}/api/v1/admin/api_keys", app.base_url))
        .bearer_auth(&f.admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);

    // Revoke: 204, again 204 (nothing changes), the key listed as revoked.
    for _ in 0..2 {
        let (st, _) = app
            .request(
                Method::DELETE,
                &format!("/api/v1/admin/api_keys/{id}"),
                Actor::Token(&f.admin),
                None,
            )
            .await;
        assert_eq!(st, 204);
    }
    let (_, page) = app.get("/api/v1/admin/api_keys", &f.admin).await;
    assert!(page["data"][0]["revoked_at"].is_string(), "{page}");

    // Audited once each, with what identifies the key and never its secret or hash.
    let mut tx = app.tenant_tx(f.alpha).await;
    let rows: Vec<(String, Option<i64>, Value)> = sqlx::query_as(
        "SELECT event_type, auditable_id, metadata FROM audit_logs
          WHERE event_type LIKE 'api_key.%' ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let (hash,): (Vec<u8>,) = sqlx::query_as("SELECT secret_sha256 FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let events: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        events,
        [
            "api_key.created",
            "api_key.created",
            "api_key.created",
            "api_key.revoked"
        ]
    );
    assert_eq!(rows[0].1, Some(id));
    assert_eq!(rows[0].2["name"], "Flag reader");
    assert_eq!(rows[0].2["prefix"], &secret[5..13]);
    assert_eq!(rows[3].1, Some(id));
    let all = format!("{rows:?}");
    assert!(!all.contains(&secret[14..]));
    assert!(!all.contains(&hex::encode(&hash)));
    assert_eq!(hash, sha256(&secret));
}

fn sha256(s: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes()).to_vec()
}

#[tokio::test]
async fn ofrep_takes_a_key_without_sql_and_refuses_it_everywhere_else() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    app.put(
        "/api/v1/admin/feature_flags/webhook_events",
        &f.admin,
        json!({"enabled": false}),
    )
    .await;
    let (key_id, key) = create_key(app, &f.admin, json!({"name": "sdk"})).await;

    // Both OFREP routes answer for the key's tenant, as they do for the session.
    let (st, _, by_key) = ofrep(app, ONE, &key, f.alpha).await;
    assert_eq!(st, 200, "{by_key}");
    let (_, _, by_session) = ofrep(app, ONE, &f.teacher, f.alpha).await;
    assert_eq!(by_key, by_session);
    assert_eq!(by_key["reason"], "TARGETING_MATCH");
    assert_eq!(by_key["value"], false);
    let (st, _, bulk) = ofrep(app, BULK, &key, f.alpha).await;
    assert_eq!(st, 200);
    assert_eq!(
        bulk["flags"].as_array().unwrap().len(),
        featureflags::CATALOGUE.len()
    );
    // Another tenant's targeting key: the same answer as for a session.
    let (st, _, v) = ofrep(app, ONE, &key, f.beta).await;
    assert_eq!(
        (st, v["errorCode"].as_str()),
        (400, Some("INVALID_CONTEXT"))
    );

    // Once the key is known, a call runs no SQL at all (key, flags and all). The
    // notification of the key's creation empties every process's map when it is heard,
    // which may be after the first calls: hence "soon", not "at once".
    within!(
        Duration::from_secs(5),
        ofrep(app, ONE, &key, f.alpha).await.1 == Some(0)
    )
    .expect("a known key's OFREP call runs no SQL");
    let (st, statements, _) = ofrep(app, ONE, &key, f.alpha).await;
    assert_eq!((st, statements), (200, Some(0)));
    let (st, statements, _) = ofrep(app, BULK, &key, f.alpha).await;
    assert_eq!((st, statements), (200, Some(0)));
    // The session path, for comparison, looks the session up every time.
    let (_, statements, _) = ofrep(app, ONE, &f.teacher, f.alpha).await;
    assert!(statements.unwrap() > 0);

    // A key opens nothing but OFREP: every other route answers 401 as to a stranger.
    for (method, path) in [
        (Method::GET, "/api/v1/me"),
        (Method::GET, "/api/v1/admin/api_keys"),
        (Method::GET, "/api/v1/admin/feature_flags"),
        (Method::GET, "/api/v1/courses"),
        (Method::GET, "/api/v1/operator/feature_flags"),
        (Method::POST, "/api/v1/auth/logout"),
    ] {
        let (st, v) = app
            .request(method.clone(), path, Actor::Token(&key), None)
            .await;
        assert_eq!(st, 401, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "unauthenticated", "{v}");
    }

    // Unknown keys: 401, also when well formed; asked once, then remembered.
    let unknown = platform::api_keys::key::issue().key;
    for token in [unknown.as_str(), "k12k_short", &key[..key.len() - 1]] {
        let (st, _, v) = ofrep(app, ONE, token, f.alpha).await;
        assert_eq!(st, 401, "{token}: {v}");
        assert_eq!(v["error"]["code"], "unauthenticated");
    }
    let (st, statements, _) = ofrep(app, ONE, &unknown, f.alpha).await;
    assert_eq!((st, statements), (401, Some(0)));

    // A key without the scope: 403 (keys of other scopes come with later features).
    let other = platform::api_keys::key::issue();
    let mut tx = app.tenant_tx(f.alpha).await;
    sqlx::query(
        "INSERT INTO api_keys (tenant_id, name, prefix, secret_sha256, scopes)
         VALUES (current_tenant_id(), 'roster', $1, $2, '{roster:read}')",
    )
    .bind(&other.prefix)
    .bind(&other.hash[..])
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (st, _, v) = ofrep(app, ONE, &other.key, f.alpha).await;
    assert_eq!((st, v["error"]["code"].as_str()), (403, Some("forbidden")));

    // last_used_at: written off the request path, once a minute at most.
    let used = || async {
        let mut tx = app.tenant_tx(f.alpha).await;
        let (at,): (Option<chrono::DateTime<chrono::Utc>>,) =
            sqlx::query_as("SELECT last_used_at FROM api_keys WHERE id = $1")
                .bind(key_id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        at
    };
    within!(Duration::from_secs(10), used().await.is_some())
        .expect("last_used_at is written within seconds");
    let first = used().await;
    ofrep(app, ONE, &key, f.alpha).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(used().await, first, "written again within the minute");

    // Expiry: refused from the instant on, without any notification.
    let (_, expiring) = create_key(
        app,
        &f.admin,
        json!({"name": "short", "expires_at": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}),
    )
    .await;
    let (st, _, _) = ofrep(app, ONE, &expiring, f.alpha).await;
    assert_eq!(st, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (st, statements, v) = ofrep(app, ONE, &expiring, f.alpha).await;
    assert_eq!((st, statements), (401, Some(0)), "{v}");

    // Revoked: refused at once by the process that revoked it.
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/admin/api_keys/{key_id}"),
            Actor::Token(&f.admin),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (st, _, v) = ofrep(app, BULK, &key, f.alpha).await;
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let _ = f.operator;
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_another_process_within_a_second() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    // A second process on the same database: its own pool, state, key map and LISTEN
    // connection (what another `k12 serve` would have).
    let db2 = platform::db::Db::connect_lazy(&app.db.app_url(), &Default::default()).unwrap();
    let state2 = platform::http::AppState::new(
        db2.clone(),
        platform::http::ServiceConfig::new(
            platform::config::Environment::Development,
            testkit::test_outbound(testkit::test_egress()),
        ),
        app.store.clone(),
    );
    let listener2 = state2
        .flags
        .spawn_listener(db2.clone(), platform::config::Secret::new(app.db.app_url()));
    let flags2 = state2.flags.clone();
    within!(Duration::from_secs(10), flags2.current().is_some())
        .expect("the second process listens");
    let keys2 = state2.flags.api_keys().clone();
    let scope = platform::api_keys::FLAGS_EVALUATE;

    let (id, key) = create_key(app, &f.admin, json!({"name": "two"})).await;
    let (_, kept) = create_key(app, &f.admin, json!({"name": "kept"})).await;
    let actor = keys2.authenticate(&db2, &key, scope).await.unwrap();
    assert_eq!((actor.tenant_id.0, actor.key_id), (f.alpha, id));
    keys2.authenticate(&db2, &kept, scope).await.unwrap();
    // Known now: no SQL, once process 2 has heard the notifications of both inserts
    // (each empties its map; they may arrive after the lookups above).
    within!(Duration::from_secs(5), {
        let (again, n) = count_async(keys2.authenticate(&db2, &key, scope)).await;
        again.is_ok_and(|a| a == actor) && n == 0
    })
    .expect("process 2 resolves a known key without SQL");

    // Revoked through process 1's API: process 2 refuses it within a second.
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/admin/api_keys/{id}"),
            Actor::Token(&f.admin),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let took = within!(
        Duration::from_secs(1),
        keys2.authenticate(&db2, &key, scope).await.is_err()
    )
    .expect("process 2 refuses the revoked key within a second");
    eprintln!("revocation effective in process 2 after {took:?}");
    assert!(keys2.authenticate(&db2, &kept, scope).await.is_ok());

    // A change made in SQL directly (not through any process) is heard too.
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE api_keys SET expires_at = now() WHERE name = 'kept'")
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    within!(
        Duration::from_secs(1),
        keys2.authenticate(&db2, &kept, scope).await.is_err()
    )
    .expect("process 2 refuses the expired key within a second");
    // Unknown keys stay bounded in process 2 as well.
    for _ in 0..50 {
        let k = platform::api_keys::key::issue().key;
        assert!(keys2.authenticate(&db2, &k, scope).await.is_err());
    }
    assert!(keys2.sizes().1 <= platform::api_keys::cache::MAX_UNKNOWN);
    let _ = (f.beta, f.beta_admin, f.teacher, f.operator);
    listener2.abort();
}
