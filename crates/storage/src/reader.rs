//! Streamed reads: one ranged request per chunk, so memory and request time stay bounded
//! whatever the object's size.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::{AsyncRead, ReadBuf};

use crate::error::StorageError;

/// Bytes fetched per request when streaming an object.
const CHUNK: u64 = 8 * 1024 * 1024;

/// An object being read: an [`AsyncRead`] over its bytes, with its size known up front.
///
/// Each chunk of 8 MiB is a separate ranged GET made with `If-Match` on the ETag seen when
/// the read started, so the request timeout bounds a chunk, not the object, and an object
/// replaced during the read is an error rather than a silent mix of two versions.
pub struct ObjectReader {
    key: String,
    size: u64,
    chunks: BoxStream<'static, Result<Bytes, StorageError>>,
    current: Bytes,
}

impl ObjectReader {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        path: Path,
        key: String,
        size: u64,
        e_tag: Option<String>,
    ) -> Self {
        let stream_key = key.clone();
        let chunks = futures::stream::try_unfold(0u64, move |offset| {
            let store = Arc::clone(&store);
            let path = path.clone();
            let e_tag = e_tag.clone();
            let key = stream_key.clone();
            async move {
                if offset >= size {
                    return Ok(None);
                }
                let end = (offset + CHUNK).min(size);
                let options = GetOptions {
                    range: Some(GetRange::Bounded(offset..end)),
                    if_match: e_tag,
                    ..GetOptions::default()
                };
                let bytes = async { store.get_opts(&path, options).await?.bytes().await }
                    .await
                    .map_err(|e| StorageError::from_store("get", &key, e))?;
                if bytes.len() as u64 != end - offset {
                    return Err(StorageError::Backend {
                        operation: "get",
                        key,
                        message: format!(
                            "asked for bytes {offset}..{end}, got {} bytes",
                            bytes.len()
                        ),
                    });
                }
                Ok(Some((bytes, end)))
            }
        })
        .boxed();
        Self {
            key,
            size,
            chunks,
            current: Bytes::new(),
        }
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The key being read.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("key", &self.key)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for ObjectReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match ready!(self.chunks.poll_next_unpin(cx)) {
                None => return Poll::Ready(Ok(())),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
        let n = self.current.len().min(buf.remaining());
        buf.put_slice(&self.current[..n]);
        self.current.advance(n);
        Poll::Ready(Ok(()))
    }
}
