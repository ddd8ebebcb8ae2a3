//! The Store contract, run against a file store and a real S3-protocol server (moto).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use storage::{PutOptions, StorageError, Store, Timeouts};
use support::{file_store, s3_store, CountingStore, Flow, GeneratedSource};
use tokio::io::AsyncReadExt;

const MIB: u64 = 1024 * 1024;

/// Runs `$body` (an async fn taking `&Store`) against a file store and a moto S3 store.
macro_rules! on_both {
    ($file:ident, $s3:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $file() {
            let (store, _dir) = file_store(stringify!($file));
            $body(&store).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $s3() {
            let Some(store) = s3_store().await else {
                return;
            };
            $body(&store).await;
        }
    };
}

async fn read_all(store: &Store, key: &str) -> Vec<u8> {
    let mut reader = store.get_stream(key).await.unwrap();
    let mut out = Vec::new();
    reader.read_to_end(&mut out).await.unwrap();
    assert_eq!(out.len() as u64, reader.size());
    out
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>) -> bool {
    matches!(result, Err(StorageError::NotFound { .. }))
}

async fn roundtrip(store: &Store) {
    store.check().await.unwrap();
    let key = "t/7/attachments/essay.pdf";
    let body = Bytes::from_static(b"%PDF-1.7 hello");
    let put = store.put_bytes(key, body.clone()).await.unwrap();
    assert_eq!(put.size_bytes, body.len() as u64);
    assert_eq!(put.sha256, hex::encode(Sha256::digest(&body)));

    let head = store.head(key).await.unwrap();
    assert_eq!((head.key.as_str(), head.size), (key, body.len() as u64));
    assert_eq!(store.get_bytes(key, 1024).await.unwrap(), body);
    assert_eq!(read_all(store, key).await, body);

    // Overwrite replaces.
    store
        .put_bytes(key, Bytes::from_static(b"v2"))
        .await
        .unwrap();
    assert_eq!(store.get_bytes(key, 1024).await.unwrap(), "v2");

    // An empty object is an object.
    store.put_bytes("empty", Bytes::new()).await.unwrap();
    assert_eq!(store.head("empty").await.unwrap().size, 0);
    assert!(read_all(store, "empty").await.is_empty());

    store.delete(key).await.unwrap();
    assert!(is_not_found(store.head(key).await));
    assert!(is_not_found(store.get_bytes(key, 1024).await));
    assert!(is_not_found(store.get_stream(key).await));
    // Deleting a missing object is not an error, on every backend.
    store.delete(key).await.unwrap();
    store.delete("never/existed").await.unwrap();
}
on_both!(file_roundtrip, s3_roundtrip, roundtrip);

async fn list_is_by_folder(store: &Store) {
    for key in [
        "backups/2026/12/a.dump",
        "backups/2026/12/b.dump",
        "backups/2026/11/c.dump",
        "backups/20261/d.dump",
        "other",
    ] {
        store
            .put_bytes(key, Bytes::from(key.to_owned()))
            .await
            .unwrap();
    }
    let keys = |list: Vec<storage::ObjectMeta>| list.into_iter().map(|m| m.key).collect::<Vec<_>>();
    assert_eq!(
        keys(store.list("backups/2026").await.unwrap()),
        [
            "backups/2026/11/c.dump",
            "backups/2026/12/a.dump",
            "backups/2026/12/b.dump"
        ]
    );
    assert_eq!(store.list("").await.unwrap().len(), 5);
    assert!(store.list("nothing/here").await.unwrap().is_empty());
    let meta = &store.list("backups/2026/12").await.unwrap()[0];
    assert_eq!(meta.size, "backups/2026/12/a.dump".len() as u64);
    assert!(meta.last_modified > chrono::Utc::now() - chrono::Duration::minutes(5));
}
on_both!(
    file_list_is_by_folder,
    s3_list_is_by_folder,
    list_is_by_folder
);

async fn list_follows_pages(store: &Store) {
    // S3 pages hold 1,000 keys; 1,005 needs a second page. A few uploads at a time:
    // a thousand at once only measures how many connections the test server takes.
    use futures::StreamExt;
    let failures: Vec<String> = futures::stream::iter(0..1005)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .put_bytes(&format!("many/{i:05}"), Bytes::from_static(b"x"))
                    .await
                    .map_err(|e| format!("many/{i:05}: {e}"))
            }
        })
        .buffer_unordered(8)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} uploads failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let listed = store.list("many").await.unwrap();
    assert_eq!(listed.len(), 1005);
    assert_eq!(listed[1004].key, "many/01004");
}
on_both!(
    file_list_follows_pages,
    s3_list_follows_pages,
    list_follows_pages
);

async fn invalid_keys_are_refused(store: &Store) {
    for key in [
        "../etc/passwd",
        "/abs",
        "a//b",
        "a/./b",
        "new\nline",
        "",
        "a b",
    ] {
        let invalid = |r: Result<(), StorageError>| {
            assert!(
                matches!(r, Err(StorageError::InvalidKey { .. })),
                "{key:?}: {r:?}"
            )
        };
        invalid(store.put_bytes(key, Bytes::new()).await.map(drop));
        invalid(store.put_stream(key, &b"data"[..]).await.map(drop));
        invalid(store.get_bytes(key, 10).await.map(drop));
        invalid(store.get_stream(key).await.map(drop));
        invalid(store.head(key).await.map(drop));
        invalid(store.delete(key).await);
        invalid(
            store
                .signed_get_url(key, Duration::from_secs(60))
                .await
                .map(drop),
        );
    }
    let bad_header = PutOptions {
        content_disposition: Some("attachment\r\nX-Evil: 1".to_owned()),
        ..PutOptions::default()
    };
    let err = store
        .put_bytes_with("fine/key", Bytes::new(), &bad_header)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidArgument(_)), "{err}");
    assert!(matches!(
        store.list("../x").await,
        Err(StorageError::InvalidKey { .. })
    ));
}
on_both!(file_invalid_keys, s3_invalid_keys, invalid_keys_are_refused);

async fn small_stream_is_one_put(store: &Store) {
    let flow = Arc::new(Flow::default());
    let source = GeneratedSource::new(100_000, 3, flow);
    let put = store.put_stream("small.bin", source).await.unwrap();
    assert_eq!(put.parts, 1);
    assert_eq!(put.size_bytes, 100_000);
    assert_eq!(put.sha256, GeneratedSource::expected_sha256(100_000, 3));
    let back = read_all(store, "small.bin").await;
    assert_eq!(hex::encode(Sha256::digest(&back)), put.sha256);
}
on_both!(file_small_stream, s3_small_stream, small_stream_is_one_put);

/// A 40 MiB stream goes through multipart with at most two parts held, and reads back
/// with the same SHA-256 and size.
async fn large_stream_bounded_memory(store: &Store) {
    let len = 40 * MIB + 123;
    let flow = Arc::new(Flow::default());
    // The same backend, seen through a wrapper that counts acknowledged bytes.
    let counted = Store::from_object_store(
        Arc::new(CountingStore {
            inner: store.object_store(),
            flow: Arc::clone(&flow),
            fail_after_parts: None,
        }),
        store.prefix(),
    )
    .unwrap();
    let part = counted.part_size() as u64;
    let key = "backups/2026/12/k12_full_20261202_170000.dump";

    let started = Instant::now();
    let put = counted
        .put_stream(key, GeneratedSource::new(len, 42, Arc::clone(&flow)))
        .await
        .unwrap();
    let put_time = started.elapsed();
    assert_eq!(put.size_bytes, len);
    assert_eq!(put.parts as u64, len.div_ceil(part));
    let expected = GeneratedSource::expected_sha256(len, 42);
    assert_eq!(put.sha256, expected);
    assert!(
        flow.peak_held() <= 2 * part,
        "held {} bytes, more than two parts of {part}",
        flow.peak_held()
    );

    let started = Instant::now();
    let mut reader = store.get_stream(key).await.unwrap();
    assert_eq!(reader.size(), len);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    let get_time = started.elapsed();
    assert_eq!(total, len);
    assert_eq!(hex::encode(hasher.finalize()), expected);
    eprintln!(
        "{store:?}: 40 MiB put {:.2} s in {} parts (peak held {:.1} MiB), streamed get {:.2} s",
        put_time.as_secs_f64(),
        put.parts,
        flow.peak_held() as f64 / MIB as f64,
        get_time.as_secs_f64()
    );
}
on_both!(
    file_large_stream,
    s3_large_stream,
    large_stream_bounded_memory
);

/// An object replaced during a streamed read is an error, not a mix of two versions.
async fn replaced_during_read(store: &Store) {
    let flow = Arc::new(Flow::default());
    store
        .put_stream(
            "report",
            GeneratedSource::new(20 * MIB, 8, Arc::clone(&flow)),
        )
        .await
        .unwrap();
    let mut reader = store.get_stream("report").await.unwrap();
    let mut first = vec![0u8; MIB as usize];
    reader.read_exact(&mut first).await.unwrap();
    store
        .put_stream("report", GeneratedSource::new(20 * MIB, 9, flow))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let err = reader.read_to_end(&mut rest).await.unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
}
on_both!(
    file_replaced_during_read,
    s3_replaced_during_read,
    replaced_during_read
);

async fn limits_are_enforced(store: &Store) {
    // A single-part put over the limit stores nothing.
    let err = store
        .put_stream_with("limited/small", &[7u8; 100][..], &PutOptions::limited(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::TooLarge { limit: 10, .. }),
        "{err}"
    );
    assert!(is_not_found(store.head("limited/small").await));

    // ... and reads no more than one byte past the limit.
    let flow = Arc::new(Flow::default());
    let source = GeneratedSource::new(20 * MIB, 1, Arc::clone(&flow));
    let err = store
        .put_stream_with("limited/small", source, &PutOptions::limited(1000))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
    assert_eq!(flow.read(), 1001);

    // A multipart put over the limit is aborted: nothing stored.
    let flow = Arc::new(Flow::default());
    let limit = 10 * MIB + 5;
    let err = store
        .put_stream_with(
            "limited/large",
            GeneratedSource::new(20 * MIB, 1, Arc::clone(&flow)),
            &PutOptions::limited(limit),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { .. }), "{err}");
    assert_eq!(flow.read(), limit + 1);
    assert!(is_not_found(store.head("limited/large").await));

    // Exactly at the limit is fine, in one part and in several.
    for (key, len) in [("limited/at1", 1000), ("limited/at2", 9 * MIB)] {
        let flow = Arc::new(Flow::default());
        let put = store
            .put_stream_with(
                key,
                GeneratedSource::new(len, 2, flow),
                &PutOptions::limited(len),
            )
            .await
            .unwrap();
        assert_eq!(put.size_bytes, len);
        assert_eq!(store.head(key).await.unwrap().size, len);
    }

    // A source that breaks mid-way aborts the upload too.
    let flow = Arc::new(Flow::default());
    let source = GeneratedSource::new(30 * MIB, 1, flow).failing_after(12 * MIB);
    let err = store.put_stream("broken/dump", source).await.unwrap_err();
    assert!(matches!(err, StorageError::Source { .. }), "{err}");
    assert!(is_not_found(store.head("broken/dump").await));
    assert!(store.list("broken").await.unwrap().is_empty());

    let err = store
        .put_bytes_with(
            "limited/bytes",
            Bytes::from(vec![1u8; 11]),
            &PutOptions::limited(10),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::TooLarge { limit: 10, .. }),
        "{err}"
    );
    assert!(is_not_found(store.head("limited/bytes").await));

    store
        .put_bytes("limited/ok", Bytes::from(vec![1u8; 2048]))
        .await
        .unwrap();
    let err = store.get_bytes("limited/ok", 2047).await.unwrap_err();
    assert!(
        matches!(err, StorageError::TooLarge { limit: 2047, .. }),
        "{err}"
    );
    assert_eq!(
        store.get_bytes("limited/ok", 2048).await.unwrap().len(),
        2048
    );
}
on_both!(file_limits, s3_limits, limits_are_enforced);

#[tokio::test]
async fn file_store_signs_nothing_and_checks_its_directory() {
    let (store, dir) = file_store("sign");
    // Download headers are accepted and ignored: the application serves file-store
    // downloads with its own headers.
    let options = PutOptions {
        content_type: Some("text/plain".to_owned()),
        ..PutOptions::default()
    };
    store
        .put_bytes_with("a", Bytes::from_static(b"x"), &options)
        .await
        .unwrap();
    assert_eq!(store.get_bytes("a", 1).await.unwrap(), "x");
    assert_eq!(
        store
            .signed_get_url("a", Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
    store.check().await.unwrap();
    std::fs::remove_dir_all(dir.path().join("objects")).unwrap();
    let err = store.check().await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test]
async fn s3_signed_url_serves_the_object() {
    let Some(store) = s3_store().await else {
        return;
    };
    let body = Bytes::from_static(b"report card");
    store
        .put_bytes("exports/r.pdf", body.clone())
        .await
        .unwrap();
    let url = store
        .signed_get_url("exports/r.pdf", Duration::from_secs(300))
        .await
        .unwrap()
        .expect("S3 stores sign");
    let query = url.query().unwrap_or_default();
    assert!(query.contains("X-Amz-Expires=300"), "{url}");
    assert!(query.contains("X-Amz-Signature="), "{url}");
    assert!(!url.as_str().contains("testing&"), "no secret in the URL");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), body);

    // Download headers stored with the object come back on the pre-signed GET, for a
    // single PUT and for a multipart upload alike.
    let options = PutOptions {
        content_type: Some("application/pdf".to_owned()),
        content_disposition: Some("attachment; filename=\"essay.pdf\"".to_owned()),
        ..PutOptions::default()
    };
    let small = store
        .put_bytes_with("t/1/a/small", Bytes::from_static(b"%PDF-"), &options)
        .await
        .unwrap();
    let flow = Arc::new(Flow::default());
    let large = store
        .put_stream_with(
            "t/1/a/large",
            GeneratedSource::new(9 * MIB, 5, flow),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(large.parts, 2);
    for put in [small, large] {
        let url = store
            .signed_get_url(&put.key, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 200);
        let header = |name| response.headers()[name].to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/pdf");
        assert_eq!(
            header("content-disposition"),
            "attachment; filename=\"essay.pdf\""
        );
        let body = response.bytes().await.unwrap();
        assert_eq!(hex::encode(Sha256::digest(&body)), put.sha256);
    }

    for ttl in [Duration::ZERO, Duration::from_secs(3601)] {
        let err = store
            .signed_get_url("exports/r.pdf", ttl)
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::InvalidArgument(_)), "{err}");
    }
}

/// A closed loopback port: every operation fails, quickly, as Unavailable.
#[tokio::test]
async fn dead_endpoint_is_an_error_not_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let store = Store::open(&support::s3_config(&endpoint, "k12-dead", "")).unwrap();
    let guard = Duration::from_secs(20);
    let started = Instant::now();
    let err = tokio::time::timeout(guard, store.check())
        .await
        .expect("check returned")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("testing"), "{err}");
    let err = tokio::time::timeout(guard, store.put_bytes("k", Bytes::from_static(b"x")))
        .await
        .expect("put returned")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = tokio::time::timeout(guard, store.list(""))
        .await
        .expect("list returned")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    eprintln!(
        "dead endpoint: 3 operations failed in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// An endpoint that accepts connections and never answers: the request timeout ends it.
#[tokio::test]
async fn silent_endpoint_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = support::s3_config(&endpoint, "k12-silent", "").with_timeouts(Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_secs(1),
        max_retries: 1,
        retry_timeout: Duration::from_secs(3),
    });
    let store = Store::open(&config).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(20), store.head("k"))
        .await
        .expect("head returned")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    held.abort();
}

/// A bucket that does not exist must fail the health probe (a HEAD of a missing key
/// would answer 404 either way).
#[tokio::test]
async fn s3_check_fails_for_a_missing_bucket() {
    let Some(endpoint) = support::s3_endpoint() else {
        return;
    };
    let store = Store::open(&support::s3_config(&endpoint, "k12-no-such-bucket", "p")).unwrap();
    let err = store.check().await.unwrap_err();
    eprintln!("missing bucket: {err}");
    assert!(!err.is_unavailable(), "{err}");
}
