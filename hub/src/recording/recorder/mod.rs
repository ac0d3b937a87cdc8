//! The hub recorder: lessons without a box (a teacher at home) and, where the room records
//! students, their cameras and microphones, written from the forwarded RTP without transcoding.
//!
//! - The room (`sfu::room::record`) decides who is recorded and hands each of their packets out
//!   as a [`RecordOutput`] (effects as data, like everything a room does).
//! - The shard's shell gives them to [`Recorders`], which runs one writer thread per recorded
//!   publisher behind a bounded queue: a writer that falls behind loses packets (and resyncs at
//!   the next keyframe), forwarding never waits for it.
//! - A writer (`writer`) drives a [`file::FileRecorder`] (reorder, depacketize, mux: pure) and
//!   does the IO: the file under `<data_dir>/recorder/`, then into the `Storage`, a row in
//!   `recordings`.

pub mod file;
pub mod fmp4;
pub mod reorder;
pub mod sample;
mod sps;
pub mod stream;
pub mod webm;
pub mod writer;

pub use writer::{RecordOutput, RecordPacket, Recorders};
