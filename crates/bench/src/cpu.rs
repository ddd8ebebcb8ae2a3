//! Where the CPU goes during a run, from `/proc`: the HTTP clients' threads, the
//! service's threads, pgbench (a waited-for child), and the PostgreSQL cluster (the
//! postmaster, its live backends, and the backends that exited, which the postmaster
//! reaps into its children's time). On a machine this small everything shares the same
//! cores, so CPU per request says what limits the rate.

use std::path::Path;

/// Linux reports CPU time in clock ticks of 1/100 s (`getconf CLK_TCK`).
const TICK_MICROS: f64 = 10_000.0;

/// Thread name of the service's runtime.
pub const SERVER_THREADS: &str = "k12-server";
/// Thread name of the HTTP clients' runtime.
pub const CLIENT_THREADS: &str = "k12-client";

/// Cumulative CPU ticks by consumer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    client: u64,
    server: u64,
    children: u64,
    postgres: u64,
}

/// CPU per request or transaction, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct PerOp {
    pub client: f64,
    pub server: f64,
    /// pgbench itself.
    pub pgbench: f64,
    pub postgres: f64,
}

/// (comm, ppid, utime + stime, cutime + cstime) of a `/proc/.../stat` file.
fn stat(path: &Path) -> Option<(String, u32, u64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some((comm, n(1) as u32, n(11) + n(12), n(13) + n(14)))
}

pub struct Meter {
    postmaster: u32,
}

impl Meter {
    /// Meters the cluster whose postmaster pid is in `data_dir/postmaster.pid`.
    pub fn new(data_dir: &Path) -> Option<Self> {
        let pid = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
        Some(Self {
            postmaster: pid.lines().next()?.trim().parse().ok()?,
        })
    }

    pub fn sample(&self) -> Sample {
        let mut s = Sample::default();
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some((comm, _, ticks, _)) = stat(&task.path().join("stat")) {
                if comm.starts_with(CLIENT_THREADS) {
                    s.client += ticks;
                } else if comm.starts_with(SERVER_THREADS) {
                    s.server += ticks;
                }
            }
        }
        if let Some((_, _, _, children)) = stat(Path::new("/proc/self/stat")) {
            s.children = children;
        }
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((_, ppid, ticks, reaped)) = stat(&entry.path().join("stat")) else {
                continue;
            };
            if pid == self.postmaster {
                s.postgres += ticks + reaped;
            } else if ppid == self.postmaster {
                s.postgres += ticks;
            }
        }
        s
    }
}

impl Sample {
    /// CPU per operation between `self` (before) and `after`.
    pub fn per_op(&self, after: &Sample, ops: u64) -> PerOp {
        let per = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * TICK_MICROS / ops.max(1) as f64;
        PerOp {
            client: per(self.client, after.client),
            server: per(self.server, after.server),
            pgbench: per(self.children, after.children),
            postgres: per(self.postgres, after.postgres),
        }
    }
}
