//! Fragmented MP4 (ISO/IEC 14496-12) for H.264 + Opus: `ftyp`, a `moov` with empty sample tables
//! and `mvex`, then one `moof` + `mdat` per fragment. A crash leaves every fragment written so far
//! playable; at the end the `mvhd` and `mehd` durations are filled in (the only patches).

use super::sample::{Muxer, Patch, Sample, TrackCodec, TrackInfo};

const MOVIE_TIMESCALE: u32 = 1000;
const VIDEO_TIMESCALE: u32 = 90_000;
const AUDIO_TIMESCALE: u32 = 48_000;
/// Opus pre-skip declared in `dOps`: 0, so the file's timeline is the RTP timeline.
const OPUS_PRE_SKIP: u16 = 0;

/// One track's part of a fragment: id, base decode time, (duration, size, flags) per sample, data.
type Traf = (u32, u64, Vec<(u32, u32, u32)>, Vec<u8>);

#[derive(Default)]
pub struct Fmp4 {
    timescales: Vec<u32>,
    sequence: u32,
    /// Where the `mvhd` and `mehd` duration fields are.
    mvhd_duration_at: u64,
    mehd_duration_at: u64,
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 8);
    // A box over 4 GiB cannot come from one fragment or one header.
    v.extend_from_slice(&u32::try_from(body.len() + 8).unwrap_or(u32::MAX).to_be_bytes());
    v.extend_from_slice(kind);
    v.extend_from_slice(body);
    v
}

fn full(kind: &[u8; 4], version: u8, flags: u32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.extend_from_slice(&((u32::from(version) << 24) | (flags & 0x00ff_ffff)).to_be_bytes());
    b.extend_from_slice(body);
    bx(kind, &b)
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn matrix(v: &mut Vec<u8>) {
    for m in MATRIX {
        v.extend_from_slice(&m.to_be_bytes());
    }
}

fn ticks(us: u64, timescale: u32) -> u64 {
    (u128::from(us) * u128::from(timescale) / 1_000_000) as u64
}

impl Fmp4 {
    fn trak(&self, id: u32, t: &TrackInfo) -> Vec<u8> {
        let video = t.is_video();
        let mut tkhd = Vec::new();
        tkhd.extend_from_slice(&[0; 8]); // creation, modification
        tkhd.extend_from_slice(&id.to_be_bytes());
        tkhd.extend_from_slice(&[0; 4]); // reserved
        tkhd.extend_from_slice(&[0; 4]); // duration: see mehd
        tkhd.extend_from_slice(&[0; 8]);
        tkhd.extend_from_slice(&[0; 4]); // layer, alternate group
        tkhd.extend_from_slice(&(if video { 0u16 } else { 0x0100 }).to_be_bytes());
        tkhd.extend_from_slice(&[0; 2]);
        matrix(&mut tkhd);
        tkhd.extend_from_slice(&(u32::from(t.width) << 16).to_be_bytes());
        tkhd.extend_from_slice(&(u32::from(t.height) << 16).to_be_bytes());
        let tkhd = full(b"tkhd", 0, 3, &tkhd);

        let timescale = if video { VIDEO_TIMESCALE } else { AUDIO_TIMESCALE };
        let mut mdhd = vec![0; 8];
        mdhd.extend_from_slice(&timescale.to_be_bytes());
        mdhd.extend_from_slice(&[0; 4]);
        mdhd.extend_from_slice(&0x55c4u16.to_be_bytes()); // "und"
        mdhd.extend_from_slice(&[0; 2]);
        let mdhd = full(b"mdhd", 0, 0, &mdhd);

        let mut hdlr = vec![0; 4];
        hdlr.extend_from_slice(if video { b"vide" } else { b"soun" });
        hdlr.extend_from_slice(&[0; 12]);
        hdlr.extend_from_slice(if video { b"Lectern video\0" } else { b"Lectern audio\0" });
        let hdlr = full(b"hdlr", 0, 0, &hdlr);

        let media_header = if video { full(b"vmhd", 0, 1, &[0; 8]) } else { full(b"smhd", 0, 0, &[0; 4]) };
        let mut dref = 1u32.to_be_bytes().to_vec();
        dref.extend(full(b"url ", 0, 1, &[]));
        let dinf = bx(b"dinf", &full(b"dref", 0, 0, &dref));

        let mut stsd = 1u32.to_be_bytes().to_vec();
        stsd.extend(sample_entry(t));
        let mut stbl = full(b"stsd", 0, 0, &stsd);
        stbl.extend(full(b"stts", 0, 0, &[0; 4]));
        stbl.extend(full(b"stsc", 0, 0, &[0; 4]));
        stbl.extend(full(b"stsz", 0, 0, &[0; 8]));
        stbl.extend(full(b"stco", 0, 0, &[0; 4]));
        let mut minf = media_header;
        minf.extend(dinf);
        minf.extend(bx(b"stbl", &stbl));

        let mut mdia = mdhd;
        mdia.extend(hdlr);
        mdia.extend(bx(b"minf", &minf));
        let mut trak = tkhd;
        trak.extend(bx(b"mdia", &mdia));
        bx(b"trak", &trak)
    }
}

fn sample_entry(t: &TrackInfo) -> Vec<u8> {
    let mut e = vec![0; 6];
    e.extend_from_slice(&1u16.to_be_bytes()); // data reference index
    match &t.codec {
        TrackCodec::H264 { sps, pps } => {
            e.extend_from_slice(&[0; 16]);
            e.extend_from_slice(&t.width.to_be_bytes());
            e.extend_from_slice(&t.height.to_be_bytes());
            e.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            e.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            e.extend_from_slice(&[0; 4]);
            e.extend_from_slice(&1u16.to_be_bytes()); // frame count
            e.extend_from_slice(&[0; 32]); // compressor name
            e.extend_from_slice(&0x0018u16.to_be_bytes());
            e.extend_from_slice(&0xffffu16.to_be_bytes());
            let (profile, compat, level) = (
                sps.get(1).copied().unwrap_or(66),
                sps.get(2).copied().unwrap_or(0),
                sps.get(3).copied().unwrap_or(31),
            );
            let mut avcc = vec![1, profile, compat, level, 0xff, 0xe1];
            avcc.extend_from_slice(&u16::try_from(sps.len()).unwrap_or(0).to_be_bytes());
            avcc.extend_from_slice(sps);
            avcc.push(1);
            avcc.extend_from_slice(&u16::try_from(pps.len()).unwrap_or(0).to_be_bytes());
            avcc.extend_from_slice(pps);
            e.extend(bx(b"avcC", &avcc));
            bx(b"avc1", &e)
        }
        // VP8 goes to WebM (see `recorder::file`); an MP4 never gets one.
        TrackCodec::Vp8 => Vec::new(),
        TrackCodec::Opus => {
            e.extend_from_slice(&[0; 8]);
            e.extend_from_slice(&2u16.to_be_bytes());
            e.extend_from_slice(&16u16.to_be_bytes());
            e.extend_from_slice(&[0; 4]);
            e.extend_from_slice(&(AUDIO_TIMESCALE << 16).to_be_bytes());
            let mut dops = vec![0, 2];
            dops.extend_from_slice(&OPUS_PRE_SKIP.to_be_bytes());
            dops.extend_from_slice(&AUDIO_TIMESCALE.to_be_bytes());
            dops.extend_from_slice(&[0, 0, 0]); // gain, mapping family 0
            e.extend(bx(b"dOps", &dops));
            bx(b"Opus", &e)
        }
    }
}

impl Muxer for Fmp4 {
    fn extension(&self) -> &'static str {
        "mp4"
    }

    fn header(&mut self, tracks: &[TrackInfo]) -> Vec<u8> {
        self.timescales = tracks.iter().map(|t| if t.is_video() { VIDEO_TIMESCALE } else { AUDIO_TIMESCALE }).collect();
        let mut ftyp = b"iso5".to_vec();
        ftyp.extend_from_slice(&512u32.to_be_bytes());
        for brand in [b"iso5", b"iso6", b"mp41", b"isom", b"avc1"] {
            ftyp.extend_from_slice(brand);
        }
        let mut out = bx(b"ftyp", &ftyp);

        let mut mvhd = vec![0; 8];
        mvhd.extend_from_slice(&MOVIE_TIMESCALE.to_be_bytes());
        let mvhd_duration = mvhd.len();
        mvhd.extend_from_slice(&[0; 4]);
        mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        mvhd.extend_from_slice(&0x0100u16.to_be_bytes());
        mvhd.extend_from_slice(&[0; 10]);
        matrix(&mut mvhd);
        mvhd.extend_from_slice(&[0; 24]);
        mvhd.extend_from_slice(&(tracks.len() as u32 + 1).to_be_bytes());
        let mvhd = full(b"mvhd", 0, 0, &mvhd);

        let mut moov = mvhd;
        for (i, t) in tracks.iter().enumerate() {
            moov.extend(self.trak(i as u32 + 1, t));
        }
        let mut mvex = full(b"mehd", 0, 0, &[0; 4]);
        for i in 0..tracks.len() {
            let mut trex = (i as u32 + 1).to_be_bytes().to_vec();
            trex.extend_from_slice(&1u32.to_be_bytes());
            trex.extend_from_slice(&[0; 12]);
            mvex.extend(full(b"trex", 0, 0, &trex));
        }
        let moov_start = out.len() as u64 + 8;
        // mvhd: its 8-byte box header and 4-byte version/flags come before the body's fields.
        self.mvhd_duration_at = moov_start + 12 + mvhd_duration as u64;
        moov.extend(bx(b"mvex", &mvex));
        let moov = bx(b"moov", &moov);
        // mehd is mvex's first child: find it from the end (mvex is last in moov).
        let mvex_len = 8 + 16 + tracks.len() * 32;
        self.mehd_duration_at = out.len() as u64 + (moov.len() - mvex_len) as u64 + 8 + 12;
        out.extend(moov);
        out
    }

    fn fragment(&mut self, samples: &[Sample], next: &[Option<u64>]) -> Vec<u8> {
        self.sequence += 1;
        // Per track: its id, first time in ticks, [(duration, size, flags)] and its data.
        let mut trafs: Vec<Traf> = Vec::new();
        for (track, &timescale) in self.timescales.iter().enumerate() {
            let mine: Vec<&Sample> = samples.iter().filter(|s| s.track == track).collect();
            let Some(first) = mine.first() else { continue };
            let mut entries = Vec::with_capacity(mine.len());
            let mut data = Vec::new();
            for (i, s) in mine.iter().enumerate() {
                let end = mine.get(i + 1).map(|n| n.time_us).or(next.get(track).copied().flatten());
                let start = ticks(s.time_us, timescale);
                // The last sample of the file: a frame's usual length (20 ms of audio, 1/30 s of video).
                let dur = end.map_or(u64::from(timescale) / if timescale == AUDIO_TIMESCALE { 50 } else { 30 }, |e| {
                    ticks(e, timescale).saturating_sub(start)
                });
                let flags = if s.keyframe { 0x0200_0000 } else { 0x0101_0000 };
                entries.push((u32::try_from(dur).unwrap_or(u32::MAX), s.data.len() as u32, flags));
                data.extend_from_slice(&s.data);
            }
            trafs.push((track as u32 + 1, ticks(first.time_us, timescale), entries, data));
        }
        let traf_len = |n: usize| 8 + 16 + 20 + (8 + 12 + n * 12);
        let moof_len = 8 + 16 + trafs.iter().map(|t| traf_len(t.2.len())).sum::<usize>();
        let mut mfhd = full(b"mfhd", 0, 0, &self.sequence.to_be_bytes());
        let mut offset = moof_len + 8;
        for (id, base, entries, data) in &trafs {
            let mut traf = full(b"tfhd", 0, 0x02_0000, &id.to_be_bytes());
            traf.extend(full(b"tfdt", 1, 0, &base.to_be_bytes()));
            let mut trun = (entries.len() as u32).to_be_bytes().to_vec();
            trun.extend_from_slice(&(offset as u32).to_be_bytes());
            for (dur, size, flags) in entries {
                trun.extend_from_slice(&dur.to_be_bytes());
                trun.extend_from_slice(&size.to_be_bytes());
                trun.extend_from_slice(&flags.to_be_bytes());
            }
            traf.extend(full(b"trun", 0, 0x0701, &trun));
            mfhd.extend(bx(b"traf", &traf));
            offset += data.len();
        }
        let mut out = bx(b"moof", &mfhd);
        debug_assert_eq!(out.len(), moof_len);
        let mdat: Vec<u8> = trafs.iter().flat_map(|t| t.3.iter().copied()).collect();
        out.extend(bx(b"mdat", &mdat));
        out
    }

    fn finish(&mut self, _written: u64, duration_us: u64) -> (Vec<u8>, Vec<Patch>) {
        let ms = u32::try_from(duration_us / 1000).unwrap_or(u32::MAX).to_be_bytes().to_vec();
        let patches = vec![
            Patch { offset: self.mvhd_duration_at, bytes: ms.clone() },
            Patch { offset: self.mehd_duration_at, bytes: ms },
        ];
        (Vec::new(), patches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(mut b: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        while b.len() >= 8 {
            let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
            out.push((String::from_utf8_lossy(&b[4..8]).into_owned(), len));
            b = &b[len..];
        }
        out
    }

    fn tracks() -> Vec<TrackInfo> {
        vec![
            TrackInfo {
                codec: TrackCodec::H264 { sps: vec![0x67, 0x42, 0, 31], pps: vec![0x68, 1] },
                width: 320,
                height: 240,
            },
            TrackInfo { codec: TrackCodec::Opus, width: 0, height: 0 },
        ]
    }

    #[test]
    fn the_header_is_ftyp_then_moov_and_the_duration_patches_land_on_zeroed_fields() {
        let mut m = Fmp4::default();
        let h = m.header(&tracks());
        let names: Vec<String> = boxes(&h).into_iter().map(|b| b.0).collect();
        assert_eq!(names, ["ftyp", "moov"]);
        let (_, patches) = m.finish(h.len() as u64, 12_345_000);
        for p in &patches {
            let at = p.offset as usize;
            assert_eq!(&h[at..at + 4], &[0; 4]);
            assert_eq!(p.bytes, 12_345u32.to_be_bytes());
        }
        // mehd's duration field sits right after its version/flags.
        let at = patches[1].offset as usize;
        assert_eq!(&h[at - 8..at - 4], b"mehd");
        let at = patches[0].offset as usize;
        assert_eq!(&h[at - 20..at - 16], b"mvhd");
    }

    #[test]
    fn a_fragment_is_moof_then_mdat_with_each_tracks_data_where_trun_says() {
        let mut m = Fmp4::default();
        m.header(&tracks());
        let samples = vec![
            Sample { track: 0, time_us: 0, keyframe: true, data: vec![0xaa; 10] },
            Sample { track: 1, time_us: 0, keyframe: true, data: vec![0xbb; 3] },
            Sample { track: 1, time_us: 20_000, keyframe: true, data: vec![0xcc; 4] },
        ];
        let f = m.fragment(&samples, &[Some(33_333), Some(40_000)]);
        let b = boxes(&f);
        assert_eq!(b.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["moof", "mdat"]);
        let moof_len = b[0].1;
        // The second track's data offset (in its trun) points at 0xbb in mdat.
        let trun2 = f.windows(4).rposition(|w| w == b"trun").unwrap();
        let off = u32::from_be_bytes(f[trun2 + 12..trun2 + 16].try_into().unwrap()) as usize;
        assert_eq!(off, moof_len + 8 + 10);
        assert_eq!(f[off], 0xbb);
        // Durations: audio 20 ms = 960 ticks, then 20 ms to `next`.
        assert_eq!(u32::from_be_bytes(f[trun2 + 16..trun2 + 20].try_into().unwrap()), 960);
    }
}
