//! A local status endpoint: `GET /status` answers one JSON document (state, encoder, rates,
//! last error, config source, panel, return feed). Plain `std::net` on one thread: it serves an admin's
//! `curl` and a monitoring agent, not traffic, and the appliance has no async runtime.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lectern_proto::device::DeviceState;
use serde::Serialize;

use crate::loss::LossMeter;
use crate::media::{MediaStats, ReturnStats};
use crate::panel::PanelState;
use crate::snapshot::SnapshotTap;
use crate::uplink::UplinkStatus;

/// A slow or silent client must not hold the (only) serving thread for long.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REQUEST: usize = 8 * 1024;
/// Rates are averaged over at least this long, so back-to-back requests do not show noise.
const RATE_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Snapshot {
    pub version: String,
    /// Supervisor state: idle, connecting, live or reconnecting (the hub's telemetry says the same).
    pub state: DeviceState,
    /// The supervisor's human-readable status line.
    pub status: String,
    pub encoder: Option<String>,
    /// The camera's simulcast layers being published, top first (`f 1280x720 1500 kbit/s`);
    /// empty for a single stream.
    pub simulcast: Vec<String>,
    pub fps: Option<f64>,
    pub bitrate_kbps: Option<f64>,
    /// Percent of our packets the hub reported lost (its last RTCP report), worst stream.
    pub packet_loss_percent: Option<f64>,
    /// The camera's bitrate following the uplink (see `uplink::UplinkStatus`).
    pub uplink: UplinkStatus,
    pub last_error: Option<String>,
    /// Whether a capture pipeline exists: outside lessons the camera and microphone are closed.
    pub camera_open: bool,
    /// The hub control channel: `connecting`, `connected`, or why it is down.
    pub control: String,
    /// While the box is not enrolled: the code an admin enters in the hub's web admin.
    pub claim_code: Option<String>,
    /// The room an admin moved this box from (`moved_from` in its credential), if it was moved.
    pub moved_from: Option<String>,
    pub config: ConfigStatus,
    pub panel: PanelStatus,
    pub return_feed: ReturnFeedStatus,
    /// What is being recorded, why not, and the files waiting to be uploaded (see `record`).
    pub recording: crate::record::RecordStatus,
    /// The recordings' upload to the hub: the file being sent, the last failure, the cap.
    pub upload: crate::record::upload::UploadStatus,
}

/// What the room receives from the remote students.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReturnFeedStatus {
    /// off, starting, live or retrying.
    pub state: String,
    /// RMS of the mixed audio in dBFS (loudest channel, 0.1 dB); `null` while silent.
    pub audio_level_db: Option<f64>,
    /// Decoded video frames since the feed started.
    pub video_frames: u64,
    /// `H264` or `VP8` once a student's video arrives.
    pub video_codec: Option<String>,
    /// Why the feed last failed, until it plays again.
    pub error: Option<String>,
}

impl Default for ReturnFeedStatus {
    fn default() -> Self {
        Self { state: "off".to_owned(), audio_level_db: None, video_frames: 0, video_codec: None, error: None }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ConfigStatus {
    /// `files`, `defaults` or `last-good`.
    pub source: String,
    pub files: Vec<String>,
    /// Why the files were not used (with `last-good`).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PanelStatus {
    /// `gpio`, `fake` or `none`.
    pub kind: String,
    #[serde(flatten)]
    pub state: PanelState,
}

/// The shared, always-current status. Cheap to clone.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<Mutex<Board>>, SnapshotTap, LossMeter);

#[derive(Default)]
struct Board {
    snapshot: Snapshot,
    stats: Option<MediaStats>,
    return_stats: Option<ReturnStats>,
    /// When the rates were last computed and the totals then.
    sample: Option<(Instant, u64, u64)>,
}

impl StatusBoard {
    pub fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        change(&mut self.lock().snapshot);
    }

    /// Counters of the current pipeline, or `None` once it is gone.
    pub fn set_stats(&self, stats: Option<MediaStats>) {
        let mut board = self.lock();
        board.sample = stats.as_ref().map(|s| {
            let (frames, bytes) = s.totals();
            (Instant::now(), frames, bytes)
        });
        board.stats = stats;
        board.snapshot.fps = None;
        board.snapshot.bitrate_kbps = None;
    }

    /// The return feed's figures, or `None` once its pipeline is gone.
    pub fn set_return_stats(&self, stats: Option<ReturnStats>) {
        let mut board = self.lock();
        board.return_stats = stats;
        let feed = &mut board.snapshot.return_feed;
        (feed.audio_level_db, feed.video_frames, feed.video_codec) = (None, 0, None);
    }

    pub fn snapshot(&self) -> Snapshot {
        // Asks webrtcbin (up to half a second): not while holding the board.
        let loss = self.2.percent();
        let mut board = self.lock();
        board.snapshot.packet_loss_percent = loss;
        if let Some(stats) = board.return_stats.clone() {
            let feed = &mut board.snapshot.return_feed;
            feed.audio_level_db = stats.audio_level_db().map(round1);
            feed.video_frames = stats.video_frames();
            feed.video_codec = stats.video_codec().map(str::to_owned);
        }
        let now = Instant::now();
        if let (Some(stats), Some((at, frames0, bytes0))) = (&board.stats, board.sample) {
            let elapsed = now.saturating_duration_since(at);
            if elapsed >= RATE_WINDOW {
                let (frames, bytes) = stats.totals();
                let secs = elapsed.as_secs_f64();
                board.snapshot.fps = Some(round1(frames.saturating_sub(frames0) as f64 / secs));
                board.snapshot.bitrate_kbps = Some(round1(bytes.saturating_sub(bytes0) as f64 * 8.0 / 1000.0 / secs));
                board.sample = Some((now, frames, bytes));
            }
        }
        board.snapshot.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The camera's latest frame, for the hub's snapshot requests (the runner attaches it to
    /// each publishing pipeline).
    pub fn snapshots(&self) -> &SnapshotTap {
        &self.1
    }

    /// Loss the hub reports on what we publish (the runner attaches the publishing webrtcbin).
    pub fn loss(&self) -> &LossMeter {
        &self.2
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Binds `addr` and serves `board` on a thread; returns the bound address.
pub fn serve(addr: SocketAddr, board: StatusBoard) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new().name("status".to_owned()).spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    if let Err(err) = answer(stream, &board) {
                        tracing::debug!(%err, "status request failed");
                    }
                }
                Err(err) => tracing::debug!(%err, "status accept failed"),
            }
        }
    })?;
    Ok(local)
}

fn answer(mut stream: TcpStream, board: &StatusBoard) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/" | "/status") => ("200 OK", serde_json::to_string(&board.snapshot())?),
        ("GET" | "HEAD", _) => ("404 Not Found", r#"{"error":"not found","detail":"try /status"}"#.to_owned()),
        _ => ("405 Method Not Allowed", r#"{"error":"method not allowed","detail":"GET only"}"#.to_owned()),
    };
    let length = body.len();
    let body = if method == "HEAD" { "" } else { body.as_str() };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}"
    );
    stream.write_all(response.as_bytes())
}

/// Reads up to the end of the request headers (a status request has no body).
fn read_head(stream: &mut TcpStream) -> io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
