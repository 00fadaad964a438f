//! Seed 003's image API: upload, list, detail with detected circles, one object, the original
//! file and an annotated PNG. Each upload is an ordinary `image` job.

use assay_blob::BlobRef;
use assay_circles::{CircleObject, DetectOptions};
use assay_core::{rfc3339, InputError, Job, JobStatus};
use assay_jobs::Source;
use assay_store::JobFilter;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::extract::{Path, Query};
use crate::tasks::{enqueue, page_bounds, parse_id, PageQuery};
use crate::upload::{self, multipart_error, receive_file, small_text, Received};
use crate::{ApiError, AppState, Caller};

/// Refuses what is not one of the image formats assay reads, by magic bytes.
fn check_looks_like_image(
    _name: Option<&str>,
    _type: Option<&str>,
    head: &[u8],
) -> Result<(), ApiError> {
    if head.is_empty() {
        return Err(ApiError::Unprocessable(
            "corrupt_image",
            "the uploaded file is empty".into(),
        ));
    }
    let known = head.starts_with(b"\x89PNG\r\n\x1a\n")
        || head.starts_with(&[0xFF, 0xD8, 0xFF])
        || head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || head.starts_with(b"BM")
        || (head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP");
    if known {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(
            "unsupported_image_format",
            "the file is not a PNG, JPEG, WebP, BMP or GIF image".into(),
        ))
    }
}

fn parse_field<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::BadRequest(
            "invalid_input",
            format!("{name} must be a number, got {text:?}"),
        )
    })
}

/// `POST /api/v1/images` — multipart field `file`, optionally `min_radius`, `max_radius`,
/// `sensitivity`, `max_circles`.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = upload::multipart(multipart)?;
    let mut file = None;
    let read = read_fields(&state, &mut multipart, &mut file).await;
    let missing = "send the image in the multipart field `file`";
    upload::finish(
        &state,
        read,
        file,
        missing,
        async |blob, filename, options| queue_image(&state, &caller, blob, filename, options).await,
    )
    .await
}

/// Reads the form: stores the `file` field into `file`, answers the detection options.
async fn read_fields(
    state: &AppState,
    multipart: &mut Multipart,
    file: &mut Option<Received>,
) -> Result<DetectOptions, ApiError> {
    let mut options = DetectOptions::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" if file.is_none() => {
                *file = Some(
                    receive_file(
                        state,
                        field,
                        state.limits.image_max_bytes,
                        check_looks_like_image,
                    )
                    .await?,
                )
            }
            "min_radius" => {
                options.min_radius = Some(parse_field(&name, &small_text(field).await?)?)
            }
            "max_radius" => {
                options.max_radius = Some(parse_field(&name, &small_text(field).await?)?)
            }
            "sensitivity" => options.sensitivity = parse_field(&name, &small_text(field).await?)?,
            "max_circles" => options.max_circles = parse_field(&name, &small_text(field).await?)?,
            _ => {}
        }
    }
    Ok(options)
}

/// Checks the options, decodes the stored upload once (so a corrupt or oversized image is
/// refused here rather than queued) and queues the job.
async fn queue_image(
    state: &AppState,
    caller: &Caller,
    blob: &BlobRef,
    filename: Option<String>,
    options: DetectOptions,
) -> Result<Response, ApiError> {
    options
        .validate()
        .map_err(|e| ApiError::Input(InputError::OutOfRange(e.to_string())))?;
    let path = state
        .blobs
        .existing(&blob.sha256)
        .map_err(|e| ApiError::Storage(e.to_string()))?;
    let limits = state.image_limits();
    // Decoding takes memory in proportion to the pixels: a few at a time.
    let _slot = state
        .decode_slots
        .acquire()
        .await
        .map_err(|e| ApiError::Storage(e.to_string()))?;
    let decoded = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path)?;
        Ok::<_, std::io::Error>(
            assay_circles::decode(&bytes, &limits).map(|d| (d.width(), d.height(), d.format())),
        )
    })
    .await
    .map_err(|e| ApiError::Storage(e.to_string()))?
    .map_err(|e| ApiError::Storage(e.to_string()))?
    .map_err(|e| {
        if e.http_status() == 413 {
            ApiError::PayloadTooLarge(e.to_string())
        } else {
            ApiError::Unprocessable(e.code(), e.to_string())
        }
    })?;
    let (width, height, format) = decoded;
    let input = json!({
        "source": Source::Blob(blob.sha256.clone()),
        "filename": filename,
        "options": options,
        "size": blob.size,
        "width": width,
        "height": height,
        "format": format,
    });
    let (job, deduplicated) = enqueue(state, caller, "image", input, 0).await?;
    let mut body = image_json(&job);
    body["status_url"] = json!(format!("/api/v1/images/{}", job.id));
    body["deduplicated"] = json!(deduplicated);
    let status = if deduplicated {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(body)).into_response())
}

/// An image job's metadata, without its objects.
fn image_json(job: &Job) -> Value {
    let objects = job.result.as_ref().and_then(|r| r["objects"].as_array());
    json!({
        "id": job.id,
        "filename": job.input["filename"],
        "size": job.input["size"],
        "width": job.input["width"],
        "height": job.input["height"],
        "format": job.input["format"],
        "sha256": job.input_sha256,
        "status": job.status,
        "message": job.message,
        "circles": objects.map(Vec::len),
        "mode": job.result.as_ref().map(|r| r["mode"].clone()),
        "created_at": rfc3339(job.created_at),
        "finished_at": job.finished_at.map(rfc3339),
    })
}

async fn image_job(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Job, ApiError> {
    let id = parse_id(raw_id)?;
    state
        .store
        .get_job(id, &caller.scope())
        .await?
        .filter(|j| j.kind == "image")
        .ok_or_else(|| ApiError::NotFound(format!("no image with id {raw_id}")))
}

fn objects_of(job: &Job) -> Vec<Value> {
    job.result
        .as_ref()
        .and_then(|r| r["objects"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// `GET /api/v1/images` — the caller's images, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let (limit, before) = page_bounds(q.limit, q.cursor.as_deref())?;
    let filter = JobFilter {
        kind: Some("image".into()),
        status: None,
        limit,
        before,
    };
    let page = state.store.list_jobs(&caller.scope(), &filter).await?;
    let items: Vec<Value> = page.jobs.iter().map(image_json).collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": page.next_cursor.map(|c| c.to_string()) }),
    ))
}

/// `GET /api/v1/images/{id}` — metadata and the detected circles.
pub async fn detail(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = image_job(&state, &caller, &id).await?;
    let mut body = image_json(&job);
    body["objects"] = json!(objects_of(&job));
    Ok(Json(body))
}

/// `GET /api/v1/images/{id}/objects/{oid}`
pub async fn object(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, oid)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let job = image_job(&state, &caller, &id).await?;
    objects_of(&job)
        .into_iter()
        .find(|o| o["id"].as_u64().is_some_and(|n| n.to_string() == oid))
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("image {id} has no object {oid:?}")))
}

fn content_type(format: &str) -> &'static str {
    match format {
        "png" => "image/png",
        "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

async fn original_bytes(state: &AppState, job: &Job) -> Result<Vec<u8>, ApiError> {
    let sha256 = match serde_json::from_value::<Source>(job.input["source"].clone()) {
        Ok(Source::Blob(sha256)) => sha256,
        _ => return Err(ApiError::NotFound("this image has no stored file".into())),
    };
    let path = state.blobs.existing(&sha256).map_err(|_| {
        ApiError::NotFound(format!("the file of image {} is no longer stored", job.id))
    })?;
    tokio::fs::read(path)
        .await
        .map_err(|e| ApiError::Storage(e.to_string()))
}

/// `GET /api/v1/images/{id}/file` — the original upload.
pub async fn file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = image_job(&state, &caller, &id).await?;
    let bytes = original_bytes(&state, &job).await?;
    let format = job.input["format"].as_str().unwrap_or_default();
    // User bytes: the browser must not guess another type for them.
    let headers = [
        (header::CONTENT_TYPE, content_type(format)),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Ok((headers, bytes).into_response())
}

/// `GET /api/v1/images/{id}/annotated.png` — the image with its circles drawn.
pub async fn annotated(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = image_job(&state, &caller, &id).await?;
    if job.status != JobStatus::Done {
        return Err(ApiError::Conflict(
            "not_ready",
            format!(
                "image {id} is {}; the annotated image exists once detection is done",
                job.status
            ),
        ));
    }
    let objects: Vec<CircleObject> = serde_json::from_value(json!(objects_of(&job)))
        .map_err(|e| ApiError::Storage(format!("stored objects do not parse: {e}")))?;
    let bytes = original_bytes(&state, &job).await?;
    let limits = state.image_limits();
    let png = tokio::task::spawn_blocking(move || {
        let decoded = assay_circles::decode(&bytes, &limits)?;
        assay_circles::annotate(&decoded, &objects)
    })
    .await
    .map_err(|e| ApiError::Storage(e.to_string()))?
    .map_err(|e| ApiError::Storage(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}
