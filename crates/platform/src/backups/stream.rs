//! Stream adapters: byte progress, encryption on the way to the store, and the bounded
//! tail of a child's stderr.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use backupkit::seal::{SealKey, Sealer};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Bytes moved so far by a running backup, verification or restore (for a progress line).
#[derive(Debug)]
pub struct Progress {
    bytes: AtomicU64,
    /// Expected total, when known (0: unknown).
    total: AtomicU64,
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            total: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl Progress {
    pub fn add(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }
    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|n| *n > 0)
    }
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
    /// Restarts the clock and the count (one progress for several phases).
    pub fn reset(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
    }
}

/// Counts what passes through into a [`Progress`].
pub struct Counted<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R> Counted<R> {
    pub fn new(inner: R, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        self.progress.add((buf.filled().len() - before) as u64);
        Poll::Ready(Ok(()))
    }
}

/// Encrypts what it reads from `inner` (see `backupkit::seal`); memory: one chunk.
pub struct SealReader<R> {
    inner: R,
    sealer: Option<Sealer>,
    input: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
}

impl<R> SealReader<R> {
    pub fn new(inner: R, key: &SealKey) -> Self {
        Self {
            inner,
            sealer: Some(Sealer::new(key)),
            input: vec![0u8; backupkit::seal::DEFAULT_CHUNK],
            out: Vec::with_capacity(backupkit::seal::DEFAULT_CHUNK * 2),
            pos: 0,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for SealReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.out.len() {
                let n = (this.out.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.out[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            this.out.clear();
            this.pos = 0;
            let Some(sealer) = this.sealer.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let mut rb = ReadBuf::new(&mut this.input);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                let sealer = this.sealer.take().expect("checked above");
                sealer.finish(&mut this.out).map_err(io::Error::other)?;
            } else {
                sealer
                    .push(&this.input[..n], &mut this.out)
                    .map_err(io::Error::other)?;
            }
        }
    }
}

/// Reads a child's stderr to its end, keeping the last `limit` bytes (as text).
pub async fn tail<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit * 2 {
                    kept.drain(..kept.len() - limit);
                }
            }
        }
    }
    if kept.len() > limit {
        kept.drain(..kept.len() - limit);
    }
    String::from_utf8_lossy(&kept).trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use backupkit::seal::Opener;

    #[tokio::test]
    async fn the_seal_reader_output_opens_to_the_input() {
        let key = SealKey::from_bytes([3; 32]);
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let progress = Arc::new(Progress::default());
        let mut r = SealReader::new(Counted::new(&plain[..], Arc::clone(&progress)), &key);
        let mut sealed = Vec::new();
        r.read_to_end(&mut sealed).await.unwrap();
        assert_eq!(progress.bytes(), plain.len() as u64);
        assert_eq!(
            sealed.len() as u64,
            Sealer::sealed_len(plain.len() as u64, backupkit::seal::DEFAULT_CHUNK)
        );
        let mut o = Opener::new(&key);
        let mut out = Vec::new();
        o.push(&sealed, &mut out).unwrap();
        o.finish(&mut out).unwrap();
        assert_eq!(out, plain);
    }

    #[tokio::test]
    async fn tail_keeps_the_end() {
        let text = "x".repeat(10_000) + "the end";
        assert_eq!(tail(text.as_bytes(), 7).await, "the end");
        assert_eq!(tail(&b"short"[..], 100).await, "short");
    }
}
