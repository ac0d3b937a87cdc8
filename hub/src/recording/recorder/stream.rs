//! One recorded RTP stream: packets in ([`reorder`](super::reorder)), frames depacketized with
//! str0m's depacketizers (no transcoding), each stamped with its wall-clock time. The RTP clock
//! is mapped to wall-clock through the sender's RTCP sender reports (the NTP time of an RTP
//! time), so the hub's and the box's files of one lesson share a timeline; until the first
//! report, through the first packet's arrival.

use str0m::format::CodecExtra;
use str0m::unversioned::{Depacketizer, H264Depacketizer, Vp8Depacketizer};

use super::reorder::{Frame, Packet, Reorder};
use super::sample::TrackCodec;

/// The codecs the hub records (what browsers and the box publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamCodec {
    H264,
    Vp8,
    Opus,
}

impl StreamCodec {
    pub fn is_video(self) -> bool {
        self != Self::Opus
    }

    pub fn from_str0m(c: str0m::format::Codec) -> Option<Self> {
        match c {
            str0m::format::Codec::H264 => Some(Self::H264),
            str0m::format::Codec::Vp8 => Some(Self::Vp8),
            str0m::format::Codec::Opus => Some(Self::Opus),
            _ => None,
        }
    }

    fn clock_rate(self) -> u64 {
        if self.is_video() { 90_000 } else { 48_000 }
    }
}

/// A sender report's mapping: this RTP time was this wall-clock time (unix µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderClock {
    pub rtp_time: u64,
    pub unix_us: i64,
}

/// A depacketized frame at its wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedFrame {
    pub unix_us: i64,
    pub keyframe: bool,
    pub data: Vec<u8>,
}

/// What a stream learned about its codec (H.264 parameter sets, picture size).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodecParams {
    pub sps: Option<Vec<u8>>,
    pub pps: Option<Vec<u8>>,
    pub width: u16,
    pub height: u16,
}

pub struct Stream {
    pub codec: StreamCodec,
    reorder: Reorder,
    h264: H264Depacketizer,
    vp8: Vp8Depacketizer,
    /// RTP time ↔ unix µs; `from_report` once a sender report set it.
    anchor: Option<(SenderClock, bool)>,
    pub params: CodecParams,
    frames: Vec<Frame>,
}

impl Stream {
    pub fn new(codec: StreamCodec) -> Self {
        let key: fn(&[u8]) -> bool = match codec {
            StreamCodec::H264 => |p| crate::sfu::codec::starts_keyframe(str0m::format::Codec::H264, p),
            StreamCodec::Vp8 => |p| crate::sfu::codec::starts_keyframe(str0m::format::Codec::Vp8, p),
            StreamCodec::Opus => |_| true,
        };
        let mut h264 = H264Depacketizer::default();
        h264.is_avc = true;
        Self {
            codec,
            reorder: Reorder::new(codec.is_video(), key),
            h264,
            vp8: Vp8Depacketizer::default(),
            anchor: None,
            params: CodecParams::default(),
            frames: Vec::new(),
        }
    }

    pub fn take_keyframe_request(&mut self) -> bool {
        self.reorder.take_keyframe_request()
    }

    pub fn dropped_frames(&self) -> u64 {
        self.reorder.dropped_frames
    }

    pub fn discontinuity(&mut self) {
        self.reorder.discontinuity();
    }

    /// Takes a packet (with the last sender report seen on its stream, if any).
    pub fn push(&mut self, p: Packet, report: Option<SenderClock>, out: &mut Vec<TimedFrame>) {
        match (report, self.anchor) {
            // The first report, or a newer one: the mapping follows the sender's clock.
            (Some(r), a) if a.is_none_or(|(old, _)| old != r) => self.anchor = Some((r, true)),
            (None, None) => {
                self.anchor = Some((SenderClock { rtp_time: p.rtp_time, unix_us: p.arrival_ms * 1000 }, false))
            }
            _ => {}
        }
        self.reorder.push(p, &mut self.frames);
        self.drain(out);
    }

    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<TimedFrame>) {
        self.reorder.tick(now_ms, &mut self.frames);
        self.drain(out);
    }

    pub fn flush(&mut self, out: &mut Vec<TimedFrame>) {
        self.reorder.flush(&mut self.frames);
        self.drain(out);
    }

    /// The track description once known (H.264 needs its parameter sets).
    pub fn track_codec(&self) -> Option<TrackCodec> {
        match self.codec {
            StreamCodec::H264 => {
                Some(TrackCodec::H264 { sps: self.params.sps.clone()?, pps: self.params.pps.clone()? })
            }
            StreamCodec::Vp8 => Some(TrackCodec::Vp8),
            StreamCodec::Opus => Some(TrackCodec::Opus),
        }
    }

    fn unix_us(&self, rtp_time: u64) -> i64 {
        let Some((a, _)) = self.anchor else { return 0 };
        // On the low 32 bits: a sender report's RTP time is the wire's 32-bit value, a packet's is
        // extended; the wrapped difference is right within ±2^31 ticks (6.6 h at 90 kHz), and
        // reports come every few seconds.
        let diff = i128::from((rtp_time as u32).wrapping_sub(a.rtp_time as u32) as i32);
        let us = diff * 1_000_000 / i128::from(self.codec.clock_rate());
        a.unix_us.saturating_add(i64::try_from(us).unwrap_or(0))
    }

    fn drain(&mut self, out: &mut Vec<TimedFrame>) {
        for f in std::mem::take(&mut self.frames) {
            let unix_us = self.unix_us(f.rtp_time);
            if let Some((keyframe, data)) = self.depacketize(&f) {
                out.push(TimedFrame { unix_us, keyframe, data });
            }
        }
    }

    /// The frame's bytes as the container wants them; `None` if a packet does not parse (the
    /// frame is dropped, like a lost one).
    fn depacketize(&mut self, f: &Frame) -> Option<(bool, Vec<u8>)> {
        let mut data = Vec::with_capacity(f.packets.iter().map(|p| p.len() + 4).sum());
        match self.codec {
            StreamCodec::Opus => {
                data.extend_from_slice(f.packets.first()?);
                Some((true, data))
            }
            StreamCodec::H264 => {
                let mut extra = CodecExtra::None;
                for p in &f.packets {
                    self.h264.depacketize(p, &mut data, &mut extra).ok()?;
                }
                let keyframe = self.note_parameter_sets(&data);
                Some((keyframe, data))
            }
            StreamCodec::Vp8 => {
                let mut extra = CodecExtra::None;
                for p in &f.packets {
                    self.vp8.depacketize(p, &mut data, &mut extra).ok()?;
                }
                // RFC 6386, 9.1: P bit clear = keyframe, with the start code and the size after it.
                let keyframe = data.first().is_some_and(|b| b & 1 == 0);
                if keyframe && data.get(3..6) == Some(&[0x9d, 0x01, 0x2a]) && data.len() >= 10 {
                    self.params.width = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
                    self.params.height = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
                }
                Some((keyframe, data))
            }
        }
    }

    /// Keeps the SPS/PPS of length-prefixed NAL units; true if they hold an IDR slice.
    fn note_parameter_sets(&mut self, mut data: &[u8]) -> bool {
        let mut idr = false;
        while let [a, b, c, d, rest @ ..] = data {
            let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            let Some(nal) = rest.get(..len) else { break };
            match nal.first().map(|h| h & 0x1f) {
                Some(5) => idr = true,
                Some(7) => {
                    self.params.sps = Some(nal.to_vec());
                    if let Some((w, h)) = super::sps::dimensions(nal) {
                        (self.params.width, self.params.height) = (w, h);
                    }
                }
                Some(8) => self.params.pps = Some(nal.to_vec()),
                _ => {}
            }
            data = &rest[len..];
        }
        idr
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn opus(seq: u64, rtp_time: u64, arrival_ms: i64) -> Packet {
        Packet { seq, rtp_time, marker: false, payload: Arc::from(&[0xfc, 1, 2][..]), arrival_ms }
    }

    #[test]
    fn times_follow_the_sender_reports_and_the_arrival_only_until_the_first() {
        let mut s = Stream::new(StreamCodec::Opus);
        let mut out = Vec::new();
        s.push(opus(1, 1000, 5_000), None, &mut out);
        s.push(opus(2, 1960, 5_900), None, &mut out);
        // Until a report: the first packet's arrival, then the RTP clock (20 ms later, not 900).
        assert_eq!(out.iter().map(|f| f.unix_us).collect::<Vec<_>>(), [5_000_000, 5_020_000]);
        // A report says RTP 2920 was unix 7 s: the sender's clock from now on.
        let sr = SenderClock { rtp_time: 2920, unix_us: 7_000_000 };
        s.push(opus(3, 2920, 6_000), Some(sr), &mut out);
        s.push(opus(4, 3880, 6_020), Some(sr), &mut out);
        assert_eq!(out[2..].iter().map(|f| f.unix_us).collect::<Vec<_>>(), [7_000_000, 7_020_000]);
    }

    #[test]
    fn a_report_of_the_32_bit_wire_time_maps_an_extended_packet_time() {
        let mut s = Stream::new(StreamCodec::Opus);
        let mut out = Vec::new();
        // The stream's RTP time rolled over: the packet's time is extended past 2^32, the report's is not.
        let sr = SenderClock { rtp_time: 100, unix_us: 1_000_000 };
        s.push(opus(1, (1 << 32) + 100 + 48_000, 0), Some(sr), &mut out);
        assert_eq!(out[0].unix_us, 2_000_000);
    }
}
