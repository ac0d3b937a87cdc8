//! Claims of the JWT every endpoint checks (HS256 with the hub secret by default).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::RoomId;

/// What a token holder may do. Deny by default: each endpoint lists the roles it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Moderates the room; publishes and subscribes.
    Teacher,
    /// Publishes and subscribes.
    Student,
    /// A classroom appliance: publishes the room, receives the return feed.
    Device,
    /// Receives only.
    Viewer,
    /// Fleet administration; not a room participant.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Teacher, Role::Student, Role::Device, Role::Viewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Student => "student",
            Role::Device => "device",
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may send media into a room.
    pub fn can_publish(self) -> bool {
        matches!(self, Role::Teacher | Role::Student | Role::Device)
    }

    /// Whether this role may receive a room's media.
    pub fn can_subscribe(self) -> bool {
        matches!(self, Role::Teacher | Role::Student | Role::Device | Role::Viewer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}' (expected teacher, student, device, viewer or admin)"))
    }
}

/// The JWT payload. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Who the token was issued to (a user id, device id or a generated id).
    pub sub: String,
    pub room: RoomId,
    pub role: Role,
    /// Display name shown to other participants.
    #[serde(default)]
    pub name: Option<String>,
    pub exp: u64,
    pub nbf: u64,
    /// Unique token id, so a single token can be revoked.
    pub jti: String,
    /// A shared guest link rather than a personal token: its holders wait in the lobby and
    /// choose their own display name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
}
