//! Classroom messages on the `/rtc` WebSocket: what a browser asks of the room (hand, chat, reactions,
//! polls, moderation) and what the hub tells it. The hub is authoritative: a command is a request, and
//! only the events that follow it say what happened. `type` values do not collide with [`crate::signal`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::signal::MediaKind;
use crate::{ParticipantId, Role};

/// Longest chat message, in characters, after trimming.
pub const MAX_CHAT_CHARS: usize = 1000;
/// A room passcode is this many characters long, after trimming...
pub const MIN_PASSCODE_CHARS: usize = 4;
/// ...up to this many.
pub const MAX_PASSCODE_CHARS: usize = 32;
/// Longest poll question, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest poll option, in characters.
pub const MAX_OPTION_CHARS: usize = 200;
/// A poll offers between this many options...
pub const MIN_POLL_OPTIONS: usize = 2;
/// ...and this many.
pub const MAX_POLL_OPTIONS: usize = 10;

/// A chat message, unique within one lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatMessageId(pub u64);

/// A poll or quiz, unique within one lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PollId(pub u64);

/// What a browser may send. Role checks happen in the hub; a refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum ClassroomCommand {
    /// Idempotent: raising a raised hand keeps its place in the queue.
    RaiseHand,
    /// Lowers one hand: your own without `participantId`; anyone's if you are a teacher.
    LowerHand {
        #[serde(default)]
        participant_id: Option<ParticipantId>,
    },
    LowerAllHands,
    /// `to` makes it private: students may only write privately to teachers.
    SendChat {
        text: String,
        #[serde(default)]
        to: Option<ParticipantId>,
    },
    DeleteChat {
        message_id: ChatMessageId,
    },
    React {
        reaction: Reaction,
    },
    /// A quiz is a poll with `correct` options. Indexes are 0-based.
    CreatePoll {
        question: String,
        options: Vec<String>,
        #[serde(default)]
        multiple: bool,
        #[serde(default)]
        anonymous: bool,
        #[serde(default)]
        correct: Option<Vec<u32>>,
    },
    /// Answering again while the poll is open replaces the earlier answer.
    AnswerPoll {
        poll_id: PollId,
        choices: Vec<u32>,
    },
    ClosePoll {
        poll_id: PollId,
        #[serde(default)]
        share_results: bool,
    },
    /// Shows a poll's results (and a quiz's correct options) to everyone; works open or closed.
    SharePollResults {
        poll_id: PollId,
    },
    Admit {
        participant_id: ParticipantId,
    },
    AdmitAll,
    Deny {
        participant_id: ParticipantId,
    },
    DenyAll,
    /// Changes only the policies present in the message.
    SetPolicy(PolicyPatch),
    /// Guests on a shared link must give this passcode to join; `null` clears it. Teachers only. The
    /// hub never repeats it: events say only [`RoomPolicy::passcode_required`].
    SetPasscode {
        #[serde(default)]
        passcode: Option<String>,
    },
    MuteParticipant {
        participant_id: ParticipantId,
    },
    MuteAllStudents,
    /// Students unmute themselves; this only asks (and lets them, if the policy forbids it otherwise).
    AskToUnmute {
        participant_id: ParticipantId,
    },
    StopVideo {
        participant_id: ParticipantId,
    },
    /// Removes a participant and blocks their identity from rejoining this lesson.
    RemoveParticipant {
        participant_id: ParticipantId,
    },
    /// `null` clears the spotlight.
    Spotlight {
        #[serde(default)]
        participant_id: Option<ParticipantId>,
    },
    RequestScreenShare,
    /// Stops your own share without `participantId`; a teacher may stop anyone's.
    StopScreenShare {
        #[serde(default)]
        participant_id: Option<ParticipantId>,
    },
    EndLesson,
    /// A teacher starts or stops recording the lesson (where the room's policy allows it).
    SetRecording {
        on: bool,
    },
    /// The whiteboard and the notes: parsed on their own (their `type`s are [`crate::board`]'s),
    /// routed with the classroom's commands.
    #[serde(skip)]
    Board(crate::board::BoardCommand),
    /// Breakout rooms: parsed on their own (their `type`s are [`crate::breakout`]'s), routed with
    /// the classroom's commands.
    #[serde(skip)]
    Breakout(crate::breakout::BreakoutCommand),
    /// A file uploaded over HTTP (`POST /api/rooms/{room}/files`) is offered in the uploader's chat.
    /// Never read from a socket: the hub sends it after the upload was checked and stored.
    #[serde(skip)]
    ShareFile {
        file: SharedFile,
        /// The uploading token's `sub`: it must be the participant's own.
        subject: String,
        /// Where the upload was filed (`None`: the main room); refused if the uploader moved since.
        group: Option<crate::breakout::GroupId>,
    },
}

/// The only reactions the hub relays. Serialized as the emoji itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Reaction {
    ThumbsUp,
    Heart,
    Laugh,
    Surprised,
    Clap,
    Question,
}

impl Reaction {
    pub const ALL: [Reaction; 6] =
        [Reaction::ThumbsUp, Reaction::Heart, Reaction::Laugh, Reaction::Surprised, Reaction::Clap, Reaction::Question];

    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::ThumbsUp => "👍",
            Reaction::Heart => "❤️",
            Reaction::Laugh => "😂",
            Reaction::Surprised => "😮",
            Reaction::Clap => "👏",
            Reaction::Question => "❓",
        }
    }

    /// Accepts the heart with or without its emoji variation selector: keyboards send both.
    pub fn parse(s: &str) -> Result<Self, InvalidReaction> {
        let s = s.strip_suffix('\u{FE0F}').unwrap_or(s);
        Reaction::ALL
            .into_iter()
            .find(|r| r.as_str().strip_suffix('\u{FE0F}').unwrap_or(r.as_str()) == s)
            .ok_or(InvalidReaction)
    }
}

/// A reaction outside [`Reaction::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReaction;

impl fmt::Display for InvalidReaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reaction must be one of 👍 ❤️ 😂 😮 👏 ❓")
    }
}

impl std::error::Error for InvalidReaction {}

impl TryFrom<String> for Reaction {
    type Error = InvalidReaction;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Reaction> for String {
    fn from(r: Reaction) -> String {
        r.as_str().to_owned()
    }
}

/// Room policies a teacher sets. Students are trusted by default; teachers are never restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomPolicy {
    /// Personal-token students wait in the lobby too (guests always wait).
    pub everyone_waits: bool,
    /// Nobody new enters except teachers and the room's device.
    pub locked: bool,
    pub students_may_unmute: bool,
    pub students_may_start_video: bool,
    pub students_may_share_screen: bool,
    /// Room-wide chat; students may always write privately to a teacher.
    pub students_may_chat: bool,
    /// Students (and viewers) receive each other's cameras. Off: "students see only the teacher and
    /// the room" (their cameras reach teachers and the room display only; audio and a shared
    /// screen still reach everyone).
    #[serde(default = "yes")]
    pub students_see_each_other: bool,
    /// Guests must give the teacher's passcode to join. Set with `setPasscode`, not `setPolicy`, and
    /// the passcode itself is never sent to anyone.
    #[serde(default)]
    pub passcode_required: bool,
    /// Students may share files in the chat (teachers always may). Off by default.
    #[serde(default)]
    pub students_may_share_files: bool,
}

impl Default for RoomPolicy {
    fn default() -> Self {
        Self {
            everyone_waits: false,
            locked: false,
            students_may_unmute: true,
            students_may_start_video: true,
            students_may_share_screen: true,
            students_may_chat: true,
            students_see_each_other: true,
            passcode_required: false,
            students_may_share_files: false,
        }
    }
}

fn yes() -> bool {
    true
}

/// A partial [`RoomPolicy`]: absent fields keep their value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub everyone_waits: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_may_unmute: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_may_start_video: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_may_share_screen: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_may_chat: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_see_each_other: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students_may_share_files: Option<bool>,
}

/// What the hub tells browsers about the classroom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ClassroomEvent {
    /// Everything a (re)joining browser needs; fields it may not see are `null`.
    State {
        policy: RoomPolicy,
        spotlight: Option<ParticipantId>,
        screen_sharer: Option<ParticipantId>,
        hand_raised: bool,
        /// The hand queue: teachers and the room device only.
        hands: Option<Vec<RaisedHand>>,
        /// Room-wide messages and the private ones you sent or received, oldest first.
        chat: Vec<ChatMessage>,
        poll: Option<PollView>,
        /// Live for teachers; for others only once shared.
        poll_results: Option<PollResults>,
        my_answer: Option<Vec<u32>>,
        /// The lobby: teachers and the room device only.
        lobby: Option<Vec<LobbyEntry>>,
        /// The lesson is being recorded: every page shows a red "Recording" badge.
        #[serde(default)]
        recording: bool,
    },
    /// Recording started or stopped (sent to everyone, the lobby too).
    RecordingChanged {
        recording: bool,
    },
    /// You are in the lobby; 1 is next.
    Waiting {
        position: u32,
    },
    /// You may not enter; the hub closes the socket next.
    Denied {
        reason: DenyReason,
    },
    /// A teacher removed you; the hub closes the socket next.
    Removed,
    LessonEnded,
    LobbyChanged {
        waiting: Vec<LobbyEntry>,
    },
    PolicyChanged {
        policy: RoomPolicy,
    },
    HandsChanged {
        hands: Vec<RaisedHand>,
    },
    /// Your own hand, e.g. after a teacher lowered it.
    OwnHand {
        raised: bool,
    },
    Chat {
        message: ChatMessage,
    },
    ChatDeleted {
        message_id: ChatMessageId,
    },
    Reacted {
        participant_id: ParticipantId,
        name: String,
        reaction: Reaction,
    },
    PollOpened {
        poll: PollView,
    },
    /// Your answer was recorded; `changed` says it replaced an earlier one.
    PollAnswered {
        poll_id: PollId,
        choices: Vec<u32>,
        changed: bool,
    },
    PollResults {
        results: PollResults,
    },
    PollClosed {
        poll_id: PollId,
    },
    /// A teacher muted your microphone or stopped your camera.
    MutedByTeacher {
        kind: MediaKind,
    },
    /// A teacher asks you to unmute; you may do so now even if the policy forbids it otherwise.
    UnmuteRequested,
    SpotlightChanged {
        participant_id: Option<ParticipantId>,
    },
    ScreenShareChanged {
        participant_id: Option<ParticipantId>,
    },
    /// The whiteboard and the notes: carries its own `type` (see [`crate::board`]).
    #[serde(untagged)]
    Board(crate::board::BoardEvent),
    /// Breakout rooms: carries its own `type` (see [`crate::breakout`]).
    #[serde(untagged)]
    Breakout(crate::breakout::BreakoutEvent),
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DenyReason {
    /// A teacher (or the room display) turned the request down.
    DeniedByTeacher,
    /// Removed or denied earlier in this lesson.
    Blocked,
    RoomLocked,
    /// The lobby is full; try again later.
    LobbyFull,
    /// The room has as many people as its capacity (set in the web admin); try again later.
    RoomFull,
    LessonEnded,
    /// The role does not take part in lessons (admins).
    NotAParticipant,
    /// A guest gave no passcode or the wrong one; the page asks again.
    WrongPasscode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LobbyEntry {
    pub participant_id: ParticipantId,
    pub name: String,
    pub role: Role,
    /// Came through a shared guest link rather than a personal lesson token.
    pub guest: bool,
    /// Unix ms.
    pub waiting_since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RaisedHand {
    pub participant_id: ParticipantId,
    pub name: String,
    /// Unix ms; the queue is ordered by it.
    pub raised_at: u64,
}

/// Plain text: browsers must insert it with `textContent`, never as HTML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: ChatMessageId,
    pub from: ParticipantId,
    pub from_name: String,
    pub from_role: Role,
    /// Set on private messages.
    pub to: Option<ParticipantId>,
    pub text: String,
    /// Unix ms.
    pub sent_at: u64,
    /// A shared file: `text` is its name, this says how to fetch it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<SharedFile>,
}

/// A file shared in the chat: what the message shows and its signed, expiring download link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedFile {
    /// The file's row on the hub (`GET /api/rooms/{room}/lessons` lists it with the lesson).
    pub id: i64,
    /// The uploader's name of the file (plain text, like a chat message).
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// `/files/{id}/{name}?exp=…&sig=…`: anyone who sees the message may download it until `exp`.
    pub url: String,
}

/// A poll as students see it: never the correct options of a quiz before results are shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollView {
    pub id: PollId,
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub anonymous: bool,
    pub quiz: bool,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResults {
    pub poll_id: PollId,
    /// Votes per option, in option order.
    pub counts: Vec<u32>,
    pub respondents: u32,
    /// A quiz's correct options; `null` for a plain poll.
    pub correct: Option<Vec<u32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(json: &str) -> Result<ClassroomCommand, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn commands_are_tagged_camel_case_objects() {
        assert_eq!(cmd(r#"{"type":"raiseHand"}"#).unwrap(), ClassroomCommand::RaiseHand);
        assert_eq!(cmd(r#"{"type":"lowerHand"}"#).unwrap(), ClassroomCommand::LowerHand { participant_id: None });
        assert_eq!(
            cmd(r#"{"type":"sendChat","text":"hi","to":3}"#).unwrap(),
            ClassroomCommand::SendChat { text: "hi".into(), to: Some(ParticipantId(3)) }
        );
        assert_eq!(
            cmd(r#"{"type":"answerPoll","pollId":1,"choices":[0,2]}"#).unwrap(),
            ClassroomCommand::AnswerPoll { poll_id: PollId(1), choices: vec![0, 2] }
        );
        assert_eq!(
            cmd(r#"{"type":"spotlight","participantId":null}"#).unwrap(),
            ClassroomCommand::Spotlight { participant_id: None }
        );
    }

    #[test]
    fn create_poll_defaults_to_single_choice_named_poll() {
        let c = cmd(r#"{"type":"createPoll","question":"Q?","options":["a","b"]}"#).unwrap();
        let want = ClassroomCommand::CreatePoll {
            question: "Q?".into(),
            options: vec!["a".into(), "b".into()],
            multiple: false,
            anonymous: false,
            correct: None,
        };
        assert_eq!(c, want);
    }

    #[test]
    fn set_policy_is_flat_and_partial() {
        let c = cmd(r#"{"type":"setPolicy","locked":true}"#).unwrap();
        assert_eq!(c, ClassroomCommand::SetPolicy(PolicyPatch { locked: Some(true), ..PolicyPatch::default() }));
        assert!(cmd(r#"{"type":"setPolicy","lockd":true}"#).is_err());
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"type":"setPolicy","locked":true}"#);
    }

    #[test]
    fn set_passcode_takes_a_string_or_null_and_policy_only_says_whether_one_is_set() {
        assert_eq!(
            cmd(r#"{"type":"setPasscode","passcode":"owl-42"}"#).unwrap(),
            ClassroomCommand::SetPasscode { passcode: Some("owl-42".into()) }
        );
        assert_eq!(
            cmd(r#"{"type":"setPasscode","passcode":null}"#).unwrap(),
            ClassroomCommand::SetPasscode { passcode: None }
        );
        // Not a policy switch: `setPolicy` cannot claim a passcode is required without one.
        assert!(cmd(r#"{"type":"setPolicy","passcodeRequired":true}"#).is_err());
        let json = serde_json::to_string(&RoomPolicy { passcode_required: true, ..RoomPolicy::default() }).unwrap();
        assert!(json.contains(r#""passcodeRequired":true"#), "{json}");
        let e = ClassroomEvent::Denied { reason: DenyReason::WrongPasscode };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"type":"denied","reason":"wrongPasscode"}"#);
    }

    #[test]
    fn unknown_types_fields_and_missing_fields_are_rejected() {
        assert!(cmd(r#"{"type":"becomeTeacher"}"#).is_err());
        // (serde ignores extra fields on unit variants such as `raiseHand`; they carry nothing to misread.)
        assert!(cmd(r#"{"type":"lowerHand","participant":1}"#).is_err());
        assert!(cmd(r#"{"type":"sendChat"}"#).is_err());
        assert!(cmd(r#"{"type":"admit","participantId":"p1"}"#).is_err());
    }

    #[test]
    fn reactions_outside_the_set_are_rejected() {
        assert_eq!(
            cmd(r#"{"type":"react","reaction":"👍"}"#).unwrap(),
            ClassroomCommand::React { reaction: Reaction::ThumbsUp }
        );
        assert_eq!(Reaction::parse("❤").unwrap(), Reaction::Heart);
        assert_eq!(Reaction::parse("❤️").unwrap(), Reaction::Heart);
        assert!(cmd(r#"{"type":"react","reaction":"💩"}"#).is_err());
        assert!(cmd(r#"{"type":"react","reaction":"<img src=x>"}"#).is_err());
        assert_eq!(serde_json::to_string(&Reaction::Clap).unwrap(), "\"👏\"");
    }

    #[test]
    fn command_types_do_not_collide_with_signaling() {
        for t in ["join", "publishOffer", "subscribeAnswer", "trickle", "setMuted", "leave"] {
            assert!(cmd(&format!(r#"{{"type":"{t}"}}"#)).is_err(), "{t}");
        }
    }

    /// One way `ClientMsg` can carry classroom commands without a second tag: an untagged last variant.
    /// (Its errors are generic, "did not match any variant"; parsing `ClientMsg` first and then
    /// `ClassroomCommand` on its own keeps serde's precise messages such as "missing field `text`".)
    #[test]
    fn commands_embed_as_an_untagged_variant_of_a_tagged_enum() {
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(tag = "type", rename_all = "camelCase")]
        enum Client {
            Leave,
            #[serde(untagged)]
            Classroom(ClassroomCommand),
        }
        let m: Client = serde_json::from_str(r#"{"type":"raiseHand"}"#).unwrap();
        assert_eq!(m, Client::Classroom(ClassroomCommand::RaiseHand));
        let m: Client = serde_json::from_str(r#"{"type":"leave"}"#).unwrap();
        assert_eq!(m, Client::Leave);
        assert!(serde_json::from_str::<Client>(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn events_serialize_camel_case() {
        let e = ClassroomEvent::PollAnswered { poll_id: PollId(2), choices: vec![1], changed: true };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"pollAnswered","pollId":2,"choices":[1],"changed":true}"#
        );
        let e = ClassroomEvent::Denied { reason: DenyReason::RoomLocked };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"type":"denied","reason":"roomLocked"}"#);
        let e = ClassroomEvent::ScreenShareChanged { participant_id: None };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"type":"screenShareChanged","participantId":null}"#);
    }
}
