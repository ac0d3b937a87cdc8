//! The hub's side of the resumable upload (`lectern_proto::upload`), decided without IO: is a
//! create request sound, may this chunk go at this offset, does it match its checksum. The axum
//! handlers (`http::recordings`) read the row, ask here, and only then touch storage — so a
//! refused request never changes what is stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lectern_proto::RoomId;
use lectern_proto::upload::{MAX_CHUNK_BYTES, MAX_FILE_BYTES, RecordingState, UploadCreate};
use sha2::{Digest, Sha256};

/// Longest file name the box may use.
const MAX_NAME_CHARS: usize = 128;
/// What a recording file may be called (and how its stored copy is called).
const EXTENSIONS: [&str; 2] = [".mp4", ".webm"];

/// Why an upload request is refused; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// 400: a field or header that does not parse or is out of range.
    #[error("{0}")]
    Invalid(String),
    /// 400: the chunk's bytes do not match its `upload-checksum`.
    #[error("the chunk's SHA-256 is {actual}, not {expected} as its upload-checksum says: nothing was stored")]
    ChunkChecksum { expected: String, actual: String },
    /// 400: the whole file does not match the SHA-256 announced at create; the upload starts over.
    #[error("the whole file's SHA-256 is {actual}, not {expected} as announced: the upload starts again at 0")]
    FileChecksum { expected: String, actual: String },
    /// 403: a lesson of another room.
    #[error("lesson {lesson} is not of room '{room}'")]
    OtherRoom { lesson: String, room: String },
    /// 409: the chunk is not at the hub's current offset (the answer names it).
    #[error("the chunk is at offset {asked}, the hub holds {current} bytes: send from {current}")]
    Offset { asked: u64, current: u64 },
    /// 409: the upload is complete already.
    #[error("the upload is complete: the hub holds all {size} bytes")]
    Complete { size: u64 },
    /// 409: a create for a name the lesson already has, with another size or checksum.
    #[error("lesson {lesson} already has a different file named {name}")]
    Different { lesson: String, name: String },
    /// 413: more than one chunk may hold, or past the announced size.
    #[error("{0}")]
    TooLarge(String),
}

impl UploadError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::ChunkChecksum { .. } | Self::FileChecksum { .. } => 400,
            Self::OtherRoom { .. } => 403,
            Self::Offset { .. } | Self::Complete { .. } | Self::Different { .. } => 409,
            Self::TooLarge(_) => 413,
        }
    }
}

/// What the hub holds of one upload (its row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub received: u64,
    pub size: u64,
    pub state: RecordingState,
}

/// Checks a create request from a box of `room`.
pub fn check_create(c: &UploadCreate, room: &RoomId) -> Result<(), UploadError> {
    if &c.lesson.room() != room {
        return Err(UploadError::OtherRoom { lesson: c.lesson.to_string(), room: room.to_string() });
    }
    check_name(&c.name)?;
    if c.size == 0 {
        return Err(UploadError::Invalid("size: an empty file is not a recording".into()));
    }
    if c.size > MAX_FILE_BYTES {
        return Err(UploadError::TooLarge(format!(
            "size: {} bytes is more than the {MAX_FILE_BYTES} a file may have",
            c.size
        )));
    }
    parse_hex_digest(&c.sha256).ok_or_else(|| UploadError::Invalid("sha256: 64 lower-case hex digits".into()))?;
    if c.duration_ms.is_some_and(|d| d > 7 * 24 * 3600 * 1000) {
        return Err(UploadError::Invalid("durationMs: longer than a week".into()));
    }
    Ok(())
}

/// A retried create must describe the same file as the row it finds.
pub fn check_same_file(c: &UploadCreate, size: u64, sha256: &str) -> Result<(), UploadError> {
    if c.size == size && c.sha256 == sha256 {
        Ok(())
    } else {
        Err(UploadError::Different { lesson: c.lesson.to_string(), name: c.name.clone() })
    }
}

/// `[A-Za-z0-9._-]`, not starting with a dot, ending in a media extension: safe as a path segment
/// and a file name everywhere.
pub fn check_name(name: &str) -> Result<(), UploadError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && EXTENSIONS.iter().any(|e| name.len() > e.len() && name.ends_with(e));
    if ok {
        Ok(())
    } else {
        Err(UploadError::Invalid(format!(
            "name: 1–{MAX_NAME_CHARS} characters of [A-Za-z0-9._-], not starting with '.', ending in .mp4 or .webm"
        )))
    }
}

/// `upload-offset`: a decimal byte offset.
pub fn parse_offset(value: Option<&str>) -> Result<u64, UploadError> {
    let v = value.ok_or_else(|| UploadError::Invalid("missing upload-offset header".into()))?.trim();
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UploadError::Invalid(format!("upload-offset '{v}' is not a byte offset")));
    }
    v.parse().map_err(|_| UploadError::Invalid(format!("upload-offset '{v}' is not a byte offset")))
}

/// `upload-checksum: sha256 <base64>` → the digest.
pub fn parse_checksum(value: Option<&str>) -> Result<[u8; 32], UploadError> {
    let bad = || UploadError::Invalid("upload-checksum: 'sha256 <base64 of the chunk's SHA-256>'".into());
    let v = value.ok_or_else(|| UploadError::Invalid("missing upload-checksum header".into()))?.trim();
    let (algo, b64) = v.split_once(' ').ok_or_else(bad)?;
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(UploadError::Invalid(format!("upload-checksum: '{algo}' is not sha256")));
    }
    let bytes = B64.decode(b64.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// May `len` bytes (as announced; `None` when the body is chunked) go at `offset` now?
pub fn check_chunk(held: Held, offset: u64, len: Option<u64>) -> Result<(), UploadError> {
    if held.state == RecordingState::Ready {
        return Err(UploadError::Complete { size: held.size });
    }
    if offset != held.received {
        return Err(UploadError::Offset { asked: offset, current: held.received });
    }
    if let Some(len) = len {
        check_len(held, offset, len)?;
    }
    Ok(())
}

/// The most a chunk at `offset` may carry: one chunk, and no further than the announced size.
pub fn room_for(held: Held, offset: u64) -> u64 {
    MAX_CHUNK_BYTES.min(held.size.saturating_sub(offset))
}

/// A chunk's real length (after reading it) against the limits.
pub fn check_len(held: Held, offset: u64, len: u64) -> Result<(), UploadError> {
    if len > MAX_CHUNK_BYTES {
        return Err(UploadError::TooLarge(format!("a chunk is at most {MAX_CHUNK_BYTES} bytes, not {len}")));
    }
    if offset.saturating_add(len) > held.size {
        return Err(UploadError::TooLarge(format!(
            "{len} bytes at offset {offset} go past the announced size of {} bytes",
            held.size
        )));
    }
    if len == 0 {
        return Err(UploadError::Invalid("an empty chunk".into()));
    }
    Ok(())
}

/// The chunk's bytes against its `upload-checksum`.
pub fn check_chunk_digest(data: &[u8], expected: &[u8; 32]) -> Result<(), UploadError> {
    let actual: [u8; 32] = Sha256::digest(data).into();
    if &actual == expected {
        Ok(())
    } else {
        Err(UploadError::ChunkChecksum { expected: hex(expected), actual: hex(&actual) })
    }
}

/// The whole stored file against the checksum announced at create.
pub fn check_file_digest(actual: &[u8; 32], announced: &str) -> Result<(), UploadError> {
    if hex(actual) == announced {
        Ok(())
    } else {
        Err(UploadError::FileChecksum { expected: announced.to_owned(), actual: hex(actual) })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 lower-case hex digits → 32 bytes.
pub fn parse_hex_digest(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use lectern_proto::LessonId;
    use lectern_proto::upload::RecordingKind;

    use super::*;

    fn create(name: &str) -> UploadCreate {
        UploadCreate {
            lesson: LessonId::parse("lab-1.1700000000000").unwrap(),
            kind: RecordingKind::Camera,
            name: name.into(),
            size: 100,
            sha256: "0".repeat(64),
            duration_ms: Some(1000),
            started_at: None,
        }
    }

    const UPLOADING: Held = Held { received: 40, size: 100, state: RecordingState::Uploading };

    #[test]
    fn a_create_is_checked_for_room_name_size_and_checksum() {
        let lab1 = RoomId::parse("lab-1").unwrap();
        assert_eq!(check_create(&create("1-camera-000.mp4"), &lab1), Ok(()));
        let other = check_create(&create("1-camera-000.mp4"), &RoomId::parse("lab-2").unwrap()).unwrap_err();
        assert_eq!(other.status(), 403);
        for bad in ["", ".mp4", "../x.mp4", "a/b.mp4", "x.txt", "x.mp4 ", ".hidden.mp4", &"a".repeat(200)] {
            assert_eq!(check_create(&create(bad), &lab1).map_err(|e| e.status()), Err(400), "{bad:?}");
        }
        let mut c = create("x.webm");
        c.sha256 = "A".repeat(64);
        assert_eq!(check_create(&c, &lab1).map_err(|e| e.status()), Err(400), "upper-case hex");
        c.sha256 = "0".repeat(64);
        c.size = 0;
        assert_eq!(check_create(&c, &lab1).map_err(|e| e.status()), Err(400));
        c.size = MAX_FILE_BYTES + 1;
        assert_eq!(check_create(&c, &lab1).map_err(|e| e.status()), Err(413));
    }

    #[test]
    fn a_retried_create_must_name_the_same_file() {
        let c = create("x.mp4");
        assert_eq!(check_same_file(&c, 100, &"0".repeat(64)), Ok(()));
        assert_eq!(check_same_file(&c, 101, &"0".repeat(64)).map_err(|e| e.status()), Err(409));
        assert_eq!(check_same_file(&c, 100, &"1".repeat(64)).map_err(|e| e.status()), Err(409));
    }

    #[test]
    fn a_chunk_goes_only_at_the_current_offset_and_within_the_size() {
        assert_eq!(check_chunk(UPLOADING, 40, Some(60)), Ok(()));
        assert_eq!(check_chunk(UPLOADING, 40, None), Ok(()));
        assert_eq!(check_chunk(UPLOADING, 0, Some(10)), Err(UploadError::Offset { asked: 0, current: 40 }));
        assert_eq!(check_chunk(UPLOADING, 50, Some(10)).unwrap_err().status(), 409);
        assert_eq!(check_chunk(UPLOADING, 40, Some(61)).unwrap_err().status(), 413, "past the size");
        assert_eq!(check_chunk(UPLOADING, 40, Some(0)).unwrap_err().status(), 400);
        let big = Held { received: 0, size: 4 * MAX_CHUNK_BYTES, state: RecordingState::Uploading };
        assert_eq!(check_chunk(big, 0, Some(MAX_CHUNK_BYTES + 1)).unwrap_err().status(), 413, "over one chunk");
        assert_eq!(room_for(big, 0), MAX_CHUNK_BYTES);
        assert_eq!(room_for(UPLOADING, 40), 60);
        let ready = Held { received: 100, size: 100, state: RecordingState::Ready };
        assert_eq!(check_chunk(ready, 100, Some(1)), Err(UploadError::Complete { size: 100 }));
    }

    #[test]
    fn headers_parse_strictly() {
        assert_eq!(parse_offset(Some(" 42 ")), Ok(42));
        for bad in [None, Some(""), Some("-1"), Some("4x"), Some("99999999999999999999999")] {
            assert_eq!(parse_offset(bad).map_err(|e| e.status()), Err(400), "{bad:?}");
        }
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        let header = format!("sha256 {}", B64.encode(digest));
        assert_eq!(parse_checksum(Some(&header)), Ok(digest));
        assert_eq!(parse_checksum(Some(&header.replace("sha256", "SHA256"))), Ok(digest));
        for bad in [None, Some("sha256"), Some("md5 AAAA"), Some("sha256 !!!"), Some("sha256 AAAA")] {
            assert_eq!(parse_checksum(bad).map_err(|e| e.status()), Err(400), "{bad:?}");
        }
    }

    #[test]
    fn digests_are_compared_exactly() {
        let digest: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(check_chunk_digest(b"abc", &digest), Ok(()));
        assert_eq!(check_chunk_digest(b"abd", &digest).unwrap_err().status(), 400);
        assert_eq!(parse_hex_digest(&hex(&digest)), Some(digest));
        assert_eq!(check_file_digest(&digest, &hex(&digest)), Ok(()));
        assert!(matches!(check_file_digest(&digest, &"0".repeat(64)), Err(UploadError::FileChecksum { .. })));
        assert_eq!(parse_hex_digest("zz"), None);
    }
}
