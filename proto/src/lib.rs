//! Wire types of Lectern: what crosses a socket between the hub, the appliance and the browser app.
//! Serde only — no logic, no IO. Start with [`signal`] (browser ↔ hub over `/rtc`) and [`token`]
//! (the JWT claims every endpoint checks).

pub mod board;
pub mod breakout;
pub mod classroom;
pub mod device;
pub mod id;
pub mod lesson;
pub mod signal;
pub mod stats;
pub mod token;
pub mod update;
pub mod upload;

pub use id::{ParticipantId, RoomId, TrackId};
pub use lesson::LessonId;
pub use token::{Claims, Role};
