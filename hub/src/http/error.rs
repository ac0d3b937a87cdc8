//! The one HTTP error type: a status, a short machine-readable `error`, a human `detail`.
//! Rendered as JSON `{ "error": "...", "detail": "..." }`; 401s carry `WWW-Authenticate: Bearer`.
//! A failure on the hub's side ([`AppError::internal`]) is logged with its cause; the client only
//! learns that it happened (a database path or SQL error is nobody's business outside).

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
    /// What went wrong inside, for the log only.
    cause: Option<String>,
}

/// What a client is told about an internal error.
const INTERNAL_DETAIL: &str = "the hub could not do this; its log says why";

impl AppError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self { status, error, detail: detail.into(), cause: None }
    }

    /// A failure on the hub's side while `doing` something: `cause` is logged, never sent.
    pub fn internal(doing: &str, cause: impl std::fmt::Display) -> Self {
        let cause = Some(format!("{doing}: {cause:#}"));
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, error: "internal", detail: INTERNAL_DETAIL.into(), cause }
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
        if let Some(cause) = &self.cause {
            tracing::error!(status = %self.status, %cause, "request failed");
        } else if self.status.is_server_error() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: AppError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a test runtime");
        let bytes = rt.block_on(axum::body::to_bytes(resp.into_body(), 4096)).expect("a small body");
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    #[test]
    fn an_internal_error_is_reported_without_its_cause() {
        let (status, json) = body(AppError::internal("reading chat", "no such table: chat at /var/lib/lectern/hub.db"));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(json["error"], "internal");
        let detail = json["detail"].as_str().expect("a detail");
        assert!(!detail.contains("chat") && !detail.contains("/var/lib"), "{detail}");
    }

    #[test]
    fn a_refusal_keeps_its_detail_for_the_client() {
        let (status, json) = body(AppError::bad_request("invalid SDP offer: no m-line"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json, serde_json::json!({ "error": "bad_request", "detail": "invalid SDP offer: no m-line" }));
    }
}
