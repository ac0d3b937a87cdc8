//! Lessons and their recordings on the hub: each lesson occurrence's id and life ([`lesson`]),
//! the recording policy ([`switch`]), the boxes' resumable uploads ([`upload`], pure; the
//! handlers are `http::recordings`), where the files are kept ([`storage`]), their rows ([`db`])
//! and signed download links ([`link`]). Start at [`lesson::LessonRun`]; `docs/recording.md` has
//! the design.

pub mod archive;
pub mod db;
pub mod lesson;
pub mod link;
pub mod s3;
pub mod storage;
pub mod switch;
pub mod upload;

pub use archive::Archive;
pub use lesson::{EMPTY_ENDS_LESSON, EndReason, LessonChange, LessonRun};
pub use switch::RecordingSwitch;
