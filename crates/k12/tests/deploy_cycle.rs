//! The whole blue-green cycle of `scripts/deploy.sh` and `scripts/rollback.sh` on
//! loopback: a real nginx in front of real `k12 serve` processes on a real PostgreSQL,
//! under a steady request load that counts every failed client request.
//!
//! One test, in order: a deploy blocked by the deploy window; a first deploy; a good
//! deploy; a release that never becomes ready; a release that starts failing after the
//! switch (its database role is cut off while it is being watched); a rollback. Each
//! ends with a healthy version serving, and the load generator sees no failure at all.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{Connection, PgConnection};

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops nginx and every `k12 serve` the scripts started, and removes the directory.
struct Cleanup {
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let pids = [
            self.dir.join("nginx.pid"),
            self.dir.join("releases/.state/blue.pid"),
            self.dir.join("releases/.state/green.pid"),
        ];
        for pid in pids {
            if let Ok(pid) = std::fs::read_to_string(&pid) {
                let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Cycle {
    dir: PathBuf,
    nginx_port: u16,
    api_ports: [u16; 2],
    metrics_ports: [u16; 2],
    slack_url: String,
}

impl Cycle {
    /// Runs a script with the cycle's configuration; returns its exit code and stderr.
    async fn run(&self, script: &str, args: &[&str], release: &str) -> (i32, String) {
        let d = &self.dir;
        let out = tokio::process::Command::new("bash")
            .arg(repo().join("scripts").join(script))
            .args(args)
            .env("K12_RELEASES_DIR", d.join("releases"))
            .env("K12_DEPLOY_ENV_FILE", d.join("service.env"))
            .env(
                "K12_DEPLOY_PORTS",
                format!("{} {}", self.api_ports[0], self.api_ports[1]),
            )
            .env(
                "K12_DEPLOY_METRICS_PORTS",
                format!("{} {}", self.metrics_ports[0], self.metrics_ports[1]),
            )
            .env("K12_NGINX_CONF", d.join("nginx.conf"))
            .env("K12_NGINX_UPSTREAM_FILE", d.join("upstream.inc"))
            .env("K12_NGINX_ERROR_LOG", d.join("nginx-error.log"))
            .env("K12_DEPLOY_HEALTH_TIMEOUT", "15")
            .env("K12_DEPLOY_WATCH_SECONDS", "6")
            .env("K12_DEPLOY_MAX_ERROR_RATE", "0.01")
            // A debug build on a busy 2-core machine: latency is not what is tested here.
            .env("K12_DEPLOY_MAX_P95_MS", "5000")
            .env("K12_DEPLOY_DRAIN_SECONDS", "1")
            .env("K12_RELEASE_ID", release)
            .env("K12_SLACK_WEBHOOK_URL", &self.slack_url)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("---- {script} {args:?} ({release}) ->\n{stderr}");
        (out.status.code().unwrap_or(-1), stderr)
    }

    async fn deploy(&self, release: &str, release_env: Option<&str>) -> (i32, String) {
        let mut args = vec!["staging", "--binary", K12, "--skip-tests"];
        let env_path;
        if let Some(env) = release_env {
            env_path = self.dir.join(format!("{release}.env"));
            std::fs::write(&env_path, env).unwrap();
            args.extend(["--release-env", env_path.to_str().unwrap()]);
        }
        self.run("deploy.sh", &args, release).await
    }

    /// The API port nginx sends a request to now, from the `X-K12-Upstream` header.
    async fn serving(&self) -> u16 {
        let r = reqwest::get(format!("http://127.0.0.1:{}/api/v1/ready", self.nginx_port))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        upstream_port(r.headers()).unwrap()
    }

    fn state(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join("releases/.state").join(file))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

fn upstream_port(headers: &reqwest::header::HeaderMap) -> Option<u16> {
    // The last address nginx tried (after a retry it lists several).
    let v = headers.get("x-k12-upstream")?.to_str().ok()?;
    v.rsplit([',', ' ', ':']).next()?.parse().ok()
}

/// Steady load through nginx: a few clients in a loop, each request on a fresh
/// connection, every non-200 answer or transport error counted as a failure.
#[derive(Default)]
struct Load {
    stop: AtomicBool,
    ok: AtomicU64,
    failed: Mutex<Vec<String>>,
    ports: Mutex<std::collections::BTreeMap<u16, u64>>,
}

impl Load {
    fn start(
        self: &Arc<Self>,
        nginx_port: u16,
        clients: usize,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        (0..clients)
            .map(|_| {
                let load = Arc::clone(self);
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .pool_max_idle_per_host(0)
                        .timeout(Duration::from_secs(20))
                        .build()
                        .unwrap();
                    let url = format!("http://127.0.0.1:{nginx_port}/api/v1/ready");
                    while !load.stop.load(Ordering::SeqCst) {
                        match client.get(&url).send().await {
                            Ok(r) if r.status() == 200 => {
                                load.ok.fetch_add(1, Ordering::SeqCst);
                                if let Some(p) = upstream_port(r.headers()) {
                                    *load.ports.lock().unwrap().entry(p).or_default() += 1;
                                }
                            }
                            Ok(r) => load
                                .failed
                                .lock()
                                .unwrap()
                                .push(format!("HTTP {}", r.status())),
                            Err(e) => load.failed.lock().unwrap().push(format!("{e}")),
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect()
    }
}

fn nginx_conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    // The proxy settings of deploy/nginx/k12.conf, with every path in the test directory.
    format!(
        r#"daemon on;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    include {d}/upstream.inc;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://k12_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_next_upstream error timeout http_500 http_502 http_503 http_504;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            add_header X-K12-Upstream $upstream_addr always;
        }}
    }}
}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blue_green_cycle_under_load_never_fails_a_request() {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("nginx is not installed: scripts/install-deps.sh installs nginx-light");

    let db = testkit::TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("k12-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("nginx-tmp")).unwrap();
    let cleanup = Cleanup { dir: dir.clone() };
    // nginx's workers may run as another user when the test runs as root.
    for d in [&dir, &dir.join("nginx-tmp")] {
        std::process::Command::new("chmod")
            .arg("755")
            .arg(d)
            .status()
            .unwrap();
    }

    let receiver = testkit::Receiver::default();
    let slack_port = receiver.start().await;
    let cycle = Cycle {
        dir: dir.clone(),
        nginx_port: free_port(),
        api_ports: [free_port(), free_port()],
        metrics_ports: [free_port(), free_port()],
        slack_url: format!("http://127.0.0.1:{slack_port}/services/T0/B0/secret-path"),
    };

    std::fs::write(
        dir.join("service.env"),
        format!(
            "DATABASE_URL={}\nDATABASE_OWNER_URL={}\nK12_ENV=production\n\
             K12_SECRET_KEY=deploy-cycle-test-key-0123456789abcdef\n\
             K12_STORAGE_URL=file://{}/storage\nK12_DATA_DIR={}\nRUST_LOG=warn\n\
             K12_RATE_LIMITS=api=1000000/60\n",
            db.app_url(),
            db.owner_url(),
            dir.display(),
            dir.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("upstream.inc"),
        "upstream k12_api { server 127.0.0.1:9 down; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("nginx.conf"), nginx_conf(&dir, cycle.nginx_port)).unwrap();
    let started = std::process::Command::new(nginx)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .status()
        .unwrap();
    assert!(started.success(), "nginx did not start");

    let mut su = PgConnection::connect(&db.superuser_url()).await.unwrap();

    // 1. Production honours the deploy window: a school in session all week blocks.
    let (tenant,): (i64,) = sqlx::query_as(
        "INSERT INTO tenants (name, slug) VALUES ('Night Owl', 'night-owl') RETURNING id",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO schools (tenant_id, name, timezone) VALUES ($1, 'Night Owl High', 'UTC')",
    )
    .bind(tenant)
    .execute(&mut su)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO school_hours (tenant_id, start_time, end_time, days)
         VALUES ($1, '00:00', '23:59:59', '{mon,tue,wed,thu,fri,sat,sun}')",
    )
    .bind(tenant)
    .execute(&mut su)
    .await
    .unwrap();
    let (code, _) = cycle
        .run(
            "deploy.sh",
            &["production", "--binary", K12, "--skip-tests"],
            "r0",
        )
        .await;
    assert_eq!(code, 3, "blocked by the window");
    assert!(!dir.join("releases/r0").exists(), "nothing was released");
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(tenant)
        .execute(&mut su)
        .await
        .unwrap();

    // 2. The first deploy: blue.
    let (code, _) = cycle.deploy("r1", None).await;
    assert_eq!(code, 0);
    assert_eq!(cycle.serving().await, cycle.api_ports[0]);

    let load = Arc::new(Load::default());
    let clients = load.start(cycle.nginx_port, 6);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. A good deploy: green takes over, blue is drained and stopped.
    let (code, _) = cycle.deploy("r2", None).await;
    assert_eq!(code, 0);
    assert_eq!(cycle.serving().await, cycle.api_ports[1]);
    assert_eq!(cycle.state("active"), "green");
    assert!(
        cycle.state("blue.pid").is_empty(),
        "the old version was stopped"
    );

    // 4. A release that never becomes ready (its database password is wrong): nothing
    //    switches; green keeps serving.
    let wrong = db
        .app_url()
        .replace(testkit::APP_PASSWORD, "not-the-password");
    let (code, stderr) = cycle
        .deploy("r3", Some(&format!("DATABASE_URL={wrong}\n")))
        .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("did not become ready"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password"),
        "no secret in the output"
    );
    assert_eq!(cycle.serving().await, cycle.api_ports[1]);

    // 5. A release that fails after it starts serving: it logs in as its own role, which
    //    is cut off once nginx sends it traffic. The watch sees its 5xx and switches
    //    back; nginx retried every failed request on the old version meanwhile.
    let role = format!("k12_canary_{}", std::process::id());
    sqlx::query(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'canary-password' IN ROLE k12_service"
    ))
    .execute(&mut su)
    .await
    .unwrap();
    let canary_url = db.app_url().replace(
        &format!("k12_app:{}", testkit::APP_PASSWORD),
        &format!("{role}:canary-password"),
    );
    let deploy = {
        let env = format!("DATABASE_URL={canary_url}\n");
        let cycle = &cycle;
        async move { cycle.deploy("r4", Some(&env)).await }
    };
    let cut_off = async {
        let upstream = dir.join("upstream.inc");
        for _ in 0..600 {
            let conf = std::fs::read_to_string(&upstream).unwrap_or_default();
            if conf.contains("backup") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut su = PgConnection::connect(&db.superuser_url()).await.unwrap();
        sqlx::query(&format!("ALTER ROLE {role} NOLOGIN"))
            .execute(&mut su)
            .await
            .unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&role)
            .execute(&mut su)
            .await
            .unwrap();
    };
    let ((code, stderr), ()) = tokio::join!(deploy, cut_off);
    assert_eq!(code, 1);
    assert!(stderr.contains("switched back"), "{stderr}");
    assert_eq!(cycle.serving().await, cycle.api_ports[1]);
    assert_eq!(cycle.state("active"), "green");
    assert!(
        cycle.state("blue.pid").is_empty(),
        "the failed release was stopped"
    );

    // 6. Rollback to the previous release (r1), without a migration.
    let (code, _) = cycle.run("rollback.sh", &["staging"], "unused").await;
    assert_eq!(code, 0);
    assert_eq!(cycle.serving().await, cycle.api_ports[0]);
    assert_eq!(cycle.state("blue.release"), "r1");

    tokio::time::sleep(Duration::from_secs(1)).await;
    load.stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let ok = load.ok.load(Ordering::SeqCst);
    let failed = load.failed.lock().unwrap().clone();
    let ports = load.ports.lock().unwrap().clone();
    eprintln!(
        "load: {ok} requests answered 200, {} failed; by port: {ports:?}",
        failed.len()
    );
    assert!(failed.is_empty(), "failed client requests: {failed:?}");
    assert!(ok > 200, "the load kept running ({ok})");
    assert!(ports.len() == 2, "both colours served: {ports:?}");

    let texts: Vec<String> = receiver
        .delivered()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let count = |s: &str| texts.iter().filter(|t| t.contains(s)).count();
    assert_eq!(count("deploy started"), 5, "{texts:?}");
    assert_eq!(count("deploy BLOCKED"), 1, "{texts:?}");
    assert_eq!(count("deploy SUCCEEDED"), 2, "{texts:?}");
    assert_eq!(count("deploy FAILED"), 2, "{texts:?}");
    assert_eq!(count("rollback SUCCEEDED"), 1, "{texts:?}");

    let _ =
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&role)
            .execute(&mut su)
            .await;
    drop(cleanup);
    let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&mut su)
        .await;
}
