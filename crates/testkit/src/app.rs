//! `TestApp`: the real router on a loopback port, plus factories and login helpers.

use std::sync::OnceLock;

use platform::db::{Db, TenantId};
use platform::identity::users::{self, NewUser};
use platform::identity::Email;
use platform::outbound::{EgressConfig, Outbound};
use platform::ratelimit::{Limit, Quota, RateLimiter, Settings};
use platform::tenancy::{self, Slug};
use reqwest::Method;
use serde_json::Value;

use crate::cluster::TestDb;

/// The password of every user the factories create.
pub const PASSWORD: &str = "correct-horse-battery";

fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(platform::auth::password::hash(PASSWORD.to_string()))
                .expect("hash")
        })
        .join()
        .expect("hash thread")
    })
    .clone()
}

/// Installs the statement-counting tracing layer once per test process, as `k12`
/// does at start, so `Server-Timing` reports statements in tests too.
fn install_statement_counter() {
    use tracing_subscriber::layer::SubscriberExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(platform::http::statements::layer());
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// Rate limits no test meets unless it sets its own: a million per minute each, and the
/// default login lockout.
pub fn generous_limits() -> Settings {
    let mut settings = Settings::defaults(platform::config::Environment::Development);
    for limit in Limit::ALL {
        settings
            .quotas
            .set(limit, Quota::new(1_000_000, 60).expect("quota"));
    }
    settings
}

/// A user made by a factory, with a session token once signed in.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub tenant_id: i64,
    pub tenant_slug: String,
    pub email: String,
    pub token: String,
}

/// Who makes a request.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Anonymous,
    Token(&'a str),
}

/// The `K12_SECRET_KEY` of every test app and test worker.
pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789abcdefghijklmnop";

/// Egress for tests, as in development (plain http allowed, judged by address), with no
/// name server (a dead loopback port) and outgoing connections bound to 127.0.0.1, so
/// nothing can leave the machine.
pub fn test_egress() -> EgressConfig {
    EgressConfig {
        policy: platform::outbound::Policy {
            allow_http: true,
            ..Default::default()
        },
        dns_servers: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 9))],
        local_address: Some(std::net::IpAddr::from([127, 0, 0, 1])),
        ..EgressConfig::default()
    }
}

/// The guarded client for `egress` and the test sealing key (for the app and a worker).
pub fn test_outbound(egress: EgressConfig) -> Outbound {
    Outbound::new(egress, &platform::config::Secret::new(TEST_SECRET_KEY)).expect("outbound")
}

/// The app on loopback with its own database.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    /// The app's object store: a file store in a temporary directory unless the test
    /// passed one ([`TestApp::spawn_with_store`]).
    pub store: storage::Store,
    /// The temporary directory of the default file store, removed on drop.
    store_dir: Option<std::path::PathBuf>,
    server: tokio::task::JoinHandle<()>,
    /// The Prometheus listener of this app (`GET {metrics_url}`).
    pub metrics_url: String,
    metrics_server: tokio::task::JoinHandle<()>,
    /// The feature-flag cache's LISTEN task (as `k12 serve` runs it).
    flag_listener: tokio::task::JoinHandle<()>,
    /// The app's state (its feature-flag cache, its pool).
    pub state: platform::http::AppState,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.metrics_server.abort();
        self.flag_listener.abort();
        if let Some(dir) = &self.store_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A file store in a fresh temporary directory (the caller removes the directory).
fn temp_file_store() -> (storage::Store, std::path::PathBuf) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "k12-testkit-store-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let config =
        storage::StorageConfig::from_lookup(|_| None, Some(format!("file://{}", dir.display())))
            .expect("file store config");
    (storage::Store::open(&config).expect("file store"), dir)
}

impl TestApp {
    /// Starts the app (development environment) on `127.0.0.1:0`.
    pub async fn spawn() -> Self {
        Self::spawn_with_env(platform::config::Environment::Development).await
    }

    pub async fn spawn_with_env(env: platform::config::Environment) -> Self {
        Self::spawn_with(env, test_egress()).await
    }

    /// Starts the app with its own egress configuration (e.g. an allow-listed loopback
    /// receiver: `AllowEntry::parse("127.0.0.1:PORT")`).
    pub async fn spawn_with(env: platform::config::Environment, egress: EgressConfig) -> Self {
        let config = platform::http::ServiceConfig::new(env, test_outbound(egress));
        Self::spawn_with_config(config).await
    }

    /// Starts the app with a service configuration of the test's choosing.
    pub async fn spawn_with_config(config: platform::http::ServiceConfig) -> Self {
        Self::spawn_full(config, generous_limits(), None, None).await
    }

    /// Starts the app with these rate-limit settings, in-process or through Redis.
    pub async fn spawn_with_limits(
        env: platform::config::Environment,
        limits: Settings,
        redis_url: Option<&str>,
    ) -> Self {
        let config = platform::http::ServiceConfig::new(env, test_outbound(test_egress()));
        Self::spawn_full(config, limits, redis_url, None).await
    }

    /// Starts the app (development environment) on a store of the test's choosing, e.g.
    /// an S3 store.
    pub async fn spawn_with_store(store: storage::Store) -> Self {
        let config = platform::http::ServiceConfig::new(
            platform::config::Environment::Development,
            test_outbound(test_egress()),
        );
        Self::spawn_full(config, generous_limits(), None, Some(store)).await
    }

    /// Everything above ends here: the service configuration, the limits, and the store
    /// (a file store in a temporary directory, removed with the app, unless given).
    pub async fn spawn_full(
        config: platform::http::ServiceConfig,
        limits: Settings,
        redis_url: Option<&str>,
        store: Option<storage::Store>,
    ) -> Self {
        let (store, store_dir) = match store {
            Some(store) => (store, None),
            None => {
                let (store, dir) = temp_file_store();
                (store, Some(dir))
            }
        };
        install_statement_counter();
        let db = TestDb::new().await;
        let limiter = RateLimiter::from_config(limits, redis_url).expect("rate limiter");
        let state = platform::http::AppState::new(db.db.clone(), config, store.clone())
            .with_limiter(limiter);
        let flag_listener = state.flags.spawn_listener(
            state.db.clone(),
            platform::config::Secret::new(db.app_url()),
        );
        let metrics_router = platform::monitoring::exposition::router(state.clone());
        let router = platform::app::router(state.clone());
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let metrics_url = format!(
            "http://{}/metrics",
            metrics_listener.local_addr().expect("addr")
        );
        let metrics_server = tokio::spawn(async move {
            let _ = platform::app::serve(metrics_listener, metrics_router, std::future::pending())
                .await;
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = platform::app::serve(listener, router, std::future::pending()).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            db,
            store,
            store_dir,
            server,
            metrics_url,
            metrics_server,
            flag_listener,
            state,
        }
    }

    pub fn pool(&self) -> &Db {
        &self.db.db
    }

    /// Sends a request; answers the status and the JSON body (Null when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        actor: Actor<'_>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base_url, path));
        if let Actor::Token(t) = actor {
            req = req.bearer_auth(t);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("non-JSON body for {path}: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.request(Method::GET, path, Actor::Token(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.request(Method::POST, path, Actor::Token(token), Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.request(Method::PUT, path, Actor::Token(token), Some(body))
            .await
    }

    /// Factory: a district.
    pub async fn create_district(&self, slug: &str) -> i64 {
        let mut tx = self.pool().system().await.expect("tx");
        let id = tenancy::create_district(&mut tx, slug, &Slug::parse(slug).expect("slug"))
            .await
            .expect("district");
        tx.commit().await.expect("commit");
        id
    }

    /// Factory: a school (tenant with the default roles and its school row).
    pub async fn create_tenant(&self, slug: &str, district: Option<i64>) -> i64 {
        let sys = self.pool().system().await.expect("tx");
        let school = tenancy::NewSchool {
            district_id: district,
            name: slug,
            slug: &Slug::parse(slug).expect("slug"),
            timezone: "UTC",
            address: None,
        };
        let (tx, _) = tenancy::create_school(sys, &school).await.expect("school");
        let id = tx.tenant_id().0;
        tx.commit().await.expect("commit");
        id
    }

    /// Factory: a user with `roles`, password [`PASSWORD`], signed in.
    pub async fn create_user(
        &self,
        tenant_slug: &str,
        local: &str,
        roles: &[&str],
        district_admin: bool,
    ) -> TestUser {
        let mut sys = self.pool().system().await.expect("tx");
        let tenant = tenancy::tenant_id_by_slug(&mut sys, tenant_slug)
            .await
            .expect("lookup")
            .expect("tenant exists");
        sys.commit().await.expect("commit");
        let email = format!("{local}@{tenant_slug}.test");
        let mut tx = self.pool().tenant(tenant).await.expect("tx");
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let id = users::insert(
            &mut tx,
            NewUser {
                email: &Email::parse(&email).expect("email"),
                first_name: local,
                last_name: "Test",
                roles: &roles,
                password_hash: Some(password_hash()),
                district_admin,
            },
        )
        .await
        .expect("user");
        tx.commit().await.expect("commit");
        let token = self.login(tenant_slug, &email, PASSWORD).await;
        TestUser {
            id,
            tenant_id: tenant.0,
            tenant_slug: tenant_slug.to_string(),
            email,
            token,
        }
    }

    /// Signs in through the API; panics unless it succeeds.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> String {
        let (status, body) = self
            .request(
                Method::POST,
                "/api/v1/auth/login",
                Actor::Anonymous,
                Some(serde_json::json!({ "tenant": tenant, "email": email, "password": password })),
            )
            .await;
        assert_eq!(status, 200, "login {email}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// Factory: an operator with password [`PASSWORD`], signed in; answers the token.
    pub async fn create_operator(&self, email: &str) -> String {
        let mut tx = self.pool().system().await.expect("tx");
        platform::operators::create(
            &mut tx,
            &Email::parse(email).expect("email"),
            "Op",
            Some(password_hash()),
        )
        .await
        .expect("operator");
        tx.commit().await.expect("commit");
        let (status, body) = self
            .request(
                Method::POST,
                "/api/v1/operator/login",
                Actor::Anonymous,
                Some(serde_json::json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, 200, "operator login: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// A tenant-scoped transaction, for asserting on rows.
    pub async fn tenant_tx(&self, tenant: i64) -> platform::db::TenantTx {
        self.pool().tenant(TenantId(tenant)).await.expect("tx")
    }
}
