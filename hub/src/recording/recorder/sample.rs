//! What the muxers take: a track's description and its samples (one encoded frame each), with
//! their time on the file's timeline in microseconds.

/// The codec of a recorded track: the forwarded RTP's, never transcoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackCodec {
    /// H.264 with the parameter sets from the first keyframe (for MP4's `avcC`).
    H264 {
        sps: Vec<u8>,
        pps: Vec<u8>,
    },
    Vp8,
    /// Opus at 48 kHz (WebRTC's only Opus clock), two channels declared (a mono stream decodes too).
    Opus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub codec: TrackCodec,
    /// Picture size (0 when unknown: the decoder reads it from the stream).
    pub width: u16,
    pub height: u16,
}

impl TrackInfo {
    pub fn is_video(&self) -> bool {
        !matches!(self.codec, TrackCodec::Opus)
    }
}

/// One encoded frame of track `track` (an index into the file's tracks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub track: usize,
    /// Microseconds since the file's start.
    pub time_us: u64,
    pub keyframe: bool,
    /// H.264 as length-prefixed (4 bytes) NAL units, VP8 and Opus as they are.
    pub data: Vec<u8>,
}

/// Bytes to write over what was written before, at `offset` (sizes and durations known only at
/// the end). The file is always seekable: it is ours, under the data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// A muxer: header once, then fragments of samples, then a trailer and patches.
pub trait Muxer: Send {
    /// The file's extension (`mp4`, `webm`).
    fn extension(&self) -> &'static str;
    fn header(&mut self, tracks: &[TrackInfo]) -> Vec<u8>;
    /// One fragment (MP4) or cluster (WebM) holding `samples`, each track's in time order.
    /// `next` gives, per track, the time of the sample after the last one here (its duration's end).
    fn fragment(&mut self, samples: &[Sample], next: &[Option<u64>]) -> Vec<u8>;
    /// What closes the file (`written` bytes so far), and the patches that fill in its duration.
    fn finish(&mut self, written: u64, duration_us: u64) -> (Vec<u8>, Vec<Patch>);
}
