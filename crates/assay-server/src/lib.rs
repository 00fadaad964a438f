//! assay's HTTP face: the JSON API, seed 001's pages, health, metrics and docs.
//!
//! Handlers are glue: they authenticate the caller, let the job kind parse the input, and
//! hand work to the store. Every error leaves through [`ApiError`], which gives it a stable
//! code and status and the one JSON shape `{"error": {"code", "message"}}`.

mod auth;
mod csv;
mod error;
mod extract;
mod images;
mod metrics;
mod ops;
mod packages;
mod pages;
mod parked;
mod tasks;
mod upload;

use std::sync::Arc;

use assay_blob::BlobStore;
use assay_core::Registry;
use assay_jobs::ModelServer;
use assay_store::Store;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;

pub use auth::Caller;
pub use error::ApiError;
pub use metrics::Metrics;
pub use parked::DatabaseHealth;

/// The OpenAPI 3 document served at `/openapi.json` and rendered at `/docs`.
pub const OPENAPI: &str = include_str!("../openapi.json");

#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest JSON body accepted; larger ones get 413.
    pub json_body_bytes: usize,
    /// The largest CSV upload accepted; larger ones get 413.
    pub csv_max_bytes: u64,
    /// The largest image upload accepted; larger ones get 413.
    pub image_max_bytes: u64,
    /// The largest package archive accepted; larger ones get 413.
    pub package_max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            json_body_bytes: 64 * 1024,
            csv_max_bytes: 1 << 30,
            image_max_bytes: 50 << 20,
            package_max_bytes: 200 << 20,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub blobs: BlobStore,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    /// The KServe model server, in `real` circles mode; `/ready` checks it.
    pub model_server: Option<ModelServer>,
    /// The broker queued jobs are announced through, when one is configured; `/ready` checks it.
    pub broker: Option<Arc<dyn assay_broker::Broker>>,
    /// Bounds how many uploaded images are decoded for validation at once.
    pub decode_slots: Arc<Semaphore>,
    /// Whether the database was just found unreachable (see [`parked`]).
    pub database: Arc<DatabaseHealth>,
}

impl AppState {
    /// The decoding limits for uploaded images.
    pub fn image_limits(&self) -> assay_circles::Limits {
        assay_circles::Limits {
            max_bytes: self.limits.image_max_bytes,
            ..assay_circles::Limits::default()
        }
    }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.json_body_bytes;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/health", get(ops::healthz))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(pages::docs))
        .route("/api/v1/tasks/{kind}", post(tasks::submit_task))
        .route("/api/v1/task/{id}/", get(tasks::get_task))
        .route("/api/v1/task/{id}", get(tasks::get_task))
        .route("/api/v1/task/{id}/cancel", post(tasks::cancel_task))
        .route("/api/v1/reports/", get(tasks::list_reports))
        .route("/api/v1/reports", get(tasks::list_reports))
        .route("/api/v1/queue/status/", get(tasks::queue_status))
        .route("/api/v1/queue/status", get(tasks::queue_status))
        .route(
            "/api/v1/messages",
            post(tasks::post_message).get(tasks::list_messages),
        )
        .route(
            "/analyse",
            // Uploads are streamed to disk and bounded by `csv_max_bytes`, not buffered.
            post(csv::analyse).layer(DefaultBodyLimit::disable()),
        )
        .route("/analyse/{id}", get(csv::get_analysis))
        .route("/api/v1/analyze/", post(packages::analyze))
        .route("/api/v1/analyze", post(packages::analyze))
        .route(
            "/api/v1/analyze/upload",
            post(packages::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/analyze/{id}/", get(packages::report))
        .route("/api/v1/analyze/{id}", get(packages::report))
        .route(
            "/api/v1/images",
            post(images::upload)
                .get(images::list)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/images/{id}", get(images::detail))
        .route("/api/v1/images/{id}/objects/{oid}", get(images::object))
        .route("/api/v1/images/{id}/file", get(images::file))
        .route("/api/v1/images/{id}/annotated.png", get(images::annotated))
        .route("/save", get(pages::save))
        .route("/view", get(pages::view))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::track,
        ))
        .with_state(state)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{method} is not allowed on {}; see /docs for the API",
        uri.path()
    ))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no route for {}; see /docs for the API",
        uri.path()
    ))
}
