//! Receiving uploaded files: multipart fields streamed into the blob store under a size limit,
//! after a look at their first bytes.

use assay_blob::{BlobError, BlobRef};
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::Multipart;
use axum::http::StatusCode;
use axum::response::Response;
use futures::{StreamExt, TryStreamExt};

use crate::{ApiError, AppState};

/// Bytes gathered before storing anything, for the caller's check.
const SNIFF_BYTES: usize = 8192;

/// A stored upload.
pub struct Received {
    pub blob: BlobRef,
    pub filename: Option<String>,
}

pub fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!("the upload is too large: {}", e.body_text()))
    } else {
        ApiError::BadRequest(
            "invalid_multipart",
            format!(
                "the upload is not valid multipart/form-data: {}",
                e.body_text()
            ),
        )
    }
}

/// The `Multipart` extractor's rejection (wrong content type, no boundary) in the API's shape.
pub fn multipart(result: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    result.map_err(|e| {
        ApiError::BadRequest(
            "invalid_multipart",
            format!("send the file as multipart/form-data: {}", e.body_text()),
        )
    })
}

/// The longest value accepted in a multipart text field (options such as `delimiter`).
const MAX_TEXT_FIELD: usize = 256;

/// Reads a small multipart text field, refusing it past [`MAX_TEXT_FIELD`] bytes.
pub async fn small_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let name = field.name().unwrap_or_default().to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            return Err(ApiError::BadRequest(
                "invalid_input",
                format!("the field {name} is longer than {MAX_TEXT_FIELD} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::BadRequest(
            "invalid_input",
            format!("the field {name} is not UTF-8 text"),
        )
    })
}

/// Deletes a blob this request created, after the upload was refused: nothing else refers to
/// it, and refused uploads must not fill the disk.
pub async fn discard(state: &AppState, blob: &BlobRef) {
    if blob.created {
        if let Err(e) = state.blobs.remove(&blob.sha256).await {
            tracing::warn!(error = %e, sha256 = %blob.sha256, "could not delete a refused upload");
        }
    }
}

/// Ends an upload route: `missing_file` without a file; otherwise `accept` gets the stored
/// file and the form's other fields (`read`), and a refused upload is deleted.
pub async fn finish<T>(
    state: &AppState,
    read: Result<T, ApiError>,
    file: Option<Received>,
    missing: &str,
    accept: impl AsyncFnOnce(&BlobRef, Option<String>, T) -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let Some(Received { blob, filename }) = file else {
        read?;
        return Err(ApiError::BadRequest("missing_file", missing.to_owned()));
    };
    let answer = match read {
        Ok(fields) => accept(&blob, filename, fields).await,
        Err(e) => Err(e),
    };
    if answer.is_err() {
        discard(state, &blob).await;
    }
    answer
}

/// Streams `field` into the blob store, refusing more than `limit` bytes, once `check`
/// (given the file name, content type and first bytes) accepted it.
pub async fn receive_file(
    state: &AppState,
    field: Field<'_>,
    limit: u64,
    check: impl Fn(Option<&str>, Option<&str>, &[u8]) -> Result<(), ApiError>,
) -> Result<Received, ApiError> {
    let filename = field.file_name().map(str::to_owned);
    let content_type = field.content_type().map(str::to_owned);
    let mut stream = Box::pin(field.map_err(|e| e.body_text()));
    let mut head = Vec::new();
    while head.len() < SNIFF_BYTES {
        match stream
            .try_next()
            .await
            .map_err(|e| ApiError::BadRequest("invalid_multipart", e))?
        {
            Some(chunk) => head.extend_from_slice(&chunk),
            None => break,
        }
    }
    check(
        filename.as_deref(),
        content_type.as_deref(),
        &head[..head.len().min(SNIFF_BYTES)],
    )?;
    let first = axum::body::Bytes::copy_from_slice(&head);
    let chunks = futures::stream::once(async { Ok(first) }).chain(stream);
    let blob = state
        .blobs
        .put_stream(Box::pin(chunks), limit)
        .await
        .map_err(|e| match e {
            BlobError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            BlobError::Interrupted(m) => ApiError::BadRequest("invalid_multipart", m),
            other => ApiError::Storage(other.to_string()),
        })?;
    Ok(Received { blob, filename })
}
