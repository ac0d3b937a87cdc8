//! WHIP (RFC 9725) and WHEP as protocols, apart from serving them: the ICE servers as `Link`
//! headers, trickled candidates from an `application/trickle-ice-sdpfrag` body, the m-line of a
//! classroom box's offer that carries slides, the table of live sessions (resources) and who may
//! open another (admission). No axum here; the handlers in [`crate::http::whip`] extract, call
//! these and respond.

pub mod admission;
pub mod link;
pub mod resource;
pub mod slides;
pub mod trickle;

pub use link::ice_server_links;
pub use resource::{Flow, Resource, Resources};
pub use slides::slides_mid;
pub use trickle::{TrickleError, candidates};
