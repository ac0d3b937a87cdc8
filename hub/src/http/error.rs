//! The one HTTP error type: a status, a short machine-readable `error`, a human `detail`.
//! Rendered as JSON `{ "error": "...", "detail": "..." }`; 401s carry `WWW-Authenticate: Bearer`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::sfu::SfuError;
use crate::token::TokenError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub error: &'static str,
    pub detail: String,
}

impl AppError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self { status, error, detail: detail.into() }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail)
    }
}

impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        AppError::unauthorized(e.to_string())
    }
}

impl From<SfuError> for AppError {
    fn from(e: SfuError) -> Self {
        match e {
            SfuError::BadOffer(_) | SfuError::BadAnswer(_) => AppError::bad_request(e.to_string()),
            SfuError::UnknownParticipant => AppError::not_found(e.to_string()),
            SfuError::Conflict(_) => AppError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            SfuError::ShardGone => AppError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
            SfuError::Denied(_) => AppError::forbidden(e.to_string()),
            SfuError::Classroom(_) => AppError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, detail = %self.detail, "request failed");
        } else {
            tracing::debug!(status = %self.status, detail = %self.detail, "request refused");
        }
        let mut resp = (self.status, Json(json!({ "error": self.error, "detail": self.detail }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let value = if self.detail.contains("missing") {
                HeaderValue::from_static("Bearer realm=\"lectern\"")
            } else {
                HeaderValue::from_static("Bearer realm=\"lectern\", error=\"invalid_token\"")
            };
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        resp
    }
}
