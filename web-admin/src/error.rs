//! The one error type of the admin crate, used by the library functions and rendered by the API as
//! JSON `{ "error": "...", "detail": "..." }` with its status. Database details go to the log, never
//! to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that fails validation; the message names the field.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("missing or wrong X-CSRF-Token header")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::Invalid(detail.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Csrf | Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Db(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short machine-readable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "bad_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Csrf => "csrf",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::Conflict(_) => "conflict",
            Error::RateLimited { .. } => "rate_limited",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Db(_) | Error::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Db(e) => tracing::warn!(error = %e, "admin request failed on the database"),
            Error::Internal(e) => tracing::warn!(error = %e, "admin request failed"),
            _ => tracing::debug!(status = %self.status(), detail = %self, "admin request refused"),
        }
        let mut resp =
            (self.status(), Json(json!({ "error": self.code(), "detail": self.to_string() }))).into_response();
        if let Error::RateLimited { retry_after } = self {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        resp
    }
}
