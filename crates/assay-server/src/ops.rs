//! Unauthenticated operational routes: liveness, readiness, metrics and the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

/// `GET /healthz` (and `/health`): the process is up. Touches nothing else, so it stays cheap.
pub async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /ready`: 200 only when the database answers, the queue table can be read and, in
/// `real` circles mode, the model server says the model is ready.
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = match tokio::time::timeout(READY_TIMEOUT, state.store.check()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", READY_TIMEOUT.as_secs())),
    };
    let queue = match &database {
        Ok(()) => tokio::time::timeout(READY_TIMEOUT, state.store.queue_depth())
            .await
            .map_err(|_| "no answer".to_owned())
            .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string())),
        Err(_) => Err("database unavailable".to_owned()),
    };
    let describe = |r: &Result<(), String>| {
        r.as_ref()
            .map(|_| "ok".to_owned())
            .unwrap_or_else(|e| e.clone())
    };
    let mut ready = database.is_ok() && queue.is_ok();
    let mut checks = json!({ "database": describe(&database), "queue": describe(&queue) });
    if let Some(server) = &state.model_server {
        let model = server.ready().await.map_err(|e| e.to_string());
        ready &= model.is_ok();
        checks["model_server"] = json!(describe(&model));
    }
    if let Some(broker) = &state.broker {
        let answer = tokio::time::timeout(READY_TIMEOUT, broker.check())
            .await
            .map_err(|_| format!("no answer within {}s", READY_TIMEOUT.as_secs()))
            .and_then(|r| r.map_err(|e| e.to_string()));
        ready &= answer.is_ok();
        checks["broker"] = json!(describe(&answer));
    }
    let body = json!({ "ready": ready, "checks": checks });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus/OpenMetrics text.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Ok(depths) = state.store.queue_depth().await {
        for kind in state.registry.names() {
            let depth = depths
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(0, |(_, d)| *d);
            state.metrics.set_queue_depth(kind, depth);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// `GET /openapi.json`
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}
