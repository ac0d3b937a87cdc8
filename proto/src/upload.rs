//! The resumable upload of a lesson's recording files from the room's box to the hub
//! (`docs/recording.md`, "Upload"), and how the lessons API shows a file. A tus-like protocol:
//!
//! 1. `POST /api/rooms/{room}/uploads` with an [`UploadCreate`] → [`UploadStatus`] (201 new, 200
//!    the same file again: a retried create finds the same upload);
//! 2. `GET` (or `HEAD`) `/api/rooms/{room}/uploads/{id}` → [`UploadStatus`], header [`OFFSET_HEADER`];
//! 3. `PATCH /api/rooms/{room}/uploads/{id}` with [`OFFSET_HEADER`] (where the chunk goes: the hub's
//!    current offset), [`CHECKSUM_HEADER`] (`sha256 <base64 of the chunk's digest>`) and at most
//!    [`MAX_CHUNK_BYTES`] of body → [`UploadStatus`]. The last byte makes the hub check the whole
//!    file's SHA-256; the status then says `ready`, and only then may the box mark its copy uploaded.

use serde::{Deserialize, Serialize};

use crate::LessonId;

/// Where the chunk of a `PATCH` goes, and in every answer, how much the hub holds.
pub const OFFSET_HEADER: &str = "upload-offset";
/// `sha256 <base64 of the chunk's SHA-256>` (tus's checksum extension spelling).
pub const CHECKSUM_HEADER: &str = "upload-checksum";
/// The body type of a `PATCH` (as tus).
pub const CHUNK_CONTENT_TYPE: &str = "application/offset+octet-stream";
/// The largest chunk the hub takes in one `PATCH`.
pub const MAX_CHUNK_BYTES: u64 = 8 * 1024 * 1024;
/// The largest file the hub takes (a long lesson at a high bitrate fits many times over).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// What a recording file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingKind {
    /// The room camera with the room's audio.
    Camera,
    /// The teacher's laptop (slides).
    Slides,
    /// Audio alone.
    Audio,
    /// A remote participant's own camera and microphone (the hub recorder, `[recording] students = "always"`).
    Participant,
}

impl RecordingKind {
    pub const ALL: [RecordingKind; 4] = [Self::Camera, Self::Slides, Self::Audio, Self::Participant];

    /// The name on the wire, in the database and in the box's file names (`<ms>-camera-000.mp4`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Slides => "slides",
            Self::Audio => "audio",
            Self::Participant => "participant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a recording file is: still being written, on its way to the hub, or held whole by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    Recording,
    Uploading,
    Ready,
}

impl RecordingState {
    pub const ALL: [RecordingState; 3] = [Self::Recording, Self::Uploading, Self::Ready];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Uploading => "uploading",
            Self::Ready => "ready",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `POST /api/rooms/{room}/uploads`: the file the box is about to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadCreate {
    /// The lesson the file belongs to (its folder on the box); of the token's room.
    pub lesson: LessonId,
    pub kind: RecordingKind,
    /// The box's own name of the file, unique in the lesson: `[A-Za-z0-9._-]`, ending `.mp4`.
    pub name: String,
    /// The whole file's size in bytes.
    pub size: u64,
    /// The whole file's SHA-256, lower-case hex.
    pub sha256: String,
    /// Its duration, when the box could read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Wall-clock time (unix ms) of the file's first sample: where it sits on the lesson's timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
}

/// An upload as the hub holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadStatus {
    pub id: i64,
    /// Bytes the hub holds: the next chunk goes here.
    pub offset: u64,
    pub size: u64,
    /// `uploading` until the last byte arrived and the whole file checked out, then `ready`.
    pub state: RecordingState,
}

/// One file of a lesson as `GET /api/rooms/{room}/lessons` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingView {
    pub kind: RecordingKind,
    pub state: RecordingState,
    /// What the hub holds of it so far.
    pub bytes: u64,
    pub duration_ms: Option<u64>,
    /// Wall-clock time (unix ms) of the file's first sample; `null` when its writer did not say.
    pub started_at: Option<u64>,
    /// A signed, expiring download link (with `Range`), relative to the hub; `null` until ready.
    pub url: Option<String>,
    /// Whose camera and microphone a hub recorder's file holds (their display name); absent for
    /// the box's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_create_request_and_the_status_are_camel_case_and_strict() {
        let create = UploadCreate {
            lesson: LessonId::parse("lab-1.1700000000000").unwrap(),
            kind: RecordingKind::Camera,
            name: "1700000000100-camera-000.mp4".into(),
            size: 10,
            sha256: "ab".repeat(32),
            duration_ms: Some(30_000),
            started_at: Some(1_700_000_000_100),
        };
        let json = serde_json::to_value(&create).unwrap();
        assert_eq!(json["durationMs"], 30_000);
        assert_eq!(json["startedAt"], 1_700_000_000_100u64);
        assert_eq!(json["kind"], "camera");
        assert_eq!(serde_json::from_value::<UploadCreate>(json).unwrap(), create);
        assert!(
            serde_json::from_str::<UploadCreate>(
                r#"{"lesson":"a.1","kind":"camera","name":"x.mp4","size":1,"sha256":"","extra":1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<UploadCreate>(
                r#"{"lesson":"a.1","kind":"video","name":"x.mp4","size":1,"sha256":""}"#
            )
            .is_err()
        );
        let status = UploadStatus { id: 3, offset: 5, size: 10, state: RecordingState::Uploading };
        assert_eq!(serde_json::to_string(&status).unwrap(), r#"{"id":3,"offset":5,"size":10,"state":"uploading"}"#);
    }

    #[test]
    fn names_round_trip() {
        for k in RecordingKind::ALL {
            assert_eq!(RecordingKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in RecordingState::ALL {
            assert_eq!(RecordingState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
