//! The hub recorder on real RTP: GStreamer encodes a moving picture and a tone (x264/VP8 + Opus),
//! payloads them as WebRTC would, and the packets (reordered, some lost, as a test input) go
//! through the recorder's writers. Each file is read back by `gst-discoverer-1.0` (codecs,
//! duration ±1 s) and its audio decoded by a real pipeline and measured: not silence.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lectern_hub::recording::recorder::file::Media;
use lectern_hub::recording::recorder::reorder::Packet;
use lectern_hub::recording::recorder::stream::StreamCodec;
use lectern_hub::recording::recorder::writer::{RecordOutput, RecordPacket, Recorded, Recorders, Sinks};
use lectern_proto::upload::RecordingKind;
use lectern_proto::{LessonId, ParticipantId, RoomId, TrackId};

const SECONDS: u32 = 6;

/// An RTP packet read back: extended sequence number and timestamp, marker, payload.
type Rtp = (u64, u64, bool, Vec<u8>);

/// RTP packets of `pipeline` (ending in a payloader), sent by `udpsink` to a loopback socket of
/// this test and parsed back.
fn rtp_of(_dir: &Path, name: &str, pipeline: &str) -> Vec<Rtp> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = sock.set_recv_buffer_size(8 << 20);
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let sock: std::net::UdpSocket = sock.into();
    let port = sock.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        sock.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    });
    let launch = format!("{pipeline} ! udpsink host=127.0.0.1 port={port} sync=false");
    let out = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(launch.split_whitespace())
        .output()
        .expect("gst-launch-1.0 runs (scripts/deps.sh installs GStreamer)");
    assert!(out.status.success(), "{launch}: {}", String::from_utf8_lossy(&out.stderr));
    let datagrams = reader.join().unwrap();
    let mut packets = Vec::new();
    let (mut last_seq, mut seq_base) = (None::<u16>, 0u64);
    let (mut last_ts, mut ts_base) = (None::<u32>, 0u64);
    for p in &datagrams {
        let cc = usize::from(p[0] & 0x0f);
        let mut start = 12 + 4 * cc;
        if p[0] & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes([p[start + 2], p[start + 3]]));
            start += 4 + 4 * words;
        }
        let seq = u16::from_be_bytes([p[2], p[3]]);
        let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        if last_seq.is_some_and(|l| seq < l) {
            seq_base += 1 << 16;
        }
        if last_ts.is_some_and(|l| ts < l && l - ts > 1 << 31) {
            ts_base += 1 << 32;
        }
        (last_seq, last_ts) = (Some(seq), Some(ts));
        packets.push((seq_base + u64::from(seq), ts_base + u64::from(ts), p[1] & 0x80 != 0, p[start..].to_vec()));
    }
    assert!(!packets.is_empty(), "{name}: no packets");
    packets
}

fn video(dir: &Path, codec: StreamCodec) -> Vec<Rtp> {
    let src = format!(
        "videotestsrc num-buffers={} pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1",
        SECONDS * 30
    );
    match codec {
        StreamCodec::H264 => rtp_of(
            dir,
            "v.rtp",
            &format!(
                "{src} ! x264enc tune=zerolatency key-int-max=30 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=96 mtu=1200 config-interval=-1"
            ),
        ),
        _ => {
            rtp_of(dir, "v.rtp", &format!("{src} ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 mtu=1200"))
        }
    }
}

fn audio(dir: &Path) -> Vec<Rtp> {
    rtp_of(
        dir,
        "a.rtp",
        &format!(
            "audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine freq=440 volume=0.5 ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! rtpopuspay pt=111",
            SECONDS * 50
        ),
    )
}

struct Feed {
    recorders: Recorders,
    lesson: LessonId,
    room: RoomId,
}

impl Feed {
    fn new(dir: &Path) -> Self {
        Self::with(Sinks { dir: dir.join("recorder"), storage: None, store: None, runtime: None })
    }

    fn with(sinks: Sinks) -> Self {
        let room = RoomId::parse("lab-1").unwrap();
        Self { recorders: Recorders::new(sinks), lesson: LessonId::new(&room, 1_700_000_000_000), room }
    }

    /// Hands `streams` to the recorder interleaved by their time, as if they arrived from now on;
    /// `keep` decides which packets arrive (by stream and index), `swap` which neighbours swap.
    fn play(
        &mut self,
        who: u64,
        streams: &[(Media, StreamCodec, &[Rtp])],
        keep: impl Fn(Media, usize) -> bool,
        swap_every: usize,
    ) {
        let start = lectern_common::time::unix_ms() as i64;
        let mut all = Vec::new();
        for (media, codec, packets) in streams {
            let rate = if *media == Media::Video { 90 } else { 48 };
            let ts0 = packets[0].1;
            let mut order: Vec<usize> = (0..packets.len()).collect();
            if swap_every > 0 {
                for i in (1..order.len()).step_by(swap_every) {
                    order.swap(i - 1, i);
                }
            }
            for i in order.into_iter().filter(|i| keep(*media, *i)) {
                let (seq, ts, marker, payload) = &packets[i];
                let at = start + i64::try_from((ts - ts0) / rate).unwrap();
                all.push((
                    at,
                    *media,
                    *codec,
                    Packet {
                        seq: *seq,
                        rtp_time: *ts,
                        marker: *marker,
                        payload: Arc::from(&payload[..]),
                        arrival_ms: at,
                    },
                ));
            }
        }
        all.sort_by_key(|p| p.0);
        for (_, media, codec, packet) in all {
            self.recorders.handle(RecordOutput::Packet(Box::new(RecordPacket {
                room: self.room.clone(),
                lesson: self.lesson.clone(),
                participant: ParticipantId(who),
                name: format!("Person {who}"),
                kind: RecordingKind::Camera,
                track: TrackId(who * 10 + media as u64),
                media,
                codec,
                packet,
                report: None,
            })));
        }
    }

    fn close(mut self) -> Vec<Recorded> {
        self.recorders.close_all()
    }
}

struct Discovered {
    text: String,
}

fn discover(path: &Path) -> Discovered {
    let out = Command::new("gst-discoverer-1.0").arg(path).output().expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}: {text}", path.display());
    Discovered { text }
}

impl Discovered {
    fn duration_s(&self) -> f64 {
        let line = self.text.lines().find(|l| l.trim_start().starts_with("Duration:")).expect("a duration");
        let t = line.split_whitespace().nth(1).unwrap();
        let parts: Vec<f64> = t.split(':').map(|x| x.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    }
}

/// The loudest RMS (dB) of the decoded audio, measured by `level`.
fn audio_rms_db(path: &Path) -> f64 {
    let launch = format!(
        "filesrc location={} ! decodebin ! audioconvert ! level interval=200000000 post-messages=true ! fakesink",
        path.display()
    );
    let out =
        Command::new("gst-launch-1.0").arg("-m").args(launch.split_whitespace()).output().expect("gst-launch-1.0 runs");
    assert!(out.status.success(), "decoding {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split("rms=(GValueArray)< ")
        .skip(1)
        .filter_map(|s| s.split([',', ' ', '>']).next()?.parse::<f64>().ok())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Every frame of the file decodes (a damaged frame would make the decoder complain).
fn decodes_cleanly(path: &Path) {
    let launch = format!("filesrc location={} ! decodebin ! fakesink", path.display());
    let out = Command::new("gst-launch-1.0").args(launch.split_whitespace()).output().expect("gst-launch-1.0 runs");
    assert!(out.status.success(), "decoding {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
}

fn one(files: Vec<Recorded>) -> (PathBuf, Recorded) {
    assert_eq!(files.len(), 1, "{files:?}");
    (files[0].path.clone(), files[0].clone())
}

fn check(path: &Path, video: &str, seconds: f64) {
    let d = discover(path);
    assert!(d.text.contains(video), "{}", d.text);
    assert!(d.text.contains("Opus"), "{}", d.text);
    assert!((d.duration_s() - seconds).abs() <= 1.0, "duration {} s, not {seconds}: {}", d.duration_s(), d.text);
    let rms = audio_rms_db(path);
    assert!(rms > -30.0, "the tone is there (rms {rms} dB)");
    decodes_cleanly(path);
}

#[test]
fn h264_and_opus_become_an_mp4_with_both_codecs_and_the_tone() {
    let dir = tempfile::tempdir().unwrap();
    let (v, a) = (video(dir.path(), StreamCodec::H264), audio(dir.path()));
    let mut feed = Feed::new(dir.path());
    feed.play(1, &[(Media::Video, StreamCodec::H264, &v), (Media::Audio, StreamCodec::Opus, &a)], |_, _| true, 7);
    let (path, rec) = one(feed.close());
    assert_eq!(path.extension().unwrap(), "mp4");
    assert_eq!(rec.dropped_frames, 0);
    check(&path, "H.264", f64::from(SECONDS));
}

#[test]
fn vp8_and_opus_become_a_webm_with_both_codecs_and_the_tone() {
    let dir = tempfile::tempdir().unwrap();
    let (v, a) = (video(dir.path(), StreamCodec::Vp8), audio(dir.path()));
    let mut feed = Feed::new(dir.path());
    feed.play(1, &[(Media::Video, StreamCodec::Vp8, &v), (Media::Audio, StreamCodec::Opus, &a)], |_, _| true, 5);
    let (path, _) = one(feed.close());
    assert_eq!(path.extension().unwrap(), "webm");
    check(&path, "VP8", f64::from(SECONDS));
}

#[test]
fn a_stream_with_loss_still_gives_a_playable_file() {
    let dir = tempfile::tempdir().unwrap();
    let (v, a) = (video(dir.path(), StreamCodec::H264), audio(dir.path()));
    let mut feed = Feed::new(dir.path());
    // One video packet in 40 and one audio packet in 25 never arrive.
    let keep = |m: Media, i: usize| if m == Media::Video { i % 40 != 17 } else { i % 25 != 3 };
    feed.play(1, &[(Media::Video, StreamCodec::H264, &v), (Media::Audio, StreamCodec::Opus, &a)], keep, 0);
    let (path, rec) = one(feed.close());
    assert!(rec.dropped_frames > 0, "the damaged frames were dropped");
    check(&path, "H.264", f64::from(SECONDS));
}

#[test]
fn a_publisher_leaving_mid_recording_closes_a_valid_file_and_a_mic_alone_is_a_webm() {
    let dir = tempfile::tempdir().unwrap();
    let (v, a) = (video(dir.path(), StreamCodec::H264), audio(dir.path()));
    let mut feed = Feed::new(dir.path());
    // Half of the stream, then the publisher is gone (its file closes with the lesson going on).
    let half_v = &v[..v.len() / 2];
    let half_a = &a[..a.len() / 2];
    feed.play(
        1,
        &[(Media::Video, StreamCodec::H264, half_v), (Media::Audio, StreamCodec::Opus, half_a)],
        |_, _| true,
        0,
    );
    feed.play(2, &[(Media::Audio, StreamCodec::Opus, &a)], |_, _| true, 0);
    let lesson = feed.lesson.clone();
    feed.recorders.handle(RecordOutput::Close { lesson, participant: ParticipantId(1) });
    let mut files = feed.close();
    files.sort_by_key(|f| f.path.clone());
    assert_eq!(files.len(), 2, "{files:?}");
    check(&files[0].path, "H.264", f64::from(SECONDS) / 2.0);
    let d = discover(&files[1].path);
    assert!(d.text.contains("Opus") && !d.text.contains("video"), "{}", d.text);
    assert!((d.duration_s() - f64::from(SECONDS)).abs() <= 1.0, "{}", d.text);
    assert!(audio_rms_db(&files[1].path) > -30.0);
}

async fn a_closed_file_goes_into_the_storage_and_its_row_is_ready() {
    use lectern_hub::recording::storage::{LocalDisk, Storage};
    let db = lectern_common::test_db::TestDb::current();
    let store = lectern_hub::store::Store::connect(&db.url()).await.expect("a store");
    let dir = tempfile::tempdir().unwrap();
    let (v, a) = (video(dir.path(), StreamCodec::Vp8), audio(dir.path()));
    let storage: Arc<dyn Storage> = Arc::new(LocalDisk::new(dir.path().join("recordings")));
    let sinks = Sinks {
        dir: dir.path().join("recorder"),
        storage: Some(storage.clone()),
        store: Some(store.clone()),
        runtime: Some(tokio::runtime::Handle::current()),
    };
    let mut feed = Feed::with(sinks);
    let (room, lesson) = (feed.room.clone(), feed.lesson.clone());
    let start = lectern_hub::recording::LessonChange::Started {
        lesson: lesson.clone(),
        room: room.clone(),
        at: 1_700_000_000_000,
    };
    store.write_lesson(&start, 0).await.unwrap();
    let files = tokio::task::spawn_blocking(move || {
        feed.play(1, &[(Media::Video, StreamCodec::Vp8, &v), (Media::Audio, StreamCodec::Opus, &a)], |_, _| true, 0);
        feed.close()
    })
    .await
    .unwrap();
    let (path, rec) = one(files);
    assert!(!path.exists(), "the local copy goes once the storage has it");
    let rows = store.recordings_of_room(&room).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row.kind.as_str(), row.state.as_str()), ("camera", "ready"));
    assert_eq!((row.size(), row.received()), (rec.bytes, rec.bytes));
    assert_eq!(row.duration_ms, Some(rec.duration_ms as i64));
    assert!((row.duration_ms.unwrap() - i64::from(SECONDS) * 1000).abs() <= 1000, "{row:?}");
    assert_eq!(row.started_at, Some(rec.started_at_ms));
    assert_eq!(row.participant.as_deref(), Some("Person 1"));
    assert!(row.name.ends_with("-camera-p1.webm"), "{}", row.name);
    // What the storage holds is the file: read back and discovered.
    let key = lectern_hub::recording::storage::ObjectKey::new(lesson, &row.name).unwrap();
    let stored = dir.path().join("recordings").join(key.lesson().as_str()).join(key.name());
    assert_eq!(std::fs::metadata(&stored).unwrap().len(), rec.bytes);
    check(&stored, "VP8", f64::from(SECONDS));
}

lectern_common::each_backend!(
    a_closed_file_goes_into_the_storage_and_its_row_is_ready,
    flavor = "multi_thread",
    worker_threads = 2
);

async fn a_file_cut_by_a_hub_stop_is_stored_at_the_next_start() {
    use lectern_hub::recording::storage::{LocalDisk, Storage};
    let db = lectern_common::test_db::TestDb::current();
    let store = lectern_hub::store::Store::connect(&db.url()).await.expect("a store");
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalDisk::new(dir.path().join("recordings")));
    let sinks = Sinks {
        dir: dir.path().join("recorder"),
        storage: Some(storage),
        store: Some(store.clone()),
        runtime: Some(tokio::runtime::Handle::current()),
    };
    let room = RoomId::parse("lab-1").unwrap();
    let lesson = LessonId::new(&room, 1_700_000_000_000);
    let start = lectern_hub::recording::LessonChange::Started {
        lesson: lesson.clone(),
        room: room.clone(),
        at: 1_700_000_000_000,
    };
    store.write_lesson(&start, 0).await.unwrap();
    // One file this hub was writing (on its disk), one another node is writing (not here).
    let mine = store
        .create_recorded(&lesson, RecordingKind::Camera, "1700000000100-camera-p1.webm", "Ms Hopper", 1, 2)
        .await
        .unwrap();
    let theirs = store
        .create_recorded(&lesson, RecordingKind::Participant, "1700000000100-participant-p2.webm", "Ada", 1, 2)
        .await
        .unwrap();
    let path = dir.path().join("recorder").join(lesson.as_str()).join("1700000000100-camera-p1.webm");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![7u8; 5000]).unwrap();
    let recovered = tokio::task::spawn_blocking(move || lectern_hub::recording::recorder::writer::recover(&sinks))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recovered, 1);
    assert!(!path.exists());
    let rows = store.recordings_of_room(&room).await.unwrap();
    let row = |id| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!((row(mine).state.as_str(), row(mine).size(), row(mine).duration_ms), ("ready", 5000, None));
    assert_eq!(row(theirs).state.as_str(), "recording", "not this hub's to settle");
    let stored = dir.path().join("recordings").join(lesson.as_str()).join("1700000000100-camera-p1.webm");
    assert_eq!(std::fs::read(stored).unwrap(), vec![7u8; 5000]);
}

lectern_common::each_backend!(
    a_file_cut_by_a_hub_stop_is_stored_at_the_next_start,
    flavor = "multi_thread",
    worker_threads = 2
);
