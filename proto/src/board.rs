//! The whiteboard and the shared notes on the `/rtc` WebSocket: two CRDT documents per lesson
//! (Yjs updates, lib0 v1 encoding, base64 in JSON), synced through the hub, which applies every
//! update to its own copy first and forwards only what it accepted. `type` values do not collide
//! with [`crate::signal`] or [`crate::classroom`].

use serde::{Deserialize, Serialize};

use crate::ParticipantId;

/// Largest Yjs update a browser may send, in bytes once base64-decoded (a long stroke is a few
/// KiB). Its base64 fits well inside the socket's `MAX_MESSAGE_BYTES`.
pub const MAX_UPDATE_BYTES: usize = 32 * 1024;
/// Largest a lesson's document may grow to (its encoded state), whiteboard and notes each.
pub const MAX_DOC_BYTES: usize = 8 * 1024 * 1024;

/// Which of the lesson's two documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocKind {
    /// Pages of strokes, shapes and text (`Y.Array` `pages` of `Y.Map`s).
    Board,
    /// One `Y.Text` named `notes`.
    Notes,
}

/// Who may draw on the whiteboard. Teachers always may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BoardMode {
    /// Teachers only.
    #[default]
    Locked,
    /// Every teacher and student (not viewers, not the room display).
    Everyone,
    /// Teachers and the one student holding the pen.
    Pen,
}

/// What a browser may send about the board and the notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum BoardCommand {
    /// A Yjs update (v1) of one document, base64 (standard alphabet, padded).
    BoardUpdate { doc: DocKind, update: String },
    /// Asks for the whole document again (`boardSync` with `reset`), e.g. after a refused update
    /// that no sync followed. A few every couple of seconds at most.
    BoardResync { doc: DocKind },
    /// Teachers only. `participantId` names the student given the pen (mode `pen` only).
    SetBoardMode {
        mode: BoardMode,
        #[serde(default)]
        participant_id: Option<ParticipantId>,
    },
    /// Teachers only: the notes become read-only for everyone else, or editable again.
    SetNotesReadOnly { read_only: bool },
    /// The laser pointer: where the sender points on a page, in board units (0..1 of the page's
    /// width and height). Goes to the others as it is; not kept.
    BoardPointer { page: u32, x: f32, y: f32 },
}

/// What the hub tells browsers about the board and the notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum BoardEvent {
    /// The whole document (a Yjs update from the empty state): on joining, and after a refusal
    /// (`reset`: drop the local copy, its refused changes were never accepted).
    BoardSync {
        doc: DocKind,
        update: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        reset: bool,
    },
    /// Changes another participant made, as the hub applied them.
    BoardUpdate {
        doc: DocKind,
        update: String,
        from: ParticipantId,
    },
    /// Who may change what; sent on joining and whenever a teacher changes it.
    BoardPolicy {
        mode: BoardMode,
        /// The student holding the pen (mode `pen`).
        pen: Option<ParticipantId>,
        notes_read_only: bool,
    },
    /// An update of yours was not applied (not forwarded either); a `boardSync` with `reset`
    /// follows, unless the hub sent you several in the last seconds: then ask with `boardResync`.
    BoardRefused {
        doc: DocKind,
        message: String,
    },
    BoardPointer {
        from: ParticipantId,
        page: u32,
        x: f32,
        y: f32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_events_follow_the_wire_contract() {
        let c: BoardCommand = serde_json::from_str(r#"{"type":"boardUpdate","doc":"notes","update":"AAA="}"#).unwrap();
        assert_eq!(c, BoardCommand::BoardUpdate { doc: DocKind::Notes, update: "AAA=".into() });
        let c: BoardCommand =
            serde_json::from_str(r#"{"type":"setBoardMode","mode":"pen","participantId":7}"#).unwrap();
        assert_eq!(c, BoardCommand::SetBoardMode { mode: BoardMode::Pen, participant_id: Some(ParticipantId(7)) });
        assert!(serde_json::from_str::<BoardCommand>(r#"{"type":"setBoardMode","mode":"all"}"#).is_err());
        assert!(serde_json::from_str::<BoardCommand>(r#"{"type":"boardUpdate","doc":"board"}"#).is_err());
        let e = BoardEvent::BoardSync { doc: DocKind::Board, update: "AAA=".into(), reset: false };
        assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"type":"boardSync","doc":"board","update":"AAA="}"#);
        let e = BoardEvent::BoardPolicy { mode: BoardMode::Everyone, pen: None, notes_read_only: true };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"boardPolicy","mode":"everyone","pen":null,"notesReadOnly":true}"#
        );
    }
}
