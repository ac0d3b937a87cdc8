//! The box's uploader (issue 21): every recording file the recorder closes goes to the hub over
//! its resumable upload (`lectern_proto::upload`), in checksummed chunks, at most
//! `[recording] upload_kbps`, resuming from the hub's acknowledged offset after a cut; the
//! `.uploaded` marker the disk budget relies on is written only once the hub says `ready`.
//! [`queue`] decides (pure), [`client`] speaks HTTP, [`spawn`] runs them on a thread of its own —
//! never on the media threads. Files come from the recorder ([`UploadLink::closed`]) and, at
//! start-up, from the recordings directory, so a reboot resumes where it stopped.

pub mod client;
pub mod mp4;
pub mod pace;
pub mod queue;

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use self::client::HubUploads;
use self::pace::Pace;
use self::queue::{Input, LocalFile, Output, Queue};
use crate::status::StatusBoard;
use crate::tls::HubTls;
use crate::whip::Token;

/// What the status endpoint shows of the upload (`upload` in `GET /status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UploadStatus {
    /// Files queued or being sent in this run (the recordings' `waiting_files` counts all on disk).
    pub queued_files: u64,
    /// The file being sent, and how much of it the hub holds.
    pub current: Option<String>,
    pub offset: u64,
    pub size: u64,
    /// Why the last attempt failed, until one succeeds.
    pub last_error: Option<String>,
    /// Files the hub refused; they stay on the box (not deleted) until someone looks.
    pub refused_files: u64,
    /// The cap, kbit/s (0: none).
    pub cap_kbps: u32,
}

pub struct UploadSettings {
    /// The box's hubs, shared with its WHIP clients.
    pub hubs: std::sync::Arc<crate::config::HubList>,
    pub room: lectern_proto::RoomId,
    pub token: Token,
    pub tls: Option<HubTls>,
    /// The recordings directory (`[recording] dir`).
    pub dir: PathBuf,
    pub kbps: u32,
    pub board: StatusBoard,
}

/// Where the recorder hands over closed files. Cheap to clone.
#[derive(Clone)]
pub struct UploadLink(Sender<Vec<PathBuf>>);

impl UploadLink {
    /// These files are complete: upload them (files already marked uploaded are skipped).
    pub fn closed(&self, files: Vec<PathBuf>) {
        if !files.is_empty() {
            // If the uploader is gone the files wait on disk for the next start.
            let _ = self.0.send(files);
        }
    }
}

/// Starts the upload thread; it first queues every recording on disk the hub does not hold yet.
pub fn spawn(settings: UploadSettings) -> std::io::Result<UploadLink> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new().name("upload".to_owned()).spawn(move || run(settings, &rx))?;
    Ok(UploadLink(tx))
}

fn local_files(paths: Vec<PathBuf>) -> Vec<LocalFile> {
    paths.into_iter().filter(|p| !super::marker(p).exists()).filter_map(LocalFile::of).collect()
}

fn run(s: UploadSettings, rx: &Receiver<Vec<PathBuf>>) {
    let hub = HubUploads::new(s.hubs.clone(), &s.room, &s.token, s.tls.as_ref(), s.kbps);
    let mut pace = Pace::new(s.kbps);
    let mut queue = Queue::new(StdRng::from_os_rng());
    // Start-up: nothing is being recorded yet, so every file on disk is complete (or was cut by
    // a power cut: sent as it is).
    let found: Vec<PathBuf> = super::scan(&s.dir).into_iter().filter(|f| !f.uploaded).map(|f| f.path).collect();
    if !found.is_empty() {
        tracing::info!(files = found.len(), "recordings waiting from before: uploading them");
    }
    queue.handle(Input::Closed(local_files(found)), Instant::now());
    show_waiting(&s.board, &s.dir);
    loop {
        show(&s.board, &queue, s.kbps);
        let now = Instant::now();
        let input = match queue.poll(now) {
            Output::Wait(until) => {
                let files = match until {
                    Some(at) => match rx.recv_timeout(at.saturating_duration_since(now)) {
                        Ok(files) => files,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    },
                    None => match rx.recv() {
                        Ok(files) => files,
                        Err(_) => return,
                    },
                };
                Input::Closed(local_files(files))
            }
            Output::Open(file) => {
                tracing::info!(file = %file.path.display(), "uploading a recording");
                hub.open(&file)
            }
            Output::Ask { id } => hub.ask(id),
            Output::Send { file, id, offset, len } => {
                let size = queue.progress().current.map_or(0, |(_, _, size)| size);
                hub.send(&file, id, offset, len, size, &mut pace)
            }
            Output::Mark(file) => match std::fs::write(super::marker(&file.path), b"") {
                Ok(()) => {
                    tracing::info!(file = %file.path.display(), "recording uploaded: the hub holds it, checked");
                    Input::Marked
                }
                Err(e) => Input::Failed(format!("writing the upload marker of {}: {e}", file.path.display())),
            },
            Output::Discard(file) => match std::fs::write(super::marker(&file.path), b"") {
                Ok(()) => {
                    tracing::info!(file = %file.path.display(), "recording marked done without upload: its lesson is past the hub's retention");
                    Input::Marked
                }
                Err(e) => Input::Failed(format!("writing the upload marker of {}: {e}", file.path.display())),
            },
        };
        match &input {
            Input::Failed(reason) => {
                tracing::warn!(%reason, "recording upload interrupted; it resumes from the hub's offset")
            }
            Input::Lost => tracing::warn!("the hub no longer knows this upload: creating it again"),
            _ => {}
        }
        let changed = matches!(input, Input::Marked | Input::Closed(_));
        queue.handle(input, Instant::now());
        if changed {
            show_waiting(&s.board, &s.dir);
        }
        // Files closed meanwhile join the queue without waiting for the current one.
        while let Ok(files) = rx.try_recv() {
            queue.handle(Input::Closed(local_files(files)), Instant::now());
        }
    }
}

/// The recordings on disk without a marker, in the status (the recorder counts them too, but only
/// while the runner's loop turns; an idle box would show a stale count after its uploads).
fn show_waiting(board: &StatusBoard, dir: &std::path::Path) {
    let waiting: Vec<super::FileEntry> = super::scan(dir).into_iter().filter(|f| !f.uploaded).collect();
    board.update(|snap| {
        snap.recording.waiting_files = waiting.len() as u64;
        snap.recording.waiting_bytes = waiting.iter().map(|f| f.bytes).sum();
    });
}

fn show<R: rand::Rng>(board: &StatusBoard, queue: &Queue<R>, kbps: u32) {
    let p = queue.progress();
    let (current, offset, size) = p.current.map_or((None, 0, 0), |(name, o, s)| (Some(name), o, s));
    let status = UploadStatus {
        queued_files: queue.pending() as u64,
        current,
        offset,
        size,
        last_error: p.last_error,
        refused_files: p.refused,
        cap_kbps: kbps,
    };
    board.update(|snap| {
        if snap.upload != status {
            snap.upload = status;
        }
    });
}
