//! The selective forwarding unit's sans-IO core: no socket, no clock, no channel. Start reading at
//! [`core::ShardCore`] (transport and dispatch), then [`room::Room`] (the Room plane). The IO
//! around it (threads, sockets, the clock, delivering what rooms report) is [`crate::media_io`].

pub mod allocator;
pub mod codec;
pub mod command;
pub mod core;
pub mod gop;
pub mod keyframe;
pub mod peer;
pub mod peer_table;
pub mod room;
pub mod rtx_budget;
pub mod simulcast;
pub mod speaker;
pub mod timer;
pub mod track_limit;

pub use command::{Access, Command, Ident, LessonReport, RoomSettings, SfuError, Socket};
