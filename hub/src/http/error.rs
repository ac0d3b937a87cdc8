//! The hub's HTTP errors are the web admin's ([`lectern_admin::http_error::HttpError`]): one enum,
//! one JSON shape `{ "error", "detail" }`, internal causes logged and never sent. Here: how the
//! hub's own failures (a token, a shard) map onto it.

pub use lectern_admin::http_error::HttpError;

use crate::sfu::SfuError;
use crate::token::TokenError;

impl From<TokenError> for HttpError {
    fn from(e: TokenError) -> Self {
        HttpError::bearer(e.to_string())
    }
}

impl From<SfuError> for HttpError {
    fn from(e: SfuError) -> Self {
        match e {
            SfuError::BadOffer(_) | SfuError::BadAnswer(_) => HttpError::invalid(e.to_string()),
            SfuError::UnknownParticipant => HttpError::not_found(e.to_string()),
            SfuError::Conflict(_) | SfuError::Classroom(_) => HttpError::conflict(e.to_string()),
            SfuError::ShardGone | SfuError::Busy => HttpError::Unavailable(e.to_string()),
            SfuError::Denied(_) => HttpError::forbidden(e.to_string()),
        }
    }
}
