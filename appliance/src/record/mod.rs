//! Edge recording (issue 21): during a recorded lesson the box writes what it already encodes —
//! the top camera layer's H.264 with the room's Opus, and the laptop's slides — into split MP4
//! files under its data dir, without a second encoder. [`RecordShell`] is what the runner holds:
//! what the hub asked for, the running [`recorder::Recorder`], and the disk budget
//! ([`budget`], pure). `docs/recording.md` has the design.

pub mod budget;
pub mod recorder;
pub mod upload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lectern_proto::LessonId;

pub use budget::{Budget, FileEntry, Plan};
pub use recorder::{RecordError, Recorder};

use crate::media::Pipeline;

/// Where a file's upload is acknowledged: `<file>.uploaded` beside it (written by the uploader);
/// only such files are deleted to make room.
pub const UPLOADED_SUFFIX: &str = ".uploaded";
/// How often the disk is looked at while recording.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The box's `[recording]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Recordings go to `<dir>/<lesson id>/`.
    pub dir: PathBuf,
    /// A new file every this long (`splitmuxsink`'s `max-size-time`), cut at the next keyframe.
    pub fragment: Duration,
    pub budget: Budget,
    /// The uploader's cap in kbit/s (0: none).
    pub upload_kbps: u32,
}

impl RecordSettings {
    /// From the box's `[recording]` configuration.
    pub fn of(c: &lectern_common::box_config::RecordingConfig) -> Self {
        const MB: u64 = 1 << 20;
        Self {
            dir: c.dir.clone(),
            fragment: Duration::from_secs(u64::from(c.fragment_minutes) * 60),
            budget: Budget { max_bytes: u64::from(c.budget_mb) * MB, min_free_bytes: u64::from(c.min_free_mb) * MB },
            upload_kbps: c.upload_kbps,
        }
    }
}

impl Default for RecordSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/lectern/recordings"),
            fragment: Duration::from_secs(10 * 60),
            budget: Budget { max_bytes: 8 << 30, min_free_bytes: 1 << 30 },
            upload_kbps: lectern_common::box_config::DEFAULT_UPLOAD_KBPS,
        }
    }
}

/// What the box's status shows of recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecordStatus {
    /// The lesson being recorded now.
    pub lesson: Option<String>,
    /// Why recording stopped by itself (full disk, budget reached).
    pub failure: Option<String>,
    /// Files not uploaded yet, and their size.
    pub waiting_files: u64,
    pub waiting_bytes: u64,
}

/// What the runner holds: the hub's wish, the running recorder, the budget.
pub struct RecordShell {
    settings: RecordSettings,
    /// The lesson the hub wants recorded (`None`: not recording).
    wanted: Option<LessonId>,
    active: Option<(LessonId, Recorder)>,
    /// The wanted lesson's recording failed or hit the budget: not restarted for it.
    failure: Option<String>,
    last_check: Option<Instant>,
    /// Where closed files go to be uploaded (none: they wait on disk).
    uploads: Option<upload::UploadLink>,
    /// How many of the active recorder's closed files were handed to the uploader.
    announced: usize,
}

impl RecordShell {
    pub fn new(settings: RecordSettings) -> Self {
        Self { settings, wanted: None, active: None, failure: None, last_check: None, uploads: None, announced: 0 }
    }

    /// Hands each file to `link` as the recorder closes it.
    pub fn set_uploads(&mut self, link: upload::UploadLink) {
        self.uploads = Some(link);
    }

    /// The active recorder's files closed since last time go to the uploader.
    fn announce(&mut self) {
        let (Some(link), Some((_, r))) = (&self.uploads, &self.active) else { return };
        let closed = r.closed_files();
        if closed.len() > self.announced {
            link.closed(closed[self.announced..].to_vec());
            self.announced = closed.len();
        }
    }

    pub fn settings(&self) -> &RecordSettings {
        &self.settings
    }

    /// The hub asks to record `lesson` (or to stop, `None`); `live` is the publish pipeline if
    /// one is playing.
    pub fn want(&mut self, lesson: Option<LessonId>, live: Option<&Pipeline>) {
        if lesson != self.wanted {
            self.failure = None;
        }
        self.wanted = lesson;
        if self.active.as_ref().is_some_and(|(l, _)| Some(l) != self.wanted.as_ref()) {
            self.detach();
        }
        if let Some(live) = live {
            self.attach(live);
        }
    }

    /// A publish pipeline is playing: record it if the hub wants this lesson recorded.
    pub fn attach(&mut self, live: &Pipeline) {
        let Some(lesson) = self.wanted.clone() else { return };
        if self.active.is_some() || self.failure.is_some() {
            return;
        }
        let plan = self.enforce_budget();
        if plan.stop {
            self.fail(&lesson, "the recordings' disk budget is used up by files not uploaded yet".into());
            return;
        }
        let dir = self.settings.dir.join(lesson.as_str());
        let prefix = lectern_common::time::unix_ms().to_string();
        match Recorder::start(live, &dir, &prefix, self.settings.fragment) {
            Ok(r) => {
                self.active = Some((lesson, r));
                self.announced = 0;
            }
            Err(e) => self.fail(&lesson, e.to_string()),
        }
    }

    /// The publish pipeline goes (lesson over, reconnect): finish the files now.
    pub fn detach(&mut self) {
        if let Some((lesson, r)) = self.active.take() {
            let files = r.stop();
            tracing::info!(%lesson, files = files.len(), "recording finished");
            if let Some(link) = &self.uploads {
                link.closed(files.into_iter().skip(self.announced).collect());
            }
            self.announced = 0;
        }
    }

    /// Looks at the recorder and the disk (at most every few seconds): a recording that failed
    /// by itself stops; over budget, uploaded files are deleted, and if that is not enough the
    /// recording stops. The live lesson is never touched. The status, when it was looked at.
    pub fn check(&mut self, now: Instant) -> Option<RecordStatus> {
        if self.last_check.is_some_and(|t| now.duration_since(t) < CHECK_EVERY) {
            return None;
        }
        self.last_check = Some(now);
        self.announce();
        if let Some(reason) = self.active.as_ref().and_then(|(_, r)| r.failure()) {
            if let Some((lesson, r)) = self.active.take() {
                drop(r);
                self.fail(&lesson, reason);
            }
        } else if self.active.is_some()
            && self.enforce_budget().stop
            && let Some((lesson, r)) = self.active.take()
        {
            drop(r);
            self.fail(&lesson, "the recordings' disk budget is used up by files not uploaded yet".into());
        }
        Some(self.status())
    }

    pub fn status(&self) -> RecordStatus {
        let waiting: Vec<FileEntry> = scan(&self.settings.dir).into_iter().filter(|f| !f.uploaded).collect();
        RecordStatus {
            lesson: self.active.as_ref().map(|(l, _)| l.to_string()),
            failure: self.failure.clone(),
            waiting_files: waiting.len() as u64,
            waiting_bytes: waiting.iter().map(|f| f.bytes).sum(),
        }
    }

    fn fail(&mut self, lesson: &LessonId, reason: String) {
        tracing::error!(%lesson, %reason, "not recording: the lesson goes on without it");
        self.failure = Some(reason);
    }

    /// Deletes what the budget says may go; returns the plan.
    fn enforce_budget(&self) -> Plan {
        let files = scan(&self.settings.dir);
        let plan = budget::plan(&files, self.settings.budget, free_bytes(&self.settings.dir));
        for path in &plan.delete {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    let _ = std::fs::remove_file(marker(path));
                    let _ = std::fs::remove_file(recorder::start_marker(path));
                    tracing::info!(file = %path.display(), "deleted an uploaded recording to make room");
                }
                Err(e) => tracing::warn!(file = %path.display(), %e, "could not delete an uploaded recording"),
            }
        }
        plan
    }
}

impl Drop for RecordShell {
    fn drop(&mut self) {
        self.detach();
    }
}

/// `<file>.uploaded`.
pub fn marker(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(UPLOADED_SUFFIX);
    PathBuf::from(name)
}

/// The `.mp4` files under `dir` (one level of lesson directories), oldest first.
pub fn scan(dir: &Path) -> Vec<FileEntry> {
    let mut found = Vec::new();
    let lessons = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for lesson in lessons.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
        for f in std::fs::read_dir(lesson.path()).into_iter().flatten().flatten() {
            let path = f.path();
            let Ok(meta) = f.metadata() else { continue };
            if !meta.is_file() || path.extension().is_none_or(|e| e != "mp4") {
                continue;
            }
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((modified, FileEntry { uploaded: marker(&path).exists(), bytes: meta.len(), path }));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(&b.1.path)));
    found.into_iter().map(|(_, f)| f).collect()
}

/// Free bytes on `dir`'s filesystem (its nearest existing ancestor's); `u64::MAX` if unknown, so
/// a failed look never stops a recording by itself (a full disk still does, by its write error).
fn free_bytes(dir: &Path) -> u64 {
    let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(Path::new("/"));
    rustix::fs::statvfs(existing).map_or(u64::MAX, |s| s.f_bavail.saturating_mul(s.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_lesson_files_oldest_first_with_their_upload_marks() {
        let root = tempfile::tempdir().expect("tempdir");
        let lesson = root.path().join("lab.1");
        std::fs::create_dir_all(&lesson).expect("mkdir");
        let a = lesson.join("1-camera-000.mp4");
        let b = lesson.join("1-camera-001.mp4");
        std::fs::write(&a, vec![0u8; 10]).expect("write");
        std::fs::write(&b, vec![0u8; 20]).expect("write");
        std::fs::write(marker(&a), b"").expect("write");
        std::fs::write(lesson.join("notes.txt"), b"x").expect("write");
        let files = scan(root.path());
        assert_eq!(files.len(), 2, "{files:?}");
        let a_entry = files.iter().find(|f| f.path == a).expect("a found");
        let b_entry = files.iter().find(|f| f.path == b).expect("b found");
        assert_eq!((a_entry.bytes, a_entry.uploaded), (10, true));
        assert_eq!((b_entry.bytes, b_entry.uploaded), (20, false));
        assert!(free_bytes(&root.path().join("not-yet")) > 0);
        assert!(scan(&root.path().join("missing")).is_empty());
    }
}
