//! Typed messages from the HTTP/WebSocket tasks to the shard that owns a room.

use lectern_proto::signal::{MediaKind, ServerMsg};
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::Candidate;
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::sync::{mpsc, oneshot};

use crate::store::Transport;

/// Who a new participant is, from their verified token.
#[derive(Debug, Clone)]
pub struct Ident {
    pub room: RoomId,
    pub participant: ParticipantId,
    pub subject: String,
    pub name: String,
    pub role: Role,
    pub transport: Transport,
    /// Came with a shared guest link: waits in the lobby by default.
    pub guest: bool,
    /// The room passcode a guest typed; always `None` for personal tokens.
    pub passcode: Option<String>,
    /// The credential and connection behind it: what revocation, expiry and a teacher's block key on.
    pub access: Access,
}

/// Where a participant's session comes from, beyond who they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The token's `jti`: revoking it ends the session.
    pub jti: String,
    /// Unix seconds at which the session is ended (the token's expiry plus the grace period);
    /// `None`: never.
    pub ends_at: Option<u64>,
    /// Marks a guest is known by besides the shared link (this browser, this address): a guest
    /// removed or turned away is blocked by them for the rest of the lesson. Empty for personal
    /// tokens, whose `sub` already names the person.
    pub marks: Vec<String>,
    /// Settings the web admin keeps for the room (capacity, everyone waits), as they are now.
    pub room: Option<RoomSettings>,
    /// The room's recording policy: the admin's, else the hub's `[recording] default`.
    pub recording: lectern_proto::lesson::RecordingPolicy,
    /// The hub's `[recording] students`: whether the hub recorder records students.
    pub students: lectern_proto::lesson::StudentsRecorded,
}

/// The web admin's settings of a room that the lesson enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomSettings {
    /// Most people (other than teachers and the room's box) admitted at once.
    pub capacity: u32,
    /// Everyone but teachers waits in the lobby.
    pub everyone_waits: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SfuError {
    #[error("the offer cannot be accepted: {0}")]
    BadOffer(String),
    #[error("the answer cannot be accepted: {0}")]
    BadAnswer(String),
    #[error("no such participant in this room")]
    UnknownParticipant,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the media worker is not running")]
    ShardGone,
    /// The shard's command queue is full: the command was shed, nothing happened.
    #[error("the media worker is busy: try again")]
    Busy,
    #[error("{0}")]
    Classroom(#[from] crate::classroom::ClassroomError),
    #[error("cannot enter the room: {0:?}")]
    Denied(lectern_proto::classroom::DenyReason),
}

/// Everything a teacher can export about a lesson.
#[derive(Debug, Clone)]
pub struct LessonReport {
    pub attendance: crate::classroom::AttendanceReport,
    pub polls: Vec<crate::classroom::PollReport>,
    /// The shared notes' text (Markdown).
    pub notes: String,
    /// What a file upload is checked against (the lesson on now, who may share, who is where).
    pub files: crate::classroom::FileGate,
}

pub type Reply<T> = oneshot::Sender<Result<T, SfuError>>;

/// Messages for one browser that its socket has not written yet. A socket this far behind (its
/// reader stalled, or its link far too slow for the room) is closed: the shard never blocks on
/// it and the hub's memory does not grow with it.
pub const SIGNAL_BACKLOG: usize = 256;

/// A browser's signalling channel, from its room to its `/rtc` socket, bounded by [`SIGNAL_BACKLOG`].
pub type Signals = mpsc::Sender<ServerMsg>;

#[derive(Debug)]
pub enum Command {
    /// A WHIP publisher: a participant with only a publish connection.
    Whip {
        ident: Ident,
        offer: SdpOffer,
        /// The m-line carrying a classroom box's laptop (`a=content:slides`), shown as a screen.
        screen_mid: Option<String>,
        /// A classroom box publishing again: take over the participant `ident` names (its old
        /// session is DELETEd once this one is up). `UnknownParticipant` if it is gone.
        takeover: bool,
        reply: Reply<SdpAnswer>,
    },
    /// A WHEP viewer: a participant with only a receive connection, offered by the client.
    Whep {
        ident: Ident,
        offer: SdpOffer,
        reply: Reply<SdpAnswer>,
    },
    /// The classroom's return feed: a receive connection whose slots the hub fills with the
    /// loudest remote participants' audio and the active speaker's video.
    Return {
        ident: Ident,
        offer: SdpOffer,
        reply: Reply<SdpAnswer>,
    },
    /// A browser joined over `/rtc`; room events go to `events`.
    /// The room answers on `events`: `joined` (+ classroom state), `waiting`, or `denied`.
    Join {
        ident: Ident,
        events: Signals,
        /// The socket: a later `SocketClosed` of another one does not end the participant.
        socket: Socket,
        reply: Reply<()>,
    },
    /// A browser's new socket takes participant `participant` back (`join` with `resume`): the
    /// room sends it `joined` again and its media starts afresh.
    Resume {
        room: RoomId,
        participant: ParticipantId,
        socket: Socket,
        events: Signals,
        reply: Reply<()>,
    },
    /// A browser's socket ended: the participant leaves, unless a newer socket took it over.
    SocketClosed {
        room: RoomId,
        participant: ParticipantId,
        socket: Socket,
    },
    /// A classroom command from a browser (hand, chat, poll, moderation...).
    Classroom {
        room: RoomId,
        participant: ParticipantId,
        command: lectern_proto::classroom::ClassroomCommand,
        reply: Reply<()>,
    },
    Report {
        room: RoomId,
        reply: Reply<LessonReport>,
    },
    /// Whether the room's lesson is being recorded now (false if the hub holds no lesson there).
    Recording {
        room: RoomId,
        reply: Reply<bool>,
    },
    /// End the room's lesson from outside the class (the API, the timetable): everyone is told
    /// and disconnected, the lesson's row closed. Answers whether a lesson was on.
    EndLesson {
        room: RoomId,
        reason: crate::recording::EndReason,
        reply: Reply<bool>,
    },
    /// Per participant: link estimate, layers received, pauses, loss.
    Stats {
        room: RoomId,
        reply: Reply<lectern_proto::stats::RoomStats>,
    },
    PublishOffer {
        room: RoomId,
        participant: ParticipantId,
        offer: SdpOffer,
        /// The m-line carrying a screen share, if any.
        screen_mid: Option<String>,
        reply: Reply<SdpAnswer>,
    },
    SubscribeAnswer {
        room: RoomId,
        participant: ParticipantId,
        answer: SdpAnswer,
        reply: Reply<()>,
    },
    /// Trickled candidates for a participant's publish (WHIP) or receive (WHEP) connection.
    RemoteCandidates {
        room: RoomId,
        participant: ParticipantId,
        candidates: Vec<Candidate>,
        reply: Reply<()>,
    },
    /// The browser restarts ICE on its subscribe connection: the hub re-offers it with new ICE
    /// credentials (str0m's `ice_restart`), keeping every m-line.
    RestartIce {
        room: RoomId,
        participant: ParticipantId,
        reply: Reply<()>,
    },
    SetMuted {
        room: RoomId,
        participant: ParticipantId,
        kind: MediaKind,
        muted: bool,
    },
    /// The participant's "my connection is poor: audio only" toggle.
    SetAudioOnly {
        room: RoomId,
        participant: ParticipantId,
        audio_only: bool,
    },
    Leave {
        room: RoomId,
        participant: ParticipantId,
        reply: Option<Reply<()>>,
    },
    /// The token `jti` was revoked: every session opened with it ends (sent to every shard).
    Revoked {
        jti: String,
    },
}

/// One `/rtc` socket of a browser participant: a number the socket task drew, and the key it
/// gave its browser in `joined` for coming back on a new socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub id: u64,
    pub resume_key: String,
}
