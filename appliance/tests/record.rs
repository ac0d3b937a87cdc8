//! Edge recording on real GStreamer with test sources (no hub): the files it writes play with
//! the right codecs and duration, and a full disk stops the recording, never the live pipeline.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::{self, ContentSettings, MediaSettings, Pipeline, TestPattern, build_pipeline};
use lectern_appliance::record::Recorder;
use lectern_appliance::record::recorder::read_start;

fn live(with_slides: bool) -> Pipeline {
    media::init().expect("GStreamer initialises");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Ball);
    (settings.video.width, settings.video.height) = (320, 240);
    settings.video.keyframe_interval_s = 1;
    if with_slides {
        let mut video = settings.video.clone();
        (video.width, video.height) = (640, 360);
        settings.content = Some(ContentSettings { device: "virtual".into(), video, mode: None });
    }
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    common::drop_rtp(&pipeline);
    pipeline.play().expect("pipeline plays");
    pipeline
}

/// `gst-discoverer-1.0` on `file`: (duration in ms, its report).
fn discover(file: &Path) -> (u64, String) {
    let out = Command::new("gst-discoverer-1.0").arg(file).output().expect("gst-discoverer-1.0 runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let duration = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Duration: "))
        .and_then(|d| {
            let mut parts = d.split(':');
            let (h, m, s) = (
                parts.next()?.parse::<f64>().ok()?,
                parts.next()?.parse::<f64>().ok()?,
                parts.next()?.parse::<f64>().ok()?,
            );
            Some(((h * 3600.0 + m * 60.0 + s) * 1000.0) as u64)
        })
        .unwrap_or_else(|| panic!("no duration for {}:\n{text}", file.display()));
    (duration, text)
}

/// Waits (with a deadline) until the recorder closed `n` fragments.
fn fragments(recorder: &Recorder, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let closed = recorder.closed_files();
        if closed.len() >= n {
            return closed;
        }
        assert!(Instant::now() < deadline, "only {} fragments closed: {closed:?}", closed.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_recording_is_split_mp4_with_the_live_h264_and_opus_and_slides_without_reencoding() {
    let pipeline = live(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let encoders_before = count(&pipeline, "x264enc") + count(&pipeline, "openh264enc");
    let recorder = Recorder::start(&pipeline, dir.path(), "1", Duration::from_secs(2)).expect("recording starts");
    // Two fragments of the camera file closed: at least ~4 s recorded.
    fragments(&recorder, 2);
    let files = recorder.stop();
    assert_eq!(count(&pipeline, "x264enc") + count(&pipeline, "openh264enc"), encoders_before, "no second encoder");
    assert_eq!(pipeline.gst_pipeline().current_state(), gst::State::Playing, "the live pipeline goes on");
    let camera: Vec<&PathBuf> = files.iter().filter(|f| f.to_string_lossy().contains("-camera-")).collect();
    let slides: Vec<&PathBuf> = files.iter().filter(|f| f.to_string_lossy().contains("-slides-")).collect();
    assert!(camera.len() >= 2 && !slides.is_empty(), "{files:?}");
    let (duration, report) = discover(camera[0]);
    assert!(report.contains("H.264") && report.contains("Opus"), "camera file: H.264 + Opus:\n{report}");
    // A new file before a GOP would take it past 2 s (keyframes every second): 1–2 s each.
    assert!((800..=2_200).contains(&duration), "first fragment lasts {duration} ms:\n{report}");
    let (_, report) = discover(slides[0]);
    assert!(report.contains("H.264") && !report.contains("Opus"), "slides file: H.264 only:\n{report}");
    assert!(report.contains("640") && report.contains("360"), "the laptop's size:\n{report}");
}

#[test]
fn each_file_notes_its_first_sample_on_the_wall_clock_and_split_files_follow_on() {
    let pipeline = live(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let before = lectern_common::time::unix_ms();
    let recorder = Recorder::start(&pipeline, dir.path(), "1", Duration::from_secs(2)).expect("recording starts");
    fragments(&recorder, 2);
    let files = recorder.stop();
    let after = lectern_common::time::unix_ms();
    let mut camera: Vec<&PathBuf> = files.iter().filter(|f| f.to_string_lossy().contains("-camera-")).collect();
    camera.sort();
    let slides = files.iter().find(|f| f.to_string_lossy().contains("-slides-000")).expect("a slides file");
    let start = |f: &Path| read_start(f).unwrap_or_else(|| panic!("{} has no .start sidecar", f.display()));
    let first = start(camera[0]);
    assert!((before..=after).contains(&first), "the first file starts while recording: {before} ≤ {first} ≤ {after}");
    // Camera and slides share the timeline's zero (the first camera keyframe): the slides' first
    // keyframe follows within a GOP (1 s here).
    let slides_start = start(slides);
    assert!((first..=first + 1_500).contains(&slides_start), "slides start {slides_start}, camera {first}");
    // Each next fragment starts where the one before ended (its duration as the file says it).
    for pair in camera.windows(2) {
        let (duration, _) = discover(pair[0]);
        let (a, b) = (start(pair[0]), start(pair[1]));
        assert!(
            b.abs_diff(a + duration) <= 100,
            "{} starts at {b}, the one before at {a} + {duration} ms",
            pair[1].display()
        );
    }
}

#[test]
fn a_full_disk_stops_the_recording_not_the_lesson() {
    let pipeline = live(false);
    let mount = tempfile::tempdir().expect("tempdir");
    let tiny = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(mount.path()).status();
    if !tiny.is_ok_and(|s| s.success()) {
        eprintln!("cannot mount a small tmpfs here (not root?): skipping");
        return;
    }
    let _unmount = Unmount(mount.path().to_owned());
    let recorder = Recorder::start(&pipeline, mount.path(), "1", Duration::from_secs(60)).expect("recording starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.failure().is_none() {
        assert!(Instant::now() < deadline, "64 KiB filled without the recording noticing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let failure = recorder.failure().unwrap_or_default();
    drop(recorder);
    // The live pipeline still plays and its camera still encodes.
    assert_eq!(pipeline.gst_pipeline().current_state(), gst::State::Playing, "after: {failure}");
    let (tx, rx) = std::sync::mpsc::channel();
    let pad = pipeline.encoded_pad(media::EncodedStream::Camera).expect("camera pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let _ = tx.send(());
        gst::PadProbeReturn::Ok
    });
    for _ in 0..10 {
        rx.recv_timeout(Duration::from_secs(5)).expect("the camera keeps encoding after the disk filled");
    }
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn count(pipeline: &Pipeline, factory: &str) -> usize {
    pipeline
        .gst_pipeline()
        .iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| e.factory().is_some_and(|f| f.name() == factory))
        .count()
}
