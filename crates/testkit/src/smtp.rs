//! A real SMTP server on a free loopback port for one test (aiosmtpd from PyPI, through
//! `scripts/smtp-sink.sh`), writing what it accepts into a Maildir; killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct SmtpSink {
    pub port: u16,
    maildir: PathBuf,
    child: Option<Child>,
}

impl SmtpSink {
    /// Starts a server that accepts mail without authentication.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// Starts a server that requires AUTH with exactly these credentials (passed in its
    /// environment, never its argv).
    pub fn with_credentials(user: &str, password: &str) -> Self {
        Self::spawn(Some((user, password)))
    }

    fn spawn(credentials: Option<(&str, &str)>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let maildir = std::env::temp_dir().join(format!(
            "k12-smtp-sink-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-sink.sh");
        let mut command = Command::new("bash");
        command
            .arg(&script)
            .arg(port.to_string())
            .arg(&maildir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((user, password)) = credentials {
            command
                .env("K12_SMTP_SINK_USER", user)
                .env("K12_SMTP_SINK_PASSWORD", password);
        }
        let mut child = command
            .spawn()
            .expect("bash scripts/smtp-sink.sh (python3 with venv: scripts/install-deps.sh)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        // The venv may be created first (a minute at most); then the server says `ready`.
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading smtp-sink's stdout");
        let mut sink = Self {
            port,
            maildir,
            child: Some(child),
        };
        if line.trim() != "ready" {
            sink.kill();
            panic!("scripts/smtp-sink.sh did not start on port {port}: {line:?}");
        }
        sink
    }

    /// The raw messages delivered so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .map(|e| {
                let modified = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (modified, e.path())
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Kills the server now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
