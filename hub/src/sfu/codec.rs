//! What the forwarder needs to know about RTP payloads without depacketizing them: whether a
//! packet starts a keyframe (so a pending keyframe request is satisfied). Reads a few header
//! bytes; any payload, however malformed, gives an answer and never a panic.

use str0m::format::Codec;

/// True if this RTP payload begins (or is part of the start of) a keyframe.
pub fn starts_keyframe(codec: Codec, payload: &[u8]) -> bool {
    match codec {
        Codec::H264 => h264_keyframe(payload),
        Codec::Vp8 => vp8_keyframe(payload),
        _ => false,
    }
}

/// RFC 6184: an IDR slice or an SPS as a single NAL unit, inside a STAP-A, or starting a FU-A.
fn h264_keyframe(p: &[u8]) -> bool {
    let is_key = |nal: u8| matches!(nal & 0x1f, 5 | 7);
    let Some(&first) = p.first() else { return false };
    match first & 0x1f {
        1..=23 => is_key(first),
        24 => {
            let mut rest = &p[1..];
            while let [hi, lo, tail @ ..] = rest {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some(unit) = tail.get(..len) else { return false };
                if unit.first().is_some_and(|n| is_key(*n)) {
                    return true;
                }
                rest = &tail[len..];
            }
            false
        }
        28 => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && is_key(*fu)),
        _ => false,
    }
}

/// RFC 7741: the first packet of a partition 0 whose VP8 frame header has the P bit clear.
fn vp8_keyframe(p: &[u8]) -> bool {
    let Some(&d) = p.first() else { return false };
    let (start, partition) = (d & 0x10 != 0, d & 0x07);
    if !start || partition != 0 {
        return false;
    }
    let mut i = 1;
    if d & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        i = 2;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&pid) = p.get(i) else { return false };
            i += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID / KEYIDX
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_idr_sps_in_stap_a_and_fu_a_start_are_keyframes() {
        assert!(starts_keyframe(Codec::H264, &[0x65, 0x88]), "IDR slice");
        assert!(starts_keyframe(Codec::H264, &[0x67, 0x42]), "SPS");
        assert!(!starts_keyframe(Codec::H264, &[0x41, 0x9a]), "P slice");
        // STAP-A with an SPS (2 bytes) then a PPS (1 byte).
        assert!(starts_keyframe(Codec::H264, &[0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68]));
        assert!(starts_keyframe(Codec::H264, &[0x7c, 0x85, 0xaa]), "FU-A start of an IDR");
        assert!(!starts_keyframe(Codec::H264, &[0x7c, 0x05, 0xaa]), "FU-A middle of an IDR");
        assert!(!starts_keyframe(Codec::H264, &[0x7c, 0x81, 0xaa]), "FU-A start of a P slice");
    }

    #[test]
    fn vp8_keyframe_is_read_past_the_extended_descriptor() {
        assert!(starts_keyframe(Codec::Vp8, &[0x10, 0x00]), "S, partition 0, P=0");
        assert!(!starts_keyframe(Codec::Vp8, &[0x10, 0x01]), "interframe");
        assert!(!starts_keyframe(Codec::Vp8, &[0x00, 0x00]), "not the start of the frame");
        // X, I with a 15-bit PictureID, L, T: four descriptor bytes after the first.
        assert!(starts_keyframe(Codec::Vp8, &[0x90, 0xe0, 0x81, 0x02, 0x03, 0x04, 0x00]));
        assert!(!starts_keyframe(Codec::Vp8, &[0x90, 0xe0, 0x81, 0x02, 0x03, 0x04, 0x01]));
    }

    #[test]
    fn truncated_and_garbage_payloads_are_not_keyframes() {
        for p in [&[][..], &[0x78, 0, 9, 0x67], &[0x78, 0], &[0x7c], &[0xff, 0xff]] {
            assert!(!starts_keyframe(Codec::H264, p), "{p:?}");
        }
        for p in [&[][..], &[0x10], &[0x90], &[0x90, 0x80], &[0x90, 0x80, 0x81], &[0x90, 0xff, 0xff, 0xff]] {
            assert!(!starts_keyframe(Codec::Vp8, p), "{p:?}");
        }
        assert!(!starts_keyframe(Codec::Opus, &[0x65]));
    }
}
