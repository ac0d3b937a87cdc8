//! Where the classroom state machines meet the media: joining through the lobby, delivering
//! classroom events to browsers, and enforcing what a teacher decides (mute, stop camera, remove,
//! end the lesson) on the forwarding path itself, not just in the UI.

use std::time::Instant;

use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, DenyReason};
use lectern_proto::signal::{MediaKind as WireKind, ServerMsg};
use lectern_proto::{ParticipantId, Role, RoomId, TrackId};
use tokio::sync::mpsc;

use super::command::{Ident, LessonReport, SfuError};
use super::core::ShardCore;
use super::room::Member;
use crate::classroom::{Audience, Effect, JoinDecision, Outbound};
use crate::token::unix_ms;

impl ShardCore {
    /// A browser asks to join: admitted, held in the lobby, or turned away (all told on `events`).
    pub(super) fn join_browser(
        &mut self,
        ident: Ident,
        events: mpsc::UnboundedSender<ServerMsg>,
        now: Instant,
    ) -> Result<(), SfuError> {
        let room_id = ident.room.clone();
        let member = Member::new(ident, Some(events));
        let room = self.rooms.entry(room_id.clone()).or_default();
        if room.classroom.is_ended() && member.ident.role == Role::Teacher {
            // A teacher coming back to an ended lesson starts the next one.
            room.classroom = room.classroom.next_lesson();
        }
        let outcome = room.classroom.on_join_request(unix_ms(), &member.actor());
        let pid = member.ident.participant;
        match outcome.decision {
            JoinDecision::Admit => self.admit_browser(member, now),
            JoinDecision::Wait(position) => {
                member.send(ServerMsg::Classroom(ClassroomEvent::Waiting { position }));
                tracing::info!(room = %room_id, participant = %pid, position, "waiting in the lobby");
                room.waiting.insert(pid, member);
            }
            JoinDecision::Deny(reason) => {
                // Dropping `member` closes its event channel once this last message is sent.
                member.send(ServerMsg::Classroom(ClassroomEvent::Denied { reason }));
                tracing::info!(room = %room_id, participant = %pid, ?reason, "join refused");
            }
        }
        self.deliver(&room_id, outcome.outbound, now);
        Ok(())
    }

    /// A WHIP/WHEP client has no lobby to wait in: it is admitted or refused at once.
    pub(super) fn gate(&mut self, ident: &Ident, now: Instant) -> Result<(), SfuError> {
        let room_id = ident.room.clone();
        let actor = Member::new(ident.clone(), None).actor();
        let room = self.rooms.entry(room_id.clone()).or_default();
        let outcome = room.classroom.on_join_request(unix_ms(), &actor);
        match outcome.decision {
            JoinDecision::Admit => {
                self.deliver(&room_id, outcome.outbound, now);
                Ok(())
            }
            JoinDecision::Wait(_) => {
                room.classroom.on_left(unix_ms(), ident.participant);
                Err(SfuError::Denied(DenyReason::RoomLocked))
            }
            JoinDecision::Deny(reason) => Err(SfuError::Denied(reason)),
        }
    }

    /// Makes a browser a member: tells it who is here and what the lesson looks like, and starts
    /// sending it everyone's media.
    fn admit_browser(&mut self, mut member: Member, now: Instant) {
        let (room_id, pid) = (member.ident.room.clone(), member.ident.participant);
        let Some(room) = self.rooms.get(&room_id) else { return };
        if member.ident.role == Role::Student {
            member.audio_blocked = !room.classroom.may_unmute(pid);
            member.video_blocked = !room.classroom.may_start_video(pid);
        }
        member.send(ServerMsg::Joined {
            participant_id: pid,
            room: room_id.clone(),
            role: member.ident.role,
            name: member.ident.name.clone(),
            participants: room.infos_except(pid),
            ice_servers: Vec::new(), // filled in by the socket task, which knows the configuration
        });
        member.send(ServerMsg::Classroom(room.classroom.snapshot_for(&member.actor())));
        let can_subscribe = member.ident.role.can_subscribe();
        self.admit(member);
        if can_subscribe {
            let room = self.rooms.get(&room_id).expect("admit keeps the room");
            let existing: Vec<TrackId> =
                room.tracks.iter().filter(|(_, t)| t.owner != pid).map(|(id, _)| *id).collect();
            for track in existing {
                self.add_down(&room_id, pid, track, now);
            }
        }
    }

    pub(super) fn classroom_command(
        &mut self,
        room_id: &RoomId,
        pid: ParticipantId,
        cmd: ClassroomCommand,
        now: Instant,
    ) -> Result<(), SfuError> {
        let room = self.rooms.get_mut(room_id).ok_or(SfuError::UnknownParticipant)?;
        let actor = room.members.get(&pid).ok_or(SfuError::UnknownParticipant)?.actor();
        let outbound = room.classroom.handle(unix_ms(), &actor, cmd)?;
        self.deliver(room_id, outbound, now);
        Ok(())
    }

    /// A participant left (or was dropped from the lobby): the classroom records it.
    pub(super) fn classroom_left(&mut self, room_id: &RoomId, pid: ParticipantId, now: Instant) {
        let Some(room) = self.rooms.get_mut(room_id) else { return };
        room.waiting.remove(&pid);
        let outbound = room.classroom.on_left(unix_ms(), pid);
        self.deliver(room_id, outbound, now);
    }

    /// Hands the lesson's exports to the store (the room emptied or the lesson ended).
    pub(super) fn save_lesson(&self, room_id: &RoomId) {
        let (Some(store), Ok(r)) = (&self.store, self.lesson_report(room_id)) else { return };
        let report = crate::store::SavedReport {
            attendance_csv: r.attendance.to_csv(),
            attendance_json: serde_json::to_string(&r.attendance).unwrap_or_default(),
            polls_csv: r.polls.iter().map(|p| p.to_csv()).collect::<Vec<_>>().join("\n"),
            polls_json: serde_json::to_string(&r.polls).unwrap_or_default(),
        };
        let _ = store.send(crate::store::StoreEvent::LessonSaved { room: room_id.clone(), at: (self.clock)(), report });
    }

    pub(super) fn lesson_report(&self, room_id: &RoomId) -> Result<LessonReport, SfuError> {
        let room = self.rooms.get(room_id).ok_or(SfuError::UnknownParticipant)?;
        Ok(LessonReport {
            attendance: room.classroom.attendance_report(unix_ms()),
            polls: room.classroom.poll_reports(),
        })
    }

    /// Sends events and applies effects, in the order the classroom gave them.
    pub(super) fn deliver(&mut self, room_id: &RoomId, outbound: Vec<Outbound>, now: Instant) {
        for item in outbound {
            match item {
                Outbound::Event { to, event } => {
                    self.record(room_id, &event);
                    self.send_event(room_id, to, event)
                }
                Outbound::Effect(effect) => self.apply(room_id, effect, now),
            }
        }
    }

    /// Chat is kept in the database as it happens (the lesson's record outlives the hub process).
    fn record(&self, room_id: &RoomId, event: &ClassroomEvent) {
        if let Some(devices) = &self.devices {
            // The classroom box shows the hand queue and the lobby on the room's screen.
            use lectern_proto::device::HubMsg;
            let msg = match event {
                ClassroomEvent::HandsChanged { hands } => {
                    Some(HubMsg::Hands { names: hands.iter().map(|h| h.name.clone()).collect() })
                }
                ClassroomEvent::LobbyChanged { waiting } => {
                    Some(HubMsg::Lobby { names: waiting.iter().map(|w| w.name.clone()).collect() })
                }
                _ => None,
            };
            if let Some(msg) = msg {
                let _ = devices.send((room_id.clone(), msg));
            }
        }
        let Some(store) = &self.store else { return };
        let ev = match event {
            ClassroomEvent::Chat { message } => {
                crate::store::StoreEvent::Chat { room: room_id.clone(), message: message.clone() }
            }
            ClassroomEvent::ChatDeleted { message_id } => {
                crate::store::StoreEvent::ChatDeleted { room: room_id.clone(), message_id: message_id.0, at: unix_ms() }
            }
            _ => return,
        };
        let _ = store.send(ev);
    }

    fn send_event(&self, room_id: &RoomId, to: Audience, event: ClassroomEvent) {
        let Some(room) = self.rooms.get(room_id) else { return };
        for id in room.classroom.recipients(&to) {
            if let Some(m) = room.anyone(id) {
                m.send(ServerMsg::Classroom(event.clone()));
            }
        }
    }

    fn apply(&mut self, room_id: &RoomId, effect: Effect, now: Instant) {
        match effect {
            Effect::Admit(id) => {
                if let Some(member) = self.rooms.get_mut(room_id).and_then(|r| r.waiting.remove(&id)) {
                    self.admit_browser(member, now);
                }
            }
            Effect::MuteAudio(id) => self.block(room_id, id, WireKind::Audio),
            Effect::StopVideo(id) => self.block(room_id, id, WireKind::Video),
            Effect::StopScreenShare(id) => self.drop_screen(room_id, id),
            Effect::Kick(id) => {
                // Events queued before the kick (e.g. `removed`) are already in the channel.
                let _ = self.remove_member(room_id, id, now);
                if let Some(room) = self.rooms.get_mut(room_id) {
                    room.waiting.remove(&id);
                }
            }
            Effect::EndLesson => {
                self.save_lesson(room_id);
                let everyone: Vec<ParticipantId> = self
                    .rooms
                    .get(room_id)
                    .map(|r| r.members.keys().chain(r.waiting.keys()).copied().collect())
                    .unwrap_or_default();
                for id in everyone {
                    let _ = self.remove_member(room_id, id, now);
                    if let Some(room) = self.rooms.get_mut(room_id) {
                        room.waiting.remove(&id);
                    }
                }
            }
        }
    }

    /// Stops forwarding a participant's audio or camera and tells the room it is off.
    fn block(&mut self, room_id: &RoomId, id: ParticipantId, kind: WireKind) {
        let Some(room) = self.rooms.get_mut(room_id) else { return };
        let Some(m) = room.members.get_mut(&id) else { return };
        match kind {
            WireKind::Audio => (m.audio_blocked, m.audio_muted) = (true, true),
            WireKind::Video => (m.video_blocked, m.video_muted) = (true, true),
        }
        room.broadcast(id, &ServerMsg::TrackMuted { participant_id: id, kind, muted: true });
    }

    /// The student asked to switch a mic/camera on or off; a teacher's block lifts only when allowed.
    pub(super) fn set_muted(&mut self, room_id: &RoomId, id: ParticipantId, kind: WireKind, muted: bool) {
        let Some(room) = self.rooms.get_mut(room_id) else { return };
        let allowed = match kind {
            WireKind::Audio => room.classroom.may_unmute(id),
            WireKind::Video => room.classroom.may_start_video(id),
        };
        let Some(m) = room.members.get_mut(&id) else { return };
        let is_student = m.ident.role == Role::Student;
        if !muted && is_student && !allowed {
            m.send(ServerMsg::Error {
                code: lectern_proto::signal::ErrorCode::Forbidden,
                message: format!("the teacher has not allowed you to turn your {} on", kind_name(kind)),
                fatal: false,
            });
            return;
        }
        // Muting oneself never lifts a teacher's block; only an allowed unmute does.
        let (flag, blocked) = match kind {
            WireKind::Audio => (&mut m.audio_muted, &mut m.audio_blocked),
            WireKind::Video => (&mut m.video_muted, &mut m.video_blocked),
        };
        if !muted {
            *blocked = false;
        }
        if *flag == muted {
            return; // nothing changed: no duplicate event
        }
        *flag = muted;
        room.broadcast(id, &ServerMsg::TrackMuted { participant_id: id, kind, muted });
    }

    /// Ends a participant's screen share: its m-lines are stopped for everyone.
    fn drop_screen(&mut self, room_id: &RoomId, id: ParticipantId) {
        let Some(room) = self.rooms.get_mut(room_id) else { return };
        let gone: Vec<TrackId> =
            room.tracks.iter().filter(|(_, t)| t.owner == id && t.screen).map(|(t, _)| *t).collect();
        for t in &gone {
            room.tracks.remove(t);
        }
        self.unsubscribe(room_id, &gone);
    }
}

fn kind_name(kind: WireKind) -> &'static str {
    match kind {
        WireKind::Audio => "microphone",
        WireKind::Video => "camera",
    }
}
