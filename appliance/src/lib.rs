//! Lectern's classroom appliance: captures the room, encodes H.264/Opus and publishes it to the hub over WHIP.
//! Start with `supervisor` (the sans-IO reconnect state machine), then `run` (the thread that drives it),
//! `media` (the GStreamer pipeline and webrtcbin negotiation), `whip` (the HTTP side) and `uplink` (the
//! camera's bitrate following the hub's reports).

pub mod cli;
pub mod config;
pub mod content;
pub mod control;
pub mod loss;
pub mod media;
pub mod panel;
pub mod probe;
pub mod record;
pub mod report;
pub mod run;
pub mod signals;
pub mod snapshot;
pub mod status;
pub mod supervisor;
pub mod tls;
pub mod update;
pub mod uplink;
pub mod whip;
