//! The hub recorder's CPU per recorded stream: GStreamer encodes 720p30 H.264 (1.5 Mbit/s of
//! `snow`, so the encoder really spends its bitrate) and
//! Opus once, payloaded as WebRTC sends them; then, for each N, the packets are handed to the
//! recorder as N publishers in real time (camera + mic each, every packet paced to its RTP time),
//! and the process's CPU (user + system) is read over the run. The same pacing loop without the
//! recorder is the baseline ("recording off": the room hands the recorder nothing then). Files go
//! to a temp dir (no storage, no database). A figure printer, not a test.
//!
//! Run: `cargo run -p lectern-hub --example recorder_cpu -- [seconds] [N...]` (default 20 s; 1, 4
//! and 8 publishers); it prints the table in `docs/performance.md` ("Hub recorder").

use std::sync::Arc;
use std::time::{Duration, Instant};

use lectern_hub::recording::recorder::file::Media;
use lectern_hub::recording::recorder::reorder::Packet;
use lectern_hub::recording::recorder::stream::StreamCodec;
use lectern_hub::recording::recorder::writer::{RecordOutput, RecordPacket, Recorders, Sinks};
use lectern_proto::upload::RecordingKind;
use lectern_proto::{LessonId, ParticipantId, RoomId, TrackId};

type Rtp = (u64, u64, bool, Vec<u8>);

fn rtp_of(pipeline: &str) -> Vec<Rtp> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    let port = sock.local_addr().expect("its address").port();
    let reader = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(3))).expect("a timeout");
        let mut got = Vec::new();
        let mut buf = vec![0; 65536];
        while let Ok(n) = sock.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        got
    });
    // sync=true: sent at their pace, so the default socket buffer never overflows.
    let launch = format!("{pipeline} ! udpsink host=127.0.0.1 port={port} sync=true");
    let st = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(launch.split_whitespace())
        .status()
        .expect("gst-launch-1.0 runs");
    assert!(st.success(), "{launch}");
    let (mut seq_hi, mut last_seq, mut ts_hi, mut last_ts) = (0u64, None::<u16>, 0u64, None::<u32>);
    reader
        .join()
        .expect("the reader")
        .into_iter()
        .map(|p| {
            let cc = usize::from(p[0] & 0x0f);
            let mut start = 12 + 4 * cc;
            if p[0] & 0x10 != 0 {
                start += 4 + 4 * usize::from(u16::from_be_bytes([p[start + 2], p[start + 3]]));
            }
            let seq = u16::from_be_bytes([p[2], p[3]]);
            let ts = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
            if last_seq.is_some_and(|l| seq < l && l - seq > 1 << 15) {
                seq_hi += 1 << 16;
            }
            if last_ts.is_some_and(|l| ts < l && l - ts > 1 << 31) {
                ts_hi += 1 << 32;
            }
            (last_seq, last_ts) = (Some(seq), Some(ts));
            (seq_hi + u64::from(seq), ts_hi + u64::from(ts), p[1] & 0x80 != 0, p[start..].to_vec())
        })
        .collect()
}

/// This process's CPU time so far (user + system), from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("a comm field") + 2..];
    let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Fields 14 and 15 (utime, stime) are 11 and 12 after the state field; 100 ticks a second.
    Duration::from_millis((f[11] + f[12]) * 10)
}

fn run(n: u64, seconds: u64, packets: &[(u64, Media, StreamCodec, &Rtp)], record: bool) -> (Duration, u64) {
    let dir = std::env::temp_dir().join(format!("lectern-recorder-cpu-{}", std::process::id()));
    let mut rec = Recorders::new(Sinks { dir: dir.clone(), storage: None, store: None, runtime: None });
    let room = RoomId::parse("bench").expect("a room id");
    let lesson = LessonId::new(&room, 1_700_000_000_000);
    let (start, cpu0) = (Instant::now(), cpu());
    let wall0 = lectern_common::time::unix_ms() as i64;
    let mut sent = 0;
    for (at_ms, media, codec, (seq, ts, marker, payload)) in packets.iter().take_while(|p| p.0 < seconds * 1000) {
        let due = start + Duration::from_millis(*at_ms);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let payload: Arc<[u8]> = Arc::from(&payload[..]);
        for who in 0..n {
            if !record {
                continue;
            }
            sent += 1;
            rec.handle(RecordOutput::Packet(Box::new(RecordPacket {
                room: room.clone(),
                lesson: lesson.clone(),
                participant: ParticipantId(who),
                name: format!("p{who}"),
                kind: RecordingKind::Participant,
                track: TrackId(who * 2 + *media as u64),
                media: *media,
                codec: *codec,
                packet: Packet {
                    seq: *seq,
                    rtp_time: *ts,
                    marker: *marker,
                    payload: payload.clone(),
                    arrival_ms: wall0 + *at_ms as i64,
                },
                report: None,
            })));
        }
    }
    let files = rec.close_all();
    let used = cpu() - cpu0;
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!record || files.len() as u64 == n, "{} files for {n} publishers", files.len());
    eprintln!("  n={n} record={record}: {sent} packets, {} files, {bytes} bytes", files.len());
    (used, bytes)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let counts: Vec<u64> = args.filter_map(|s| s.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![1, 4, 8] } else { counts };
    eprintln!("encoding {seconds} s of 720p30 H.264 and Opus with GStreamer…");
    let video = rtp_of(&format!(
        "videotestsrc num-buffers={} pattern=snow ! video/x-raw,width=1280,height=720,framerate=30/1 ! x264enc \
         tune=zerolatency speed-preset=ultrafast bitrate=1500 key-int-max=60 ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=96 mtu=1200 config-interval=-1",
        seconds * 30
    ));
    let audio = rtp_of(&format!(
        "audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine ! audio/x-raw,rate=48000,channels=2 ! opusenc \
         frame-size=20 ! rtpopuspay pt=111",
        seconds * 50
    ));
    let mut packets: Vec<(u64, Media, StreamCodec, &Rtp)> = Vec::new();
    for (media, codec, rate, list) in
        [(Media::Video, StreamCodec::H264, 90, &video), (Media::Audio, StreamCodec::Opus, 48, &audio)]
    {
        let ts0 = list[0].1;
        packets.extend(list.iter().map(|p| ((p.1 - ts0) / rate, media, codec, p)));
    }
    packets.sort_by_key(|p| p.0);
    let span = Duration::from_millis(packets.last().map_or(0, |p| p.0)).as_secs_f64();
    let (base, _) = run(1, seconds, &packets, false);
    println!("recording off (pacing loop alone): {:.4} CPU s per s", base.as_secs_f64() / span);
    println!("| recorded publishers (720p30 H.264 1.5 Mbit/s + Opus) | CPU s per s | per publisher | file MB/s |");
    println!("|---|---|---|---|");
    for n in counts {
        let (used, bytes) = run(n, seconds, &packets, true);
        let extra = used.saturating_sub(base).as_secs_f64() / span;
        println!(
            "| {n} | {:.4} | {:.4} ({:.2} % of a core) | {:.2} |",
            extra,
            extra / n as f64,
            extra / n as f64 * 100.0,
            bytes as f64 / span / 1e6
        );
    }
}
