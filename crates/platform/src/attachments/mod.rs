//! Attachments: files uploaded to the object store for a record (today: a submission).
//!
//! An upload is checked before anything is kept: the name (sanitised; dangerous and double
//! extensions refused), the type from the first bytes against the allow-list, the
//! extension and the part's declared Content-Type. It then streams into the store with the
//! size limit (413 as soon as it is passed), while text is checked to be UTF-8 and images
//! are scanned for script markers; images and Office (zip) containers are spooled to a
//! temporary file and inspected whole (full decode; entry-by-entry zip checks). A refusal
//! after the object was written deletes it before answering; the row is written last.
//! Downloads are attachments only (`Content-Disposition: attachment`, `nosniff`,
//! `Content-Security-Policy: sandbox`), or a short-lived pre-signed URL on S3.

pub mod inspect;
pub mod routes;

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::channel::mpsc;
use futures::SinkExt;
use schemars::JsonSchema;
use serde::Serialize;
use storage::{PutOptions, StorageError};

use crate::assignments::submissions;
use crate::auth::session::UserActor;
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, TenantScope};
use crate::http::AppState;
use inspect::{Detected, Kind, Purpose, Refusal};

/// Bytes read before the type is decided.
const HEAD_BYTES: usize = 8 * 1024;
/// Lifetime of a pre-signed download URL.
const SIGNED_URL_TTL: Duration = Duration::from_secs(300);
/// The route's body limit: the file plus room for the multipart framing.
pub const SUBMISSION_BODY_LIMIT: usize = 50 * 1000 * 1000 + 1024 * 1024;

/// An attachment as the API shows it.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AttachmentView {
    pub id: i64,
    /// The sanitised filename.
    pub filename: String,
    /// The type detected from the bytes.
    pub content_type: String,
    pub byte_size: i64,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Type(m) => ApiError::UnsupportedMediaType(m),
        Refusal::Invalid(m) => ApiError::invalid("file", m),
    }
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::TooLarge { .. } => ApiError::PayloadTooLarge,
        e if e.is_unavailable() => {
            tracing::warn!(error = %e, "object store unavailable");
            ApiError::Unavailable
        }
        e => ApiError::Internal(anyhow::Error::new(e)),
    }
}

/// The submission, if `me` is its author and it is not graded or returned yet.
async fn writable_submission(tx: &mut TenantTx, me: &UserActor, id: i64) -> ApiResult<()> {
    let (submission, _) = submissions::readable(tx, me, id).await?;
    if submission.user_id != me.user_id {
        return Err(ApiError::Forbidden);
    }
    if matches!(submission.status.as_str(), "graded" | "returned") {
        return Err(ApiError::conflict(
            "submission_graded",
            "the submission is graded; its attachments can no longer change",
        ));
    }
    Ok(())
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut bytes,
    );
    hex::encode(bytes)
}

/// A temporary file removed when dropped.
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Why the pump stopped early.
enum PumpError {
    TooLarge,
    Multipart(MultipartError),
    Refused(Refusal),
    Io(io::Error),
}

/// Feeds the head and the rest of the part to the store's reader and the spool, counting
/// bytes and checking text/images on the way. On any error the reader gets an error too,
/// so the store keeps nothing.
async fn pump(
    head: Bytes,
    field: &mut Field<'_>,
    mut tx: mpsc::Sender<io::Result<Bytes>>,
    mut spool: Option<tokio::fs::File>,
    detected: Detected,
    max_bytes: u64,
) -> Result<(), PumpError> {
    use tokio::io::AsyncWriteExt;
    let mut total: u64 = 0;
    let mut text_carry = Vec::new();
    let mut marker_carry = Vec::new();
    let is_image = matches!(detected, Detected::Exact(k) if k.is_image());
    let mut next = Some(head);
    let result = loop {
        let chunk = match next.take() {
            Some(chunk) => chunk,
            None => match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => {
                    if detected == Detected::Text {
                        if let Err(r) = inspect::check_text_chunk(&mut text_carry, &[], true) {
                            break Err(PumpError::Refused(r));
                        }
                    }
                    break Ok(());
                }
                Err(e) => break Err(PumpError::Multipart(e)),
            },
        };
        total += chunk.len() as u64;
        if total > max_bytes {
            break Err(PumpError::TooLarge);
        }
        if detected == Detected::Text {
            if let Err(r) = inspect::check_text_chunk(&mut text_carry, &chunk, false) {
                break Err(PumpError::Refused(r));
            }
        }
        if is_image {
            if let Some(marker) = inspect::find_script_marker(&mut marker_carry, &chunk) {
                break Err(PumpError::Refused(Refusal::Invalid(format!(
                    "the image carries script or markup ({marker})"
                ))));
            }
        }
        if let Some(file) = spool.as_mut() {
            if let Err(e) = file.write_all(&chunk).await {
                break Err(PumpError::Io(e));
            }
        }
        if tx.send(Ok(chunk)).await.is_err() {
            // The store stopped reading (its own error answers).
            break Ok(());
        }
    };
    if result.is_err() {
        let _ = tx
            .send(Err(io::Error::other("upload refused while streaming")))
            .await;
    } else if let Some(file) = spool.as_mut() {
        file.flush().await.map_err(PumpError::Io)?;
    }
    result
}

/// `POST /api/v1/submissions/{id}/attachments`
pub async fn upload(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    ApiPath(submission_id): ApiPath<i64>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    let mut tx = db.begin().await?;
    writable_submission(&mut tx, &me, submission_id).await?;
    tx.commit().await?;

    let mut multipart = multipart.map_err(|e| {
        ApiError::UnsupportedMediaType(format!("expected multipart/form-data: {}", e.body_text()))
    })?;
    let mut field = loop {
        match multipart.next_field().await.map_err(multipart_error)? {
            Some(f) if f.name() == Some("file") => break f,
            Some(_) => continue,
            None => {
                return Err(ApiError::invalid(
                    "file",
                    "a multipart part named file is required",
                ))
            }
        }
    };
    let result = store_upload(&state, &me, &db, submission_id, &mut field).await;
    if result.is_err() {
        // Read what the client still sends (bounded by the route's body limit), so it
        // gets the answer rather than a connection reset while writing.
        while let Ok(Some(_)) = field.chunk().await {}
    }
    let view = result?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Checks, stores and records the `file` part; on an error nothing is kept.
async fn store_upload(
    state: &AppState,
    me: &UserActor,
    db: &crate::http::extract::TenantDb,
    submission_id: i64,
    field: &mut Field<'_>,
) -> ApiResult<AttachmentView> {
    let purpose = Purpose::Submission;
    let filename =
        inspect::sanitize_filename(field.file_name().unwrap_or_default()).map_err(refused)?;
    let declared = field.content_type().map(str::to_owned);

    let mut head = Vec::with_capacity(HEAD_BYTES);
    while head.len() < HEAD_BYTES {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    if head.is_empty() {
        return Err(ApiError::invalid("file", "the file is empty"));
    }
    if head.len() as u64 > purpose.max_bytes() {
        return Err(ApiError::PayloadTooLarge);
    }
    let detected = inspect::detect(&head[..head.len().min(HEAD_BYTES)]).map_err(refused)?;
    // Everything but a zip is named now; a zip once its entries are read.
    let early_kind = match detected {
        Detected::Zip => {
            let ext = inspect::extension(&filename).unwrap_or_default();
            if !matches!(ext.as_str(), "docx" | "xlsx" | "pptx") {
                return Err(refused(Refusal::Type(format!(
                    "the bytes are a zip container but the name ends in .{ext}; \
                     only .docx, .xlsx and .pptx are accepted"
                ))));
            }
            None
        }
        other => {
            let kind = inspect::resolve(other, &filename, None).map_err(refused)?;
            inspect::check_declared(declared.as_deref(), kind, purpose).map_err(refused)?;
            Some(kind)
        }
    };

    // Spool what is inspected whole.
    let needs_spool = early_kind.is_none_or(Kind::is_image);
    let spool = needs_spool
        .then(|| Spool(std::env::temp_dir().join(format!("k12-upload-{}", random_hex()))));
    let spool_file = match &spool {
        Some(s) => Some(
            tokio::fs::File::create(&s.0)
                .await
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?,
        ),
        None => None,
    };

    let key = format!(
        "attachments/t{}/submissions/{submission_id}/{}",
        me.tenant_id.0,
        random_hex()
    );
    // A zip's kind is confirmed after its entries are read; its extension names it now.
    let content_type_for_store = early_kind
        .or_else(|| match inspect::extension(&filename).as_deref() {
            Some("docx") => Some(Kind::Docx),
            Some("xlsx") => Some(Kind::Xlsx),
            Some("pptx") => Some(Kind::Pptx),
            _ => None,
        })
        .map(|k| k.mime().to_owned());
    let options = PutOptions {
        max_bytes: Some(purpose.max_bytes()),
        content_type: content_type_for_store,
        content_disposition: Some(content_disposition(&filename)),
    };
    let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(2);
    let reader = tokio_util::io::StreamReader::new(receiver);
    let put = state.store.put_stream_with(&key, reader, &options);
    let pumped = pump(
        Bytes::from(head),
        field,
        sender,
        spool_file,
        detected,
        purpose.max_bytes(),
    );
    let (stored, pumped) = tokio::join!(put, pumped);
    let stored = match (stored, pumped) {
        (stored, Err(e)) => {
            if stored.is_ok() {
                delete_quietly(state, &key).await;
            }
            return Err(match e {
                PumpError::TooLarge => ApiError::PayloadTooLarge,
                PumpError::Multipart(e) => multipart_error(e),
                PumpError::Refused(r) => refused(r),
                PumpError::Io(e) => ApiError::Internal(anyhow::Error::new(e)),
            });
        }
        (Err(e), Ok(())) => return Err(storage_error(e)),
        (Ok(stored), Ok(())) => stored,
    };

    // Whole-file checks; the object goes if one fails.
    let kind =
        match whole_file_checks(spool, detected, early_kind, &filename, declared, purpose).await {
            Ok(kind) => kind,
            Err(e) => {
                delete_quietly(state, &key).await;
                return Err(e);
            }
        };

    let mut tx = db.begin().await?;
    let inserted: ApiResult<AttachmentView> = async {
        let row: Option<AttachmentView> = sqlx::query_as(
            "INSERT INTO attachments (tenant_id, owner_type, owner_id, filename, content_type,
                                      byte_size, sha256, storage_key, uploaded_by)
             SELECT current_tenant_id(), 'submission', s.id, $2, $3, $4, $5, $6, $7
               FROM submissions s
              WHERE s.id = $1 AND s.user_id = $7 AND s.status NOT IN ('graded', 'returned')
             RETURNING id, filename, content_type, byte_size, sha256",
        )
        .bind(submission_id)
        .bind(&filename)
        .bind(kind.mime())
        .bind(stored.size_bytes as i64)
        .bind(&stored.sha256)
        .bind(&key)
        .bind(me.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        row.ok_or_else(|| {
            ApiError::conflict(
                "submission_graded",
                "the submission was graded during the upload",
            )
        })
    }
    .await;
    let view = match inserted {
        Ok(view) => view,
        Err(e) => {
            drop(tx);
            delete_quietly(state, &key).await;
            return Err(e);
        }
    };
    if let Err(e) = tx.commit().await {
        delete_quietly(state, &key).await;
        return Err(e.into());
    }
    Ok(view)
}

/// Full decode of images and entry-by-entry inspection of zips, off the async threads.
async fn whole_file_checks(
    spool: Option<Spool>,
    detected: Detected,
    early_kind: Option<Kind>,
    filename: &str,
    declared: Option<String>,
    purpose: Purpose,
) -> ApiResult<Kind> {
    let Some(spool) = spool else {
        return early_kind.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no spool")));
    };
    let filename = filename.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Kind, Refusal> {
        let file = std::fs::File::open(&spool.0)
            .map_err(|e| Refusal::Invalid(format!("cannot read the upload back: {e}")))?;
        let reader = std::io::BufReader::new(file);
        match early_kind {
            Some(kind) => {
                inspect::check_image(reader, kind)?;
                Ok(kind)
            }
            None => {
                let zip_kind = inspect::inspect_zip(reader, inspect::ZipLimits::default())?;
                let kind = inspect::resolve(detected, &filename, Some(zip_kind))?;
                inspect::check_declared(declared.as_deref(), kind, purpose)?;
                Ok(kind)
            }
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?
    .map_err(refused)
}

async fn delete_quietly(state: &AppState, key: &str) {
    if let Err(e) = state.store.delete(key).await {
        tracing::error!(key, error = %e, "could not delete a refused upload");
    }
}

/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[derive(sqlx::FromRow)]
struct StoredAttachment {
    owner_id: i64,
    filename: String,
    content_type: String,
    byte_size: i64,
    storage_key: String,
}

async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<StoredAttachment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT owner_id, filename, content_type, byte_size, storage_key
           FROM attachments WHERE id = $1 AND owner_type = 'submission'",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// `GET /api/v1/attachments/{id}`
pub async fn download(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let mut tx = db.begin().await?;
    let attachment = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    submissions::readable(&mut tx, &me, attachment.owner_id).await?;
    tx.commit().await?;

    if let Some(url) = state
        .store
        .signed_get_url(&attachment.storage_key, SIGNED_URL_TTL)
        .await
        .map_err(storage_error)?
    {
        let location = HeaderValue::from_str(url.as_str())
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
        return Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response());
    }
    let reader = state
        .store
        .get_stream(&attachment.storage_key)
        .await
        .map_err(storage_error)?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let disposition = HeaderValue::from_str(&content_disposition(&attachment.filename))
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    let content_type = HeaderValue::from_str(&attachment.content_type)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_LENGTH,
                HeaderValue::from(attachment.byte_size),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        body,
    )
        .into_response())
}

/// `DELETE /api/v1/attachments/{id}`: the author, while the submission is not graded.
pub async fn delete(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let attachment = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    writable_submission(&mut tx, &me, attachment.owner_id).await?;
    sqlx::query("DELETE FROM attachments WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // After the commit: a failed delete leaves an orphan object, never a row without one.
    delete_quietly(&state, &attachment.storage_key).await;
    Ok(StatusCode::NO_CONTENT)
}
