//! WebM (a Matroska subset) for VP8 + Opus, or Opus alone: the EBML header, a Segment of unknown
//! size with Info and Tracks, then one Cluster per fragment (SimpleBlocks, millisecond
//! timestamps). Written front to back, so a crash leaves the clusters so far playable; at the end
//! the Segment's size and the Info's Duration are filled in.

use super::sample::{Muxer, Patch, Sample, TrackCodec, TrackInfo};

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CLUSTER: u32 = 0x1F43_B675;
/// An 8-byte size field meaning "unknown" (RFC 9559, 6.2).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

#[derive(Default)]
pub struct Webm {
    segment_size_at: u64,
    segment_data_at: u64,
    duration_at: u64,
}

fn id_bytes(id: u32) -> Vec<u8> {
    let b = id.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count();
    b[skip..].to_vec()
}

/// A size as an 8-byte EBML vint (always 8: simple, and patchable in place).
fn size8(n: u64) -> [u8; 8] {
    let mut b = n.to_be_bytes();
    b[0] = 0x01;
    b
}

fn el(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v = id_bytes(id);
    v.extend_from_slice(&size8(body.len() as u64));
    v.extend_from_slice(body);
    v
}

fn uint(id: u32, n: u64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(7);
    el(id, &b[skip..])
}

fn float(id: u32, f: f64) -> Vec<u8> {
    el(id, &f.to_be_bytes())
}

fn track_entry(number: u64, t: &TrackInfo) -> Vec<u8> {
    let mut e = uint(0xD7, number);
    e.extend(uint(0x73C5, number));
    e.extend(uint(0x83, if t.is_video() { 1 } else { 2 }));
    e.extend(uint(0x9C, 0)); // no lacing
    match t.codec {
        TrackCodec::Vp8 | TrackCodec::H264 { .. } => {
            e.extend(el(0x86, b"V_VP8"));
            let mut v = uint(0xB0, u64::from(t.width));
            v.extend(uint(0xBA, u64::from(t.height)));
            e.extend(el(0xE0, &v));
        }
        TrackCodec::Opus => {
            e.extend(el(0x86, b"A_OPUS"));
            // OpusHead (RFC 7845, 5.1): version 1, 2 channels, no pre-skip, 48 kHz, gain 0, family 0.
            let mut head = b"OpusHead".to_vec();
            head.extend_from_slice(&[1, 2, 0, 0]);
            head.extend_from_slice(&48_000u32.to_le_bytes());
            head.extend_from_slice(&[0, 0, 0]);
            e.extend(el(0x63A2, &head));
            e.extend(uint(0x56BB, 80_000_000)); // SeekPreRoll: 80 ms
            let mut a = float(0xB5, 48_000.0);
            a.extend(uint(0x9F, 2));
            e.extend(el(0xE1, &a));
        }
    }
    el(0xAE, &e)
}

impl Muxer for Webm {
    fn extension(&self) -> &'static str {
        "webm"
    }

    fn header(&mut self, tracks: &[TrackInfo]) -> Vec<u8> {
        let mut head = uint(0x4286, 1);
        head.extend(uint(0x42F7, 1));
        head.extend(uint(0x42F2, 4));
        head.extend(uint(0x42F3, 8));
        head.extend(el(0x4282, b"webm"));
        head.extend(uint(0x4287, 4));
        head.extend(uint(0x4285, 2));
        let mut out = el(EBML, &head);
        out.extend(id_bytes(SEGMENT));
        self.segment_size_at = out.len() as u64;
        out.extend_from_slice(&UNKNOWN_SIZE);
        self.segment_data_at = out.len() as u64;

        let mut info = uint(0x2AD7B1, 1_000_000); // timestamps in ms
        let before_duration = info.len();
        info.extend(float(0x4489, 0.0));
        info.extend(el(0x4D80, b"lectern-hub"));
        info.extend(el(0x5741, b"lectern-hub"));
        let info = el(INFO, &info);
        // Info's header (4-byte id, 8-byte size), then Duration's (2-byte id, 8-byte size).
        self.duration_at = out.len() as u64 + 12 + before_duration as u64 + 10;
        out.extend(info);
        let entries: Vec<u8> = tracks.iter().enumerate().flat_map(|(i, t)| track_entry(i as u64 + 1, t)).collect();
        out.extend(el(TRACKS, &entries));
        out
    }

    fn fragment(&mut self, samples: &[Sample], _next: &[Option<u64>]) -> Vec<u8> {
        let mut order: Vec<&Sample> = samples.iter().collect();
        order.sort_by_key(|s| s.time_us);
        let Some(base) = order.first().map(|s| s.time_us / 1000) else { return Vec::new() };
        let mut body = uint(0xE7, base);
        for s in order {
            // A cluster spans a few seconds at most (see `file`), so the offset fits an i16.
            let rel = i16::try_from((s.time_us / 1000).saturating_sub(base)).unwrap_or(i16::MAX);
            let mut block = vec![0x80 | (s.track as u8 + 1)];
            block.extend_from_slice(&rel.to_be_bytes());
            block.push(if s.keyframe { 0x80 } else { 0 });
            block.extend_from_slice(&s.data);
            body.extend(el(0xA3, &block));
        }
        el(CLUSTER, &body)
    }

    fn finish(&mut self, written: u64, duration_us: u64) -> (Vec<u8>, Vec<Patch>) {
        let patches = vec![
            Patch { offset: self.segment_size_at, bytes: size8(written - self.segment_data_at).to_vec() },
            Patch { offset: self.duration_at, bytes: (duration_us as f64 / 1000.0).to_be_bytes().to_vec() },
        ];
        (Vec::new(), patches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_patch_lands_on_the_duration_element_and_the_size_on_the_segment() {
        let mut m = Webm::default();
        let tracks = [
            TrackInfo { codec: TrackCodec::Vp8, width: 320, height: 240 },
            TrackInfo { codec: TrackCodec::Opus, width: 0, height: 0 },
        ];
        let mut file = m.header(&tracks);
        let at = m.duration_at as usize;
        assert_eq!(&file[at - 10..at - 8], &[0x44, 0x89]);
        assert_eq!(&file[at..at + 8], &0.0f64.to_be_bytes());
        let s = |track, time_us, keyframe| Sample { track, time_us, keyframe, data: vec![1, 2, 3] };
        file.extend(m.fragment(&[s(1, 20_000, true), s(0, 0, true), s(1, 1_000, true)], &[None, None]));
        let (_, patches) = m.finish(file.len() as u64, 2_500_000);
        assert_eq!(patches[1].bytes, 2500.0f64.to_be_bytes());
        let seg = m.segment_data_at as usize;
        assert_eq!(&file[seg - 12..seg - 8], &SEGMENT.to_be_bytes());
        assert_eq!(patches[0].bytes, size8((file.len() - seg) as u64));
        // Blocks are in time order: the video (track 1) at 0 comes first.
        let cluster = file.windows(4).position(|w| w == CLUSTER.to_be_bytes()).unwrap();
        let first_block = file[cluster..].windows(1).position(|w| w[0] == 0xA3).unwrap() + cluster;
        assert_eq!(file[first_block + 9], 0x81);
    }
}
