//! A recording's duration from its MP4 header (`moov/mvhd`), read by seeking over the top-level
//! boxes: no demuxer, no GStreamer on the upload thread. A file cut by a power cut has no `moov`
//! (mp4mux writes it last) and has no duration: it is uploaded all the same.

use std::io::{Read, Seek, SeekFrom};

/// Top-level boxes looked at before giving up (a recording has three or four).
const MAX_BOXES: usize = 64;

/// The duration in milliseconds, if the file has a readable `moov/mvhd`.
pub fn duration_ms(file: &mut (impl Read + Seek)) -> Option<u64> {
    let end = file.seek(SeekFrom::End(0)).ok()?;
    let mut at = 0u64;
    for _ in 0..MAX_BOXES {
        let (kind, body, next) = box_at(file, at, end)?;
        if &kind == b"moov" {
            return mvhd_in(file, body, next);
        }
        at = next;
    }
    None
}

/// The box at `at`: its type, where its body starts, where the next box starts.
fn box_at(file: &mut (impl Read + Seek), at: u64, end: u64) -> Option<([u8; 4], u64, u64)> {
    if at.checked_add(8)? > end {
        return None;
    }
    file.seek(SeekFrom::Start(at)).ok()?;
    let mut head = [0u8; 8];
    file.read_exact(&mut head).ok()?;
    let kind: [u8; 4] = head[4..8].try_into().ok()?;
    let (size, body) = match u32::from_be_bytes(head[..4].try_into().ok()?) {
        0 => (end - at, at + 8),
        1 => {
            let mut large = [0u8; 8];
            file.read_exact(&mut large).ok()?;
            (u64::from_be_bytes(large), at + 16)
        }
        n => (u64::from(n), at + 8),
    };
    let next = at.checked_add(size)?;
    (size >= body - at && next <= end).then_some((kind, body, next))
}

fn mvhd_in(file: &mut (impl Read + Seek), mut at: u64, end: u64) -> Option<u64> {
    for _ in 0..MAX_BOXES {
        let (kind, body, next) = box_at(file, at, end)?;
        if &kind == b"mvhd" {
            file.seek(SeekFrom::Start(body)).ok()?;
            let mut version = [0u8; 4];
            file.read_exact(&mut version).ok()?;
            let (timescale, duration) = if version[0] == 1 {
                let mut b = [0u8; 28];
                file.read_exact(&mut b).ok()?;
                (u32::from_be_bytes(b[16..20].try_into().ok()?), u64::from_be_bytes(b[20..28].try_into().ok()?))
            } else {
                let mut b = [0u8; 16];
                file.read_exact(&mut b).ok()?;
                (
                    u32::from_be_bytes(b[8..12].try_into().ok()?),
                    u64::from(u32::from_be_bytes(b[12..16].try_into().ok()?)),
                )
            };
            if timescale == 0 {
                return None;
            }
            return u64::try_from(u128::from(duration) * 1000 / u128::from(timescale)).ok();
        }
        at = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut body = vec![0u8; 4 + 8];
        body.extend_from_slice(&timescale.to_be_bytes());
        body.extend_from_slice(&duration.to_be_bytes());
        body.extend_from_slice(&[0u8; 80]);
        mp4_box(b"mvhd", &body)
    }

    #[test]
    fn the_duration_comes_from_moov_after_a_large_mdat() {
        let mut file = mp4_box(b"ftyp", b"isomiso2");
        // mdat with a 64-bit size, as mp4mux writes for big files.
        let payload = vec![7u8; 1000];
        file.extend_from_slice(&1u32.to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.extend_from_slice(&(16 + payload.len() as u64).to_be_bytes());
        file.extend_from_slice(&payload);
        let mut moov = mp4_box(b"iods", &[0; 8]);
        moov.extend(mvhd_v0(90_000, 2_700_000));
        file.extend(mp4_box(b"moov", &moov));
        assert_eq!(duration_ms(&mut Cursor::new(file)), Some(30_000));
    }

    #[test]
    fn version_one_headers_have_64_bit_times() {
        let mut body = vec![1u8, 0, 0, 0];
        body.extend_from_slice(&[0u8; 16]);
        body.extend_from_slice(&1000u32.to_be_bytes());
        body.extend_from_slice(&(90_500u64).to_be_bytes());
        let file = mp4_box(b"moov", &mp4_box(b"mvhd", &body));
        assert_eq!(duration_ms(&mut Cursor::new(file)), Some(90_500));
    }

    #[test]
    fn a_cut_or_garbled_file_has_no_duration() {
        let mut cut = mp4_box(b"ftyp", b"isom");
        cut.extend_from_slice(&100_000u32.to_be_bytes());
        cut.extend_from_slice(b"mdat");
        cut.extend_from_slice(&[0u8; 50]);
        assert_eq!(duration_ms(&mut Cursor::new(cut)), None, "mdat runs past the end, no moov");
        assert_eq!(duration_ms(&mut Cursor::new(Vec::new())), None);
        assert_eq!(
            duration_ms(&mut Cursor::new(vec![0, 0, 0, 3, b'a', b'b', b'c', b'd'])),
            None,
            "a box smaller than its header"
        );
        assert_eq!(duration_ms(&mut Cursor::new(mp4_box(b"moov", &mvhd_v0(0, 5)))), None, "no timescale");
    }

    #[test]
    fn any_bytes_are_read_without_a_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..5000 {
            let len = rng.random_range(0..200usize);
            let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Often plausible headers, so the walk goes into moov and mvhd.
            if len >= 16 && rng.random_bool(0.7) {
                data[..4].copy_from_slice(&(len as u32).to_be_bytes());
                data[4..8].copy_from_slice(b"moov");
                data[8..12].copy_from_slice(&((len - 8) as u32).to_be_bytes());
                data[12..16].copy_from_slice(b"mvhd");
            }
            let _ = duration_ms(&mut Cursor::new(data));
        }
    }
}
