//! The one error type of the crate.

use std::time::Duration;

/// What went wrong in a storage operation. Messages never carry credentials: object_store
/// errors name the path and the HTTP status, and the secret key is never sent.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The object does not exist (get, head, or an object deleted during a streamed read).
    #[error("object not found: {key}")]
    NotFound { key: String },

    /// The key (or list prefix) breaks the key rules (see [`crate::validate_key`]).
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// An object is larger than the caller allowed (put with a limit, `get_bytes`).
    #[error("object {key} is larger than the limit of {limit} bytes")]
    TooLarge { key: String, limit: u64 },

    /// An argument other than the key is out of range (e.g. a signed-URL lifetime).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The store could not be set up from its configuration.
    #[error("storage configuration: {0}")]
    Config(String),

    /// Reading the caller's stream failed while uploading (nothing was stored).
    #[error("reading the upload source for {key}: {source}")]
    Source {
        key: String,
        #[source]
        source: std::io::Error,
    },

    /// The store did not answer in time or the request failed after retries.
    #[error("object store unavailable ({operation} {key}): {message}")]
    Unavailable {
        operation: &'static str,
        key: String,
        message: String,
    },

    /// The store answered with an error that is none of the above.
    #[error("object store error ({operation} {key}): {message}")]
    Backend {
        operation: &'static str,
        key: String,
        message: String,
    },
}

impl StorageError {
    /// Maps an object_store error for `operation` on `key` (the caller's key, without the
    /// store prefix).
    pub(crate) fn from_store(operation: &'static str, key: &str, err: object_store::Error) -> Self {
        use object_store::Error as E;
        let key = key.to_owned();
        match err {
            E::NotFound { .. } => StorageError::NotFound { key },
            E::Precondition { .. } => StorageError::Backend {
                operation,
                key,
                message: "the object changed while it was being read".to_owned(),
            },
            other => {
                let message = other.to_string();
                if is_unavailable(&other, &message) {
                    StorageError::Unavailable {
                        operation,
                        key,
                        message,
                    }
                } else {
                    StorageError::Backend {
                        operation,
                        key,
                        message,
                    }
                }
            }
        }
    }

    /// True for errors worth retrying later (the store was unreachable or slow).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. })
    }

    pub(crate) fn timed_out(operation: &'static str, key: &str, after: Duration) -> Self {
        StorageError::Unavailable {
            operation,
            key: key.to_owned(),
            message: format!("no answer within {} s", after.as_secs()),
        }
    }
}

/// Whether an object_store error means the store could not be reached or was failing:
/// a transport error (connect, timeout, interrupted) anywhere in the chain, or a 5xx
/// answer that outlived the retries (the retry error type is private, so its text).
fn is_unavailable(err: &object_store::Error, message: &str) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            if matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            ) {
                return true;
            }
        }
        source = e.source();
    }
    message.contains("non-2xx status code: 5")
}

/// Result of a storage operation.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
