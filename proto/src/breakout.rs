//! Breakout rooms on the `/rtc` WebSocket: a teacher splits the remote students into groups, each with
//! its own media, chat, whiteboard and notes, and calls everyone back. The groups are spaces inside
//! the lesson's room (no new connection: the hub changes what each browser receives). `type` values
//! do not collide with [`crate::signal`], [`crate::classroom`] or [`crate::board`].

use serde::{Deserialize, Serialize};

use crate::ParticipantId;
use crate::classroom::ChatMessage;

/// Most groups in one round.
pub const MAX_GROUPS: u32 = 50;
/// Longest group name, in characters, after trimming.
pub const MAX_GROUP_NAME_CHARS: usize = 40;
/// Longest broadcast, in characters, after trimming.
pub const MAX_BROADCAST_CHARS: usize = 500;
/// Shortest timer, in seconds (shorter is a typo, not a lesson plan).
pub const MIN_DURATION_SECS: u32 = 10;
/// Longest timer: four hours.
pub const MAX_DURATION_SECS: u32 = 4 * 3600;
/// Longest recall countdown.
pub const MAX_RECALL_SECS: u32 = 300;
/// The recall countdown when the teacher names none.
pub const DEFAULT_RECALL_SECS: u32 = 15;

/// A group of one round, numbered from 1. The main room has no id (`null` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub u32);

/// How students get into groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Assignment {
    /// The teacher moves each student.
    #[default]
    Manual,
    /// The hub deals the students present into groups of (nearly) equal size; the teacher may
    /// still move anyone.
    Random,
    /// Students pick their group themselves (the teacher may still move anyone).
    Choose,
}

/// Where a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakoutPhase {
    /// Groups exist and students are assigned, but everyone is still in the main room.
    Planning,
    /// Everyone assigned is in their group.
    Running,
    /// The countdown before everyone is back in the main room.
    Recalling,
}

/// What a browser may send about breakouts. Everything but `chooseBreakout` is for teachers; the hub
/// refuses the rest with `forbidden`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum BreakoutCommand {
    /// A new round of `groups` groups (named "Group 1"… unless `names` are given, one per group).
    /// Refused while a round is on. `durationSecs`: the timer, started by `startBreakouts`, whose
    /// end recalls everyone. `recallSecs`: the countdown of a recall (default
    /// [`DEFAULT_RECALL_SECS`]).
    CreateBreakouts {
        groups: u32,
        #[serde(default)]
        names: Option<Vec<String>>,
        #[serde(default)]
        assignment: Assignment,
        #[serde(default)]
        duration_secs: Option<u32>,
        #[serde(default)]
        recall_secs: Option<u32>,
    },
    /// Puts a student in a group (`null`: back to the main room). While the round runs they move
    /// at once.
    AssignBreakout { participant_id: ParticipantId, group: Option<GroupId> },
    /// A student picks a group (`null`: none), when the round's assignment is `choose`.
    ChooseBreakout { group: Option<GroupId> },
    /// Everyone assigned goes to their group; the timer starts.
    StartBreakouts,
    /// The teacher goes to a group (`null`: back to the main room).
    VisitBreakout { group: Option<GroupId> },
    /// The physical classroom (the box and the room display) goes to a group (`null`: back to the
    /// main room, where it starts).
    MoveClassroom { group: Option<GroupId> },
    /// A message to every group and the main room.
    BroadcastBreakouts { text: String },
    /// Everyone back after a countdown (`recallSecs`, else the round's). Before the round started
    /// it is simply discarded.
    RecallBreakouts {
        #[serde(default)]
        recall_secs: Option<u32>,
    },
}

/// One group as every participant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub id: GroupId,
    pub name: String,
    /// Students assigned and present.
    pub members: Vec<ParticipantId>,
    /// Teachers visiting it now.
    pub visitors: Vec<ParticipantId>,
}

/// A round as one participant sees it (`assigned` and `location` are theirs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakoutView {
    /// Numbered from 1 within the lesson.
    pub round: u32,
    pub phase: BreakoutPhase,
    pub assignment: Assignment,
    pub groups: Vec<GroupView>,
    /// Students present and in no group.
    pub unassigned: Vec<ParticipantId>,
    /// Where the physical classroom (the box and the room display) is.
    pub classroom: Option<GroupId>,
    /// The group you are assigned to.
    pub assigned: Option<GroupId>,
    /// The group you are in now (`null`: the main room).
    pub location: Option<GroupId>,
    /// The timer: unix ms at its end, and the time left when this was sent (for clocks that differ).
    pub ends_at: Option<u64>,
    pub remaining_ms: Option<u64>,
    /// Recalling: unix ms when everyone is back, and the time left when this was sent.
    pub recall_at: Option<u64>,
    pub recall_in_ms: Option<u64>,
    /// The countdown a recall uses, in seconds.
    pub recall_secs: u32,
}

/// What the hub tells browsers about breakouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum BreakoutEvent {
    /// The round changed (or you joined during one); `null`: no round (everyone is in the main room).
    BreakoutsChanged { breakouts: Option<BreakoutView> },
    /// You are now in this space (`group` `null`: the main room): its chat so far. Its whiteboard
    /// and notes follow as `boardPolicy` and `boardSync` with `reset`.
    BreakoutSpace { group: Option<GroupId>, name: String, chat: Vec<ChatMessage> },
    /// A teacher's message to every group.
    BreakoutBroadcast { text: String, from_name: String, sent_at: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_follow_the_wire_contract() {
        let c: BreakoutCommand =
            serde_json::from_str(r#"{"type":"createBreakouts","groups":3,"assignment":"random","durationSecs":600}"#)
                .unwrap();
        assert_eq!(
            c,
            BreakoutCommand::CreateBreakouts {
                groups: 3,
                names: None,
                assignment: Assignment::Random,
                duration_secs: Some(600),
                recall_secs: None
            }
        );
        let c: BreakoutCommand =
            serde_json::from_str(r#"{"type":"assignBreakout","participantId":4,"group":2}"#).unwrap();
        assert_eq!(c, BreakoutCommand::AssignBreakout { participant_id: ParticipantId(4), group: Some(GroupId(2)) });
        let c: BreakoutCommand = serde_json::from_str(r#"{"type":"visitBreakout","group":null}"#).unwrap();
        assert_eq!(c, BreakoutCommand::VisitBreakout { group: None });
        assert!(serde_json::from_str::<BreakoutCommand>(r#"{"type":"createBreakouts","groups":-1}"#).is_err());
        assert!(serde_json::from_str::<BreakoutCommand>(r#"{"type":"createBreakouts","groups":2,"x":1}"#).is_err());
        assert!(serde_json::from_str::<BreakoutCommand>(r#"{"type":"chooseBreakout","group":"one"}"#).is_err());
    }

    #[test]
    fn events_serialize_camel_case() {
        let e = BreakoutEvent::BreakoutBroadcast { text: "2 min".into(), from_name: "T".into(), sent_at: 5 };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"breakoutBroadcast","text":"2 min","fromName":"T","sentAt":5}"#
        );
        let e = BreakoutEvent::BreakoutsChanged { breakouts: None };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"type":"breakoutsChanged","breakouts":null}"#);
    }
}
