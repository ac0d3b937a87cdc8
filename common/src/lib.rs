//! What the hub, the web admin and the classroom box share beyond wire types (`lectern-proto`):
//! the box's configuration schema with its one set of rules (`box_config`), retry backoff,
//! systemd's notification protocol, wall-clock time, and client addresses as limit keys. No IO beyond a datagram to systemd.
//! Start with `box_config`: the box validates its files with it and the admin validates a push.

pub mod backoff;
pub mod box_config;
pub mod net;
pub mod sd_notify;
/// Test databases on SQLite and a real PostgreSQL (feature `test-db`, for dev-dependencies only).
#[cfg(feature = "test-db")]
pub mod test_db;
pub mod time;
