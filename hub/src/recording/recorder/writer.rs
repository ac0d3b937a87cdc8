//! The recorder's IO shell: one thread per recorded publisher behind a bounded queue, driving a
//! [`FileRecorder`] and writing its bytes under `<data_dir>/recorder/<lesson>/`; at the end the
//! file goes into the `Storage` and its `recordings` row becomes `ready`.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use lectern_proto::upload::RecordingKind;
use lectern_proto::{LessonId, ParticipantId, RoomId, TrackId};

use super::file::{FileRecorder, Media};
use super::reorder::Packet;
use super::stream::{SenderClock, StreamCodec};
use crate::recording::storage::{ObjectKey, Storage};
use crate::store::Store;

/// Packets queued per writer: about two seconds of 720p video and audio. Past it packets are
/// shed (the writer resyncs at the next keyframe); the SFU's thread never waits.
pub const WRITER_QUEUE: usize = 1024;
/// How often a writer without packets still looks at the time (held gaps, the header's wait).
const TICK: Duration = Duration::from_millis(100);
/// Pieces a finished file is put into the storage in.
const PUT_CHUNK: usize = 8 << 20;

/// One recorded packet, as the room hands it out.
#[derive(Debug, Clone)]
pub struct RecordPacket {
    pub room: RoomId,
    pub lesson: LessonId,
    pub participant: ParticipantId,
    /// Their display name, for the lessons API.
    pub name: String,
    pub kind: RecordingKind,
    pub track: TrackId,
    pub media: Media,
    pub codec: StreamCodec,
    pub packet: Packet,
    pub report: Option<SenderClock>,
}

/// What a room asks of the recorder.
#[derive(Debug, Clone)]
pub enum RecordOutput {
    Packet(Box<RecordPacket>),
    /// The participant's file of this lesson is complete (recording stopped, they left, the
    /// lesson ended).
    Close {
        lesson: LessonId,
        participant: ParticipantId,
    },
}

enum Msg {
    Packet { p: Box<RecordPacket>, resync: bool },
}

struct Writer {
    tx: SyncSender<Msg>,
    /// Packets were shed for this media: the next one that goes through says so.
    shed: [bool; 2],
}

/// Where files go and who is told; `None` storage or store: files stay on disk only (tests).
#[derive(Clone)]
pub struct Sinks {
    pub dir: PathBuf,
    pub storage: Option<Arc<dyn Storage>>,
    pub store: Option<Store>,
    pub runtime: Option<tokio::runtime::Handle>,
}

/// The writers of one shard (owned by its shell).
pub struct Recorders {
    sinks: Sinks,
    writers: HashMap<(LessonId, ParticipantId), Writer>,
    keyframes_tx: std::sync::mpsc::Sender<(RoomId, TrackId)>,
    keyframes_rx: Receiver<(RoomId, TrackId)>,
    /// Finished writers' threads (joined by tests through [`Recorders::close_all`]).
    threads: Vec<std::thread::JoinHandle<Option<Recorded>>>,
}

/// What a writer left: for tests and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: PathBuf,
    pub bytes: u64,
    pub duration_ms: u64,
    pub started_at_ms: i64,
    pub dropped_frames: u64,
    pub row: Option<i64>,
}

impl Recorders {
    pub fn new(sinks: Sinks) -> Self {
        let (keyframes_tx, keyframes_rx) = std::sync::mpsc::channel();
        Self { sinks, writers: HashMap::new(), keyframes_tx, keyframes_rx, threads: Vec::new() }
    }

    /// Takes one room output; never blocks.
    pub fn handle(&mut self, out: RecordOutput) {
        match out {
            RecordOutput::Packet(p) => {
                let key = (p.lesson.clone(), p.participant);
                let w = match self.writers.get_mut(&key) {
                    Some(w) => w,
                    None => {
                        let w = self.spawn(&p);
                        self.writers.entry(key).or_insert(w)
                    }
                };
                let media = p.media as usize;
                let resync = w.shed[media];
                match w.tx.try_send(Msg::Packet { p, resync }) {
                    Ok(()) => w.shed[media] = false,
                    Err(TrySendError::Full(_)) => w.shed[media] = true,
                    Err(TrySendError::Disconnected(_)) => {}
                }
            }
            RecordOutput::Close { lesson, participant } => {
                // Dropping its queue's sender closes the file once the writer has taken what is
                // queued: the shard never waits for a full queue.
                self.writers.remove(&(lesson, participant));
            }
        }
    }

    /// Keyframes the writers asked for since the last call: (room, published track).
    pub fn take_keyframe_requests(&mut self) -> Vec<(RoomId, TrackId)> {
        self.keyframes_rx.try_iter().collect()
    }

    /// Closes every file and waits for the writers (tests, shutdown).
    pub fn close_all(&mut self) -> Vec<Recorded> {
        self.writers.clear();
        self.threads.drain(..).filter_map(|t| t.join().ok().flatten()).collect()
    }

    fn spawn(&mut self, first: &RecordPacket) -> Writer {
        let (tx, rx) = std::sync::mpsc::sync_channel(WRITER_QUEUE);
        let sinks = self.sinks.clone();
        let keyframes = self.keyframes_tx.clone();
        let (lesson, participant, kind) = (first.lesson.clone(), first.participant, first.kind);
        let display = first.name.clone();
        tracing::info!(%lesson, %participant, kind = kind.as_str(), "hub recorder: recording a publisher");
        let thread = std::thread::Builder::new().name("recorder".into()).spawn(move || {
            let run = Run { sinks, lesson, participant, display, kind, keyframes };
            match run.run(&rx) {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "hub recorder: a file failed");
                    None
                }
            }
        });
        match thread {
            Ok(t) => self.threads.push(t),
            Err(e) => tracing::warn!(error = %e, "hub recorder: no thread for a writer"),
        }
        self.threads.retain(|t| !t.is_finished());
        Writer { tx, shed: [false, false] }
    }
}

struct Run {
    sinks: Sinks,
    lesson: LessonId,
    participant: ParticipantId,
    display: String,
    kind: RecordingKind,
    keyframes: std::sync::mpsc::Sender<(RoomId, TrackId)>,
}

struct Open {
    file: std::fs::File,
    path: PathBuf,
    name: String,
    row: Option<i64>,
    bytes: u64,
    /// When the row's `received` was last brought up to date.
    reported: std::time::Instant,
}

/// How often a file's row says how much it holds while it records.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl Run {
    fn run(self, rx: &Receiver<Msg>) -> anyhow::Result<Option<Recorded>> {
        let mut rec = FileRecorder::new();
        let mut open: Option<Open> = None;
        let mut video_track: Option<(RoomId, TrackId)> = None;
        loop {
            let msg = rx.recv_timeout(TICK);
            let now = lectern_common::time::unix_ms() as i64;
            match msg {
                Ok(Msg::Packet { p, resync }) => {
                    if p.media == Media::Video {
                        video_track = Some((p.room.clone(), p.track));
                    }
                    if resync {
                        rec.discontinuity(p.media);
                    }
                    rec.push(p.media, p.codec, p.packet, p.report);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => rec.tick(now),
            }
            if rec.take_keyframe_request()
                && let Some(t) = &video_track
            {
                let _ = self.keyframes.send(t.clone());
            }
            self.write_out(&mut rec, &mut open)?;
        }
        let finished = rec.finish();
        self.write_out(&mut rec, &mut open)?;
        let (Some(done), Some(mut o)) = (finished, open) else { return Ok(None) };
        o.file.write_all(&done.trailer)?;
        for p in &done.patches {
            o.file.seek(SeekFrom::Start(p.offset))?;
            o.file.write_all(&p.bytes)?;
        }
        o.file.sync_all()?;
        let bytes = o.file.metadata()?.len();
        let started_at_ms = rec.started_at_ms().unwrap_or(0);
        let recorded = Recorded {
            path: o.path.clone(),
            bytes,
            duration_ms: done.duration_ms,
            started_at_ms,
            dropped_frames: rec.dropped_frames(),
            row: o.row,
        };
        tracing::info!(lesson = %self.lesson, participant = %self.participant, bytes, duration_ms = done.duration_ms,
            dropped_frames = recorded.dropped_frames, "hub recorder: file closed");
        self.store(&o, &recorded)?;
        Ok(Some(recorded))
    }

    /// Appends what the recorder produced; opens the file (and its row) with the header.
    fn write_out(&self, rec: &mut FileRecorder, open: &mut Option<Open>) -> anyhow::Result<()> {
        let bytes = rec.take_output();
        if bytes.is_empty() {
            return Ok(());
        }
        if open.is_none() {
            let ext = rec.extension().unwrap_or("bin");
            let started = rec.started_at_ms().unwrap_or(0);
            let name = format!("{started}-{}-{}.{ext}", self.kind.as_str(), self.participant);
            let dir = self.sinks.dir.join(self.lesson.as_str());
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
            let path = dir.join(&name);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
            let row = self.create_row(&name, started);
            *open = Some(Open { file, path, name, row, bytes: 0, reported: std::time::Instant::now() });
        }
        if let Some(o) = open {
            o.file.write_all(&bytes).map_err(|e| anyhow::anyhow!("writing {}: {e}", o.path.display()))?;
            o.bytes += bytes.len() as u64;
            if o.reported.elapsed() >= PROGRESS_EVERY {
                o.reported = std::time::Instant::now();
                if let (Some(store), Some(rt), Some(id)) = (&self.sinks.store, &self.sinks.runtime, o.row)
                    && let Err(e) = rt.block_on(store.progress_recorded(id, o.bytes))
                {
                    tracing::debug!(error = %format!("{e:#}"), "hub recorder: progress not saved");
                }
            }
        }
        Ok(())
    }

    fn create_row(&self, name: &str, started_at: i64) -> Option<i64> {
        let (Some(store), Some(rt)) = (&self.sinks.store, &self.sinks.runtime) else { return None };
        let now = lectern_common::time::unix_ms();
        match rt.block_on(store.create_recorded(&self.lesson, self.kind, name, &self.display, started_at, now)) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "hub recorder: no row for the file");
                None
            }
        }
    }

    /// Puts the finished file into the storage, then marks its row ready.
    fn store(&self, o: &Open, r: &Recorded) -> anyhow::Result<()> {
        let (Some(storage), Some(rt)) = (&self.sinks.storage, &self.sinks.runtime) else { return Ok(()) };
        let key = ObjectKey::new(self.lesson.clone(), &o.name).map_err(|e| anyhow::anyhow!("{e}"))?;
        put_file(rt, storage.as_ref(), &key, &r.path)?;
        if let (Some(store), Some(id)) = (&self.sinks.store, o.row) {
            rt.block_on(store.finish_recorded(id, r.bytes, Some(r.duration_ms)))?;
        }
        // The storage holds it now (with local disk, under `<data_dir>/recordings`).
        let _ = std::fs::remove_file(&r.path);
        Ok(())
    }
}

/// After a hub stopped mid-recording: each file it was writing (a row still `recording` whose file
/// is under `sinks.dir`) goes into the storage as it is — every fragment written so far plays; its
/// duration stays unknown (`null`) — and its row becomes `ready`. Rows without a file here are
/// left alone (another node of a cluster may be writing them). Blocking: run it off the runtime.
pub fn recover(sinks: &Sinks) -> anyhow::Result<usize> {
    let (Some(store), Some(storage), Some(rt)) = (&sinks.store, &sinks.storage, &sinks.runtime) else { return Ok(0) };
    let mut recovered = 0;
    for (id, lesson, name) in rt.block_on(store.recordings_in_progress())? {
        let Ok(lesson) = LessonId::parse(&lesson) else { continue };
        let path = sinks.dir.join(lesson.as_str()).join(&name);
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let key = ObjectKey::new(lesson.clone(), &name).map_err(|e| anyhow::anyhow!("{e}"))?;
        put_file(rt, storage.as_ref(), &key, &path)?;
        rt.block_on(store.finish_recorded(id, meta.len(), None))?;
        let _ = std::fs::remove_file(&path);
        tracing::info!(%lesson, name, bytes = meta.len(), "hub recorder: a file cut by a stop is stored as it is");
        recovered += 1;
    }
    Ok(recovered)
}

fn put_file(rt: &tokio::runtime::Handle, storage: &dyn Storage, key: &ObjectKey, path: &Path) -> anyhow::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut offset = 0u64;
    let mut buf = vec![0; PUT_CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = axum::body::Bytes::copy_from_slice(&buf[..n]);
        rt.block_on(storage.append(key, offset, chunk)).map_err(|e| anyhow::anyhow!("storing {key}: {e}"))?;
        offset += n as u64;
    }
    rt.block_on(storage.finish(key, offset)).map_err(|e| anyhow::anyhow!("storing {key}: {e}"))?;
    Ok(())
}
