//! Seed 000's package analysis API: `POST /api/v1/analyze/` with a purl,
//! `POST /api/v1/analyze/upload` with an archive, and `GET /api/v1/analyze/{id}/` for the
//! report. The job itself is an ordinary `package` job, also visible at `/api/v1/task/{id}/`.

use assay_core::{Job, JobStatus};
use assay_jobs::Source;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{Path, Query};
use crate::tasks::{enqueue, parse_id, JsonBody, SubmitQuery};
use crate::upload::{self, multipart_error, receive_file, small_text, Received};
use crate::{ApiError, AppState, Caller};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeRequest {
    purl: Option<String>,
    #[serde(default)]
    force: bool,
}

/// `POST /api/v1/analyze/` — `{"purl": "pkg:npm/lodash@4.17.21", "force": false}`.
pub async fn analyze(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SubmitQuery>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request: AnalyzeRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(
            "invalid_input",
            format!("{e}; send {{\"purl\": \"pkg:npm/NAME@VERSION\"}}"),
        )
    })?;
    let input = json!({ "purl": request.purl, "force": request.force });
    accepted(&state, &caller, input, q.priority).await
}

/// Queues the job and answers with its status, queue position and where the report will be.
async fn accepted(
    state: &AppState,
    caller: &Caller,
    input: Value,
    priority: i32,
) -> Result<Response, ApiError> {
    let (job, deduplicated) = enqueue(state, caller, "package", input, priority).await?;
    let position = match job.status {
        JobStatus::Queued => state
            .store
            .get_job_with_position(job.id, &caller.scope())
            .await?
            .and_then(|(_, position)| position),
        _ => None,
    };
    let status = if deduplicated {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json!({
        "task_id": job.id,
        "status": job.status,
        "purl": job.input["purl"],
        "queue_position": position,
        "deduplicated": deduplicated,
        "status_url": format!("/api/v1/task/{}/", job.id),
        "result_url": format!("/api/v1/analyze/{}/", job.id),
    });
    Ok((status, Json(body)).into_response())
}

/// The archive formats packages come in, by name or by magic bytes (gzip, zip, tar).
fn check_looks_like_archive(
    filename: Option<&str>,
    _content_type: Option<&str>,
    head: &[u8],
) -> Result<(), ApiError> {
    const NAMES: [&str; 7] = [
        ".tgz", ".tar.gz", ".tar", ".whl", ".zip", ".egg", ".tar.bz2",
    ];
    let named = filename.is_some_and(|f| {
        let f = f.to_ascii_lowercase();
        NAMES.iter().any(|n| f.ends_with(n))
    });
    let magic = head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"PK\x03\x04")
        || head.starts_with(b"BZh")
        || head.get(257..262) == Some(b"ustar");
    if head.is_empty() {
        return Err(ApiError::Unprocessable(
            "invalid_archive",
            "the uploaded file is empty".into(),
        ));
    }
    if !named && !magic {
        return Err(ApiError::Unprocessable(
            "invalid_archive",
            format!(
                "the file {:?} is not a package archive; send a .tgz, .tar.gz, .whl or .zip",
                filename.unwrap_or("(unnamed)")
            ),
        ));
    }
    Ok(())
}

#[derive(Default)]
struct UploadFields {
    ecosystem: Option<String>,
    force: bool,
}

/// `POST /api/v1/analyze/upload` — multipart `file` (the archive), optional `ecosystem`
/// (`npm` or `pypi`) and `force`.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = upload::multipart(multipart)?;
    let mut file = None;
    let read = read_fields(&state, &mut multipart, &mut file).await;
    let missing = "send the package archive in the multipart field `file`";
    upload::finish(
        &state,
        read,
        file,
        missing,
        async |blob, filename, fields| {
            let input = json!({
                "source": Source::Blob(blob.sha256.clone()),
                "filename": filename,
                "ecosystem": fields.ecosystem,
                "force": fields.force,
            });
            accepted(&state, &caller, input, 0).await
        },
    )
    .await
}

async fn read_fields(
    state: &AppState,
    multipart: &mut Multipart,
    upload: &mut Option<Received>,
) -> Result<UploadFields, ApiError> {
    let mut fields = UploadFields::default();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if upload.is_none() => {
                *upload = Some(
                    receive_file(
                        state,
                        field,
                        state.limits.package_max_bytes,
                        check_looks_like_archive,
                    )
                    .await?,
                );
            }
            Some("ecosystem") => {
                let text = small_text(field).await?.to_lowercase();
                if !text.is_empty() && text != "npm" && text != "pypi" {
                    return Err(ApiError::Unprocessable(
                        "unsupported_ecosystem",
                        format!("ecosystem {text:?} is not supported; use npm or pypi"),
                    ));
                }
                fields.ecosystem = Some(text).filter(|t| !t.is_empty());
            }
            Some("force") => {
                fields.force = matches!(small_text(field).await?.as_str(), "true" | "1" | "yes");
            }
            _ => {}
        }
    }
    Ok(fields)
}

/// `GET /api/v1/analyze/{id}/` — the report once done; the status (and failure reason) before.
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let (job, position) = state
        .store
        .get_job_with_position(id, &caller.scope())
        .await?
        .filter(|(job, _)| job.kind == "package")
        .ok_or_else(|| ApiError::NotFound(format!("no package analysis with id {id}")))?;
    let status = match job.status {
        JobStatus::Queued | JobStatus::Running => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((status, Json(report_json(&job, position))).into_response())
}

fn report_json(job: &Job, queue_position: Option<u64>) -> Value {
    json!({
        "task_id": job.id,
        "status": job.status,
        "purl": job.input["purl"],
        "filename": job.input["filename"],
        "message": job.message,
        "queue_position": queue_position,
        "report": job.result,
    })
}
