//! The one HTTP error type of the hub and its web admin (the hub depends on this crate, so it
//! lives here): an enum whose variant decides the status and the machine-readable `error` code,
//! rendered as JSON `{ "error": "...", "detail": "..." }`. A bearer-token refusal carries
//! `WWW-Authenticate: Bearer`, a login throttle `Retry-After`. What failed inside (a database
//! error, a path, a cause) is logged and never sent: the client learns only that it happened.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Input that fails validation; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// No or an ended admin session (cookie).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// No or an invalid bearer token: answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Bearer(String),
    #[error("missing or wrong X-CSRF-Token header")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// It was here and is gone for good (a lesson's recordings deleted by retention).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Failed logins past the limit; `Retry-After` says when to try again.
    #[error("too many failed attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// Join attempts from one address past the limit.
    #[error("too many join attempts from your address; wait a minute and try again")]
    TooManyJoins,
    /// A limit other than failed attempts: `detail` says which; come back in `retry_after` s.
    #[error("{detail}")]
    Throttled { detail: String, retry_after: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A part of the server is not there (a media shard ended).
    #[error("{0}")]
    Unavailable(String),
    #[error("{INTERNAL_DETAIL}")]
    Db(#[from] sqlx::Error),
    /// What failed, for the log only.
    #[error("{INTERNAL_DETAIL}")]
    Internal(String),
}

/// What a client is told about an internal error.
const INTERNAL_DETAIL: &str = "the hub could not do this; its log says why";

impl HttpError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Invalid(detail.into())
    }

    /// A bearer token that is missing, malformed, expired or revoked.
    pub fn bearer(detail: impl Into<String>) -> Self {
        Self::Bearer(detail.into())
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }

    pub fn gone(detail: impl Into<String>) -> Self {
        Self::Gone(detail.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::UnsupportedMediaType(detail.into())
    }

    /// A failure on the server's side while `doing` something: `cause` is logged, never sent.
    pub fn internal(doing: &str, cause: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{doing}: {cause:#}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::Bearer(_) => StatusCode::UNAUTHORIZED,
            Self::Csrf | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } | Self::TooManyJoins | Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "bad_request",
            Self::Unauthorized(_) | Self::Bearer(_) => "unauthorized",
            Self::Csrf => "csrf",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Gone(_) => "gone",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyJoins | Self::Throttled { .. } => "too_many_requests",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Db(_) | Self::Internal(_) => "internal",
        }
    }

    fn log(&self) {
        match self {
            Self::Db(cause) => tracing::error!(%cause, "request failed on the database"),
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(detail) => tracing::warn!(status = %self.status(), %detail, "request failed"),
            _ => tracing::debug!(status = %self.status(), detail = %self, "request refused"),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        self.log();
        let mut resp =
            (self.status(), Json(json!({ "error": self.code(), "detail": self.to_string() }))).into_response();
        let headers = resp.headers_mut();
        match &self {
            Self::RateLimited { retry_after } | Self::Throttled { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::Bearer(detail) => {
                let challenge = if detail.contains("missing") {
                    HeaderValue::from_static("Bearer realm=\"lectern\"")
                } else {
                    HeaderValue::from_static("Bearer realm=\"lectern\", error=\"invalid_token\"")
                };
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(e: HttpError) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        let resp = e.into_response();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a test runtime");
        let bytes = rt.block_on(axum::body::to_bytes(resp.into_body(), 4096)).expect("a small body");
        (status, headers, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    #[test]
    fn an_internal_error_is_reported_without_its_cause() {
        for e in [
            HttpError::internal("reading chat", "no such table: chat at /var/lib/lectern/hub.db"),
            HttpError::Db(sqlx::Error::Protocol("no such table: chat".into())),
        ] {
            let (status, _, json) = render(e);
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(json["error"], "internal");
            let detail = json["detail"].as_str().expect("a detail");
            assert!(!detail.contains("chat") && !detail.contains("/var/lib"), "{detail}");
        }
    }

    #[test]
    fn a_refusal_keeps_its_detail_for_the_client() {
        let (status, _, json) = render(HttpError::invalid("invalid SDP offer: no m-line"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json, serde_json::json!({ "error": "bad_request", "detail": "invalid SDP offer: no m-line" }));
    }

    #[test]
    fn a_bearer_refusal_carries_its_challenge_and_a_session_refusal_none() {
        let (_, headers, _) = render(HttpError::bearer("missing Authorization: Bearer token"));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"lectern\"");
        let (_, headers, _) = render(HttpError::bearer("token expired"));
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer realm=\"lectern\", error=\"invalid_token\"");
        let (status, headers, json) = render(HttpError::Unauthorized("not logged in"));
        assert_eq!((status, json["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")));
        assert!(!headers.contains_key(header::WWW_AUTHENTICATE));
    }

    #[test]
    fn a_throttled_login_says_when_to_retry() {
        let (status, headers, json) = render(HttpError::RateLimited { retry_after: 30 });
        assert_eq!((status, json["error"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")));
        assert_eq!(headers[header::RETRY_AFTER], "30");
    }
}
