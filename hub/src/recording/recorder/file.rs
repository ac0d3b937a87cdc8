//! One publisher's file, as a state machine: its streams' frames in (audio and/or video), bytes
//! out. Until the header can be written it gathers: a video stream's first keyframe (H.264's
//! parameter sets go into the header), or, without video, [`AUDIO_ONLY_AFTER_MS`] of audio. Then
//! H.264 (+ Opus) goes to fragmented MP4, VP8 (+ Opus) or Opus alone to WebM. The file starts at
//! the first keyframe (audio before it is left out), its `started_at` is that frame's
//! wall-clock time, and every sample sits at its own wall-clock offset from there, so audio and
//! video stay in sync and files of one lesson line up. Pure: no IO, time passed in.

use super::fmp4::Fmp4;
use super::reorder::Packet;
use super::sample::{Muxer, Patch, Sample, TrackInfo};
use super::stream::{SenderClock, Stream, StreamCodec, TimedFrame};
use super::webm::Webm;

/// Without a video stream, how long to wait for one before writing audio alone (and with a
/// keyframe, how long to wait for audio).
pub const AUDIO_ONLY_AFTER_MS: i64 = 1500;
/// With a video stream, how long to wait for its first keyframe before writing audio alone.
pub const KEYFRAME_WAIT_MS: i64 = 8000;
/// A fragment (MP4) or cluster (WebM) is closed at a video keyframe after this long, or after
/// [`FRAGMENT_MAX_US`] in any case (a crash loses at most that much).
const FRAGMENT_MIN_US: u64 = 1_000_000;
const FRAGMENT_MAX_US: u64 = 4_000_000;
/// Frames gathered before the header: bounded (about 10 s of 30 fps video plus audio).
const MAX_GATHERED: usize = 1000;

/// Which of a publisher's two streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Media {
    Audio = 0,
    Video = 1,
}

struct Writing {
    mux: Box<dyn Muxer>,
    /// The file's track index of each `Media`.
    track_of: [Option<usize>; 2],
    /// The codec each track was written with (fixed by the header).
    codecs: [Option<StreamCodec>; 2],
    start_us: i64,
    pending: Vec<Sample>,
    last_time: [Option<u64>; 2],
    fragment_start: Option<u64>,
    end_us: u64,
}

/// What a finished file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub trailer: Vec<u8>,
    pub patches: Vec<Patch>,
    pub duration_ms: u64,
}

pub struct FileRecorder {
    streams: [Option<Stream>; 2],
    first_arrival_ms: Option<i64>,
    gathered: Vec<(Media, TimedFrame)>,
    writing: Option<Writing>,
    /// Bytes ready to append to the file.
    out: Vec<u8>,
    written: u64,
    frames: Vec<TimedFrame>,
}

impl Default for FileRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl FileRecorder {
    pub fn new() -> Self {
        Self {
            streams: [None, None],
            first_arrival_ms: None,
            gathered: Vec::new(),
            writing: None,
            out: Vec::new(),
            written: 0,
            frames: Vec::new(),
        }
    }

    /// The file's extension once its header is written (`mp4`, `webm`).
    pub fn extension(&self) -> Option<&'static str> {
        self.writing.as_ref().map(|w| w.mux.extension())
    }

    /// Wall-clock (unix ms) of the file's first sample, once the header is written.
    pub fn started_at_ms(&self) -> Option<i64> {
        self.writing.as_ref().map(|w| w.start_us.div_euclid(1000))
    }

    /// Bytes to append since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = std::mem::take(&mut self.out);
        self.written += out.len() as u64;
        out
    }

    /// Frames dropped by every stream so far (lost packets, waiting for a keyframe).
    pub fn dropped_frames(&self) -> u64 {
        self.streams.iter().flatten().map(|s| s.dropped_frames()).sum()
    }

    /// Which streams want a keyframe asked for (once per request).
    pub fn take_keyframe_request(&mut self) -> bool {
        self.streams[Media::Video as usize].as_mut().is_some_and(|s| s.take_keyframe_request())
    }

    /// Packets of `media` were shed before reaching here: resync.
    pub fn discontinuity(&mut self, media: Media) {
        if let Some(s) = &mut self.streams[media as usize] {
            s.discontinuity();
        }
    }

    pub fn push(&mut self, media: Media, codec: StreamCodec, p: Packet, report: Option<SenderClock>) {
        let now = p.arrival_ms;
        self.first_arrival_ms.get_or_insert(now);
        let slot = &mut self.streams[media as usize];
        // A stream whose codec changed (renegotiated) starts over at a keyframe; the file's track
        // keeps its codec, so frames of another codec are not written (see `accept`).
        if slot.as_ref().is_none_or(|s| s.codec != codec) {
            *slot = Some(Stream::new(codec));
        }
        let Some(stream) = slot.as_mut() else { return };
        stream.push(p, report, &mut self.frames);
        self.take_frames(media);
        self.tick(now);
    }

    /// Time passed: held gaps are given up, the header written when it is time.
    pub fn tick(&mut self, now_ms: i64) {
        for m in [Media::Audio, Media::Video] {
            if let Some(s) = &mut self.streams[m as usize] {
                s.tick(now_ms, &mut self.frames);
                self.take_frames(m);
            }
        }
        if self.writing.is_none() {
            self.maybe_start(now_ms);
        }
    }

    /// The streams ended: everything whole goes out, then the trailer; `None` if no header was
    /// ever written (nothing to keep).
    pub fn finish(&mut self) -> Option<Finished> {
        for m in [Media::Audio, Media::Video] {
            if let Some(s) = &mut self.streams[m as usize] {
                s.flush(&mut self.frames);
                self.take_frames(m);
            }
        }
        if self.writing.is_none() {
            self.maybe_start(i64::MAX);
        }
        let w = self.writing.as_mut()?;
        let pending = std::mem::take(&mut w.pending);
        if !pending.is_empty() {
            self.out.extend(w.mux.fragment(&pending, &[None, None]));
        }
        let written = self.written + self.out.len() as u64;
        let (trailer, patches) = w.mux.finish(written, w.end_us);
        Some(Finished { trailer, patches, duration_ms: w.end_us / 1000 })
    }

    fn take_frames(&mut self, media: Media) {
        for f in std::mem::take(&mut self.frames) {
            if self.writing.is_some() {
                self.accept(media, f);
            } else if self.gathered.len() < MAX_GATHERED {
                self.gathered.push((media, f));
            }
        }
    }

    fn maybe_start(&mut self, now_ms: i64) {
        let Some(first) = self.first_arrival_ms else { return };
        let waited = now_ms.saturating_sub(first);
        let video = self.streams[Media::Video as usize].as_ref();
        let key = self.gathered.iter().find(|(m, f)| *m == Media::Video && f.keyframe).map(|(_, f)| f.unix_us);
        let video_track = match (video, key) {
            (Some(s), Some(_)) => {
                s.track_codec().map(|codec| TrackInfo { codec, width: s.params.width, height: s.params.height })
            }
            _ => None,
        };
        let audio = self.streams[Media::Audio as usize].as_ref().and_then(|s| s.track_codec());
        let audio_seen = self.gathered.iter().any(|(m, _)| *m == Media::Audio);
        let ready = match (&video_track, video) {
            // Camera and mic start together: the other one is given a moment to show up.
            (Some(_), _) => audio_seen || waited >= AUDIO_ONLY_AFTER_MS || self.gathered.len() >= MAX_GATHERED,
            (None, Some(_)) => waited >= KEYFRAME_WAIT_MS || self.gathered.len() >= MAX_GATHERED,
            (None, None) => waited >= AUDIO_ONLY_AFTER_MS || self.gathered.len() >= MAX_GATHERED,
        };
        let has_audio = audio.is_some() && audio_seen;
        if !ready || (video_track.is_none() && !has_audio) {
            return;
        }
        let mut tracks = Vec::new();
        let mut track_of = [None, None];
        let mux: Box<dyn Muxer> = match &video_track {
            Some(TrackInfo { codec: super::sample::TrackCodec::H264 { .. }, .. }) => Box::new(Fmp4::default()),
            _ => Box::new(Webm::default()),
        };
        if let Some(v) = video_track.clone() {
            track_of[Media::Video as usize] = Some(tracks.len());
            tracks.push(v);
        }
        if let Some(codec) = audio.filter(|_| has_audio) {
            track_of[Media::Audio as usize] = Some(tracks.len());
            tracks.push(TrackInfo { codec, width: 0, height: 0 });
        }
        let start_us = match key.filter(|_| video_track.is_some()) {
            Some(k) => k,
            None => self.gathered.iter().map(|(_, f)| f.unix_us).min().unwrap_or(0),
        };
        let codecs = track_of.map(|t| t.and(None::<StreamCodec>));
        let mut codecs = codecs;
        for m in [Media::Audio, Media::Video] {
            if track_of[m as usize].is_some() {
                codecs[m as usize] = self.streams[m as usize].as_ref().map(|s| s.codec);
            }
        }
        let mut w = Writing {
            mux,
            track_of,
            codecs,
            start_us,
            pending: Vec::new(),
            last_time: [None, None],
            fragment_start: None,
            end_us: 0,
        };
        self.out.extend(w.mux.header(&tracks));
        self.writing = Some(w);
        let mut gathered = std::mem::take(&mut self.gathered);
        gathered.sort_by_key(|(_, f)| f.unix_us);
        for (m, f) in gathered {
            // Before the first picture: left out, so the file starts with both.
            if f.unix_us >= start_us {
                self.accept(m, f);
            }
        }
    }

    fn accept(&mut self, media: Media, f: TimedFrame) {
        let Some(w) = &mut self.writing else { return };
        let Some(track) = w.track_of[media as usize] else { return };
        // A stream renegotiated to another codec mid-file is not written into this file.
        if self.streams[media as usize].as_ref().map(|s| s.codec) != w.codecs[media as usize] {
            return;
        }
        let raw = u64::try_from(f.unix_us.saturating_sub(w.start_us)).unwrap_or(0);
        // One track's times only go forward (a new sender report may move the mapping a little).
        let time_us = w.last_time[media as usize].map_or(raw, |last| raw.max(last + 1));
        w.last_time[media as usize] = Some(time_us);
        let frame_us = if media == Media::Audio { 20_000 } else { 33_333 };
        w.end_us = w.end_us.max(time_us + frame_us);
        let sample = Sample { track, time_us, keyframe: f.keyframe, data: f.data };
        let has_video = w.track_of[Media::Video as usize].is_some();
        if let Some(start) = w.fragment_start {
            let span = time_us.saturating_sub(start);
            let at_key = media == Media::Video && f.keyframe;
            if span >= FRAGMENT_MAX_US || (span >= FRAGMENT_MIN_US && (at_key || !has_video)) {
                let mut next = [None, None];
                next[track] = Some(time_us);
                let pending = std::mem::take(&mut w.pending);
                self.out.extend(w.mux.fragment(&pending, &next));
                w.fragment_start = None;
            }
        }
        w.fragment_start.get_or_insert(time_us);
        w.pending.push(sample);
    }
}
