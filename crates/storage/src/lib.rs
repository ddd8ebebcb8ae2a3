//! The platform's one object store: backups, attachments and exports go through [`Store`].
//!
//! Objects live in a local directory (`file:///abs/path`) or an S3 bucket
//! (`s3://bucket/prefix`, AWS or an S3-compatible endpoint); [`StorageConfig`] reads which
//! from the environment. The clients are object_store's `LocalFileSystem` and `AmazonS3`.
//! Uploads and downloads stream with bounded memory whatever the object's size (at most two
//! multipart parts held), every request is bounded in time, and keys are checked by
//! [`validate_key`]. See docs/storage.md.

mod config;
mod error;
mod key;
mod reader;
mod store;

pub use config::{
    ConfigError, Location, S3Credentials, Secret, StorageConfig, Timeouts, DEFAULT_PART_SIZE,
    DEFAULT_REGION, S3_ENDPOINT_VAR, STORAGE_URL_VAR,
};
pub use error::{Result, StorageError};
pub use key::{validate_key, MAX_KEY_LEN};
pub use reader::ObjectReader;
pub use store::{ObjectMeta, PutOptions, PutOutcome, Store, MAX_SIGNED_URL_TTL};
