//! The room's lesson occurrence (see [`crate::recording::LessonRun`]): opened by the first
//! admission, closed by a teacher, the API, the timetable or [`EMPTY_ENDS_LESSON`] of an empty room (timed on the room's own
//! `empty_since`, so simulated time drives it in tests), each
//! change handed to the store. The lesson's id is what whiteboards and recordings key on.

use std::time::Instant;

use lectern_proto::device::HubMsg;
use lectern_proto::{LessonId, ParticipantId, Role};

use super::{Room, RoomOutput};
use crate::recording::{EMPTY_ENDS_LESSON, EndReason, LessonChange};
use crate::sfu::peer_table::PeerTable;
use crate::store::StoreEvent;
use crate::time::Now;

impl Room {
    /// The current lesson's id (`None` until someone was admitted).
    pub fn lesson_id(&self) -> Option<&LessonId> {
        self.classroom.lesson().id()
    }

    /// Whether the lesson is being recorded now.
    pub fn is_recording(&self) -> bool {
        self.classroom.is_recording()
    }

    /// Before deciding about a newcomer: a lesson closed because the room stayed empty is over,
    /// and whoever comes next starts the next one (a lesson a teacher ended waits for a teacher,
    /// as before).
    pub(super) fn next_lesson_if_closed(&mut self) {
        if self.classroom.lesson().is_closed() && !self.classroom.is_ended() {
            self.classroom = self.classroom.next_lesson();
        }
    }

    /// Someone was admitted: the lesson starts if it had not (and its recording, under the
    /// `always` policy). A box joining a recorded lesson is told to record.
    pub(super) fn lesson_admitted(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Now) {
        let change = self.classroom.lesson_mut().on_admitted(&self.id, now.unix_ms);
        let started = change.is_some();
        self.lesson_changed(change);
        // During breakouts, everyone's view of the groups gains the newcomer.
        let views = self.classroom.breakout_views(now.unix_ms, Some(pid));
        self.deliver(peers, views, now);
        if started {
            let outbound = self.classroom.recording_at_start();
            self.deliver(peers, outbound, now);
        } else if self.classroom.is_recording()
            && self.participants.get(&pid).is_some_and(|p| p.role() == Role::Device)
            && let Some(lesson) = self.lesson_id().cloned()
        {
            self.emit(RoomOutput::Device(self.id.clone(), HubMsg::Record { lesson, on: true }));
        }
    }

    /// Recording started or stopped: the room's box is told, the switch audited (the store).
    pub(super) fn recording_switched(&mut self, on: bool, by: Option<ParticipantId>, now: Now) {
        let Some(lesson) = self.lesson_id().cloned() else { return };
        if !on {
            self.stop_recording_all();
        }
        let by = by.and_then(|id| self.participants.get(&id)).map(|p| p.ident.name.clone());
        tracing::info!(room = %self.id, %lesson, on, by = by.as_deref().unwrap_or("policy"), "recording switched");
        self.emit(RoomOutput::Device(self.id.clone(), HubMsg::Record { lesson: lesson.clone(), on }));
        self.emit(RoomOutput::Store(StoreEvent::Recording { lesson, on, by, at: now.unix_ms }));
    }

    /// When [`lesson_timeout`](Self::lesson_timeout) closes the lesson of a room that stays
    /// empty: [`EMPTY_ENDS_LESSON`] after the last person left.
    pub(super) fn lesson_deadline(&self) -> Option<Instant> {
        let since = self.empty_since.filter(|_| self.classroom.lesson().is_open())?;
        since.checked_add(EMPTY_ENDS_LESSON)
    }

    /// Time passed: an empty room's lesson closes.
    pub(super) fn lesson_timeout(&mut self, peers: &mut PeerTable, now: Now) {
        if self.lesson_deadline().is_none_or(|d| now.mono < d) {
            return;
        }
        tracing::info!(room = %self.id, "the room stayed empty: its lesson is over");
        let change = self.classroom.lesson_mut().end(now.unix_ms, EndReason::Empty);
        self.lesson_changed(change);
        let outbound = self.classroom.recording_at_end();
        self.deliver(peers, outbound, now);
    }

    /// A teacher's `endLesson` was applied: the occurrence closes (unless the API or timetable
    /// closed it first, with their reason).
    pub(super) fn lesson_ended_by_teacher(&mut self, peers: &mut PeerTable, now: Now) {
        let change = self.classroom.lesson_mut().end(now.unix_ms, EndReason::Teacher);
        self.lesson_changed(change);
        let outbound = self.classroom.recording_at_end();
        self.deliver(peers, outbound, now);
    }

    /// Ends the lesson from outside the class (`POST /api/rooms/{room}/end`, the timetable), as a
    /// teacher's `endLesson` would: everyone is told and disconnected. False if no lesson was on.
    pub fn end_lesson(&mut self, peers: &mut PeerTable, reason: EndReason, now: Now) -> bool {
        let change = self.classroom.lesson_mut().end(now.unix_ms, reason);
        let was_open = change.is_some();
        self.lesson_changed(change);
        let outbound = self.classroom.end_now(now.unix_ms);
        let ended_now = !outbound.is_empty();
        self.deliver(peers, outbound, now);
        was_open || ended_now
    }

    fn lesson_changed(&mut self, change: Option<LessonChange>) {
        let Some(change) = change else { return };
        if let LessonChange::Started { lesson, .. } = &change {
            tracing::info!(room = %self.id, %lesson, "lesson started");
        }
        self.emit(RoomOutput::Store(StoreEvent::Lesson(change)));
    }
}
