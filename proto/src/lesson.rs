//! Lessons and their recording on the wire: the id of one lesson occurrence in a room, the room's
//! recording policy and what is being recorded now. The hub's lesson state lives in
//! `lectern_hub::recording`; the box's recorder in `lectern_appliance::record`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::RoomId;

/// One occurrence of a lesson in a room: `{room}.{started_ms}`, e.g. `physics-1.1700000000000`.
/// Made by the room that starts the lesson (no database round trip, no randomness: the room's
/// name and the lesson's start in unix ms are unique together, since one room runs one lesson at
/// a time). Safe in URL paths and file names: room names are `[A-Za-z0-9_-]`, the rest digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LessonId(String);

/// Why a string is not a lesson id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLessonId(pub &'static str);

impl fmt::Display for InvalidLessonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidLessonId {}

impl LessonId {
    /// The lesson of `room` that started at `started_ms` (unix ms).
    pub fn new(room: &RoomId, started_ms: u64) -> Self {
        Self(format!("{room}.{started_ms}"))
    }

    pub fn parse(s: &str) -> Result<Self, InvalidLessonId> {
        let (room, ms) = s.rsplit_once('.').ok_or(InvalidLessonId("a lesson id is {room}.{started_ms}"))?;
        RoomId::parse(room).map_err(|_| InvalidLessonId("a lesson id starts with a valid room name"))?;
        if ms.is_empty() || ms.len() > 20 || !ms.bytes().all(|b| b.is_ascii_digit()) || ms.parse::<u64>().is_err() {
            return Err(InvalidLessonId("a lesson id ends with its start in unix milliseconds"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The room the lesson was held in.
    pub fn room(&self) -> RoomId {
        // Checked at construction: the part before the last '.' is a valid room name.
        let room = self.0.rsplit_once('.').map_or(self.0.as_str(), |(r, _)| r);
        RoomId::parse(room).unwrap_or_else(|_| unreachable!("a LessonId's room part is validated when made"))
    }
}

impl fmt::Display for LessonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LessonId {
    type Error = InvalidLessonId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<LessonId> for String {
    fn from(id: LessonId) -> Self {
        id.0
    }
}

/// Whether a room's lessons are recorded (hub config `[recording] default`, or the admin's room
/// setting): never, when a teacher starts it, or from the start of every lesson.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingPolicy {
    #[default]
    Off,
    OnRequest,
    Always,
}

impl RecordingPolicy {
    pub const ALL: [RecordingPolicy; 3] = [Self::Off, Self::OnRequest, Self::Always];

    /// The name in configuration, the admin API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::OnRequest => "on_request",
            Self::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// What an old client's `recording: bool` meant.
    pub fn from_bool(on: bool) -> Self {
        if on { Self::Always } else { Self::Off }
    }
}

impl TryFrom<String> for RecordingPolicy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("not a recording policy: {s:?}"))
    }
}

/// Whether students' own cameras and microphones are recorded (hub config `[recording] students`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentsRecorded {
    #[default]
    Never,
    Always,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lesson_id_is_its_room_and_start_and_reads_back() {
        let room = RoomId::parse("physics-1").unwrap();
        let id = LessonId::new(&room, 1_700_000_000_123);
        assert_eq!(id.as_str(), "physics-1.1700000000123");
        assert_eq!(LessonId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.room(), room);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"physics-1.1700000000123\"");
        assert_eq!(serde_json::from_str::<LessonId>(&json).unwrap(), id);
    }

    #[test]
    fn malformed_lesson_ids_are_refused() {
        for bad in
            ["", "room", "room.", ".123", "ro/om.1", "room.12a", "room.-1", "room.99999999999999999999999", "a.b.1"]
        {
            assert!(LessonId::parse(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<LessonId>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
    }

    #[test]
    fn recording_policies_have_their_config_names() {
        let names: Vec<&str> = RecordingPolicy::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["off", "on_request", "always"]);
        for p in RecordingPolicy::ALL {
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
            assert_eq!(RecordingPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(RecordingPolicy::from_bool(true), RecordingPolicy::Always);
        assert_eq!(RecordingPolicy::from_bool(false), RecordingPolicy::Off);
        assert_eq!(serde_json::to_string(&StudentsRecorded::Never).unwrap(), "\"never\"");
    }
}
