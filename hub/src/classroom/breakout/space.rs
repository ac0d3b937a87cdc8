//! A group's own chat, whiteboard and notes, and what is kept of them when the round is over.
//! The rules are the lesson's (chat.rs, whiteboard.rs): a group's space stands in for the lesson's
//! while a command of someone in that group runs (see [`super`]).

use std::collections::BTreeMap;

use lectern_proto::board::DocKind;
use lectern_proto::breakout::GroupId;
use lectern_proto::classroom::ChatMessage;
use lectern_proto::{ParticipantId, Role};
use serde::Serialize;

use crate::classroom::chat::Chat;
use crate::classroom::whiteboard::Board;

#[derive(Debug, Clone, PartialEq)]
pub struct Space {
    pub chat: Chat,
    pub board: Board,
}

impl Default for Space {
    /// A group works together: everyone in it may draw, unlike the lesson's board.
    fn default() -> Self {
        Self { chat: Chat::default(), board: Board::open_to_all() }
    }
}

/// A group's space as kept with the lesson (keyed by the lesson, the round and the group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptSpace {
    pub round: u32,
    pub group: GroupId,
    pub name: String,
    /// Every message, private ones included (as the lesson's chat is kept).
    pub chat: Vec<ChatMessage>,
    /// The whiteboard and the notes, each the whole Yjs document (v1).
    pub board: Vec<u8>,
    pub notes: Vec<u8>,
    pub notes_text: String,
}

impl KeptSpace {
    pub fn of(round: u32, group: GroupId, name: &str, space: &Space) -> Self {
        Self {
            round,
            group,
            name: name.to_owned(),
            chat: space.chat.all(),
            board: space.board.doc(DocKind::Board).state(),
            notes: space.board.doc(DocKind::Notes).state(),
            notes_text: space.board.doc(DocKind::Notes).text("notes"),
        }
    }
}

/// Time one person spent in one group (attendance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupTime {
    pub round: u32,
    pub group: GroupId,
    pub name: String,
    pub total_ms: u64,
}

/// Who was in which group for how long, per identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupLog {
    /// Connections in a group now: their identity, round, group and since when (unix ms).
    open: BTreeMap<ParticipantId, (String, u32, GroupId, u64)>,
    /// (identity, round, group) → (group name, time so far).
    totals: BTreeMap<(String, u32, GroupId), (String, u64)>,
}

impl GroupLog {
    /// `id` (of `subject`) is now in `to` (`None`: the main room, or gone).
    pub fn moved(&mut self, now: u64, id: ParticipantId, subject: &str, to: Option<(u32, GroupId, &str)>) {
        if let Some((subject, round, group, since)) = self.open.remove(&id)
            && let Some(total) = self.totals.get_mut(&(subject, round, group))
        {
            total.1 += now.saturating_sub(since);
        }
        if let Some((round, group, name)) = to {
            self.totals.entry((subject.to_owned(), round, group)).or_insert_with(|| (name.to_owned(), 0));
            self.open.insert(id, (subject.to_owned(), round, group, now));
        }
    }

    /// Each identity's time per group, open stays counted up to `now`. Only people (not the box).
    pub fn report(&self, now: u64) -> BTreeMap<String, Vec<GroupTime>> {
        let mut out: BTreeMap<String, Vec<GroupTime>> = BTreeMap::new();
        for ((subject, round, group), (name, ms)) in &self.totals {
            let open: u64 = self
                .open
                .values()
                .filter(|(s, r, g, _)| s == subject && r == round && g == group)
                .map(|(_, _, _, since)| now.saturating_sub(*since))
                .max()
                .unwrap_or(0);
            let row = GroupTime { round: *round, group: *group, name: name.clone(), total_ms: ms + open };
            out.entry(subject.clone()).or_default().push(row);
        }
        out
    }
}

/// Whether a role's time in groups is attendance (students and teachers, not the box).
pub fn counts(role: Role) -> bool {
    matches!(role, Role::Student | Role::Teacher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_per_group_adds_up_across_moves_and_counts_open_stays_to_now() {
        let mut log = GroupLog::default();
        let (ada, g1, g2) = (ParticipantId(2), GroupId(1), GroupId(2));
        log.moved(1_000, ada, "ada", Some((1, g1, "Owls")));
        log.moved(61_000, ada, "ada", Some((1, g2, "Foxes")));
        log.moved(91_000, ada, "ada", Some((1, g1, "Owls")));
        let r = log.report(101_000);
        let rows = &r["ada"];
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].name.as_str(), rows[0].total_ms), ("Owls", 70_000));
        assert_eq!((rows[1].name.as_str(), rows[1].total_ms), ("Foxes", 30_000));
        log.moved(111_000, ada, "ada", None);
        assert_eq!(log.report(999_000)["ada"][0].total_ms, 80_000, "closed: no longer counting");
    }
}
