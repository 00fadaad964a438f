//! The JSON job API: submit, fetch, list, cancel, queue status, and seed 001's messages.

use std::collections::BTreeMap;

use assay_core::{rfc3339, Job, JobId, JobStatus};
use assay_store::{CancelOutcome, JobFilter, NewJob, ParkedJob};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::extract::{Path, Query};
use crate::{parked, ApiError, AppState, Caller};

/// A JSON request body. An empty body reads as `null`; the content type is not insisted on,
/// so `curl -d '{...}'` works as typed.
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(format!(
                        "the request body is larger than the {}-byte limit",
                        state.limits.json_body_bytes
                    ))
                } else {
                    ApiError::BadRequest("unreadable_body", e.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::BadRequest(
                "malformed_json",
                format!("the request body is not valid JSON: {e}"),
            )
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct SubmitQuery {
    #[serde(default)]
    pub priority: i32,
}

const MAX_PRIORITY: i32 = 100;

/// Validates one submission into the job to store.
fn new_job(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    input: Value,
    priority: i32,
) -> Result<NewJob, ApiError> {
    if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
        return Err(ApiError::BadRequest(
            "invalid_priority",
            format!("priority must be between -{MAX_PRIORITY} and {MAX_PRIORITY}, got {priority}"),
        ));
    }
    let prepared = state.registry.get(kind)?.prepare(input)?;
    Ok(NewJob {
        kind: kind.to_owned(),
        input_sha256: prepared.input_sha256,
        input: prepared.input,
        owner: caller.0.id.clone(),
        priority,
        max_attempts: prepared.max_attempts,
        dedup_key: prepared.dedup_key,
        dedup_window_ms: prepared.dedup_window.as_millis().min(i64::MAX as u128) as i64,
    })
}

/// Validates and queues one job: the shared path of every submit route. Returns the job and
/// whether it is an earlier duplicate.
pub async fn enqueue(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    input: Value,
    priority: i32,
) -> Result<(Job, bool), ApiError> {
    let new = new_job(state, caller, kind, input, priority)?;
    Ok(state.store.enqueue(new).await?)
}

/// Queues one job and answers 202 `{"task_id", "status", "status_url", ...}` (the queue
/// position is in the status; computing it here would cost every submission a query)
/// (200 when an earlier duplicate is returned instead). A kind that allows it is parked in
/// the broker while the database is unreachable (see [`crate::parked`]): 202 with
/// `"parked": true`.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    input: Value,
    priority: i32,
) -> Result<Response, ApiError> {
    let new = new_job(state, caller, kind, input, priority)?;
    let parks = state.broker.is_some()
        && new.dedup_key.is_none()
        && state.registry.get(kind)?.parks_while_database_down();
    if parks && state.database.is_down() {
        return answer_parked(parked::park(state, new).await?);
    }
    let spare = parks.then(|| new.clone());
    let (job, deduplicated) = match state.store.enqueue(new).await {
        Ok(stored) => stored,
        Err(e) if e.is_unavailable() => {
            state.database.mark_down(&state.store);
            return match spare {
                Some(new) => answer_parked(parked::park(state, new).await?),
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let status = if deduplicated {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let body = json!({
        "task_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "deduplicated": deduplicated,
        "status_url": format!("/api/v1/task/{}/", job.id),
    });
    Ok((status, Json(body)).into_response())
}

fn answer_parked(parked: ParkedJob) -> Result<Response, ApiError> {
    let body = json!({
        "task_id": parked.id,
        "kind": parked.job.kind,
        "status": JobStatus::Queued,
        "deduplicated": false,
        "parked": true,
        "status_url": format!("/api/v1/task/{}/", parked.id),
    });
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `POST /api/v1/tasks/{kind}` — e.g. `add` with `{"x": 2, "y": 3}`, or `ping`.
pub async fn submit_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Query(q): Query<SubmitQuery>,
    JsonBody(input): JsonBody,
) -> Result<Response, ApiError> {
    if !state.registry.get(&kind)?.json_submissions() {
        return Err(ApiError::BadRequest(
            "upload_required",
            format!("{kind} jobs take an uploaded file; see /docs for the {kind} upload route"),
        ));
    }
    submit(&state, &caller, &kind, input, q.priority).await
}

pub fn task_json(job: &Job, queue_position: Option<u64>) -> Value {
    json!({
        "task_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "message": job.message,
        "result": job.result,
        "created_at": rfc3339(job.created_at),
        "started_at": job.started_at.map(rfc3339),
        "finished_at": job.finished_at.map(rfc3339),
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "queue_position": queue_position,
    })
}

pub fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    // An id that is not even a UUID names no task: the same 404 as an unknown one.
    raw.parse().map_err(|_| ApiError::task_not_found(raw))
}

/// `GET /api/v1/task/{id}/`
pub async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let (job, position) = state
        .store
        .get_job_with_position(id, &caller.scope())
        .await?
        .ok_or_else(|| ApiError::task_not_found(id))?;
    Ok(Json(task_json(&job, position)))
}

/// `POST /api/v1/task/{id}/cancel`
pub async fn cancel_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    match state.store.cancel(id, &caller.scope()).await? {
        CancelOutcome::Cancelled(job) => Ok(Json(task_json(&job, None))),
        CancelOutcome::AlreadyFinished(job) => Err(ApiError::Conflict(
            "task_finished",
            format!("task {id} already finished with status {}; only queued or running tasks can be cancelled", job.status),
        )),
        CancelOutcome::NotFound => Err(ApiError::task_not_found(id)),
    }
}

/// `?limit=&cursor=` of every listing.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Checks a page request: the page size (1..=200, default 50) and the `seq` to list below.
pub fn page_bounds(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(u32, Option<i64>), ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}, got {limit}"),
        ));
    }
    let before = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(c.parse::<i64>().map_err(|_| {
            ApiError::BadRequest(
                "invalid_cursor",
                format!("{c:?} is not a cursor; pass the next_cursor of a previous page"),
            )
        })?),
        None => None,
    };
    Ok((limit, before))
}

#[derive(Debug, Deserialize)]
pub struct ReportsQuery {
    kind: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

const MAX_PAGE: u32 = 200;

/// `GET /api/v1/reports/` — the caller's jobs, newest first.
pub async fn list_reports(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ReportsQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<JobStatus>()
                .map_err(|e| ApiError::BadRequest("invalid_status", e))?,
        ),
        None => None,
    };
    let kind = q.kind.filter(|k| !k.is_empty());
    if let Some(kind) = &kind {
        state.registry.get(kind)?;
    }
    let (limit, before) = page_bounds(q.limit, q.cursor.as_deref())?;
    let page = state
        .store
        .list_jobs(
            &caller.scope(),
            &JobFilter {
                kind,
                status,
                limit,
                before,
            },
        )
        .await?;
    let items: Vec<Value> = page.jobs.iter().map(|j| task_json(j, None)).collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": page.next_cursor.map(|c| c.to_string()) }),
    ))
}

/// `GET /api/v1/queue/status/` — job counts by status and by kind, in the caller's scope.
pub async fn queue_status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let counts = state.store.counts(&caller.scope()).await?;
    let mut by_status: BTreeMap<&str, i64> =
        JobStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    let mut by_kind: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for c in &counts {
        *by_status.entry(c.status.as_str()).or_default() += c.count;
        by_kind
            .entry(c.kind.clone())
            .or_default()
            .insert(c.status.clone(), c.count);
    }
    let total: i64 = by_status.values().sum();
    Ok(Json(
        json!({ "total": total, "by_status": by_status, "by_kind": by_kind }),
    ))
}

/// `POST /api/v1/messages` — seed 001's save, as JSON.
pub async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody,
) -> Result<Response, ApiError> {
    submit(&state, &caller, "message", input, 0).await
}

/// `GET /api/v1/messages` — stored messages, newest first.
pub async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let messages = state.store.list_messages(&caller.scope(), MAX_PAGE).await?;
    let items: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "task_id": m.job_id, "data": m.data, "template": m.template, "created_at": rfc3339(m.created_at) }))
        .collect();
    Ok(Json(json!({ "items": items })))
}
