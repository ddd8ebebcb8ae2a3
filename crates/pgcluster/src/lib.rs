//! A private PostgreSQL cluster run from the system's binaries: `k12 dev` and the test
//! harness both use it. `initdb` on first use, reused afterwards; loopback TCP only.
//!
//! PostgreSQL refuses to run as root; when we are root the server processes run as the
//! `postgres` system user (created by the Debian package) and the data directory is
//! handed to it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Finds the PostgreSQL server binaries: `$K12_PG_BIN`, then the newest
/// `/usr/lib/postgresql/*/bin`, then `$PATH`.
pub fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("K12_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "PostgreSQL server binaries not found (looked in $K12_PG_BIN, /usr/lib/postgresql/*/bin, $PATH); \
         install them with: apt-get install -y postgresql"
    )
}

/// Picks a free loopback TCP port.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// The uid/gid the server must run as: ours, or `postgres` when we are root.
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self")?.uid();
    if me != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == "postgres" {
            return Ok(Some((f[2].parse()?, f[3].parse()?)));
        }
    }
    bail!("running as root, and there is no postgres system user to run PostgreSQL as (apt-get install -y postgresql creates it)")
}

/// A cluster directory and the port its server listens on.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub data_dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    user: Option<(u32, u32)>,
}

impl Cluster {
    /// Prepares (and on first use initialises) a cluster in `data_dir`, with `superuser`
    /// authenticated by `password` over loopback TCP.
    pub fn init(data_dir: &Path, password: &str) -> anyhow::Result<Self> {
        let bin = pg_bin_dir()?;
        let user = server_user()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let cluster = Self {
            data_dir,
            port: 0,
            bin,
            user,
        };
        cluster.reachable_by_server()?;
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.chown_tree(&cluster.data_dir)?;
            let pwfile = cluster.data_dir.with_extension("pwfile");
            std::fs::write(&pwfile, password)?;
            cluster.chown_tree(&pwfile)?;
            let out = cluster
                .command("initdb")
                .arg("-D")
                .arg(&cluster.data_dir)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .output()
                .context("running initdb")?;
            let _ = std::fs::remove_file(&pwfile);
            if !out.status.success() {
                bail!(
                    "initdb failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(cluster)
    }

    /// Makes `data_dir` (new or empty) a hot standby of the server on loopback
    /// `primary_port`: `pg_basebackup -R` streams a copy as `superuser` and writes the
    /// recovery settings, so [`Cluster::start`] starts it replaying the primary's WAL.
    /// The password reaches pg_basebackup through its environment, never its argv.
    /// The standby streams through the new physical replication slot `slot`, so the
    /// primary keeps every WAL segment until the standby has it, however busy the primary
    /// is between the copy and the standby's start; drop the slot
    /// (`pg_drop_replication_slot`) once the standby is gone, or the primary keeps WAL
    /// for it forever.
    pub fn standby_of(
        primary_port: u16,
        data_dir: &Path,
        superuser: &str,
        password: &str,
        slot: &str,
    ) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let bin = pg_bin_dir()?;
        let user = server_user()?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))?;
        let cluster = Self {
            data_dir,
            port: 0,
            bin,
            user,
        };
        cluster.reachable_by_server()?;
        cluster.chown_tree(&cluster.data_dir)?;
        let out = cluster
            .command("pg_basebackup")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                superuser,
            ])
            .arg("-D")
            .arg(&cluster.data_dir)
            .args([
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
                "-C",
                "-S",
                slot,
            ])
            .env("PGPASSWORD", password)
            .output()
            .context("running pg_basebackup")?;
        if !out.status.success() {
            bail!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(cluster)
    }

    /// When the server runs as `postgres`, it must be able to pass through every folder
    /// above its data directory. A private (0700) folder of ours directly above it, as
    /// containers and CI make, gets the traverse bit for others (0711: entering, not
    /// listing; the files holding passwords stay 0600); any other folder in the way is an
    /// error that names it.
    fn reachable_by_server(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Some((uid, gid)) = self.user else {
            return Ok(());
        };
        let passes = |meta: &std::fs::Metadata| {
            let mode = meta.mode();
            if meta.uid() == uid {
                mode & 0o100 != 0
            } else if meta.gid() == gid {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        };
        let mut ancestors = self.data_dir.ancestors().skip(1);
        if let Some(parent) = ancestors.next() {
            let meta = std::fs::metadata(parent)?;
            if !passes(&meta) {
                let mode = meta.mode() | 0o001;
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(mode & 0o7777))
                    .with_context(|| {
                        format!("letting the postgres user enter {}", parent.display())
                    })?;
                eprintln!(
                    "note: {} is private; gave others the traverse bit ({:o}) so the postgres user can reach its cluster",
                    parent.display(),
                    mode & 0o777
                );
            }
        }
        for dir in ancestors {
            if !passes(&std::fs::metadata(dir)?) {
                bail!(
                    "the postgres user cannot enter {}; choose a data directory it can reach",
                    dir.display()
                );
            }
        }
        Ok(())
    }

    fn chown_tree(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .with_context(|| format!("handing {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            c.uid(uid).gid(gid);
        }
        c.stdin(Stdio::null());
        c
    }

    /// True when a server is running on this data directory.
    pub fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// The port of a running server, read from `postmaster.pid`.
    pub fn running_port(&self) -> Option<u16> {
        let pid = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid.lines().nth(3)?.trim().parse().ok()
    }

    /// Starts the server on `port` (0: a free one) and waits until it accepts connections.
    pub fn start(&mut self, port: u16) -> anyhow::Result<()> {
        let port = if port == 0 { free_port()? } else { port };
        let log = self.data_dir.join("server.log");
        // Query insight (spec 05): load pg_stat_statements when the server has it.
        let preload = if self.has_library("pg_stat_statements") {
            " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top"
        } else {
            ""
        };
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-w")
            .args(["-t", "60"])
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
                 -c max_connections=300 -c shared_buffers=128MB -c fsync=on{preload}"
            ))
            .stdout(Stdio::null())
            .output()
            .context("running pg_ctl start")?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            bail!(
                "PostgreSQL did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.port = port;
        Ok(())
    }

    /// Whether the server's library folder (`bin/../lib`) holds the module `name`.
    pub fn has_library(&self, name: &str) -> bool {
        self.bin
            .parent()
            .is_some_and(|root| root.join("lib").join(format!("{name}.so")).exists())
    }

    /// Reuses a running server or starts one.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            if let Some(port) = self.running_port() {
                self.port = port;
                return Ok(());
            }
        }
        self.start(0)
    }

    /// Stops the server (fast mode: open sessions are rolled back).
    pub fn stop(&self) -> anyhow::Result<()> {
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-w")
            .args(["-m", "fast"])
            .arg("-D")
            .arg(&self.data_dir)
            .output()
            .context("running pg_ctl stop")?;
        if !out.status.success() && self.is_running() {
            bail!("pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// A connection URL for `user` with `password` to `database` on this server.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            user,
            url_escape(password),
            self.port,
            database
        )
    }
}

fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
