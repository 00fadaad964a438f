//! Seed 002's CSV analysis API: `POST /analyse` (multipart upload) and `GET /analyse/{id}`,
//! answering in the seed's FapAnalysis vocabulary (`progressing | success | fail`). The job
//! itself is an ordinary `csv` job, also visible at `/api/v1/task/{id}/`.

use assay_core::{Job, JobStatus};
use assay_jobs::Source;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::extract::Path;
use crate::tasks::{enqueue, parse_id};
use crate::upload::{self, multipart_error, receive_file, small_text, Received};
use crate::{ApiError, AppState, Caller};

/// The seed's "very basic validation": a name or type that says CSV, and text rather than binary.
fn check_looks_like_csv(
    filename: Option<&str>,
    content_type: Option<&str>,
    head: &[u8],
) -> Result<(), ApiError> {
    let named_csv = filename.is_some_and(|f| {
        let f = f.to_ascii_lowercase();
        f.ends_with(".csv") || f.ends_with(".tsv") || f.ends_with(".txt")
    });
    let typed_csv = content_type.is_some_and(|t| {
        t.starts_with("text/csv")
            || t.starts_with("text/plain")
            || t.starts_with("text/tab-separated-values")
            || t.starts_with("application/vnd.ms-excel")
    });
    if !named_csv && !typed_csv {
        return Err(ApiError::Unprocessable(
            "invalid_csv",
            format!(
                "the file {:?} ({}) does not look like CSV; send a .csv file or the text/csv content type",
                filename.unwrap_or("(unnamed)"),
                content_type.unwrap_or("no content type")
            ),
        ));
    }
    if head.is_empty() {
        return Err(ApiError::Unprocessable(
            "invalid_csv",
            "the uploaded file is empty".into(),
        ));
    }
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && head.contains(&0) {
        return Err(ApiError::Unprocessable(
            "invalid_csv",
            "the uploaded file is binary (it contains NUL bytes), not CSV text".into(),
        ));
    }
    Ok(())
}

/// `POST /analyse` — multipart field `file` (and optionally `delimiter`).
pub async fn analyse(
    State(state): State<AppState>,
    caller: Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = upload::multipart(multipart)?;
    let mut file = None;
    let read = read_fields(&state, &mut multipart, &mut file).await;
    let missing = "send the CSV file in the multipart field `file`";
    upload::finish(&state, read, file, missing, async |blob, filename, delimiter| {
        let input = json!({ "source": Source::Blob(blob.sha256.clone()), "filename": filename, "delimiter": delimiter });
        let (job, deduplicated) = enqueue(&state, &caller, "csv", input, 0).await?;
        let mut body = fap_record(&job);
        body["deduplicated"] = json!(deduplicated);
        let status = if deduplicated { StatusCode::OK } else { StatusCode::ACCEPTED };
        Ok((status, Json(body)).into_response())
    })
    .await
}

/// Reads the form: stores the `file` field into `upload`, answers the `delimiter` option.
async fn read_fields(
    state: &AppState,
    multipart: &mut Multipart,
    upload: &mut Option<Received>,
) -> Result<Option<char>, ApiError> {
    let mut delimiter = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") if upload.is_none() => {
                *upload = Some(
                    receive_file(
                        state,
                        field,
                        state.limits.csv_max_bytes,
                        check_looks_like_csv,
                    )
                    .await?,
                );
            }
            Some("delimiter") => {
                let text = small_text(field).await?;
                let text = if text == "\\t" { "\t".to_owned() } else { text };
                let mut chars = text.chars();
                delimiter = match (chars.next(), chars.next()) {
                    (Some(c), None) => Some(c),
                    (None, _) => None,
                    _ => {
                        return Err(ApiError::BadRequest(
                            "invalid_input",
                            format!("delimiter must be one character, got {text:?}"),
                        ))
                    }
                };
            }
            _ => {}
        }
    }
    Ok(delimiter)
}

/// `GET /analyse/{id}`
pub async fn get_analysis(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let job = state
        .store
        .get_job(id, &caller.scope())
        .await?
        .filter(|j| j.kind == "csv")
        .ok_or_else(|| ApiError::NotFound(format!("no analysis with id {id}")))?;
    Ok(Json(fap_record(&job)))
}

/// A job in the seed's FapAnalysis shape.
fn fap_record(job: &Job) -> Value {
    let (status, message) = match job.status {
        JobStatus::Queued if job.attempts == 0 => (
            "progressing",
            "File uploaded; waiting for analysis.".to_owned(),
        ),
        JobStatus::Queued | JobStatus::Running => (
            "progressing",
            job.message
                .clone()
                .unwrap_or_else(|| "Analysis in progress.".into()),
        ),
        JobStatus::Done => ("success", "Analysis completed successfully.".to_owned()),
        JobStatus::Failed => (
            "fail",
            job.message
                .clone()
                .unwrap_or_else(|| "Failed to process data".into()),
        ),
        JobStatus::Cancelled => (
            "fail",
            "Failed to process data: the analysis was cancelled.".to_owned(),
        ),
    };
    let mut record = json!({
        "id": job.id,
        "stage": job.stage,
        "status": status,
        "message": message,
        "sha256": job.input_sha256,
        "filename": job.input["filename"],
    });
    if job.status == JobStatus::Done {
        record["result"] = job.result.clone().unwrap_or(Value::Null);
    }
    record
}
