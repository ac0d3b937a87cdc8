//! The admin crate's error: the hub's and the admin's one HTTP error type ([`crate::http_error`]),
//! used by the library functions too and rendered by the API as JSON `{ "error", "detail" }`.

pub use crate::http_error::HttpError as Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;
