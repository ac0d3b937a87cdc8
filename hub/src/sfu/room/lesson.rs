//! Where the classroom state machines meet the media: joining through the lobby, delivering
//! classroom events to browsers, and enforcing what a teacher decides (mute, stop camera, remove,
//! end the lesson) on the forwarding path itself, not just in the UI.

use lectern_proto::board::BoardCommand;
use lectern_proto::breakout::BreakoutEvent;
use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, DenyReason};
use lectern_proto::device::HubMsg;
use lectern_proto::signal::{ErrorCode, MediaKind as WireKind, ServerMsg};
use lectern_proto::{ParticipantId, Role, TrackId};

use std::collections::BTreeMap;

use super::participant::{Participant, actor};
use super::{Room, RoomOutput};
use crate::classroom::{AdminSettings, Audience, Classroom, Effect, JoinDecision, Outbound};
use crate::sfu::command::{Ident, LessonReport, SfuError};
use crate::sfu::peer_table::PeerTable;
use crate::store::{BoardSave, BreakoutSave, SavedReport, StoreEvent};
use crate::time::Now;

impl Room {
    /// A browser asks to join: admitted, held in the lobby, or turned away (all told as signals).
    pub fn join_browser(&mut self, peers: &mut PeerTable, ident: Ident, now: Now) -> Result<(), SfuError> {
        if self.classroom.is_ended() && ident.role == Role::Teacher {
            // A teacher coming back to an ended lesson starts the next one.
            self.classroom = self.classroom.next_lesson();
        }
        self.next_lesson_if_closed();
        self.follow_admin(peers, &ident, now);
        let outcome = self.classroom.on_join_request(now.unix_ms, &actor(&ident));
        let pid = ident.participant;
        match outcome.decision {
            JoinDecision::Admit => self.admit_browser(peers, ident, now),
            JoinDecision::Wait(position) => {
                self.signal(pid, ServerMsg::Classroom(ClassroomEvent::Waiting { position }));
                if self.classroom.is_recording() {
                    // Told before they enter, as the join page shows it.
                    self.signal(pid, ServerMsg::Classroom(ClassroomEvent::RecordingChanged { recording: true }));
                }
                tracing::info!(room = %self.id, participant = %pid, position, "waiting in the lobby");
                self.note_session_end(&ident, now);
                self.waiting.insert(pid, ident);
            }
            JoinDecision::Deny(reason) => {
                // Its channel closes once this last message is sent.
                self.signal(pid, ServerMsg::Classroom(ClassroomEvent::Denied { reason }));
                self.emit(RoomOutput::SessionEnded(self.id.clone(), pid));
                tracing::info!(room = %self.id, participant = %pid, ?reason, "join refused");
            }
        }
        self.deliver(peers, outcome.outbound, now);
        Ok(())
    }

    /// A WHIP/WHEP client has no lobby to wait in: it is admitted or refused at once.
    pub(super) fn gate(&mut self, peers: &mut PeerTable, ident: &Ident, now: Now) -> Result<(), SfuError> {
        if self.classroom.is_ended() && ident.role == Role::Device {
            // The box publishes only when told to go live (the timetable's next slot, the panel,
            // the admin): that is the next lesson, as a teacher coming back is.
            self.classroom = self.classroom.next_lesson();
        }
        self.next_lesson_if_closed();
        self.follow_admin(peers, ident, now);
        let outcome = self.classroom.on_join_request(now.unix_ms, &actor(ident));
        match outcome.decision {
            JoinDecision::Admit => {
                self.deliver(peers, outcome.outbound, now);
                Ok(())
            }
            JoinDecision::Wait(_) => {
                self.classroom.on_left(now.unix_ms, ident.participant);
                Err(SfuError::Denied(DenyReason::RoomLocked))
            }
            JoinDecision::Deny(reason) => Err(SfuError::Denied(reason)),
        }
    }

    /// The web admin's settings of the room as the newcomer's join brought them (see
    /// [`crate::room_settings`]): the lesson follows a change before deciding about them.
    fn follow_admin(&mut self, peers: &mut PeerTable, ident: &Ident, now: Now) {
        let recording = ident.access.recording;
        self.recorder.students = ident.access.students;
        let settings = ident.access.room.map_or(AdminSettings { recording, ..Default::default() }, |r| AdminSettings {
            capacity: Some(r.capacity),
            everyone_waits: Some(r.everyone_waits),
            recording,
        });
        let outbound = self.classroom.follow_admin(now.unix_ms, settings);
        self.deliver(peers, outbound, now);
    }

    /// Makes a browser a participant: tells it who is here and what the lesson looks like, and
    /// starts sending it everyone's media.
    fn admit_browser(&mut self, peers: &mut PeerTable, ident: Ident, now: Now) {
        let pid = ident.participant;
        self.admit(Participant::new(ident), now);
        self.lesson_admitted(peers, pid, now);
        self.welcome(peers, pid, now);
    }

    /// A student starts with what the teacher's policy allows switched on, whatever the transport:
    /// a WHIP publisher has no `setMuted` to ask with, so it stays blocked until a teacher lets it.
    pub(super) fn start_blocked(&self, participant: &mut Participant) {
        if participant.role() == Role::Student {
            participant.audio_blocked = !self.classroom.may_unmute(participant.id());
            participant.video_blocked = !self.classroom.may_start_video(participant.id());
        }
    }

    /// Whether a packet of `owner`'s track (`kind`, a `screen` share or not) may leave the hub. A
    /// screen is the classroom's one share: only its current sharer's goes out (a teacher's stop
    /// ends it, and a student asks again, under the policy); the classroom box's slides go out
    /// unless a teacher stopped its video.
    /// (Of the room's `participants` and `classroom`: the packet path holds its track mutably.)
    pub(super) fn lets_through(
        participants: &BTreeMap<ParticipantId, Participant>,
        classroom: &Classroom,
        owner: ParticipantId,
        kind: str0m::media::MediaKind,
        screen: bool,
    ) -> bool {
        let Some(p) = participants.get(&owner) else { return false };
        if !screen {
            return !p.blocks(kind);
        }
        match p.role() {
            Role::Device => !p.video_blocked,
            _ => classroom.screen_sharer() == Some(owner),
        }
    }

    /// Refuses a publish offer with more tracks than a publisher or the room may have (see
    /// [`track_limit`](crate::sfu::track_limit)), before anything is built for it.
    pub(super) fn check_track_limits(
        &self,
        pid: ParticipantId,
        offer: &str0m::change::SdpOffer,
        screen_mid: Option<&str>,
    ) -> Result<(), SfuError> {
        let offered = crate::sfu::track_limit::Offered::of(&offer.to_sdp_string(), screen_mid);
        // A re-offer lists every m-line again: the publisher's own tracks are in it.
        let others = self.tracks.values().filter(|t| t.owner != pid).count();
        offered.check(others).map_err(|limit| {
            tracing::info!(room = %self.id, participant = %pid, %limit, "publish offer refused");
            SfuError::BadOffer(limit)
        })
    }

    /// Tells participant `pid` who is here and what the lesson looks like, and starts sending it
    /// everyone's media on a new subscribe connection.
    fn welcome(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Now) {
        self.greet(pid, now);
        if self.participants.get(&pid).is_some_and(|p| p.role().can_subscribe()) {
            let existing: Vec<TrackId> =
                self.tracks.iter().filter(|(_, t)| t.owner != pid).map(|(id, _)| *id).collect();
            for track in existing {
                self.add_down(peers, pid, track, now.mono);
            }
        }
    }

    /// `joined` and the classroom as it is now, to participant `pid`.
    fn greet(&mut self, pid: ParticipantId, now: Now) {
        let Some(participant) = self.participants.get(&pid) else { return };
        let joined = ServerMsg::Joined {
            participant_id: pid,
            room: self.id.clone(),
            role: participant.role(),
            name: participant.ident.name.clone(),
            participants: self.infos_except(pid),
            // Filled in by the socket task, which knows the configuration and the socket.
            ice_servers: Vec::new(),
            resume_key: None,
            resumed: false,
        };
        let actor = participant.actor();
        let snapshot = self.classroom.snapshot_for(&actor);
        self.signal(pid, joined);
        self.signal(pid, ServerMsg::Classroom(snapshot));
        // The whiteboard and the notes, whole: a late joiner sees everything drawn so far.
        for event in self.classroom.board_sync_for(&actor) {
            self.signal(pid, ServerMsg::Classroom(event));
        }
        // During breakouts: the round, and where this participant is in it.
        if let Some(view) = self.classroom.breakout_view(now.unix_ms, pid) {
            let event = BreakoutEvent::BreakoutsChanged { breakouts: Some(view) };
            self.signal(pid, ServerMsg::Classroom(ClassroomEvent::Breakout(event)));
        }
    }

    /// A browser participant came back on a new socket (its network changed): it keeps its place
    /// in the lesson and its media connections, which the page restarts ICE on. It is told again
    /// who is here and what the lesson looks like, and gets again a `subscribeOffer` still waiting
    /// for its answer (the first may have gone to the dead socket).
    pub fn reattach_browser(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Now) -> Result<(), SfuError> {
        let participant = self.participants.get(&pid).ok_or(SfuError::UnknownParticipant)?;
        if !participant.is_browser() {
            return Err(SfuError::UnknownParticipant);
        }
        let waiting = participant
            .subscribe
            .and_then(|k| peers.get(k))
            .and_then(|p| p.pending.as_ref().and(p.pending_offer.clone()));
        tracing::info!(room = %self.id, participant = %pid, "participant resumed on a new socket");
        self.greet(pid, now);
        if let Some(offer) = waiting {
            self.signal(pid, offer);
        }
        Ok(())
    }

    pub fn classroom_command(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        cmd: ClassroomCommand,
        now: Now,
    ) -> Result<(), SfuError> {
        let actor = self.participant(pid)?.actor();
        let drew = matches!(cmd, ClassroomCommand::Board(BoardCommand::BoardUpdate { .. }));
        let view_mode = self.classroom.policy().students_see_each_other;
        let outbound = self.classroom.handle(now.unix_ms, &actor, cmd)?;
        self.deliver(peers, outbound, now);
        if self.classroom.policy().students_see_each_other != view_mode {
            self.follow_view_mode(peers, now.mono);
        }
        if drew {
            self.save_board(now, false);
        }
        Ok(())
    }

    /// After the classroom changed: the breakout round's next deadline on the room's clock, and
    /// the spaces of a round that closed handed to the store.
    fn follow_breakouts(&mut self, now: Now) {
        self.breakout_deadline = self
            .classroom
            .breakout_deadline()
            .map(|at| now.mono + std::time::Duration::from_millis(at.saturating_sub(now.unix_ms)));
        self.keep_breakouts(now, false);
    }

    /// Time passed: the breakout timer's end starts the recall, the recall's end brings all back.
    pub(super) fn breakout_timeout(&mut self, peers: &mut PeerTable, now: Now) {
        if self.breakout_deadline.is_none_or(|d| now.mono < d) {
            return;
        }
        let outbound = self.classroom.breakout_tick(now.unix_ms);
        self.deliver(peers, outbound, now);
    }

    /// Hands breakout groups' chat, whiteboard and notes to the store: closed rounds' (once each),
    /// and with `all` the groups meeting now too.
    fn keep_breakouts(&mut self, now: Now, all: bool) {
        let kept = self.classroom.breakouts_to_keep(all);
        let Some(lesson) = self.classroom.lesson().id().cloned() else { return };
        for space in kept {
            let save = BreakoutSave { lesson: lesson.clone(), room: self.id.clone(), space, at: now.unix_ms };
            self.emit(RoomOutput::Store(StoreEvent::BreakoutSaved(Box::new(save))));
        }
    }

    /// Hands the lesson's whiteboard and notes to the store when they changed: `now_or_never` when
    /// the lesson ends or the room empties, else at most every
    /// [`SAVE_EVERY_MS`](crate::classroom::whiteboard::SAVE_EVERY_MS).
    fn save_board(&mut self, now: Now, now_or_never: bool) {
        if now_or_never {
            self.keep_breakouts(now, true);
        }
        let Some(lesson) = self.classroom.lesson().id().cloned() else { return };
        for (doc, state, text) in self.classroom.board_to_save(now.unix_ms, now_or_never) {
            let save = BoardSave { lesson: lesson.clone(), room: self.id.clone(), doc, state, text, at: now.unix_ms };
            self.emit(RoomOutput::Store(StoreEvent::BoardSaved(save)));
        }
    }

    /// A participant left (or was dropped from the lobby): the classroom records it.
    pub(super) fn classroom_left(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Now) {
        let outbound = self.classroom.on_left(now.unix_ms, pid);
        self.deliver(peers, outbound, now);
    }

    /// Hands the lesson's exports to the store (the room emptied or the lesson ended).
    pub(super) fn save_lesson(&mut self, now: Now) {
        self.save_board(now, true);
        let r = self.lesson_report(now);
        let report = SavedReport {
            attendance_csv: r.attendance.to_csv(),
            attendance_json: serde_json::to_string(&r.attendance).unwrap_or_default(),
            polls_csv: r.polls.iter().map(|p| p.to_csv()).collect::<Vec<_>>().join("\n"),
            polls_json: serde_json::to_string(&r.polls).unwrap_or_default(),
        };
        self.emit(RoomOutput::Store(StoreEvent::LessonSaved { room: self.id.clone(), at: now.unix_secs(), report }));
    }

    pub fn lesson_report(&self, now: Now) -> LessonReport {
        LessonReport {
            attendance: self.classroom.attendance_report(now.unix_ms),
            polls: self.classroom.poll_reports(),
            notes: self.classroom.board().doc(lectern_proto::board::DocKind::Notes).text("notes"),
            files: self.classroom.file_gate(),
        }
    }

    /// Sends events and applies effects, in the order the classroom gave them.
    pub(super) fn deliver(&mut self, peers: &mut PeerTable, outbound: Vec<Outbound>, now: Now) {
        for item in outbound {
            match item {
                Outbound::Event { to, event } => self.send_event(to, event, now),
                Outbound::Effect(effect) => self.apply(peers, effect, now),
            }
        }
        self.settle_lobby();
        self.follow_breakouts(now);
    }

    /// The one place the lobby's joining data follows the classroom's lobby: whoever the
    /// classroom no longer holds there (gave up, removed, lesson ended) and was not admitted is
    /// gone, and their session ends.
    fn settle_lobby(&mut self) {
        let classroom = &self.classroom;
        let (kept, gone): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(id, _)| classroom.is_waiting(*id));
        self.waiting = kept.into_iter().collect();
        for (id, _) in gone {
            self.emit(RoomOutput::SessionEnded(self.id.clone(), id));
        }
    }

    fn send_event(&mut self, to: Audience, event: ClassroomEvent, now: Now) {
        self.record(&event, to, now);
        for id in self.classroom.recipients(&to) {
            if self.participants.contains_key(&id) || self.waiting.contains_key(&id) {
                self.signal(id, ServerMsg::Classroom(event.clone()));
            }
        }
        match (&event, to) {
            (ClassroomEvent::PolicyChanged { .. }, _) => self.answer_for_silent_publishers(None),
            (ClassroomEvent::UnmuteRequested, Audience::One(id)) => self.answer_for_silent_publishers(Some(id)),
            _ => {}
        }
    }

    /// A student publishing by WHIP has no `setMuted` to answer a teacher with: when the policy
    /// changes or a teacher asks them to unmute, what is now allowed is switched on for them, as a
    /// page would on the student's click. A teacher's later mute holds until the next such moment.
    fn answer_for_silent_publishers(&mut self, only: Option<ParticipantId>) {
        let silent: Vec<(ParticipantId, bool, bool)> = self
            .participants
            .values()
            .filter(|p| !p.is_browser() && p.role() == Role::Student && only.is_none_or(|id| id == p.id()))
            .map(|p| (p.id(), p.audio_blocked, p.video_blocked))
            .collect();
        for (id, audio, video) in silent {
            if audio && self.classroom.may_unmute(id) {
                self.set_muted(id, WireKind::Audio, false);
            }
            if video && self.classroom.may_start_video(id) {
                self.set_muted(id, WireKind::Video, false);
            }
        }
    }

    /// Chat is kept in the database as it happens (the lesson's record outlives the hub process);
    /// the classroom box shows the hand queue and the lobby on the room's screen.
    fn record(&mut self, event: &ClassroomEvent, to: Audience, now: Now) {
        let device = match event {
            ClassroomEvent::HandsChanged { hands } => {
                Some(HubMsg::Hands { names: hands.iter().map(|h| h.name.clone()).collect() })
            }
            ClassroomEvent::LobbyChanged { waiting } => {
                Some(HubMsg::Lobby { names: waiting.iter().map(|w| w.name.clone()).collect() })
            }
            _ => None,
        };
        if let Some(msg) = device {
            self.emit(RoomOutput::Device(self.id.clone(), msg));
        }
        let store = match event {
            // A breakout group's chat is kept with the group (see `keep_breakouts`).
            ClassroomEvent::Chat { message } if self.classroom.location_of(message.from).is_some() => return,
            ClassroomEvent::ChatDeleted { .. } if matches!(to, Audience::Space(Some(_))) => return,
            ClassroomEvent::Chat { message } => StoreEvent::Chat { room: self.id.clone(), message: message.clone() },
            ClassroomEvent::ChatDeleted { message_id } => {
                StoreEvent::ChatDeleted { room: self.id.clone(), message_id: message_id.0, at: now.unix_ms }
            }
            _ => return,
        };
        self.emit(RoomOutput::Store(store));
    }

    fn apply(&mut self, peers: &mut PeerTable, effect: Effect, now: Now) {
        match effect {
            Effect::Admit(id) => {
                if let Some(ident) = self.waiting.remove(&id) {
                    self.admit_browser(peers, ident, now);
                }
            }
            Effect::MuteAudio(id) => self.block(id, WireKind::Audio),
            Effect::StopVideo(id) => self.block(id, WireKind::Video),
            Effect::StopScreenShare(id) => self.drop_screen(peers, id),
            // Events queued before the kick (e.g. `removed`) are already on their way.
            Effect::Kick(id) => {
                let _ = self.remove_participant(peers, id, now);
            }
            Effect::Recording { on, by } => self.recording_switched(on, by, now),
            Effect::Regroup => self.follow_view_mode(peers, now.mono),
            Effect::EndLesson => {
                self.lesson_ended_by_teacher(peers, now);
                self.save_lesson(now);
                let everyone: Vec<ParticipantId> =
                    self.participants.keys().chain(self.waiting.keys()).copied().collect();
                for id in everyone {
                    let _ = self.remove_participant(peers, id, now);
                }
            }
        }
    }

    /// Stops forwarding a participant's audio or camera and tells the room it is off.
    fn block(&mut self, id: ParticipantId, kind: WireKind) {
        let Some(p) = self.participants.get_mut(&id) else { return };
        match kind {
            WireKind::Audio => (p.audio_blocked, p.audio_muted) = (true, true),
            WireKind::Video => (p.video_blocked, p.video_muted) = (true, true),
        }
        self.broadcast(id, &ServerMsg::TrackMuted { participant_id: id, kind, muted: true });
    }

    /// The student asked to switch a mic/camera on or off; a teacher's block lifts only when allowed.
    pub fn set_muted(&mut self, id: ParticipantId, kind: WireKind, muted: bool) {
        let allowed = match kind {
            WireKind::Audio => self.classroom.may_unmute(id),
            WireKind::Video => self.classroom.may_start_video(id),
        };
        let Some(p) = self.participants.get_mut(&id) else { return };
        let is_student = p.role() == Role::Student;
        if !muted && is_student && !allowed {
            let message = format!("the teacher has not allowed you to turn your {} on", kind_name(kind));
            self.signal(id, ServerMsg::Error { code: ErrorCode::Forbidden, message, fatal: false });
            return;
        }
        // Muting oneself never lifts a teacher's block; only an allowed unmute does.
        let (flag, blocked) = match kind {
            WireKind::Audio => (&mut p.audio_muted, &mut p.audio_blocked),
            WireKind::Video => (&mut p.video_muted, &mut p.video_blocked),
        };
        if !muted {
            *blocked = false;
        }
        if *flag == muted {
            return; // nothing changed: no duplicate event
        }
        *flag = muted;
        self.broadcast(id, &ServerMsg::TrackMuted { participant_id: id, kind, muted });
    }

    /// Ends a participant's screen share: its m-lines are stopped for everyone.
    fn drop_screen(&mut self, peers: &mut PeerTable, id: ParticipantId) {
        let gone: Vec<TrackId> =
            self.tracks.iter().filter(|(_, t)| t.owner == id && t.screen).map(|(t, _)| *t).collect();
        for t in &gone {
            self.tracks.remove(t);
        }
        self.unsubscribe(peers, &gone);
    }
}

fn kind_name(kind: WireKind) -> &'static str {
    match kind {
        WireKind::Audio => "microphone",
        WireKind::Video => "camera",
    }
}
