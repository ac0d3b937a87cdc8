//! Synthetic media: H.264-shaped frames (Annex B NAL units with random filler, no encoder) that carry a
//! sequence number and a send time, so a subscriber can measure loss and delay per frame.
//!
//! The filler bytes are all >= 0x80, so no start code (`00 00 01`) or stamp marker can appear inside it:
//! str0m's packetizer splits on start codes, and the hub depacketizes and repacketizes every frame.

/// Marks the stamp inside a slice NAL: `LB` then 16 hex digits of sequence and 16 of nanoseconds.
const MARKER: &[u8; 2] = b"LB";
const STAMP_LEN: usize = 2 + 32;
const START: [u8; 4] = [0, 0, 0, 1];

/// What a subscriber reads back from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    /// Nanoseconds since the run's shared epoch.
    pub sent_ns: u64,
}

/// A tiny xorshift generator: filler only needs to look random, not be random.
#[derive(Debug, Clone)]
pub struct Filler(u64);

impl Filler {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn fill(&mut self, out: &mut Vec<u8>, n: usize) {
        let end = out.len() + n;
        while out.len() < end {
            for b in self.next().to_le_bytes() {
                if out.len() < end {
                    out.push(b | 0x80);
                }
            }
        }
    }
}

/// One video frame of about `size` bytes: SPS + PPS + IDR slice when `keyframe`, else a non-IDR slice.
pub fn h264_frame(stamp: Stamp, size: usize, keyframe: bool, filler: &mut Filler) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    if keyframe {
        // Header bytes only look like an SPS/PPS; nothing on the path parses them.
        out.extend_from_slice(&START);
        out.extend_from_slice(&[0x67, 0x42, 0xc0, 0x1f]);
        filler.fill(&mut out, 8);
        out.extend_from_slice(&START);
        out.extend_from_slice(&[0x68, 0xce]);
        filler.fill(&mut out, 3);
    }
    out.extend_from_slice(&START);
    out.push(if keyframe { 0x65 } else { 0x41 });
    out.extend_from_slice(MARKER);
    out.extend_from_slice(format!("{:016x}{:016x}", stamp.seq, stamp.sent_ns).as_bytes());
    let used = out.len();
    filler.fill(&mut out, size.saturating_sub(used));
    out
}

/// An Opus-sized audio frame of random bytes (the hub forwards it without looking inside).
pub fn audio_frame(size: usize, filler: &mut Filler) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    filler.fill(&mut out, size);
    out
}

/// Finds the stamp in a received (depacketized) frame; `None` when it is not one of ours.
pub fn read_stamp(frame: &[u8]) -> Option<Stamp> {
    let at = frame.windows(2).position(|w| w == MARKER)?;
    let hex = frame.get(at + 2..at + STAMP_LEN)?;
    // ASCII only, so the slices below fall on character boundaries whatever the network sent.
    let hex = std::str::from_utf8(hex).ok().filter(|h| h.is_ascii())?;
    let seq = u64::from_str_radix(&hex[..16], 16).ok()?;
    let sent_ns = u64::from_str_radix(&hex[16..], 16).ok()?;
    Some(Stamp { seq, sent_ns })
}

/// True when a received H.264 frame holds an IDR slice (NAL type 5 after a start code).
pub fn is_idr(frame: &[u8]) -> bool {
    frame.windows(4).any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

/// True for an RTP (not RTCP, STUN or DTLS) datagram, by RFC 7983 / RFC 5761 demultiplexing.
pub fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [b0, b1, ..] if (128..=191).contains(b0) && !(192..=223).contains(b1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_survives_a_frame_and_filler_has_no_start_code() {
        let mut f = Filler::new(7);
        for keyframe in [true, false] {
            let s = Stamp { seq: 42, sent_ns: 123_456_789 };
            let frame = h264_frame(s, 6000, keyframe, &mut f);
            assert!((6000..6100).contains(&frame.len()));
            assert_eq!(read_stamp(&frame), Some(s));
            let starts = frame.windows(3).filter(|w| *w == [0, 0, 1]).count();
            assert_eq!(starts, if keyframe { 3 } else { 1 }, "only our own NAL start codes");
            assert_eq!(is_idr(&frame), keyframe);
        }
    }

    #[test]
    fn a_stamp_with_non_ascii_bytes_is_refused_not_a_panic() {
        let mut frame = b"LB".to_vec();
        frame.extend_from_slice("é".repeat(16).as_bytes());
        assert_eq!(read_stamp(&frame), None);
        assert_eq!(read_stamp(b"LB12"), None);
    }

    #[test]
    fn rtp_is_told_from_rtcp_and_stun() {
        assert!(is_rtp(&[0x80, 96, 0, 0]));
        assert!(is_rtp(&[0x90, 0xe0, 0, 0]), "marker bit set, PT 96");
        assert!(!is_rtp(&[0x80, 200, 0, 0]), "RTCP SR");
        assert!(!is_rtp(&[0x00, 0x01, 0, 0]), "STUN");
        assert!(!is_rtp(&[22, 254, 0, 0]), "DTLS");
    }
}
