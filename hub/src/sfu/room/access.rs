//! Sessions end when their credential does: a revoked `jti` at once, an expired token at its
//! expiry plus the grace period (see [`Access::ends_at`](crate::sfu::Access)), and whoever still
//! waits in the lobby of a room nobody came to, with the room.

use std::time::{Duration, Instant};

use lectern_proto::ParticipantId;
use lectern_proto::signal::{ErrorCode, ServerMsg};

use super::{EMPTY_ROOM_KEPT, Room, RoomOutput};
use crate::sfu::command::Ident;
use crate::sfu::peer_table::PeerTable;
use crate::time::Now;

/// The furthest ahead a session's end is scheduled; past it, it is scheduled again.
const LOOK_AGAIN_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a session was ended, as the participant is told.
const REVOKED: &str = "your access to this lesson was revoked";
const EXPIRED: &str = "your link to this lesson has expired: ask your teacher for a new one";
const NOBODY_CAME: &str = "nobody has started this lesson for an hour: try again later";

impl Room {
    /// The token `jti` was revoked: every session opened with it ends now (admitted or waiting).
    pub fn end_access(&mut self, peers: &mut PeerTable, jti: &str, now: Now) {
        let gone = self.sessions_where(|i| i.access.jti == jti);
        if !gone.is_empty() {
            tracing::info!(room = %self.id, sessions = gone.len(), "ending the sessions of a revoked token");
        }
        self.end_sessions(peers, &gone, ErrorCode::Unauthorized, REVOKED, now);
    }

    /// Remembers when `ident`'s session must end (see [`expire_sessions`](Self::expire_sessions)).
    pub(super) fn note_session_end(&mut self, ident: &Ident, now: Now) {
        let Some(at) = ident.access.ends_at else { return };
        // A far end (a box's ten-year credential) is looked at again in a while, not added to the
        // clock whole: an `Instant` that far out may not exist.
        let secs = at.saturating_sub(now.unix_secs()).min(LOOK_AGAIN_AFTER.as_secs());
        let Some(due) = now.mono.checked_add(Duration::from_secs(secs)) else { return };
        self.session_deadline = Some(self.session_deadline.map_or(due, |d| d.min(due)));
    }

    /// Ends the sessions whose token expired longer ago than the grace period; and once the room
    /// has been empty long enough to go, the lobby's too (nobody will admit them).
    pub(super) fn expire_sessions(&mut self, peers: &mut PeerTable, now: Now) {
        if self.participants.is_empty() && self.empty_since.is_none() {
            // A room made by a join that was refused or is still waiting: it is empty from now.
            self.empty_since = Some(now.mono);
        }
        if self.is_expired(now.mono) && !self.waiting.is_empty() {
            let waiting: Vec<ParticipantId> = self.waiting.keys().copied().collect();
            self.end_sessions(peers, &waiting, ErrorCode::Conflict, NOBODY_CAME, now);
        }
        if self.session_deadline.is_none_or(|d| now.mono < d) {
            return;
        }
        self.session_deadline = None;
        let unix = now.unix_secs();
        let gone = self.sessions_where(|i| i.access.ends_at.is_some_and(|t| t <= unix));
        self.end_sessions(peers, &gone, ErrorCode::Unauthorized, EXPIRED, now);
        let idents: Vec<Ident> =
            self.participants.values().map(|p| p.ident.clone()).chain(self.waiting.values().cloned()).collect();
        for ident in &idents {
            self.note_session_end(ident, now);
        }
    }

    /// When [`expire_sessions`](Self::expire_sessions) next has something to do.
    pub(super) fn session_deadline(&self) -> Option<Instant> {
        let room_goes = (!self.waiting.is_empty()).then_some(self.empty_since).flatten().map(|t| t + EMPTY_ROOM_KEPT);
        self.session_deadline.into_iter().chain(room_goes).min()
    }

    fn sessions_where(&self, pick: impl Fn(&Ident) -> bool) -> Vec<ParticipantId> {
        let admitted = self.participants.values().map(|p| &p.ident);
        admitted.chain(self.waiting.values()).filter(|i| pick(i)).map(|i| i.participant).collect()
    }

    /// Tells each of `ids` why (browsers) and ends their session.
    fn end_sessions(&mut self, peers: &mut PeerTable, ids: &[ParticipantId], code: ErrorCode, why: &str, now: Now) {
        for &id in ids {
            let browser = self.participants.get(&id).is_none_or(|p| p.is_browser());
            if browser {
                self.signal(id, ServerMsg::Error { code, message: why.to_owned(), fatal: true });
            }
            let waiting = self.waiting.remove(&id).is_some();
            if waiting {
                self.classroom_left(peers, id, now);
                self.emit(RoomOutput::SessionEnded(self.id.clone(), id));
            } else {
                let _ = self.remove_participant(peers, id, now);
            }
        }
    }
}
