//! Typed ids so a room name is never passed where a participant id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest room name accepted anywhere (URL path segment, token claim).
pub const MAX_ROOM_LEN: usize = 64;

/// A room's name as it appears in URLs (`/whip/{room}`, `/join/{room}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

/// Why a string is not a valid room id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRoomId(pub &'static str);

impl fmt::Display for InvalidRoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidRoomId {}

impl RoomId {
    /// Room names are 1–64 characters of `[A-Za-z0-9_-]`, so they are safe in paths, logs and file names.
    pub fn parse(s: &str) -> Result<Self, InvalidRoomId> {
        if s.is_empty() {
            return Err(InvalidRoomId("room name is empty"));
        }
        if s.len() > MAX_ROOM_LEN {
            return Err(InvalidRoomId("room name is longer than 64 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(InvalidRoomId("room name may only contain letters, digits, '-' and '_'"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomId {
    type Error = InvalidRoomId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RoomId> for String {
    fn from(r: RoomId) -> String {
        r.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One participant's presence in a room: a browser tab, a WHIP publisher or a WHEP viewer.
/// Unique for the life of the hub process; a reconnect gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u64);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

/// A published track (UpTrack), unique for the life of the hub process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackId(pub u64);

impl fmt::Display for TrackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_id_rejects_path_tricks_and_empty() {
        assert!(RoomId::parse("demo").is_ok());
        assert!(RoomId::parse("room-101_b").is_ok());
        assert!(RoomId::parse("").is_err());
        assert!(RoomId::parse("../etc").is_err());
        assert!(RoomId::parse("a b").is_err());
        assert!(RoomId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn room_id_deserialization_validates() {
        assert!(serde_json::from_str::<RoomId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<RoomId>("\"not ok/\"").is_err());
    }
}
