//! Why a classroom command was refused. A refused command changed nothing.

use lectern_proto::ParticipantId;
use lectern_proto::classroom::{ChatMessageId, PollId};
use lectern_proto::signal::ErrorCode;

use super::text::TextError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassroomError {
    /// The actor's role may not do this; the message says who may.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// Commands come only from admitted participants, not from the lobby.
    #[error("you are not in the room yet")]
    NotInRoom,
    #[error("participant {0} is not in this room")]
    UnknownParticipant(ParticipantId),
    #[error("there is no poll {}", .0.0)]
    UnknownPoll(PollId),
    #[error("the poll is closed")]
    PollClosed,
    #[error("there is no chat message {}", .0.0)]
    UnknownMessage(ChatMessageId),
    #[error("{0}")]
    InvalidInput(&'static str),
    /// Valid, but not now (e.g. a second screen share, a second open poll).
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many requests; slow down")]
    RateLimited,
    #[error("the lesson has ended")]
    LessonEnded,
}

impl ClassroomError {
    /// The code for `ServerMsg::Error`; none of these is fatal to the connection.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClassroomError::NotAllowed(_) | ClassroomError::NotInRoom => ErrorCode::Forbidden,
            ClassroomError::UnknownParticipant(_)
            | ClassroomError::UnknownPoll(_)
            | ClassroomError::UnknownMessage(_)
            | ClassroomError::InvalidInput(_) => ErrorCode::BadRequest,
            // ErrorCode has no "too many requests" yet; Conflict tells the browser to back off and retry.
            ClassroomError::PollClosed
            | ClassroomError::Conflict(_)
            | ClassroomError::RateLimited
            | ClassroomError::LessonEnded => ErrorCode::Conflict,
        }
    }

    /// Maps a [`TextError`] with messages for the field that was typed.
    pub(super) fn text(err: TextError, empty: &'static str, too_long: &'static str) -> Self {
        match err {
            TextError::Empty => ClassroomError::InvalidInput(empty),
            TextError::TooLong => ClassroomError::InvalidInput(too_long),
        }
    }
}
