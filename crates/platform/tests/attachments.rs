//! Attachments (spec 04, "File uploads"): every rule against a file store and against a
//! real S3-protocol server (moto, started as crates/storage/tests do, or
//! `K12_TEST_S3_ENDPOINT`). A refused upload leaves no object and no row.

#[path = "../../storage/tests/support/mod.rs"]
mod support;

use std::io::Write;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use testkit::{School, TestApp};

/// Runs `$body` (an async fn taking `&TestApp`) on a file store and on a moto S3 store.
macro_rules! on_both {
    ($file:ident, $s3:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $file() {
            let app = TestApp::spawn().await;
            $body(&app).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $s3() {
            let Some(store) = support::s3_store().await else {
                return;
            };
            let app = TestApp::spawn_with_store(store).await;
            $body(&app).await;
        }
    };
}

const BOUNDARY: &str = "k12-test-boundary-7d3f";

/// A multipart body with one `file` part.
fn multipart(filename: &str, content_type: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
    )
    .into_bytes();
    if let Some(ct) = content_type {
        body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(
    app: &TestApp,
    token: &str,
    submission: i64,
    filename: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> (u16, Value) {
    let res = app
        .client
        .post(format!(
            "{}/api/v1/submissions/{submission}/attachments",
            app.base_url
        ))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(filename, content_type, bytes))
        .send()
        .await
        .expect("upload");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn objects(app: &TestApp) -> usize {
    app.store.list("attachments").await.unwrap().len()
}

async fn rows(app: &TestApp, tenant: i64) -> i64 {
    let mut tx = app.tenant_tx(tenant).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM attachments")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn gif() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(4, 4, |x, _| image::Rgba([x as u8 * 60, 0, 0, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Gif).unwrap();
    out.into_inner()
}

/// A zip with `entries` (name, bytes), deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn docx() -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", b"<?xml version=\"1.0\"?><Types/>"),
        ("word/document.xml", b"<w:document>essay</w:document>"),
    ])
}

/// A .docx-shaped zip whose one big entry is 1 GB of zeros (about 1 MB compressed).
fn zip_bomb() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    w.start_file("[Content_Types].xml", opts).unwrap();
    w.write_all(b"<Types/>").unwrap();
    w.start_file("word/document.xml", opts).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        w.write_all(&zeros).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Downloads; follows a 302 to the pre-signed URL (S3). Answers the final response.
async fn download(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    download_via(app, token, id).await.1
}

/// Downloads; answers whether the app redirected to a pre-signed URL, and the response.
async fn download_via(app: &TestApp, token: &str, id: i64) -> (bool, reqwest::Response) {
    let res = app
        .client
        .get(format!("{}/api/v1/attachments/{id}", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if res.status() == 302 {
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.contains("X-Amz-Expires=300"),
            "a short-lived signed URL: {location}"
        );
        return (true, reqwest::get(location).await.unwrap());
    }
    (false, res)
}

async fn accepted_types_are_stored_and_served_as_downloads(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let token = &s.student.token;
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        ("photo.png", Some("image/png"), png(32, 16), "image/png"),
        ("cat.gif", None, gif(), "image/gif"),
        (
            "essay.pdf",
            Some("application/pdf"),
            b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer\n%%EOF\n".to_vec(),
            "application/pdf",
        ),
        (
            "grades.csv",
            Some("text/csv"),
            "name,score\nZoë,10\n".as_bytes().to_vec(),
            "text/csv",
        ),
        (
            "../../notes.txt",
            Some("text/plain; charset=utf-8"),
            b"plain notes".to_vec(),
            "text/plain",
        ),
        (
            "report.docx",
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "old.doc",
            Some("application/msword"),
            [
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
                &[0u8; 600],
            ]
            .concat(),
            "application/msword",
        ),
    ];
    for (i, (name, declared, bytes, detected)) in cases.iter().enumerate() {
        let (status, body) = upload(app, token, s.submission_id, name, *declared, bytes).await;
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["content_type"], *detected, "{name}");
        assert_eq!(body["byte_size"], bytes.len() as i64);
        assert_eq!(body["sha256"], sha256_hex(bytes));
        assert_eq!(objects(app).await, i + 1);
        assert_eq!(rows(app, s.tenant_id).await, i as i64 + 1);
        if *name == "../../notes.txt" {
            assert_eq!(body["filename"], "notes.txt");
        }
        let id = body["id"].as_i64().unwrap();
        // The teacher may read the submission, so its files.
        let (signed, res) = download_via(app, &s.teacher.token, id).await;
        assert_eq!(res.status(), 200, "{name}");
        let h = res.headers().clone();
        let disposition = h["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename="),
            "{disposition}"
        );
        assert_eq!(h["content-type"], *detected);
        if !signed {
            // Served by the app (file store): the protective headers are ours.
            assert_eq!(h["x-content-type-options"], "nosniff");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.starts_with("sandbox;"), "{csp}");
        }
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
}
on_both!(
    accepted_types_file,
    accepted_types_s3,
    accepted_types_are_stored_and_served_as_downloads
);

/// A refused upload: name, declared type, bytes, status, and what the message says.
type Refused<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

/// Uploads that must be refused with `status`, leaving no object and no row.
async fn refusals_leave_nothing_behind(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let token = &s.student.token;
    let mut nul_late = vec![b'a'; 20_000];
    nul_late[15_000] = 0;
    let mut gif_php = gif();
    gif_php.extend_from_slice(b"<?php system($_GET['c']); ?>");
    let cases: Vec<Refused> = vec![
        (
            "photo.png",
            Some("application/pdf"),
            png(8, 8),
            415,
            "application/pdf",
        ),
        ("photo.pdf", None, png(8, 8), 415, "image/png"),
        ("essay.pdf.exe", None, b"%PDF-1.4 x".to_vec(), 422, ".exe"),
        ("shell.php", None, b"<?php echo 1;".to_vec(), 422, ".php"),
        (
            "shell.php.jpg",
            None,
            b"\xFF\xD8\xFF\xE0".to_vec(),
            422,
            ".php",
        ),
        ("run.sh", None, b"#!/bin/sh\n".to_vec(), 422, ".sh"),
        ("drawing.svg", None, b"<svg/>".to_vec(), 422, ".svg"),
        (
            "drawing.txt",
            None,
            b"<?xml version=\"1.0\"?><svg onload=alert(1)/>".to_vec(),
            415,
            "SVG",
        ),
        (
            "page.txt",
            None,
            b"<!DOCTYPE html><script>x</script>".to_vec(),
            415,
            "HTML",
        ),
        (
            "program.pdf",
            None,
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec(),
            415,
            "not an accepted type",
        ),
        ("late-nul.txt", None, nul_late, 415, "UTF-8"),
        ("cat.gif", Some("image/gif"), gif_php, 422, "<?php"),
        (
            "truncated.png",
            None,
            png(64, 64)[..200].to_vec(),
            422,
            "decoded",
        ),
        (
            "archive.docx",
            None,
            zip_of(&[("[Content_Types].xml", b"x"), ("word/../../evil", b"x")]),
            422,
            "unsafe path",
        ),
        (
            "nested.docx",
            None,
            zip_of(&[("[Content_Types].xml", b"x"), ("word/inner.zip", b"PK")]),
            422,
            "nested",
        ),
        (
            "plain.docx",
            None,
            zip_of(&[("readme.txt", b"x")]),
            415,
            "not an Office",
        ),
        ("...", None, b"x".to_vec(), 422, "name"),
    ];
    for (name, declared, bytes, want, says) in cases {
        let (status, body) = upload(app, token, s.submission_id, name, declared, &bytes).await;
        assert_eq!(status, want, "{name}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(says),
            "{name}: {message:?} should say {says:?}"
        );
        assert_eq!(objects(app).await, 0, "{name} left an object");
        assert_eq!(rows(app, s.tenant_id).await, 0, "{name} left a row");
    }
    // Declared and detected types are both named.
    let (_, body) = upload(
        app,
        token,
        s.submission_id,
        "photo.png",
        Some("application/pdf"),
        &png(8, 8),
    )
    .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("application/pdf") && message.contains("image/png"),
        "{message}"
    );
}
on_both!(refusals_file, refusals_s3, refusals_leave_nothing_behind);

/// A zip bomb (1 GB of zeros in one entry) is refused from its central directory.
async fn zip_bomb_is_refused(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let bomb = zip_bomb();
    assert!(bomb.len() < 10 << 20, "the bomb is small: {}", bomb.len());
    let started = std::time::Instant::now();
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "bomb.docx",
        None,
        &bomb,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    eprintln!("zip bomb refused in {:?}", started.elapsed());
    assert_eq!(objects(app).await, 0);
    assert_eq!(rows(app, s.tenant_id).await, 0);
}
on_both!(zip_bomb_file, zip_bomb_s3, zip_bomb_is_refused);

/// 50 MB + 1 byte is refused (413) while streaming; nothing is kept.
async fn size_limit_is_enforced_while_streaming(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let big = vec![b'a'; 50_000_001];
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "big.txt",
        None,
        &big,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(objects(app).await, 0);
    assert_eq!(rows(app, s.tenant_id).await, 0);
    // Exactly at the limit is fine.
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "big.txt",
        None,
        &big[1..],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(objects(app).await, 1);
}
on_both!(
    size_limit_file,
    size_limit_s3,
    size_limit_is_enforced_while_streaming
);

/// Who may upload, read and delete; another tenant sees 404.
async fn access_rules(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let other = School::build(app, "beta").await;
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "a.txt",
        None,
        b"hello",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    // Another tenant: 404 on every route.
    for token in [&other.admin.token, &other.student.token] {
        assert_eq!(download(app, token, id).await.status(), 404);
        let res = app
            .client
            .delete(format!("{}/api/v1/attachments/{id}", app.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
    }
    let (status, _) = upload(
        app,
        &other.student.token,
        s.submission_id,
        "b.txt",
        None,
        b"x",
    )
    .await;
    assert_eq!(status, 404);
    // A classmate cannot see the submission; the guardian of another child neither.
    assert_eq!(download(app, &s.outsider.token, id).await.status(), 404);
    // Staff may read, not upload.
    let (status, _) = upload(app, &s.teacher.token, s.submission_id, "t.txt", None, b"x").await;
    assert_eq!(status, 403);
    // Once graded: no more uploads or deletes.
    let (st, _) = app
        .put(
            &format!("/api/v1/submissions/{}/grade", s.submission_id),
            &s.teacher.token,
            json!({"grade": 5}),
        )
        .await;
    assert_eq!(st, 200);
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "late.txt",
        None,
        b"x",
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let res = app
        .client
        .delete(format!("{}/api/v1/attachments/{id}", app.base_url))
        .bearer_auth(&s.student.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(objects(app).await, 1);
}
on_both!(access_file, access_s3, access_rules);

/// The author deletes: the row and the object go.
async fn author_deletes(app: &TestApp) {
    let s = School::build(app, "alpha").await;
    let (status, body) = upload(
        app,
        &s.student.token,
        s.submission_id,
        "a.txt",
        None,
        b"hello",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    let res = app
        .client
        .delete(format!("{}/api/v1/attachments/{id}", app.base_url))
        .bearer_auth(&s.student.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(objects(app).await, 0);
    assert_eq!(rows(app, s.tenant_id).await, 0);
    assert_eq!(download(app, &s.student.token, id).await.status(), 404);
}
on_both!(author_deletes_file, author_deletes_s3, author_deletes);

#[tokio::test]
async fn a_json_body_is_not_an_upload() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/submissions/{}/attachments", s.submission_id),
            &s.student.token,
            json!({"file": "x"}),
        )
        .await;
    assert_eq!(status, 415, "{body}");
}
