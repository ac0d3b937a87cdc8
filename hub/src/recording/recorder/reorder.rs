//! One recorded RTP stream's packets back in order and into whole frames: a small jitter buffer
//! (late packets wait for the gap before them to fill, up to [`HOLD_MS`] or [`MAX_HELD`]
//! packets), then frames by RTP timestamp and marker bit. A frame that lost a packet is dropped,
//! never written damaged; after a loss a video stream waits for its next keyframe and asks for one
//! ([`Reorder::take_keyframe_request`]). A video stream also starts at a keyframe. Pure: time
//! (the packets' arrival, unix ms) comes in with the packets.

use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a packet waits for the ones before it (a retransmission usually comes within an RTT).
pub const HOLD_MS: i64 = 300;
/// Most packets held (a second of 720p is ~300): past it, the gap is given up on at once.
pub const MAX_HELD: usize = 600;

#[derive(Debug, Clone)]
pub struct Packet {
    /// Extended sequence number (str0m unrolls it).
    pub seq: u64,
    /// Extended RTP timestamp.
    pub rtp_time: u64,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    /// When it arrived (unix ms): only for how long it may wait.
    pub arrival_ms: i64,
}

/// A whole frame: every packet of one RTP timestamp, in order, none missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub rtp_time: u64,
    pub packets: Vec<Arc<[u8]>>,
}

/// A frame being gathered: its RTP time, its packets so far, and whether one went missing.
type Gathering = (u64, Vec<Arc<[u8]>>, bool);

#[derive(Debug)]
pub struct Reorder {
    video: bool,
    /// Decides whether a frame's first packet starts a keyframe.
    is_keyframe: fn(&[u8]) -> bool,
    held: BTreeMap<u64, Packet>,
    next_seq: Option<u64>,
    /// The frame being gathered: its timestamp, packets, and whether one went missing.
    current: Option<Gathering>,
    waiting_for_keyframe: bool,
    keyframe_request: bool,
    /// Frames dropped (lost a packet, or waiting for a keyframe), for the log and tests.
    pub dropped_frames: u64,
}

impl Reorder {
    pub fn new(video: bool, is_keyframe: fn(&[u8]) -> bool) -> Self {
        Self {
            video,
            is_keyframe,
            held: BTreeMap::new(),
            next_seq: None,
            current: None,
            waiting_for_keyframe: video,
            keyframe_request: video,
            dropped_frames: 0,
        }
    }

    /// A keyframe should be asked for (once per loss, and at the start).
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_request)
    }

    /// Whatever went before is lost (the writer fell behind and packets were shed): resync.
    pub fn discontinuity(&mut self) {
        self.held.clear();
        self.next_seq = None;
        self.lost();
    }

    /// Takes `p`; whole frames ready in order go to `out`.
    pub fn push(&mut self, p: Packet, out: &mut Vec<Frame>) {
        let now = p.arrival_ms;
        match self.next_seq {
            Some(next) if p.seq < next => return, // late or duplicate: its frame is gone already
            None => self.next_seq = Some(p.seq),
            _ => {}
        }
        self.held.insert(p.seq, p);
        self.release(now, out);
    }

    /// Time passed without packets: gaps held too long are given up.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<Frame>) {
        self.release(now_ms, out);
    }

    /// Everything held goes out as far as it is whole (the stream ends).
    pub fn flush(&mut self, out: &mut Vec<Frame>) {
        self.release(i64::MAX, out);
        if let Some((_, _, _)) = &self.current {
            // An unfinished last frame (no marker seen): dropped rather than guessed at.
            self.current = None;
            self.dropped_frames += 1;
        }
    }

    fn release(&mut self, now: i64, out: &mut Vec<Frame>) {
        loop {
            let Some(next) = self.next_seq else { return };
            if let Some(p) = self.held.remove(&next) {
                self.next_seq = Some(next + 1);
                self.take(p, out);
                continue;
            }
            // A gap: give up on it when the oldest packet after it waited long enough.
            let Some((&first, oldest)) = self.held.first_key_value() else { return };
            let waited = self.held.values().map(|p| p.arrival_ms).min().unwrap_or(oldest.arrival_ms);
            if self.held.len() < MAX_HELD && now.saturating_sub(waited) < HOLD_MS {
                return;
            }
            self.next_seq = Some(first);
            self.lost();
        }
    }

    fn lost(&mut self) {
        if let Some(cur) = &mut self.current {
            cur.2 = true;
        }
        if self.video && !self.waiting_for_keyframe {
            self.waiting_for_keyframe = true;
            self.keyframe_request = true;
        }
    }

    fn take(&mut self, p: Packet, out: &mut Vec<Frame>) {
        if self.current.as_ref().is_some_and(|c| c.0 != p.rtp_time) {
            // A new timestamp ends the frame even if its marker packet was lost; a loss already
            // marked it broken.
            self.finish(out);
        }
        let cur = self.current.get_or_insert_with(|| (p.rtp_time, Vec::new(), false));
        cur.1.push(p.payload);
        if p.marker || !self.video {
            self.finish(out);
        }
    }

    fn finish(&mut self, out: &mut Vec<Frame>) {
        let Some((rtp_time, packets, broken)) = self.current.take() else { return };
        if broken {
            self.dropped_frames += 1;
            return;
        }
        if self.waiting_for_keyframe {
            // Any packet: an H.264 keyframe may open with an access unit delimiter.
            if !packets.iter().any(|p| (self.is_keyframe)(p)) {
                self.dropped_frames += 1;
                return;
            }
            self.waiting_for_keyframe = false;
        }
        out.push(Frame { rtp_time, packets });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &[u8]) -> bool {
        p.first() == Some(&b'K')
    }

    fn pkt(seq: u64, ts: u64, marker: bool, body: &[u8], at: i64) -> Packet {
        Packet { seq, rtp_time: ts, marker, payload: Arc::from(body), arrival_ms: at }
    }

    fn bodies(frames: &[Frame]) -> Vec<Vec<u8>> {
        frames.iter().map(|f| f.packets.iter().flat_map(|p| p.iter().copied()).collect()).collect()
    }

    #[test]
    fn video_starts_at_a_keyframe_and_asks_for_one() {
        let mut r = Reorder::new(true, key);
        assert!(r.take_keyframe_request());
        assert!(!r.take_keyframe_request());
        let mut out = Vec::new();
        r.push(pkt(10, 0, true, b"P0", 0), &mut out);
        r.push(pkt(11, 3000, false, b"K1", 1), &mut out);
        r.push(pkt(12, 3000, true, b"b", 2), &mut out);
        r.push(pkt(13, 6000, true, b"P2", 3), &mut out);
        assert_eq!(bodies(&out), [b"K1b".to_vec(), b"P2".to_vec()]);
        assert_eq!(r.dropped_frames, 1);
    }

    #[test]
    fn packets_out_of_order_come_back_in_order_as_whole_frames() {
        let mut r = Reorder::new(true, key);
        let mut out = Vec::new();
        r.push(pkt(1, 0, false, b"K", 0), &mut out);
        r.push(pkt(3, 0, true, b"c", 1), &mut out);
        r.push(pkt(2, 0, false, b"b", 2), &mut out);
        r.push(pkt(5, 90, true, b"P2", 3), &mut out);
        r.push(pkt(4, 45, true, b"P1", 4), &mut out);
        assert_eq!(bodies(&out), [b"Kbc".to_vec(), b"P1".to_vec(), b"P2".to_vec()]);
        assert_eq!(r.dropped_frames, 0);
    }

    #[test]
    fn a_lost_packet_drops_its_frame_and_the_stream_waits_for_the_next_keyframe() {
        let mut r = Reorder::new(true, key);
        r.take_keyframe_request();
        let mut out = Vec::new();
        r.push(pkt(1, 0, true, b"K0", 0), &mut out);
        r.push(pkt(2, 10, false, b"P1a", 10), &mut out);
        // 3 (the end of frame 10) never comes.
        r.push(pkt(4, 20, true, b"P2", 20), &mut out);
        r.push(pkt(5, 30, true, b"P3", 30), &mut out);
        assert_eq!(bodies(&out), [b"K0".to_vec()], "held while 3 may still come");
        r.tick(20 + HOLD_MS, &mut out);
        assert!(r.take_keyframe_request(), "the loss asks for a keyframe");
        r.push(pkt(6, 40, true, b"K4", 400), &mut out);
        r.push(pkt(7, 50, true, b"P5", 410), &mut out);
        assert_eq!(bodies(&out), [b"K0".to_vec(), b"K4".to_vec(), b"P5".to_vec()]);
        assert_eq!(r.dropped_frames, 3);
        // A retransmission of 3 arriving now is too late and changes nothing.
        r.push(pkt(3, 10, true, b"x", 420), &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn audio_frames_are_single_packets_and_a_loss_skips_only_that_one() {
        let mut r = Reorder::new(false, key);
        assert!(!r.take_keyframe_request());
        let mut out = Vec::new();
        r.push(pkt(1, 0, true, b"a", 0), &mut out);
        r.push(pkt(3, 1920, false, b"c", 40), &mut out);
        r.tick(40 + HOLD_MS, &mut out);
        r.push(pkt(4, 2880, false, b"d", 400), &mut out);
        assert_eq!(bodies(&out), [b"a".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        assert!(!r.take_keyframe_request());
    }

    #[test]
    fn too_many_held_packets_give_up_the_gap_at_once() {
        let mut r = Reorder::new(false, key);
        let mut out = Vec::new();
        r.push(pkt(0, 0, true, b"a", 0), &mut out);
        for i in 0..MAX_HELD as u64 {
            r.push(pkt(2 + i, 960 * (2 + i), true, b"x", 1), &mut out);
        }
        assert_eq!(out.len(), 1 + MAX_HELD);
    }
}
