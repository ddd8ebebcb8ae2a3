//! [`Store`]: put, get, list, delete and sign objects under one key prefix.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use url::Url;

use crate::config::{Location, StorageConfig, Timeouts, DEFAULT_PART_SIZE};
use crate::error::{Result, StorageError};
use crate::key::{validate_key, validate_prefix};
use crate::reader::ObjectReader;

/// Longest lifetime of a pre-signed URL: links are handed out per download, not shared.
pub const MAX_SIGNED_URL_TTL: Duration = Duration::from_secs(3600);

/// Folder listed by [`Store::check`]; it is not expected to exist.
const PROBE_KEY: &str = "k12-health-probe";

/// What [`Store::put_stream`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    pub key: String,
    pub size_bytes: u64,
    /// SHA-256 of the bytes read from the source, lowercase hex.
    pub sha256: String,
    /// Requests that carried data: 1 for a single PUT, else the multipart part count.
    pub parts: u32,
}

/// How [`Store::put_stream_with`] and [`Store::put_bytes_with`] store an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    /// Refuse ([`StorageError::TooLarge`]) a source longer than this, storing nothing;
    /// checked while streaming, before the whole source is read.
    pub max_bytes: Option<u64>,
    /// `Content-Type` a pre-signed download answers with (S3 stores).
    pub content_type: Option<String>,
    /// `Content-Disposition` a pre-signed download answers with (S3 stores), e.g.
    /// `attachment; filename="essay.pdf"` so a browser never renders an upload inline.
    /// Printable ASCII only: give other names as RFC 6266 `filename*=UTF-8''…`.
    pub content_disposition: Option<String>,
}

impl PutOptions {
    /// Only a size limit.
    pub fn limited(max_bytes: u64) -> Self {
        Self {
            max_bytes: Some(max_bytes),
            ..Self::default()
        }
    }
}

/// An object in a listing or a `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The key, relative to the store's prefix (as given to `put_*`).
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
}

/// The object store: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// Set for S3 stores, which can pre-sign URLs.
    signer: Option<Arc<AmazonS3>>,
    /// Prepended to every key (no slashes at either end); empty for none.
    prefix: String,
    /// Set for file stores: the directory that must exist for the store to be healthy.
    file_root: Option<PathBuf>,
    /// Whether the backend stores Content-Type/Content-Disposition (LocalFileSystem
    /// refuses them).
    keeps_attributes: bool,
    part_size: usize,
    timeouts: Timeouts,
    description: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.description)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store the configuration names. A file store's directory is created if
    /// missing. Nothing is sent over the network; use [`Store::check`] for that.
    pub fn open(config: &StorageConfig) -> Result<Self> {
        match &config.location {
            Location::File { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    StorageError::Config(format!("creating {}: {e}", root.display()))
                })?;
                let local = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| StorageError::Config(format!("{}: {e}", root.display())))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    inner: Arc::new(local),
                    signer: None,
                    prefix: String::new(),
                    file_root: Some(root.clone()),
                    keeps_attributes: false,
                    part_size: config.part_size,
                    timeouts: config.timeouts,
                    description: format!("file://{}", root.display()),
                })
            }
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                credentials,
            } => {
                let t = config.timeouts;
                let mut client = ClientOptions::new()
                    .with_connect_timeout(t.connect)
                    .with_timeout(t.request);
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: t.max_retries,
                        retry_timeout: t.retry_timeout,
                    });
                match endpoint {
                    Some(endpoint) => {
                        let allow_http = endpoint.scheme() == "http";
                        client = client.with_allow_http(allow_http);
                        builder = builder
                            .with_endpoint(endpoint.as_str().trim_end_matches('/'))
                            .with_allow_http(allow_http)
                            // Path-style (`endpoint/bucket/key`): what MinIO, moto and
                            // most S3-compatible stores expect.
                            .with_virtual_hosted_style_request(false);
                    }
                    None => {
                        builder = builder.with_virtual_hosted_style_request(true);
                    }
                }
                if let Some(c) = credentials {
                    builder = builder
                        .with_access_key_id(&c.access_key_id)
                        .with_secret_access_key(c.secret_access_key.expose());
                    if let Some(token) = &c.session_token {
                        builder = builder.with_token(token.expose());
                    }
                }
                let s3 = Arc::new(
                    builder
                        .with_client_options(client)
                        .build()
                        .map_err(|e| StorageError::Config(e.to_string()))?,
                );
                let description = match endpoint {
                    Some(e) => format!("s3://{bucket}/{prefix} at {e}"),
                    None => format!("s3://{bucket}/{prefix}"),
                };
                Ok(Self {
                    inner: Arc::clone(&s3) as Arc<dyn ObjectStore>,
                    signer: Some(s3),
                    prefix: prefix.clone(),
                    file_root: None,
                    keeps_attributes: true,
                    part_size: config.part_size,
                    timeouts: config.timeouts,
                    description,
                })
            }
        }
    }

    /// Wraps any object_store implementation (e.g. `InMemory` in other crates' tests) with
    /// keys under `prefix`. Such a store cannot pre-sign URLs, and hands download headers
    /// to the backend (wrap a `LocalFileSystem` through [`Store::open`] instead).
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, prefix: &str) -> Result<Self> {
        let prefix = validate_prefix(prefix)?.to_owned();
        Ok(Self {
            description: format!("{inner}/{prefix}"),
            inner,
            signer: None,
            prefix,
            file_root: None,
            keeps_attributes: true,
            part_size: DEFAULT_PART_SIZE,
            timeouts: Timeouts::default(),
        })
    }

    /// The underlying object_store client (keys there include the prefix).
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.inner)
    }

    /// The key prefix inside the backend (empty for none); keys given to `Store` are
    /// relative to it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where the objects are (`file:///dir` or `s3://bucket/prefix [at endpoint]`), without
    /// credentials: for records and messages.
    pub fn location(&self) -> &str {
        &self.description
    }

    /// The multipart part size; at most two parts are in memory during a `put_stream`.
    pub fn part_size(&self) -> usize {
        self.part_size
    }

    fn path(&self, key: &str) -> Result<Path> {
        let key = validate_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        Path::parse(&full).map_err(|_| StorageError::InvalidKey {
            key: key.to_owned(),
            reason: "not a valid object path",
        })
    }

    /// Strips the store prefix from a location returned by the backend.
    fn relative_key(&self, location: &Path) -> String {
        let full = location.as_ref();
        if self.prefix.is_empty() {
            return full.to_owned();
        }
        full.strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(full)
            .to_owned()
    }

    fn meta(&self, meta: object_store::ObjectMeta) -> ObjectMeta {
        ObjectMeta {
            key: self.relative_key(&meta.location),
            size: meta.size,
            last_modified: meta.last_modified,
        }
    }

    /// Stores everything `source` yields under `key`, computing size and SHA-256 on the
    /// way. Memory stays bounded whatever the size: a source shorter than one part is sent
    /// with a single PUT; a longer one as a multipart upload holding at most two parts
    /// (the one being read and the one being sent). On any error the multipart upload is
    /// aborted, so no partial object remains; the object appears only when complete.
    pub async fn put_stream<R>(&self, key: &str, source: R) -> Result<PutOutcome>
    where
        R: AsyncRead + Unpin,
    {
        self.put_stream_with(key, source, &PutOptions::default())
            .await
    }

    /// [`Store::put_stream`] with a size limit and download headers.
    pub async fn put_stream_with<R>(
        &self,
        key: &str,
        mut source: R,
        options: &PutOptions,
    ) -> Result<PutOutcome>
    where
        R: AsyncRead + Unpin,
    {
        let path = self.path(key)?;
        let attributes = self.attributes(key, options)?;
        let mut tally = Tally::new(key, options.max_bytes, self.part_size);
        let source_err = |source| StorageError::Source {
            key: key.to_owned(),
            source,
        };

        let first = read_part(&mut source, tally.next_read())
            .await
            .map_err(source_err)?;
        tally.add(&first)?;
        if first.len() < self.part_size {
            let put = object_store::PutOptions {
                attributes,
                ..Default::default()
            };
            self.inner
                .put_opts(&path, PutPayload::from(first), put)
                .await
                .map_err(|e| StorageError::from_store("put", key, e))?;
            return Ok(tally.outcome(1));
        }

        let upload = self
            .inner
            .put_multipart_opts(
                &path,
                PutMultipartOptions {
                    attributes,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| StorageError::from_store("put", key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        writer.put(first);
        let mut parts = 1u32;
        let sent: Result<()> = async {
            loop {
                // The previous part uploads while this one is read.
                let part = read_part(&mut source, tally.next_read())
                    .await
                    .map_err(source_err)?;
                if part.is_empty() {
                    break;
                }
                tally.add(&part)?;
                writer
                    .wait_for_capacity(1)
                    .await
                    .map_err(|e| StorageError::from_store("put", key, e))?;
                writer.put(part);
                parts += 1;
            }
            writer
                .wait_for_capacity(0)
                .await
                .map_err(|e| StorageError::from_store("put", key, e))
        }
        .await;
        if let Err(e) = sent {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(key, error = %abort, "aborting a failed multipart upload");
            }
            return Err(e);
        }
        // `finish` aborts the upload itself if completing it fails.
        writer
            .finish()
            .await
            .map_err(|e| StorageError::from_store("put", key, e))?;
        Ok(tally.outcome(parts))
    }

    /// The object attributes for `options`: none for file stores, which cannot keep them
    /// (the application serves file-store downloads with its own headers).
    fn attributes(&self, key: &str, options: &PutOptions) -> Result<Attributes> {
        let mut attributes = Attributes::new();
        let fields = [
            (Attribute::ContentType, &options.content_type),
            (Attribute::ContentDisposition, &options.content_disposition),
        ];
        for (attribute, value) in fields {
            let Some(value) = value else { continue };
            if value.is_empty() || !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
                return Err(StorageError::InvalidArgument(format!(
                    "{attribute:?} for {key} must be non-empty printable ASCII"
                )));
            }
            if self.keeps_attributes {
                attributes.insert(attribute, value.clone().into());
            }
        }
        Ok(attributes)
    }

    /// Stores `bytes` under `key` with one PUT (for small objects already in memory).
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<PutOutcome> {
        self.put_bytes_with(key, bytes, &PutOptions::default())
            .await
    }

    /// [`Store::put_bytes`] with a size limit and download headers.
    pub async fn put_bytes_with(
        &self,
        key: &str,
        bytes: Bytes,
        options: &PutOptions,
    ) -> Result<PutOutcome> {
        let path = self.path(key)?;
        let attributes = self.attributes(key, options)?;
        let size_bytes = bytes.len() as u64;
        if let Some(limit) = options.max_bytes.filter(|limit| size_bytes > *limit) {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                limit,
            });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let put = object_store::PutOptions {
            attributes,
            ..Default::default()
        };
        self.inner
            .put_opts(&path, PutPayload::from(bytes), put)
            .await
            .map_err(|e| StorageError::from_store("put", key, e))?;
        Ok(PutOutcome {
            key: key.to_owned(),
            size_bytes,
            sha256,
            parts: 1,
        })
    }

    /// Opens `key` for a streamed read ([`ObjectReader`] knows the size). Missing:
    /// [`StorageError::NotFound`].
    pub async fn get_stream(&self, key: &str) -> Result<ObjectReader> {
        let path = self.path(key)?;
        let meta = self
            .inner
            .head(&path)
            .await
            .map_err(|e| StorageError::from_store("get", key, e))?;
        Ok(ObjectReader::new(
            Arc::clone(&self.inner),
            path,
            key.to_owned(),
            meta.size,
            meta.e_tag,
        ))
    }

    /// Reads a whole object into memory, refusing ([`StorageError::TooLarge`]) one larger
    /// than `max_bytes` before reading its body.
    pub async fn get_bytes(&self, key: &str, max_bytes: u64) -> Result<Bytes> {
        let path = self.path(key)?;
        let result = self
            .inner
            .get(&path)
            .await
            .map_err(|e| StorageError::from_store("get", key, e))?;
        if result.meta.size > max_bytes {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                limit: max_bytes,
            });
        }
        result
            .bytes()
            .await
            .map_err(|e| StorageError::from_store("get", key, e))
    }

    /// Size and modification time of `key`. Missing: [`StorageError::NotFound`].
    pub async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.path(key)?;
        let meta = self
            .inner
            .head(&path)
            .await
            .map_err(|e| StorageError::from_store("head", key, e))?;
        Ok(self.meta(meta))
    }

    /// Deletes `key`. Deleting a missing object succeeds (S3 cannot tell the difference,
    /// and retention jobs may run twice), so the result is the same on every backend.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", key, e)),
        }
    }

    /// Every object under the folder `prefix` (`"backups/2026"` lists `backups/2026/…`,
    /// not `backups/20261`; `""` lists the whole store), sorted by key. The backend's pages
    /// are followed internally.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = validate_prefix(prefix)?;
        let full = match (self.prefix.is_empty(), prefix.is_empty()) {
            (true, _) => prefix.to_owned(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{prefix}", self.prefix),
        };
        let full = (!full.is_empty())
            .then(|| Path::parse(&full))
            .transpose()
            .map_err(|_| StorageError::InvalidKey {
                key: prefix.to_owned(),
                reason: "not a valid object path",
            })?;
        let mut objects: Vec<ObjectMeta> = self
            .inner
            .list(full.as_ref())
            .map_ok(|meta| self.meta(meta))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", prefix, e))?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// A cheap health probe for monitoring: one listing of a folder that need not exist
    /// (plus, for a file store, that its directory exists). A listing, not a HEAD: S3
    /// answers a HEAD in a missing bucket with a bare 404, indistinguishable from a
    /// missing key. Bounded in time like every request.
    pub async fn check(&self) -> Result<()> {
        if let Some(root) = &self.file_root {
            match tokio::fs::metadata(root).await {
                Ok(meta) if meta.is_dir() => {}
                _ => {
                    return Err(StorageError::Unavailable {
                        operation: "check",
                        key: PROBE_KEY.to_owned(),
                        message: format!("{} is not a directory", root.display()),
                    })
                }
            }
        }
        let path = self.path(PROBE_KEY)?;
        // object_store bounds each attempt and the retries; this guard only makes the
        // bound explicit for a monitoring caller.
        let guard = self.timeouts.retry_timeout + self.timeouts.request + self.timeouts.connect;
        match tokio::time::timeout(guard, self.inner.list_with_delimiter(Some(&path))).await {
            Err(_) => Err(StorageError::timed_out("check", PROBE_KEY, guard)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StorageError::from_store("check", PROBE_KEY, e)),
        }
    }

    /// A URL that lets its holder GET `key` for `ttl` without credentials (S3 stores), or
    /// `None` for stores that cannot sign (file stores), which serve downloads themselves.
    /// `ttl` must be between 1 second and [`MAX_SIGNED_URL_TTL`]. The object's existence
    /// is not checked.
    pub async fn signed_get_url(&self, key: &str, ttl: Duration) -> Result<Option<Url>> {
        let path = self.path(key)?;
        if ttl < Duration::from_secs(1) || ttl > MAX_SIGNED_URL_TTL {
            return Err(StorageError::InvalidArgument(format!(
                "a signed URL lives between 1 s and {} s, not {} s",
                MAX_SIGNED_URL_TTL.as_secs(),
                ttl.as_secs()
            )));
        }
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(reqwest::Method::GET, &path, ttl)
            .await
            .map_err(|e| StorageError::from_store("sign", key, e))?;
        Ok(Some(url))
    }
}

/// Size and SHA-256 of what a put has read so far, against its limit.
struct Tally<'k> {
    key: &'k str,
    limit: Option<u64>,
    part_size: usize,
    size: u64,
    hasher: Sha256,
}

impl<'k> Tally<'k> {
    fn new(key: &'k str, limit: Option<u64>, part_size: usize) -> Self {
        Self {
            key,
            limit,
            part_size,
            size: 0,
            hasher: Sha256::new(),
        }
    }

    /// How much to read next: a part, but never more than one byte past the limit.
    fn next_read(&self) -> usize {
        match self.limit {
            Some(limit) => {
                let room = limit.saturating_sub(self.size).saturating_add(1);
                self.part_size
                    .min(usize::try_from(room).unwrap_or(usize::MAX))
            }
            None => self.part_size,
        }
    }

    fn add(&mut self, part: &Bytes) -> Result<()> {
        self.hasher.update(part);
        self.size += part.len() as u64;
        match self.limit {
            Some(limit) if self.size > limit => Err(StorageError::TooLarge {
                key: self.key.to_owned(),
                limit,
            }),
            _ => Ok(()),
        }
    }

    fn outcome(self, parts: u32) -> PutOutcome {
        tracing::debug!(key = self.key, size = self.size, parts, "stored object");
        PutOutcome {
            key: self.key.to_owned(),
            size_bytes: self.size,
            sha256: hex::encode(self.hasher.finalize()),
            parts,
        }
    }
}

/// Reads until `part_size` bytes or the end of `source`; a short result means the end.
async fn read_part<R: AsyncRead + Unpin>(
    source: &mut R,
    part_size: usize,
) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(part_size);
    while buf.len() < part_size {
        let limit = (part_size - buf.len()) as u64;
        if (&mut *source).take(limit).read_buf(&mut buf).await? == 0 {
            break;
        }
    }
    Ok(buf.freeze())
}
