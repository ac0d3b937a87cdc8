//! Browser ↔ hub signaling on the `/rtc` WebSocket: one JSON object per text frame.
//!
//! A browser keeps two peer connections: *publish* (its mic/camera, browser offers) and
//! *subscribe* (everyone else, hub offers). The hub re-offers the subscribe connection
//! whenever the set of tracks it should receive changes.

use serde::{Deserialize, Serialize};

use crate::{ParticipantId, Role, RoomId};

/// Largest text frame the hub accepts on `/rtc` (an SDP with many m-lines fits easily).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Messages from the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum ClientMsg {
    /// Must be the first message. The token is re-checked on every (re)connect. `name` and
    /// `passcode` are used only with a guest (shared-link) token, whose holder chooses how they are
    /// called and gives the room passcode when the teacher set one.
    Join {
        token: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        passcode: Option<String>,
        /// Coming back on a new socket (the old one died with a network change): the hub gives
        /// this socket the participant back, with its place in the lesson, if the key is its own.
        #[serde(default)]
        resume: Option<Resume>,
    },
    /// Offer of the publish connection (sendonly transceivers). `screenMid` names the transceiver
    /// carrying a screen share, once the hub allowed one.
    PublishOffer {
        sdp: String,
        #[serde(default)]
        screen_mid: Option<String>,
    },
    /// Answer to the hub's last `subscribeOffer`.
    SubscribeAnswer {
        sdp: String,
    },
    /// A local ICE candidate (`candidate:` line); optional, the hub is ICE-lite.
    Trickle {
        pc: PeerKind,
        candidate: String,
    },
    /// The browser lost its path to the hub (or its network changed) and restarts ICE on the same
    /// connection. Only `subscribe`: the hub offers there, so it answers with a `subscribeOffer`
    /// carrying new ICE credentials. The publish connection restarts with a new `publishOffer`.
    RestartIce {
        pc: PeerKind,
    },
    /// The user switched their mic or camera off/on.
    SetMuted {
        kind: MediaKind,
        muted: bool,
    },
    /// The student's "my connection is poor: audio only" toggle: the hub pauses all video towards
    /// this participant until it is switched off again.
    SetAudioOnly {
        audio_only: bool,
    },
    Leave,
}

/// Who a `join` on a new socket was, and the key the hub gave it in `joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resume {
    pub participant_id: ParticipantId,
    pub key: String,
}

/// Messages from the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ServerMsg {
    Joined {
        participant_id: ParticipantId,
        room: RoomId,
        role: Role,
        name: String,
        /// Everyone else already in the room.
        participants: Vec<ParticipantInfo>,
        /// STUN/TURN servers for the browser's peer connections (`RTCConfiguration.iceServers`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// A secret of this participant's: `join` with it on a new socket to stay the same participant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_key: Option<String>,
        /// This socket took the participant back (`join` with `resume`): keep the media
        /// connections and restart ICE on them.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        participant_id: ParticipantId,
    },
    PublishAnswer {
        sdp: String,
    },
    /// A new offer for the subscribe connection; `tracks` maps its active mids to their owners.
    SubscribeOffer {
        sdp: String,
        tracks: Vec<TrackInfo>,
    },
    TrackMuted {
        participant_id: ParticipantId,
        kind: MediaKind,
        muted: bool,
    },
    /// What this participant's link carries, sent when the level or the paused set changes (at
    /// most about once a second). `paused` are mids of the subscribe connection whose video the
    /// hub does not send now (too slow a link, or the audio-only toggle).
    Quality {
        level: QualityLevel,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimate_kbps: Option<u32>,
        paused: Vec<String>,
    },
    /// Something the browser sent was refused; `fatal` means the hub closes the socket next.
    Error {
        code: ErrorCode,
        message: String,
        fatal: bool,
    },
    /// Lobby, hands, chat, polls, moderation: see [`crate::classroom`]. Carries its own `type`.
    #[serde(untagged)]
    Classroom(crate::classroom::ClassroomEvent),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantInfo {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    pub audio_muted: bool,
    pub video_muted: bool,
}

/// A STUN or TURN server, in the shape of the browser's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// One m-line of the subscribe connection and whose media it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackInfo {
    pub mid: String,
    pub participant_id: ParticipantId,
    pub kind: MediaKind,
    /// A screen share rather than a camera.
    #[serde(default)]
    pub screen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// How well a participant receives video (see [`ServerMsg::Quality`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QualityLevel {
    /// Every video track on the layer it wants.
    Good,
    /// A lower layer (or fewer frames) somewhere.
    Reduced,
    /// All video paused: the link is too slow, or the user chose audio only.
    AudioOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    Publish,
    Subscribe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// Missing, malformed or expired token.
    Unauthorized,
    /// Valid token, but not for this room or action.
    Forbidden,
    /// Malformed message or SDP.
    BadRequest,
    /// A message that makes no sense in the current state (e.g. an answer with no offer out).
    Conflict,
    /// The hub failed; the browser should reconnect.
    Internal,
    /// The room is served by another hub of the cluster: open the join link again (on this hub it
    /// redirects to that one).
    Moved,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_use_camel_case_tags() {
        let m: ClientMsg = serde_json::from_str(r#"{"type":"publishOffer","sdp":"v=0"}"#).unwrap();
        assert_eq!(m, ClientMsg::PublishOffer { sdp: "v=0".into(), screen_mid: None });
        let m: ClientMsg = serde_json::from_str(r#"{"type":"setMuted","kind":"audio","muted":true}"#).unwrap();
        assert_eq!(m, ClientMsg::SetMuted { kind: MediaKind::Audio, muted: true });
        let m: ClientMsg = serde_json::from_str(r#"{"type":"restartIce","pc":"subscribe"}"#).unwrap();
        assert_eq!(m, ClientMsg::RestartIce { pc: PeerKind::Subscribe });
        let m: ClientMsg = serde_json::from_str(r#"{"type":"leave"}"#).unwrap();
        assert_eq!(m, ClientMsg::Leave);
    }

    #[test]
    fn unknown_type_and_fields_are_rejected() {
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"hack"}"#).is_err());
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"join","token":"t","extra":1}"#).is_err());
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"join"}"#).is_err());
    }

    #[test]
    fn classroom_events_keep_their_own_type_tag() {
        let m = ServerMsg::Classroom(crate::classroom::ClassroomEvent::Removed);
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"removed"}"#);
    }

    #[test]
    fn server_messages_serialize_camel_case_fields() {
        let m = ServerMsg::ParticipantLeft { participant_id: ParticipantId(7) };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"participantLeft","participantId":7}"#);
    }

    #[test]
    fn quality_and_audio_only_follow_the_wire_contract() {
        let m =
            ServerMsg::Quality { level: QualityLevel::AudioOnly, estimate_kbps: Some(250), paused: vec!["1".into()] };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"type":"quality","level":"audioOnly","estimateKbps":250,"paused":["1"]}"#
        );
        let m = ServerMsg::Quality { level: QualityLevel::Good, estimate_kbps: None, paused: vec![] };
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"quality","level":"good","paused":[]}"#);
        let m: ClientMsg = serde_json::from_str(r#"{"type":"setAudioOnly","audioOnly":true}"#).unwrap();
        assert_eq!(m, ClientMsg::SetAudioOnly { audio_only: true });
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"setAudioOnly","audioOnly":"yes"}"#).is_err());
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"setAudioOnly"}"#).is_err());
    }
}
