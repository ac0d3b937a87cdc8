//! The box adapts to its uplink: GStreamer 1.22's webrtcbin does not act on the hub's RTCP
//! feedback itself, so this reads the hub's receiver reports (loss, round trip) from webrtcbin's
//! statistics once a second and lowers or raises the camera encoders' bitrates within the
//! configured bounds. Start with `controller` (the sans-IO decision), then `task` (the thread).

pub mod controller;
mod feedback;
mod status;
mod task;

pub use controller::{Controller, Feedback, Ladder, Reason};
pub use feedback::{FeedbackReader, Reading};
pub use status::UplinkStatus;
pub use task::{Adapter, PERIOD, UplinkTask};
