//! Lessons and their recordings on the hub: each lesson occurrence's id and life ([`lesson`]),
//! the recording policy ([`switch`]), the boxes' resumable uploads ([`upload`], pure; the
//! handlers are `http::recordings`), where the files are kept ([`storage`]), their rows ([`db`]),
//! signed download links ([`link`]) and what a lesson page shows ([`page`]). Start at
//! [`lesson::LessonRun`]; `docs/recording.md` has the design.

pub mod archive;
pub mod db;
pub mod lesson;
pub mod link;
pub mod page;
pub mod recorder;
pub mod retention;
pub mod s3;
pub mod storage;
pub mod switch;
pub mod upload;

pub use archive::Archive;
pub use lesson::{EMPTY_ENDS_LESSON, EndReason, LessonChange, LessonRun};
pub use switch::RecordingSwitch;

/// The web admin's view of `storage`'s totals (`s3`: it is a bucket; else the data dir).
pub fn admin_totals(storage: std::sync::Arc<dyn storage::Storage>, s3: bool) -> lectern_admin::recordings::TotalsFn {
    std::sync::Arc::new(move || {
        let storage = std::sync::Arc::clone(&storage);
        Box::pin(async move {
            let t = storage.totals().await.map_err(|e| e.to_string())?;
            Ok(lectern_admin::recordings::StorageTotals {
                kind: if s3 { "s3" } else { "local" },
                files: t.files,
                bytes: t.bytes,
                partial_files: t.partial_files,
                partial_bytes: t.partial_bytes,
            })
        })
    })
}
