//! Lessons and their recordings on the hub: each lesson occurrence's id and life ([`lesson`]),
//! and (issue 21) the recording policy, the boxes' uploads and the archive. Start at
//! [`lesson::LessonRun`]; `docs/recording.md` has the design.

pub mod lesson;
pub mod switch;

pub use lesson::{EMPTY_ENDS_LESSON, EndReason, LessonChange, LessonRun};
pub use switch::RecordingSwitch;
