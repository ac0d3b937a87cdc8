//! Helpers shared by the pipeline tests.
#![allow(dead_code)]

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media;

/// What one buffer on a pad looked like: all bytes equal to `value`?
pub fn watch_pad(pipeline: &media::Pipeline, element: &str, value: u8) -> std::sync::mpsc::Receiver<bool> {
    let (tx, rx) = std::sync::mpsc::channel();
    let pad = pipeline.gst_pipeline().by_name(element).and_then(|e| e.static_pad("src")).expect("element with src pad");
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        let Ok(map) = buffer.map_readable() else { return gst::PadProbeReturn::Ok };
        // For video only the luma plane counts (I420: the first width×height bytes).
        let luma = pad.current_caps().and_then(|caps| {
            let s = caps.structure(0)?;
            if s.get::<&str>("format").ok()? != "I420" {
                return None;
            }
            Some(s.get::<i32>("width").ok()? * s.get::<i32>("height").ok()?)
        });
        let bytes = match luma {
            Some(n) => &map[..usize::try_from(n).unwrap_or(0).min(map.len())],
            None => &map[..],
        };
        let _ = tx.send(!bytes.is_empty() && bytes.iter().all(|&b| b == value));
        gst::PadProbeReturn::Ok
    });
    rx
}

/// Waits (with a deadline) until a buffer matching `wanted` arrives, then checks the next few match too.
pub fn settles_to(rx: &std::sync::mpsc::Receiver<bool>, wanted: bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(seen) if seen == wanted => break,
            Ok(_) => continue,
            Err(_) => panic!("{what}: no matching buffer before the deadline"),
        }
    }
    for _ in 0..3 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).ok(), Some(wanted), "{what}: stays that way");
    }
}

/// No hub in these tests: webrtcbin blocks its inputs until it is negotiated, which would stall
/// every branch after a second, so their RTP is dropped just before it.
pub fn drop_rtp(pipeline: &media::Pipeline) {
    for name in ["audio-rtp-caps", "video-rtp-caps"] {
        let pad = pipeline.gst_pipeline().by_name(name).and_then(|e| e.static_pad("src")).expect("RTP caps");
        pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop);
    }
    // The laptop's track, when there is one: its buffers would otherwise wait at the unnegotiated
    // webrtcbin and hold its streaming thread, which a reopen then waits for forever.
    if let Some(pad) = pipeline.gst_pipeline().by_name("content-rtp-caps").and_then(|e| e.static_pad("src")) {
        pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop);
    }
}
