use assay_core::InputError;
use assay_store::StoreError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use thiserror::Error;
use tracing::error;

/// Every error the API answers, each with a stable code and status. The body is always
/// `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error(
        "missing or invalid API key; send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
    )]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("storing the upload failed; the server log has the details")]
    Storage(String),
    #[error("internal error; the server log has the details")]
    Internal(#[source] StoreError),
    #[error("the database is unreachable; nothing was stored, try again shortly")]
    Unavailable(#[source] StoreError),
    /// The database failed a moment ago and has not answered a probe since: not asked again.
    #[error("the database is unreachable; nothing was stored, try again shortly")]
    DatabaseDown,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable(e)
        } else {
            ApiError::Internal(e)
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Input(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) | ApiError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) | ApiError::DatabaseDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(code, _)
            | ApiError::Conflict(code, _)
            | ApiError::Unprocessable(code, _) => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Input(e) => e.code(),
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) | ApiError::DatabaseDown => "database_unavailable",
            ApiError::Storage(_) => "storage_failed",
        }
    }

    pub fn task_not_found(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("no task with id {id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => error!(error = %cause, "request failed"),
            ApiError::Unavailable(cause) => error!(error = %cause, "the database is unreachable"),
            ApiError::Storage(cause) => error!(error = %cause, "storing an upload failed"),
            _ => {}
        }
        let body = Json(json!({ "error": { "code": self.code(), "message": self.to_string() } }));
        let mut response = (self.status(), body).into_response();
        if matches!(self, ApiError::Unavailable(_) | ApiError::DatabaseDown) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
