//! Seed 002's CSV analysis over HTTP: upload, validation, the FapAnalysis record, dedup.

mod common;

use std::time::Duration;

use assay_core::sha256_hex;
use common::{error_of, TestApp};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

const CSV: &str = "id,price,city\n1,9.5,Oslo\n2,10.5,Lima\n3,,Oslo\n";

async fn upload(app: &TestApp, key: &str, name: &str, mime: &str, bytes: Vec<u8>) -> Response {
    let part = Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap();
    app.post("/analyse", key)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}

async fn wait_analysis(app: &TestApp, id: &str, key: &str) -> Value {
    for _ in 0..500 {
        let record: Value = app.get_json(&format!("/analyse/{id}"), key).await;
        if record["status"] != "progressing" {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("analysis {id} never finished");
}

#[tokio::test]
async fn an_upload_is_profiled_and_reported_in_the_seed_shape() {
    let app = TestApp::start(true).await;
    let r = upload(&app, &app.alice, "prices.csv", "text/csv", CSV.into()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["status"], "progressing");
    assert_eq!(accepted["stage"], "upload");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a random UUID");

    let record = wait_analysis(&app, &id, &app.alice).await;
    assert_eq!(record["status"], "success", "{record}");
    assert_eq!(record["stage"], "analyse");
    assert_eq!(record["message"], "Analysis completed successfully.");
    assert_eq!(record["sha256"], sha256_hex(CSV.as_bytes()));
    assert_eq!(record["filename"], "prices.csv");
    let result = &record["result"];
    assert_eq!(result["rows"], 3);
    assert_eq!(result["column_count"], 3);
    assert_eq!(result["sha256"], sha256_hex(CSV.as_bytes()));
    assert_eq!(result["columns"][1]["mean"], 10.0);
    assert_eq!(result["columns"][1]["null_count"], 1);

    // The same job through the generic API.
    let task: Value = app
        .get_json(&format!("/api/v1/task/{id}/"), &app.alice)
        .await;
    assert_eq!(task["kind"], "csv");
    assert_eq!(task["status"], "done");
    assert_eq!(task["result"], *result);

    // Identical bytes from the same user: the existing analysis; from another user: a new one.
    let r = upload(&app, &app.alice, "again.csv", "text/csv", CSV.into()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (again["id"].as_str().unwrap(), &again["deduplicated"]),
        (id.as_str(), &json!(true))
    );
    assert_eq!(again["status"], "success");
    let r = upload(&app, &app.bob, "prices.csv", "text/csv", CSV.into()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let bobs: Value = r.json().await.unwrap();
    assert_ne!(bobs["id"], id.as_str());
    let r = app
        .get(&format!("/analyse/{id}"), &app.bob)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn unreadable_files_fail_with_the_seeds_message() {
    let app = TestApp::start(true).await;
    // Latin-1 bytes are not UTF-8.
    let r = upload(
        &app,
        &app.alice,
        "latin1.csv",
        "text/csv",
        b"name\ncaf\xe9\n".to_vec(),
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = wait_analysis(&app, &id, &app.alice).await;
    assert_eq!(record["status"], "fail");
    let message = record["message"].as_str().unwrap();
    assert!(
        message.starts_with("Failed to read csv file: "),
        "{message}"
    );
    assert!(message.contains("csv_invalid_utf8"), "{message}");
    assert!(record.get("result").is_none());
    let task: Value = app
        .get_json(&format!("/api/v1/task/{id}/"), &app.alice)
        .await;
    assert_eq!(
        (task["status"].as_str(), task["attempts"].as_u64()),
        (Some("failed"), Some(1)),
        "not retried"
    );
}

#[tokio::test]
async fn bad_uploads_are_refused_before_anything_is_queued() {
    let app = TestApp::start(false).await;
    let r = upload(
        &app,
        &app.alice,
        "photo.png",
        "image/png",
        b"\x89PNG\r\n\x1a\n".to_vec(),
    )
    .await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
    let r = upload(&app, &app.alice, "empty.csv", "text/csv", Vec::new()).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
    let r = upload(
        &app,
        &app.alice,
        "binary.csv",
        "text/csv",
        b"a,b\n\x00\x01\x02".to_vec(),
    )
    .await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_csv").await;
    let big = "x,y\n".repeat((1 << 20) / 4 + 1).into_bytes();
    let r = upload(&app, &app.alice, "big.csv", "text/csv", big).await;
    error_of(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let form = Form::new().text("note", "no file here");
    let r = app
        .post("/analyse", &app.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "missing_file").await;
    let r = app
        .post("/analyse", &app.alice)
        .body("id,x\n1,2\n")
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "invalid_multipart").await;
    let part = Part::bytes(CSV.as_bytes().to_vec()).file_name("a.csv");
    let form = Form::new().part("file", part).text("delimiter", ";;");
    let r = app
        .post("/analyse", &app.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = app
        .client
        .post(format!("{}/analyse", app.base))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post_json(
            "/api/v1/tasks/csv",
            &app.alice,
            &json!({"source": {"path": "/etc/passwd"}}),
        )
        .await;
    error_of(r, StatusCode::BAD_REQUEST, "upload_required").await;

    let status: Value = app.get_json("/api/v1/queue/status/", &app.alice).await;
    assert_eq!(status["total"], 0, "nothing was queued");
    let part = Part::bytes(CSV.as_bytes().to_vec()).file_name("a.csv");
    let form = Form::new()
        .part("file", part)
        .text("delimiter", ";".repeat(100_000));
    let r = app
        .post("/analyse", &app.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert_eq!(app.stored_blobs(), 0, "refused uploads are not kept");
    for path in [
        "/analyse/6f1c1d0e-1111-4222-8333-944455556666",
        "/analyse/nope",
    ] {
        let r = app.get(path, &app.alice).send().await.unwrap();
        error_of(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let ping = app.submit("ping", json!({}), &app.alice).await;
    let r = app
        .get(&format!("/analyse/{ping}"), &app.alice)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn a_delimiter_can_be_given() {
    let app = TestApp::start(true).await;
    let part = Part::bytes(b"a|b\n1|2\n3|4\n".to_vec()).file_name("pipes.csv");
    let form = Form::new().part("file", part).text("delimiter", "|");
    let r = app
        .post("/analyse", &app.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = wait_analysis(&app, &id, &app.alice).await;
    assert_eq!(record["result"]["delimiter"], "|");
    assert_eq!(record["result"]["column_count"], 2);
}
