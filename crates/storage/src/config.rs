//! Where objects live, read once at start from the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::key::validate_prefix;

/// The variable naming the store.
pub const STORAGE_URL_VAR: &str = "K12_STORAGE_URL";
/// Optional endpoint of an S3-compatible store (MinIO, moto, …).
pub const S3_ENDPOINT_VAR: &str = "K12_S3_ENDPOINT";
const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";
const REGION_VAR: &str = "AWS_REGION";
/// Region used when `AWS_REGION` is unset.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A configuration value that must not be printed; `Debug` shows `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An invalid storage configuration, naming the variable at fault (never its value when
/// the value could hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

/// Where the objects live. `Debug` shows the secret fields as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "read once at start; boxing would only add noise"
)]
pub enum Location {
    /// A directory on local disk (`file:///abs/path`).
    File { root: PathBuf },
    /// An S3 bucket (`s3://bucket/prefix`), on AWS or an S3-compatible endpoint.
    S3 {
        bucket: String,
        /// Key prefix inside the bucket, without slashes at either end; may be empty.
        prefix: String,
        /// Endpoint override (`K12_S3_ENDPOINT`); plain http is allowed when it is http.
        endpoint: Option<Url>,
        region: String,
        credentials: Option<S3Credentials>,
    },
}

/// Static S3 credentials. When none are configured, object_store's default chain applies
/// (web identity, ECS task role, instance metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// Time bounds on every request, so a dead or stuck store is an error, never a hang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a TCP/TLS connection.
    pub connect: Duration,
    /// One whole request, body included. Uploads send at most one part per request and
    /// downloads read one chunk per request, so this bounds a part, not an object.
    pub request: Duration,
    /// Retries of a failed request (connection refused, 5xx, timeout).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(60),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        }
    }
}

/// The object store's configuration (see docs/storage.md).
#[derive(Clone, PartialEq, Eq)]
pub struct StorageConfig {
    pub location: Location,
    pub timeouts: Timeouts,
    /// Size of a multipart part; streams shorter than one part are stored with one PUT.
    /// S3 needs at least 5 MiB.
    pub part_size: usize,
}

/// Default multipart part size (8 MiB): a 10 GB dump is 1,200 parts, well under S3's
/// 10,000, and at most two parts are held in memory.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

impl StorageConfig {
    /// Reads the configuration through `lookup` (e.g. `|k| std::env::var(k).ok()`).
    /// `default_url` is used when `K12_STORAGE_URL` is unset (the binary passes a
    /// `file://` URL under its data directory). Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        default_url: Option<String>,
    ) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let raw = get(STORAGE_URL_VAR).or(default_url).ok_or_else(|| {
            ConfigError::new(
                STORAGE_URL_VAR,
                "not set (file:///abs/path or s3://bucket/prefix)",
            )
        })?;
        // The URL parser would resolve `a/../b` to `b`; say so instead of guessing.
        if raw
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(ConfigError::new(
                STORAGE_URL_VAR,
                "must not contain '.' or '..' segments",
            ));
        }
        let url = Url::parse(raw.trim()).map_err(|e| {
            ConfigError::new(
                STORAGE_URL_VAR,
                format!("not a URL ({e}); expected file:///abs/path or s3://bucket/prefix"),
            )
        })?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                STORAGE_URL_VAR,
                "must not contain credentials; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                STORAGE_URL_VAR,
                "must not have a query or fragment",
            ));
        }
        let location = match url.scheme() {
            "file" => {
                if url
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(ConfigError::new(
                        STORAGE_URL_VAR,
                        "a file URL needs an absolute path: file:///abs/path (three slashes)",
                    ));
                }
                let root = url.to_file_path().map_err(|()| {
                    ConfigError::new(STORAGE_URL_VAR, "a file URL needs an absolute path")
                })?;
                Location::File { root }
            }
            "s3" => s3_location(&url, &get)?,
            other => {
                return Err(ConfigError::new(
                    STORAGE_URL_VAR,
                    format!("unsupported scheme {other:?}; expected file or s3"),
                ))
            }
        };
        Ok(Self {
            location,
            timeouts: Timeouts::default(),
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// Replaces the request time bounds (tests use short ones).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Replaces the multipart part size; values under S3's minimum of 5 MiB are raised to it.
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size.max(MIN_PART_SIZE);
        self
    }
}

fn s3_location(url: &Url, get: &impl Fn(&str) -> Option<String>) -> Result<Location, ConfigError> {
    let bucket = url.host_str().unwrap_or_default().to_owned();
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !bucket_ok {
        return Err(ConfigError::new(
            STORAGE_URL_VAR,
            "s3://bucket/prefix needs a bucket name of 3-63 lowercase letters, digits, '-' or '.'",
        ));
    }
    let prefix = url.path().trim_matches('/').to_owned();
    validate_prefix(&prefix).map_err(|e| {
        ConfigError::new(STORAGE_URL_VAR, format!("the prefix after the bucket: {e}"))
    })?;

    let endpoint = match get(S3_ENDPOINT_VAR) {
        None => None,
        Some(raw) => {
            let endpoint = Url::parse(raw.trim())
                .map_err(|e| ConfigError::new(S3_ENDPOINT_VAR, format!("not a URL ({e})")))?;
            if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
                return Err(ConfigError::new(
                    S3_ENDPOINT_VAR,
                    "expected http(s)://host[:port]",
                ));
            }
            if !endpoint.username().is_empty() || endpoint.password().is_some() {
                return Err(ConfigError::new(
                    S3_ENDPOINT_VAR,
                    "must not contain credentials",
                ));
            }
            Some(endpoint)
        }
    };

    let credentials = match (get(ACCESS_KEY_VAR), get(SECRET_KEY_VAR)) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::new(
                SECRET_KEY_VAR,
                "not set while AWS_ACCESS_KEY_ID is",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                ACCESS_KEY_VAR,
                "not set while AWS_SECRET_ACCESS_KEY is",
            ))
        }
        (Some(access_key_id), Some(secret)) => Some(S3Credentials {
            access_key_id: access_key_id.trim().to_owned(),
            secret_access_key: Secret(secret),
            session_token: get(SESSION_TOKEN_VAR).map(Secret),
        }),
    };
    let region = get(REGION_VAR)
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(ConfigError::new(
            REGION_VAR,
            "expected a region name such as us-east-1",
        ));
    }
    Ok(Location::S3 {
        bucket,
        prefix,
        endpoint,
        region,
        credentials,
    })
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("StorageConfig");
        match &self.location {
            Location::File { root } => {
                d.field("url", &format!("file://{}", root.display()));
            }
            Location::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                credentials,
            } => {
                d.field("url", &format!("s3://{bucket}/{prefix}"))
                    .field("endpoint", &endpoint.as_ref().map(Url::as_str))
                    .field("region", region);
                match credentials {
                    None => d.field("credentials", &"default chain"),
                    Some(c) => d
                        .field("access_key_id", &c.access_key_id)
                        .field("secret_access_key", &c.secret_access_key)
                        .field("session_token", &c.session_token),
                };
            }
        }
        d.field("timeouts", &self.timeouts)
            .field("part_size", &self.part_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)], default: Option<&str>) -> Result<StorageConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StorageConfig::from_lookup(|k| vars.get(k).cloned(), default.map(str::to_owned))
    }

    #[test]
    fn file_url_and_default() {
        let c = parse(&[], Some("file:///var/lib/k12/objects")).unwrap();
        assert_eq!(
            c.location,
            Location::File {
                root: PathBuf::from("/var/lib/k12/objects")
            }
        );
        let c = parse(&[(STORAGE_URL_VAR, "file:///srv/o")], Some("file:///x")).unwrap();
        assert_eq!(
            c.location,
            Location::File {
                root: PathBuf::from("/srv/o")
            }
        );
        assert_eq!(c.part_size, DEFAULT_PART_SIZE);
    }

    #[test]
    fn s3_url_with_endpoint_and_credentials() {
        let c = parse(
            &[
                (STORAGE_URL_VAR, "s3://k12-backups/prod/eu/"),
                (S3_ENDPOINT_VAR, "http://127.0.0.1:9000"),
                ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
            ],
            None,
        )
        .unwrap();
        let Location::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            credentials,
        } = &c.location
        else {
            panic!("not s3: {c:?}");
        };
        assert_eq!(bucket, "k12-backups");
        assert_eq!(prefix, "prod/eu");
        assert_eq!(
            endpoint.as_ref().unwrap().as_str(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(region, DEFAULT_REGION);
        assert_eq!(credentials.as_ref().unwrap().access_key_id, "AKIAEXAMPLE");

        let shown = format!("{c:?} {:?}", c.location);
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], STORAGE_URL_VAR),
            (&[(STORAGE_URL_VAR, "ftp://x/y")], STORAGE_URL_VAR),
            (
                &[(STORAGE_URL_VAR, "file://relative/path")],
                STORAGE_URL_VAR,
            ),
            (&[(STORAGE_URL_VAR, "not a url")], STORAGE_URL_VAR),
            (&[(STORAGE_URL_VAR, "s3://Bad_Bucket/x")], STORAGE_URL_VAR),
            (&[(STORAGE_URL_VAR, "s3://bucket/a/../b")], STORAGE_URL_VAR),
            (
                &[(STORAGE_URL_VAR, "s3://key:secret@bucket/x")],
                STORAGE_URL_VAR,
            ),
            (
                &[
                    (STORAGE_URL_VAR, "s3://bucket"),
                    (S3_ENDPOINT_VAR, "ftp://h"),
                ],
                S3_ENDPOINT_VAR,
            ),
            (
                &[(STORAGE_URL_VAR, "s3://bucket"), ("AWS_ACCESS_KEY_ID", "A")],
                "AWS_SECRET_ACCESS_KEY",
            ),
            (
                &[
                    (STORAGE_URL_VAR, "s3://bucket"),
                    ("AWS_SECRET_ACCESS_KEY", "s3cr3t"),
                ],
                "AWS_ACCESS_KEY_ID",
            ),
            (
                &[(STORAGE_URL_VAR, "s3://bucket"), ("AWS_REGION", "Mars 1")],
                "AWS_REGION",
            ),
        ];
        for (vars, variable) in cases {
            let err = parse(vars, None).unwrap_err();
            assert_eq!(err.variable, *variable, "{vars:?}: {err}");
            let text = err.to_string();
            assert!(text.starts_with(variable), "{text}");
            assert!(
                !text.contains("s3cr3t") && !text.contains("secret@"),
                "{text}"
            );
        }
    }
}
