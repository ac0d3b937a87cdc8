//! The uploader's state machine, without IO or a clock of its own (str0m's shape): files come in
//! ([`Input::Closed`]), the hub's answers come in, and [`Queue::poll`] says what to do next — open
//! an upload (hash + create), ask the hub's offset, send a chunk, write the `.uploaded` marker, or
//! wait. One file at a time, oldest first; a failure waits a growing, jittered delay and then asks
//! the hub where it stands, so a cut connection resumes from the hub's acknowledged offset.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lectern_common::backoff::Backoff;
use lectern_proto::LessonId;
use lectern_proto::upload::{RecordingKind, RecordingState};
use rand::Rng;

/// The chunk the box sends per request: small enough that a cut costs little, large enough that
/// requests are few (the hub takes up to `MAX_CHUNK_BYTES`).
pub const CHUNK_BYTES: u64 = 1024 * 1024;
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(120);

/// A finished recording file on the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    pub path: PathBuf,
    pub lesson: LessonId,
    pub kind: RecordingKind,
    /// The file's name, the hub's name for it too.
    pub name: String,
}

impl LocalFile {
    /// `<dir>/<lesson id>/<ms>-<kind>-<n>.mp4` as the recorder names its files; `None` for anything else.
    pub fn of(path: PathBuf) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_owned();
        let lesson = LessonId::parse(path.parent()?.file_name()?.to_str()?).ok()?;
        let stem = name.strip_suffix(".mp4")?;
        let kind = stem.split('-').nth(1).and_then(RecordingKind::parse)?;
        Some(Self { path, lesson, kind, name })
    }
}

/// What the hub said of the current file's upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubView {
    pub id: i64,
    pub offset: u64,
    pub size: u64,
    pub state: RecordingState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Files ready to go (closed by the recorder, finished at the lesson's end, found at start-up).
    Closed(Vec<LocalFile>),
    /// The hub's answer to a create, an offset question or a chunk (also a 409 naming its offset).
    Hub(HubView),
    /// A request failed in a way that may pass (network, 5xx, a chunk that arrived damaged).
    Failed(String),
    /// The hub will not take this file (unknown lesson, another file of that name): left on the
    /// box, not tried again until the box restarts.
    Refused(String),
    /// The hub does not know the upload any more (its database was restored or wiped): create it again.
    Lost,
    /// The hub's retention already deleted this lesson's recordings (410): it will never want the
    /// file. It is marked done, so the disk budget may delete it like an uploaded one.
    Expired(String),
    /// The file is gone from the disk (deleted by hand): nothing to upload.
    Vanished,
    /// The `.uploaded` marker is written.
    Marked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Hash the file, then create (or find) its upload.
    Open(LocalFile),
    /// Ask how much of upload `id` the hub holds.
    Ask { id: i64 },
    /// Send bytes `offset..offset + len` of `file` to upload `id`.
    Send { file: LocalFile, id: i64, offset: u64, len: u64 },
    /// The hub holds the whole file, checked: write the marker.
    Mark(LocalFile),
    /// The hub's retention deleted the file's lesson: write the marker without uploading.
    Discard(LocalFile),
    /// Nothing to do until `Some(t)` (a retry), or until an input (`None`).
    Wait(Option<Instant>),
}

/// The current file and what the hub last said of it.
#[derive(Debug, Clone)]
struct Job {
    file: LocalFile,
    hub: Option<HubView>,
    /// A request failed since the hub last answered: where it stands is not known.
    stale: bool,
    /// An output is out; its answer is awaited.
    busy: bool,
    /// The hub said its lesson is past retention.
    expired: bool,
}

/// What the status shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// The file being sent and the hub's offset in it.
    pub current: Option<(String, u64, u64)>,
    pub last_error: Option<String>,
    /// Files the hub refused, until restart.
    pub refused: u64,
}

pub struct Queue<R> {
    waiting: BTreeMap<PathBuf, LocalFile>,
    job: Option<Job>,
    refused: BTreeSet<PathBuf>,
    backoff: Backoff<R>,
    retry_at: Option<Instant>,
    last_error: Option<String>,
}

impl<R: Rng> Queue<R> {
    pub fn new(rng: R) -> Self {
        Self {
            waiting: BTreeMap::new(),
            job: None,
            refused: BTreeSet::new(),
            backoff: Backoff::new(RETRY_FIRST, RETRY_MAX, rng),
            retry_at: None,
            last_error: None,
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Closed(files) => {
                for f in files {
                    let current = self.job.as_ref().is_some_and(|j| j.file.path == f.path);
                    if !current && !self.refused.contains(&f.path) {
                        self.waiting.insert(f.path.clone(), f);
                    }
                }
            }
            Input::Hub(view) => {
                if let Some(job) = &mut self.job {
                    let progressed = job.hub.is_none_or(|h| view.offset > h.offset || view.id != h.id);
                    job.hub = Some(view);
                    job.busy = false;
                    job.stale = false;
                    if progressed {
                        self.backoff.reset();
                        self.last_error = None;
                    }
                }
            }
            Input::Failed(reason) => {
                if let Some(job) = &mut self.job {
                    job.busy = false;
                    // Where the hub stands is not known any more: ask before sending again.
                    job.stale = true;
                }
                self.retry_at = Some(now + self.backoff.next_delay());
                self.last_error = Some(reason);
            }
            Input::Refused(reason) => {
                if let Some(job) = self.job.take() {
                    tracing::warn!(file = %job.file.path.display(), %reason, "the hub refused this recording; it stays on the box");
                    self.refused.insert(job.file.path);
                }
                self.last_error = Some(reason);
            }
            Input::Expired(reason) => {
                if let Some(job) = &mut self.job {
                    tracing::warn!(file = %job.file.path.display(), %reason, "not uploading: the hub no longer keeps this lesson");
                    (job.expired, job.busy) = (true, false);
                }
                self.backoff.reset();
            }
            Input::Lost => {
                if let Some(job) = &mut self.job {
                    (job.hub, job.stale, job.busy) = (None, false, false);
                }
                self.retry_at = Some(now + self.backoff.next_delay());
            }
            Input::Vanished | Input::Marked => {
                self.job = None;
                self.backoff.reset();
            }
        }
    }

    /// What to do now.
    pub fn poll(&mut self, now: Instant) -> Output {
        if let Some(at) = self.retry_at {
            if now < at {
                return Output::Wait(Some(at));
            }
            self.retry_at = None;
        }
        if self.job.is_none() {
            let Some((_, file)) = self.waiting.pop_first() else { return Output::Wait(None) };
            self.job = Some(Job { file, hub: None, stale: false, busy: false, expired: false });
        }
        let Some(job) = &mut self.job else { return Output::Wait(None) };
        if job.busy {
            return Output::Wait(None);
        }
        job.busy = true;
        if job.expired {
            return Output::Discard(job.file.clone());
        }
        match job.hub {
            None => Output::Open(job.file.clone()),
            Some(h) if job.stale => Output::Ask { id: h.id },
            Some(h) if h.state == RecordingState::Ready => Output::Mark(job.file.clone()),
            // All bytes are there and the hub has not said ready (the answer to the last chunk
            // was lost): asking makes it check and settle.
            Some(h) if h.offset >= h.size => Output::Ask { id: h.id },
            Some(h) => Output::Send {
                file: job.file.clone(),
                id: h.id,
                offset: h.offset,
                len: CHUNK_BYTES.min(h.size - h.offset),
            },
        }
    }

    /// Files not uploaded yet (the current one included).
    pub fn pending(&self) -> usize {
        self.waiting.len() + usize::from(self.job.is_some())
    }

    pub fn progress(&self) -> Progress {
        Progress {
            current: self.job.as_ref().map(|j| {
                let (offset, size) = j.hub.map_or((0, 0), |h| (h.offset, h.size));
                (j.file.name.clone(), offset, size)
            }),
            last_error: self.last_error.clone(),
            refused: self.refused.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn file(n: u32) -> LocalFile {
        LocalFile::of(PathBuf::from(format!("/rec/lab-1.1700000000000/1700000000100-camera-{n:03}.mp4"))).unwrap()
    }

    fn queue() -> Queue<StdRng> {
        Queue::new(StdRng::seed_from_u64(7))
    }

    fn hub(offset: u64, size: u64, state: RecordingState) -> Input {
        Input::Hub(HubView { id: 9, offset, size, state })
    }

    #[test]
    fn recorder_file_names_say_their_lesson_and_kind() {
        let f = file(2);
        assert_eq!(
            (f.lesson.as_str(), f.kind, f.name.as_str()),
            ("lab-1.1700000000000", RecordingKind::Camera, "1700000000100-camera-002.mp4")
        );
        let slides = LocalFile::of(PathBuf::from("/rec/lab-1.5/1-slides-000.mp4")).unwrap();
        assert_eq!(slides.kind, RecordingKind::Slides);
        for other in
            ["/rec/lab-1.5/notes.txt", "/rec/not a lesson/1-camera-000.mp4", "/rec/lab-1.5/1-video-000.mp4", "/x.mp4"]
        {
            assert_eq!(LocalFile::of(PathBuf::from(other)), None, "{other}");
        }
    }

    #[test]
    fn a_file_is_opened_sent_in_chunks_and_marked_once_the_hub_says_ready() {
        let (mut q, now) = (queue(), Instant::now());
        assert_eq!(q.poll(now), Output::Wait(None), "nothing to do");
        q.handle(Input::Closed(vec![file(0)]), now);
        assert_eq!(q.poll(now), Output::Open(file(0)));
        assert_eq!(q.poll(now), Output::Wait(None), "one request at a time");
        let size = 2 * CHUNK_BYTES + 10;
        q.handle(hub(0, size, RecordingState::Uploading), now);
        assert_eq!(q.poll(now), Output::Send { file: file(0), id: 9, offset: 0, len: CHUNK_BYTES });
        q.handle(hub(CHUNK_BYTES, size, RecordingState::Uploading), now);
        assert_eq!(q.poll(now), Output::Send { file: file(0), id: 9, offset: CHUNK_BYTES, len: CHUNK_BYTES });
        q.handle(hub(2 * CHUNK_BYTES, size, RecordingState::Uploading), now);
        assert_eq!(q.poll(now), Output::Send { file: file(0), id: 9, offset: 2 * CHUNK_BYTES, len: 10 });
        assert_eq!(q.pending(), 1);
        q.handle(hub(size, size, RecordingState::Ready), now);
        assert_eq!(q.poll(now), Output::Mark(file(0)), "the marker only after ready");
        q.handle(Input::Marked, now);
        assert_eq!((q.poll(now), q.pending()), (Output::Wait(None), 0));
    }

    #[test]
    fn after_a_cut_it_waits_then_asks_the_hub_and_resumes_from_its_offset() {
        let (mut q, t0) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), t0);
        q.poll(t0);
        q.handle(hub(0, 3 * CHUNK_BYTES, RecordingState::Uploading), t0);
        assert!(matches!(q.poll(t0), Output::Send { offset: 0, .. }));
        q.handle(Input::Failed("connection reset".into()), t0);
        let Output::Wait(Some(at)) = q.poll(t0) else { panic!("a retry is scheduled") };
        assert!(at > t0 && at <= t0 + RETRY_FIRST, "first retry within a second");
        assert_eq!(q.progress().last_error.as_deref(), Some("connection reset"));
        assert_eq!(q.poll(at), Output::Ask { id: 9 }, "asks where the hub stands");
        // The chunk did arrive before the cut: the hub holds it, the box goes on from there.
        q.handle(hub(CHUNK_BYTES, 3 * CHUNK_BYTES, RecordingState::Uploading), at);
        assert_eq!(q.poll(at), Output::Send { file: file(0), id: 9, offset: CHUNK_BYTES, len: CHUNK_BYTES });
        assert_eq!(q.progress().last_error, None, "progress clears the error");
    }

    #[test]
    fn failures_in_a_row_wait_longer_up_to_a_cap() {
        let (mut q, mut now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), now);
        let mut waits = Vec::new();
        for _ in 0..12 {
            assert!(matches!(q.poll(now), Output::Open(_)), "opening again: the hub never answered");
            q.handle(Input::Failed("hub unreachable".into()), now);
            let Output::Wait(Some(at)) = q.poll(now) else { panic!("waits") };
            waits.push(at - now);
            now = at;
        }
        assert!(waits[4] > waits[0], "{waits:?}");
        assert!(waits.iter().all(|w| *w <= RETRY_MAX), "{waits:?}");
    }

    #[test]
    fn a_lesson_past_the_hubs_retention_is_marked_done_and_never_retried() {
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0), file(1)]), now);
        assert_eq!(q.poll(now), Output::Open(file(0)));
        q.handle(Input::Expired("the recordings of lesson lab-1.1700000000000 are past their retention".into()), now);
        assert_eq!(q.poll(now), Output::Discard(file(0)), "marked at once, no retry wait");
        q.handle(Input::Marked, now);
        assert_eq!(q.poll(now), Output::Open(file(1)), "then the next file");
        assert_eq!(q.progress().refused, 0, "not a refusal: the budget may delete it");
    }

    #[test]
    fn a_refused_file_is_left_alone_and_the_next_one_goes() {
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(1), file(0)]), now);
        assert_eq!(q.poll(now), Output::Open(file(0)), "oldest name first");
        q.handle(Input::Refused("no lesson lab-1.1700000000000 on this hub".into()), now);
        assert_eq!(q.poll(now), Output::Open(file(1)));
        q.handle(Input::Closed(vec![file(0)]), now);
        assert_eq!(q.pending(), 1, "the refused file is not queued again");
        assert_eq!(q.progress().refused, 1);
    }

    #[test]
    fn an_upload_the_hub_lost_is_created_again_after_a_wait() {
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), now);
        q.poll(now);
        q.handle(hub(CHUNK_BYTES, 3 * CHUNK_BYTES, RecordingState::Uploading), now);
        q.poll(now);
        q.handle(Input::Lost, now);
        let Output::Wait(Some(at)) = q.poll(now) else { panic!("waits before creating again") };
        assert_eq!(q.poll(at), Output::Open(file(0)));
    }

    #[test]
    fn a_file_found_again_while_it_is_being_sent_is_not_queued_twice() {
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), now);
        q.poll(now);
        q.handle(Input::Closed(vec![file(0), file(0)]), now);
        assert_eq!(q.pending(), 1);
    }

    #[test]
    fn a_file_the_hub_already_holds_is_just_marked() {
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), now);
        q.poll(now);
        q.handle(hub(50, 50, RecordingState::Ready), now);
        assert_eq!(q.poll(now), Output::Mark(file(0)));
        // All bytes sent but not settled (the answer to the last chunk was lost): ask.
        let (mut q, now) = (queue(), Instant::now());
        q.handle(Input::Closed(vec![file(0)]), now);
        q.poll(now);
        q.handle(hub(50, 50, RecordingState::Uploading), now);
        assert_eq!(q.poll(now), Output::Ask { id: 9 });
    }
}
