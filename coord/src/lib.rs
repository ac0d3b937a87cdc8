//! How several hubs agree on who serves a room (issue 20; `docs/cluster.md`).
//!
//! - [`lease`]: one node's claim on one room, as a sans-IO state machine: it says which request to
//!   send (acquire, renew, release) and learns from the replies; time is passed in.
//! - [`model`]: what the coordination store does with those requests, as plain data (the
//!   in-process store, and the specification the Redis scripts in [`script`] implement).
//! - [`registry`]: what each hub says about itself; [`placement`]: where a new room goes.
//! - [`resp`] and [`redis`]: the Redis side, a small RESP2 client that runs those scripts.
//!
//! Safety rests on three rules, argued in `docs/cluster.md` and checked by the property test in
//! `tests/lease_safety.rs`: a node counts its lease from when it *sent* the request that won it;
//! a renewal only ever extends a key the node still holds or that has vanished; and after the store
//! loses its keys (a Redis restart without persistence) nobody but a renewing owner may take a
//! room for one lease period, measured on the store's own clock. On top, every lease has an epoch
//! that the database's [`fence`] must take before the lease counts, and the owner's writes carry it.

pub mod backend;
pub mod fence;
pub mod lease;
pub mod leases;
pub mod model;
pub mod placement;
pub mod redis;
pub mod registry;
pub mod resp;
pub mod script;

pub use backend::Coord;
pub use fence::{Fence, LocalFence};
pub use lease::{LeaseKeeper, LeaseTiming, Reply, Request};
pub use leases::Leases;
pub use model::{MemoryFence, MemoryStore};

/// Milliseconds on some clock: a node's monotonic clock in [`lease`], the store's in [`model`].
pub type Millis = u64;
