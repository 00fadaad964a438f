//! API-key authentication: `Authorization: Bearer KEY` or `X-API-Key: KEY` on every user-data
//! route, and additionally `?api_key=KEY` on the two seed-001 browser pages.

use assay_store::{Scope, User};
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::Deserialize;

use crate::{ApiError, AppState};

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl Caller {
    /// Which jobs this caller may see: an admin all, anyone else their own.
    pub fn scope(&self) -> Scope {
        if self.0.is_admin {
            Scope::All
        } else {
            Scope::Owner(self.0.id.clone())
        }
    }
}

fn header_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, key) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn authenticate(state: &AppState, key: Option<&str>) -> Result<Caller, ApiError> {
    let key = key.ok_or(ApiError::Unauthorized)?;
    if state.database.is_down() {
        // Whether an unknown key is valid cannot be told now.
        return state
            .store
            .authenticate_offline(key)
            .map(Caller)
            .ok_or(ApiError::DatabaseDown);
    }
    state
        .store
        .authenticate(key)
        .await?
        .map(Caller)
        .ok_or(ApiError::Unauthorized)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, header_key(&parts.headers)).await
    }
}

/// A caller of a browser page: a header key, or `?api_key=` so the seed's plain links work.
#[derive(Debug, Clone)]
pub struct PageCaller(pub Caller);

#[derive(Deserialize)]
struct KeyQuery {
    api_key: Option<String>,
}

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(key) = header_key(&parts.headers) {
            return authenticate(state, Some(key)).await.map(PageCaller);
        }
        let query =
            Query::<KeyQuery>::try_from_uri(&parts.uri).map_err(|_| ApiError::Unauthorized)?;
        authenticate(state, query.api_key.as_deref())
            .await
            .map(PageCaller)
    }
}
