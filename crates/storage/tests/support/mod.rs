//! Test support: stores on a temporary directory and on a moto S3 server, and a counting
//! wrapper that measures how many source bytes a put holds before the store has them.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use storage::{StorageConfig, Store};
use tokio::io::{AsyncRead, ReadBuf};

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "k12-storage-test-{}-{name}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &FsPath {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    nanos * 1000 + NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn config(vars: &[(&str, &str)]) -> StorageConfig {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    StorageConfig::from_lookup(|k| vars.get(k).cloned(), None).unwrap()
}

/// A file store in a fresh temporary directory (keep the guard alive).
pub fn file_store(name: &str) -> (Store, TempDir) {
    let dir = TempDir::new(name);
    let url = format!("file://{}/objects", dir.path().display());
    let store = Store::open(&config(&[("K12_STORAGE_URL", &url)])).unwrap();
    (store, dir)
}

/// The moto endpoint for this test process: `K12_TEST_S3_ENDPOINT`, or a server shared
/// by the test processes of this run (nextest runs each test in its own process), started
/// with scripts/start-moto.sh on a free port by the first of them and stopped by the
/// script about 10 s after the last has exited. `None`, with a loud message, only when
/// Python cannot make a venv here.
pub fn s3_endpoint() -> Option<String> {
    static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();
    ENDPOINT.get_or_init(shared_moto).clone()
}

fn shared_moto() -> Option<String> {
    if let Ok(endpoint) = std::env::var("K12_TEST_S3_ENDPOINT") {
        if !endpoint.is_empty() {
            return Some(endpoint.trim_end_matches('/').to_owned());
        }
    }
    let python = std::process::Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "\n!!!!!!!! SKIPPING S3 TESTS: python3 with venv/ensurepip is not available, so \
             moto cannot be started; set K12_TEST_S3_ENDPOINT or install python3-venv !!!!!!!!\n"
        );
        return None;
    }
    let venv = std::env::var("K12_MOTO_VENV").unwrap_or_else(|_| "/tmp/k12-moto-venv".into());
    let clients = PathBuf::from(format!("{venv}-clients"));
    let with_suffix = |suffix: &str| {
        let mut name = clients.clone().into_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let endpoint_file = with_suffix(".endpoint");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(with_suffix(".lock"))
        .unwrap();
    lock.lock().unwrap();
    let running = std::fs::read_to_string(&endpoint_file)
        .ok()
        .map(|e| e.trim().to_owned())
        .filter(|e| answers(e));
    let endpoint = match running {
        Some(endpoint) => endpoint,
        None => {
            std::fs::write(&clients, "").unwrap();
            let endpoint = start_moto(&clients);
            std::fs::write(&endpoint_file, &endpoint).unwrap();
            endpoint
        }
    };
    let mut registry = std::fs::OpenOptions::new()
        .append(true)
        .open(&clients)
        .unwrap();
    std::io::Write::write_all(
        &mut registry,
        format!("{}\n", std::process::id()).as_bytes(),
    )
    .unwrap();
    lock.unlock().unwrap();
    Some(endpoint)
}

/// Whether something accepts connections at `http://127.0.0.1:PORT`.
fn answers(endpoint: &str) -> bool {
    endpoint
        .strip_prefix("http://")
        .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)).is_ok()
        })
}

fn start_moto(clients: &FsPath) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-moto.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .env("K12_MOTO_CLIENTS", clients)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("running scripts/start-moto.sh");
    assert!(
        output.status.success(),
        "scripts/start-moto.sh {port} failed: {}",
        output.status
    );
    let endpoint = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint:?}");
    endpoint
}

/// A new bucket on moto (moto accepts an unsigned `PUT /bucket`).
pub async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!("k12-test-{}", unique());
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    bucket
}

pub fn s3_config(endpoint: &str, bucket: &str, prefix: &str) -> StorageConfig {
    config(&[
        ("K12_STORAGE_URL", &format!("s3://{bucket}/{prefix}")),
        ("K12_S3_ENDPOINT", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ])
}

/// A store on a fresh moto bucket under a two-segment prefix, or `None` (skipped).
pub async fn s3_store() -> Option<Store> {
    let endpoint = s3_endpoint()?;
    let bucket = create_bucket(&endpoint).await;
    Some(Store::open(&s3_config(&endpoint, &bucket, "k12/test")).unwrap())
}

/// Bytes read from a source and bytes the store has acknowledged, for the memory bound.
#[derive(Debug, Default)]
pub struct Flow {
    read: AtomicU64,
    stored: AtomicU64,
    peak_held: AtomicU64,
}

impl Flow {
    /// Most bytes ever read from the source but not yet acknowledged by the store: what
    /// `put_stream` must have held in memory at that moment.
    pub fn peak_held(&self) -> u64 {
        self.peak_held.load(Ordering::SeqCst)
    }

    /// Bytes read from the source so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::SeqCst)
    }

    fn note_read(&self, n: u64) {
        let read = self.read.fetch_add(n, Ordering::SeqCst) + n;
        let held = read.saturating_sub(self.stored.load(Ordering::SeqCst));
        self.peak_held.fetch_max(held, Ordering::SeqCst);
    }

    fn note_stored(&self, n: u64) {
        self.stored.fetch_add(n, Ordering::SeqCst);
    }
}

/// A generated source of `len` deterministic pseudo-random bytes that reports to a [`Flow`].
pub struct GeneratedSource {
    remaining: u64,
    state: u64,
    flow: Arc<Flow>,
    /// Fail with an I/O error once this many bytes were produced.
    fail_after: Option<u64>,
    produced: u64,
}

impl GeneratedSource {
    pub fn new(len: u64, seed: u64, flow: Arc<Flow>) -> Self {
        Self {
            remaining: len,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            flow,
            fail_after: None,
            produced: 0,
        }
    }

    pub fn failing_after(mut self, bytes: u64) -> Self {
        self.fail_after = Some(bytes);
        self
    }

    /// SHA-256 (hex) of what `new(len, seed, _)` produces, computed independently.
    pub fn expected_sha256(len: u64, seed: u64) -> String {
        use sha2::{Digest, Sha256};
        let mut source = Self::new(len, seed, Arc::default());
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = source.fill(&mut buf);
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hex::encode(hasher.finalize())
    }

    fn fill(&mut self, out: &mut [u8]) -> usize {
        let n = (out.len() as u64).min(self.remaining) as usize;
        for byte in &mut out[..n] {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *byte = self.state as u8;
        }
        self.remaining -= n as u64;
        n
    }
}

impl AsyncRead for GeneratedSource {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.fail_after.is_some_and(|limit| self.produced >= limit) {
            return Poll::Ready(Err(std::io::Error::other("source broke")));
        }
        // Yield at most 64 KiB at a time, like a pipe from pg_dump.
        let want = buf.remaining().min(1 << 16);
        let mut chunk = vec![0u8; want];
        let n = self.fill(&mut chunk);
        buf.put_slice(&chunk[..n]);
        self.produced += n as u64;
        self.flow.note_read(n as u64);
        Poll::Ready(Ok(()))
    }
}

/// An object store that reports the bytes of every completed part (or put) to a [`Flow`],
/// and, with `fail_after_parts`, fails every multipart part after that many (a connection
/// lost mid-upload).
#[derive(Debug)]
pub struct CountingStore {
    pub inner: Arc<dyn ObjectStore>,
    pub flow: Arc<Flow>,
    pub fail_after_parts: Option<usize>,
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[derive(Debug)]
struct CountingUpload {
    inner: Box<dyn MultipartUpload>,
    flow: Arc<Flow>,
    parts: usize,
    fail_after_parts: Option<usize>,
}

#[async_trait]
impl MultipartUpload for CountingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.parts += 1;
        if self.fail_after_parts.is_some_and(|n| self.parts > n) {
            return Box::pin(async {
                Err(object_store::Error::Generic {
                    store: "test",
                    source: "connection reset by the test".into(),
                })
            });
        }
        let len = data.content_length() as u64;
        let flow = Arc::clone(&self.flow);
        self.inner
            .put_part(data)
            .map(move |result| {
                if result.is_ok() {
                    flow.note_stored(len);
                }
                result
            })
            .boxed()
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let len = payload.content_length() as u64;
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.flow.note_stored(len);
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(CountingUpload {
            inner,
            flow: Arc::clone(&self.flow),
            parts: 0,
            fail_after_parts: self.fail_after_parts,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
