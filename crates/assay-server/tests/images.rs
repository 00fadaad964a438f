//! Seed 003's image API over HTTP: upload, detection in builtin, dummy and real (a stub KServe
//! server) modes, every route and the decoding limits.

mod common;

use std::io::Cursor;
use std::time::Duration;

use assay_jobs::{CirclesMode, ModelServer};
use axum::routing::{get, post};
use axum::Json;
use common::{error_of, TestApp};
use image::{ImageFormat, Rgb, RgbImage};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

/// A white PNG with black discs at `(cx, cy, r)`.
fn png(width: u32, height: u32, discs: &[(f32, f32, f32)]) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        let inside = discs
            .iter()
            .any(|&(cx, cy, r)| (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r);
        if inside {
            Rgb([20, 20, 20])
        } else {
            Rgb([235, 235, 235])
        }
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 60-byte PNG whose header claims `width` x `height` pixels.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"IDAT");
    out.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
    out
}

async fn upload(app: &TestApp, key: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Response {
    let mut form = Form::new().part("file", Part::bytes(bytes).file_name("shapes.png"));
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    app.post("/api/v1/images", key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn wait_image(app: &TestApp, id: &str, key: &str) -> Value {
    for _ in 0..500 {
        let image: Value = app.get_json(&format!("/api/v1/images/{id}"), key).await;
        if !["queued", "running"].contains(&image["status"].as_str().unwrap()) {
            return image;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("image {id} was never processed");
}

#[tokio::test]
async fn circles_are_detected_and_every_route_answers() {
    let app = TestApp::start(true).await;
    let bytes = png(200, 150, &[(60.0, 70.0, 25.0), (150.0, 80.0, 18.0)]);
    let r = upload(&app, &app.alice, bytes.clone(), &[]).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let accepted: Value = r.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["status_url"], format!("/api/v1/images/{id}"));
    assert_eq!(
        (accepted["width"].as_u64(), accepted["height"].as_u64()),
        (Some(200), Some(150))
    );

    let image = wait_image(&app, &id, &app.alice).await;
    assert_eq!(image["status"], "done", "{image}");
    assert_eq!(image["mode"], "builtin");
    let objects = image["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2, "{image}");
    assert_eq!(image["circles"], 2);
    for (cx, cy, r) in [(60.0, 70.0, 25.0), (150.0, 80.0, 18.0)] {
        let found = objects.iter().any(|o| {
            (o["centre"]["x"].as_f64().unwrap() - cx).abs() <= 3.0
                && (o["centre"]["y"].as_f64().unwrap() - cy).abs() <= 3.0
                && (o["radius"].as_f64().unwrap() - r).abs() <= 3.0
        });
        assert!(found, "no circle near ({cx}, {cy}, {r}) in {objects:?}");
    }
    let first = &objects[0];
    for field in ["id", "centre", "radius", "bbox", "score"] {
        assert!(!first[field].is_null(), "{field} missing in {first}");
    }

    let one: Value = app
        .get_json(&format!("/api/v1/images/{id}/objects/1"), &app.alice)
        .await;
    assert_eq!(one, *first);
    let r = app
        .get(&format!("/api/v1/images/{id}/objects/99"), &app.alice)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::NOT_FOUND, "not_found").await;

    let r = app
        .get(&format!("/api/v1/images/{id}/file"), &app.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let r = app
        .get(&format!("/api/v1/images/{id}/annotated.png"), &app.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let annotated = r.bytes().await.unwrap();
    let drawn = image::load_from_memory(&annotated).unwrap();
    assert_eq!((drawn.width(), drawn.height()), (200, 150));

    let list: Value = app.get_json("/api/v1/images", &app.alice).await;
    let item = &list["items"][0];
    assert_eq!(
        (item["id"].as_str(), item["circles"].as_u64()),
        (Some(id.as_str()), Some(2))
    );
    assert_eq!(
        (item["filename"].as_str(), item["size"].as_u64()),
        (Some("shapes.png"), Some(bytes.len() as u64))
    );

    // Identical bytes from the same user: 200 with the existing image, not a new job.
    let r = upload(&app, &app.alice, bytes.clone(), &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (again["id"].as_str(), &again["deduplicated"]),
        (Some(id.as_str()), &json!(true))
    );

    for path in [
        format!("/api/v1/images/{id}"),
        format!("/api/v1/images/{id}/file"),
        format!("/api/v1/images/{id}/annotated.png"),
        format!("/api/v1/images/{id}/objects/1"),
    ] {
        let r = app.get(&path, &app.bob).send().await.unwrap();
        error_of(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let bobs: Value = app.get_json("/api/v1/images", &app.bob).await;
    assert_eq!(bobs["items"], json!([]));
}

#[tokio::test]
async fn bad_images_and_options_are_refused_at_upload() {
    let app = TestApp::start(false).await;
    let r = upload(&app, &app.alice, b"hello, not an image".to_vec(), &[]).await;
    error_of(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unsupported_image_format",
    )
    .await;
    let mut corrupt = png(40, 40, &[]);
    corrupt.truncate(60);
    let r = upload(&app, &app.alice, corrupt, &[]).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "corrupt_image").await;
    let r = upload(&app, &app.alice, png_claiming(100_000, 100_000), &[]).await;
    let message = error_of(
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "image_dimensions_exceeded",
    )
    .await;
    assert!(message.contains("100000x100000"), "{message}");
    let mut huge = b"\x89PNG\r\n\x1a\n".to_vec();
    huge.resize((1 << 20) + 10, 0);
    let r = upload(&app, &app.alice, huge, &[]).await;
    error_of(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let r = upload(&app, &app.alice, Vec::new(), &[]).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "corrupt_image").await;
    let r = upload(&app, &app.alice, png(40, 40, &[]), &[("sensitivity", "2")]).await;
    error_of(r, StatusCode::UNPROCESSABLE_ENTITY, "value_out_of_range").await;
    let r = upload(&app, &app.alice, png(40, 40, &[]), &[("min_radius", "big")]).await;
    error_of(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let form = Form::new().text("min_radius", "5");
    let r = app
        .post("/api/v1/images", &app.alice)
        .multipart(form)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "missing_file").await;
    let r = app
        .client
        .post(format!("{}/api/v1/images", app.base))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .client
        .get(format!("{}/api/v1/images", app.base))
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .post_json(
            "/api/v1/tasks/image",
            &app.alice,
            &json!({"source": {"path": "/etc/passwd"}}),
        )
        .await;
    error_of(r, StatusCode::BAD_REQUEST, "upload_required").await;
    let status: Value = app.get_json("/api/v1/queue/status/", &app.alice).await;
    assert_eq!(status["total"], 0, "nothing was queued");
    assert_eq!(app.stored_blobs(), 0, "refused uploads are not kept");
    let long = "9".repeat(10_000);
    let r = upload(
        &app,
        &app.alice,
        png(40, 40, &[]),
        &[("min_radius", long.as_str())],
    )
    .await;
    error_of(r, StatusCode::BAD_REQUEST, "invalid_input").await;

    // Queued but not processed (no worker here): the annotated image does not exist yet.
    let r = upload(&app, &app.alice, png(40, 40, &[]), &[("max_circles", "5")]).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(&format!("/api/v1/images/{id}/annotated.png"), &app.alice)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::CONFLICT, "not_ready").await;
    for path in [
        "/api/v1/images/6f1c1d0e-1111-4222-8333-944455556666",
        "/api/v1/images/nope",
    ] {
        let r = app.get(path, &app.alice).send().await.unwrap();
        error_of(r, StatusCode::NOT_FOUND, "not_found").await;
    }
    let r = app
        .get("/api/v1/images?limit=0", &app.alice)
        .send()
        .await
        .unwrap();
    error_of(r, StatusCode::BAD_REQUEST, "invalid_limit").await;
}

#[tokio::test]
async fn dummy_mode_is_deterministic() {
    let bytes = png(120, 90, &[(40.0, 40.0, 15.0)]);
    let mut runs = Vec::new();
    for _ in 0..2 {
        let app = TestApp::start_with(true, CirclesMode::Dummy).await;
        let r = upload(&app, &app.alice, bytes.clone(), &[]).await;
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let image = wait_image(&app, &id, &app.alice).await;
        assert_eq!(
            (image["status"].as_str(), image["mode"].as_str()),
            (Some("done"), Some("dummy"))
        );
        runs.push(image["objects"].clone());
    }
    assert_eq!(runs[0], runs[1]);
}

/// A stand-in KServe server: boxes for a 120-pixel-wide image, a 500 for 64, a 400 for 65.
async fn stub_model_server() -> String {
    async fn infer(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
        assert_eq!(body["inputs"][0]["datatype"], "BYTES");
        match body["parameters"]["width"].as_u64() {
            Some(64) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "model crashed"})),
            ),
            Some(65) => (StatusCode::BAD_REQUEST, Json(json!({"error": "bad input"}))),
            _ => (
                StatusCode::OK,
                Json(json!({"model_name": "circles", "outputs": [
                    {"name": "boxes", "shape": [2, 4], "datatype": "FP32", "data": [25, 25, 55, 55, 80, 10, 100, 30]},
                    {"name": "scores", "shape": [2], "datatype": "FP32", "data": [0.5, 0.75]}
                ]})),
            ),
        }
    }
    let router = axum::Router::new()
        .route("/v2/models/circles/ready", get(|| async { "" }))
        .route("/v2/models/circles/infer", post(infer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn real_mode_asks_the_model_server_and_survives_its_errors() {
    let url = stub_model_server().await;
    let app = TestApp::start_with(
        true,
        CirclesMode::Real(ModelServer::new(&url, "circles").unwrap()),
    )
    .await;
    let ready: Value = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["model_server"], "ok");

    let r = upload(&app, &app.alice, png(120, 90, &[]), &[]).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let image = wait_image(&app, &id, &app.alice).await;
    assert_eq!(
        (image["status"].as_str(), image["mode"].as_str()),
        (Some("done"), Some("real")),
        "{image}"
    );
    let objects = &image["objects"];
    assert_eq!(objects[0]["score"], 0.75);
    assert_eq!(objects[0]["centre"], json!({"x": 90.0, "y": 20.0}));
    assert_eq!(objects[1]["radius"], 15.0);
    assert_eq!(
        objects[1]["bbox"],
        json!({"x": 25, "y": 25, "width": 30, "height": 30})
    );

    let r = upload(&app, &app.alice, png(64, 64, &[]), &[]).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_image(&app, &id, &app.alice).await;
    assert_eq!(failed["status"], "failed");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("model_server_unavailable") && message.contains("attempt 3 of 3"),
        "{message}"
    );

    let r = upload(&app, &app.alice, png(65, 64, &[]), &[]).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = wait_image(&app, &id, &app.alice).await;
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("model_server_error"),
        "not retried: {message}"
    );

    // A model server that is gone makes the service not ready.
    let gone = TestApp::start_with(
        false,
        CirclesMode::Real(ModelServer::new("http://127.0.0.1:9", "circles").unwrap()),
    )
    .await;
    let r = gone
        .client
        .get(format!("{}/ready", gone.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}
