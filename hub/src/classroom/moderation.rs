//! Teacher controls: room policies, muting, cameras, removal with a rejoin block, ending the lesson; and
//! the media permissions the SFU asks about before it lets a track through.

use lectern_proto::classroom::{ClassroomEvent, PolicyPatch};
use lectern_proto::signal::MediaKind;
use lectern_proto::{ParticipantId, Role};

use super::{Actor, Audience, Classroom, ClassroomError, Effect, Outbound, require, send};

const TEACHERS_ONLY: &[Role] = &[Role::Teacher];

impl Classroom {
    pub(super) fn set_policy(
        &mut self,
        now: u64,
        actor: &Actor,
        patch: PolicyPatch,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can change room settings")?;
        let old = self.policy;
        let p = &mut self.policy;
        p.everyone_waits = patch.everyone_waits.unwrap_or(p.everyone_waits);
        p.locked = patch.locked.unwrap_or(p.locked);
        p.students_may_unmute = patch.students_may_unmute.unwrap_or(p.students_may_unmute);
        p.students_may_start_video = patch.students_may_start_video.unwrap_or(p.students_may_start_video);
        p.students_may_share_screen = patch.students_may_share_screen.unwrap_or(p.students_may_share_screen);
        p.students_may_chat = patch.students_may_chat.unwrap_or(p.students_may_chat);
        p.students_see_each_other = patch.students_see_each_other.unwrap_or(p.students_see_each_other);
        p.students_may_share_files = patch.students_may_share_files.unwrap_or(p.students_may_share_files);
        if self.policy == old {
            return Ok(Vec::new());
        }
        let mut out = vec![send(Audience::Everyone, ClassroomEvent::PolicyChanged { policy: self.policy })];
        if !self.policy.students_may_share_screen {
            out.extend(self.stop_student_share());
        }
        if old.everyone_waits && !self.policy.everyone_waits {
            out.extend(self.release_personal_waiters(now));
        }
        Ok(out)
    }

    fn stop_student_share(&mut self) -> Vec<Outbound> {
        let Some(id) = self.screen_sharer.filter(|id| self.roster.get(*id).is_some_and(|m| m.role != Role::Teacher))
        else {
            return Vec::new();
        };
        self.screen_sharer = None;
        vec![
            Outbound::Effect(Effect::StopScreenShare(id)),
            send(Audience::Everyone, ClassroomEvent::ScreenShareChanged { participant_id: None }),
        ]
    }

    /// Mutes anyone present but oneself (a teacher may mute a co-teacher or the room's microphone).
    pub(super) fn mute(&mut self, actor: &Actor, target: ParticipantId) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can mute others")?;
        self.participant(target)?;
        self.unmute_granted.remove(&target);
        Ok(Self::muted(target, MediaKind::Audio))
    }

    fn muted(target: ParticipantId, kind: MediaKind) -> Vec<Outbound> {
        let effect = match kind {
            MediaKind::Audio => Effect::MuteAudio(target),
            MediaKind::Video => Effect::StopVideo(target),
        };
        vec![Outbound::Effect(effect), send(Audience::One(target), ClassroomEvent::MutedByTeacher { kind })]
    }

    /// Students only: teachers and the room's microphone stay on.
    pub(super) fn mute_all_students(&mut self, actor: &Actor) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can mute everyone")?;
        let students = self.roster.with_role(Role::Student);
        for id in &students {
            self.unmute_granted.remove(id);
        }
        Ok(students.into_iter().flat_map(|id| Self::muted(id, MediaKind::Audio)).collect())
    }

    /// Asks, never forces: the student unmutes themselves. The ask also lets them when the policy forbids.
    pub(super) fn ask_to_unmute(
        &mut self,
        actor: &Actor,
        target: ParticipantId,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can ask someone to unmute")?;
        self.participant(target)?;
        self.unmute_granted.insert(target);
        Ok(vec![send(Audience::One(target), ClassroomEvent::UnmuteRequested)])
    }

    pub(super) fn stop_video(&mut self, actor: &Actor, target: ParticipantId) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can stop someone's camera")?;
        self.participant(target)?;
        let mut out = Self::muted(target, MediaKind::Video);
        // A camera stopped must not come back as a "screen": the share ends too (asked for again,
        // it is the policy's to allow).
        if self.screen_sharer == Some(target) {
            self.screen_sharer = None;
            out.push(Outbound::Effect(Effect::StopScreenShare(target)));
            out.push(send(Audience::Everyone, ClassroomEvent::ScreenShareChanged { participant_id: None }));
        }
        Ok(out)
    }

    /// Removes every connection of the target's identity and blocks it from rejoining this lesson.
    pub(super) fn remove(
        &mut self,
        now: u64,
        actor: &Actor,
        target: ParticipantId,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can remove participants")?;
        let participant = self.participant(target)?;
        match participant.role {
            Role::Teacher => return Err(ClassroomError::NotAllowed("a teacher cannot be removed")),
            // The box itself is the room; a person in a browser with its credential is not.
            Role::Device if participant.is_room_box() => {
                return Err(ClassroomError::NotAllowed("the room device cannot be removed; end the lesson"));
            }
            _ => {}
        }
        let (subject, marks) = (participant.subject.clone(), participant.marks.clone());
        self.lobby.block(&subject, &marks);
        let mut out = Vec::new();
        // Every connection of that person; never the box's own, which shares a device's `sub`.
        let connections: Vec<ParticipantId> = self
            .roster
            .with_subject(&subject)
            .into_iter()
            .filter(|id| self.roster.get(*id).is_some_and(|m| !m.is_room_box()))
            .collect();
        for id in connections {
            out.push(send(Audience::One(id), ClassroomEvent::Removed));
            out.push(Outbound::Effect(Effect::Kick(id)));
            out.extend(self.depart(now, id));
        }
        Ok(out)
    }

    /// Tells everyone (and everyone waiting) and closes the lesson; later commands and joins are refused.
    pub(super) fn end_lesson(&mut self, now: u64, actor: &Actor) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, TEACHERS_ONLY, "only a teacher can end the lesson")?;
        Ok(self.close(now))
    }

    /// Tells everyone (and everyone waiting) the lesson is over and closes it.
    pub(super) fn close(&mut self, now: u64) -> Vec<Outbound> {
        let mut out = vec![send(Audience::Everyone, ClassroomEvent::LessonEnded)];
        for id in self.lobby.take_where(|_| true).into_iter().map(|w| w.entry.participant_id) {
            out.push(send(Audience::One(id), ClassroomEvent::LessonEnded));
        }
        out.push(Outbound::Effect(Effect::EndLesson));
        self.attendance.close_all(now);
        self.hands.lower_all();
        self.ended = true;
        out
    }

    /// Whether the SFU should let this participant's microphone on.
    pub fn may_unmute(&self, id: ParticipantId) -> bool {
        match self.roster.get(id).map(|m| m.role) {
            Some(Role::Teacher | Role::Device) => true,
            Some(Role::Student) => self.policy.students_may_unmute || self.unmute_granted.contains(&id),
            _ => false,
        }
    }

    /// Whether the SFU should let this participant's camera on.
    pub fn may_start_video(&self, id: ParticipantId) -> bool {
        match self.roster.get(id).map(|m| m.role) {
            Some(Role::Teacher | Role::Device) => true,
            Some(Role::Student) => self.policy.students_may_start_video,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::{ClassroomCommand as C, DenyReason};

    use crate::classroom::JoinDecision;

    fn effects(out: &[Outbound]) -> Vec<Effect> {
        out.iter().filter_map(|o| if let Outbound::Effect(e) = o { Some(*e) } else { None }).collect()
    }

    #[test]
    fn mute_all_mutes_students_only_and_tells_them() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), C::MuteAllStudents);
        assert_eq!(effects(&out), [Effect::MuteAudio(r.s1.id), Effect::MuteAudio(r.s2.id)]);
        let told = ClassroomEvent::MutedByTeacher { kind: MediaKind::Audio };
        assert_eq!(events_to(&r, &out, r.s1.id), [told]);
        assert!(events_to(&r, &out, r.device.id).is_empty());
    }

    #[test]
    fn ask_to_unmute_lets_a_student_unmute_despite_policy_until_muted_again() {
        let mut r = Room::new();
        r.ok(r.teacher.clone(), C::SetPolicy(PolicyPatch { students_may_unmute: Some(false), ..Default::default() }));
        assert!(!r.room.may_unmute(r.s1.id));
        let out = r.ok(r.teacher.clone(), C::AskToUnmute { participant_id: r.s1.id });
        assert_eq!(events_to(&r, &out, r.s1.id), [ClassroomEvent::UnmuteRequested]);
        assert!(r.room.may_unmute(r.s1.id) && !r.room.may_unmute(r.s2.id));
        r.ok(r.teacher.clone(), C::MuteParticipant { participant_id: r.s1.id });
        assert!(!r.room.may_unmute(r.s1.id));
        assert!(r.room.may_unmute(r.teacher.id) && !r.room.may_unmute(r.viewer.id));
    }

    #[test]
    fn stop_video_is_an_effect_and_policy_governs_restart() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), C::StopVideo { participant_id: r.s2.id });
        assert_eq!(effects(&out), [Effect::StopVideo(r.s2.id)]);
        assert!(r.room.may_start_video(r.s2.id));
        r.ok(
            r.teacher.clone(),
            C::SetPolicy(PolicyPatch { students_may_start_video: Some(false), ..Default::default() }),
        );
        assert!(!r.room.may_start_video(r.s2.id));
    }

    #[test]
    fn removed_participant_is_kicked_and_cannot_rejoin() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), lectern_proto::classroom::ClassroomCommand::RaiseHand);
        let out = r.ok(r.teacher.clone(), C::RemoveParticipant { participant_id: r.s1.id });
        assert_eq!(events_to(&r, &out, r.s1.id), [ClassroomEvent::Removed]);
        assert_eq!(effects(&out), [Effect::Kick(r.s1.id)]);
        assert!(r.room.recipients(&Audience::Everyone).iter().all(|id| *id != r.s1.id));
        let back = crate::classroom::Actor { id: lectern_proto::ParticipantId(77), ..r.s1.clone() };
        assert_eq!(r.room.on_join_request(r.now, &back).decision, JoinDecision::Deny(DenyReason::Blocked));
        assert_eq!(r.refused(back, C::RaiseHand), ClassroomError::NotInRoom);
    }

    #[test]
    fn teachers_and_the_device_cannot_be_removed() {
        let mut r = Room::new();
        let before = r.room.clone();
        let t2 = r.join(90, Role::Teacher, true);
        let err = r.refused(r.teacher.clone(), C::RemoveParticipant { participant_id: t2.id });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
        let err = r.refused(r.teacher.clone(), C::RemoveParticipant { participant_id: r.device.id });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
        r.room.on_left(r.now, t2.id);
        assert_eq!(r.room.snapshot_for(&r.teacher), before.snapshot_for(&r.teacher));
    }

    #[test]
    fn end_lesson_tells_room_and_lobby_then_refuses_everything() {
        let mut r = Room::new();
        let guest = r.join(50, Role::Student, false);
        let out = r.ok(r.teacher.clone(), C::EndLesson);
        assert_eq!(events_to(&r, &out, guest.id), [ClassroomEvent::LessonEnded]);
        assert_eq!(events_to(&r, &out, r.s1.id), [ClassroomEvent::LessonEnded]);
        assert_eq!(effects(&out), [Effect::EndLesson]);
        assert_eq!(r.refused(r.teacher.clone(), C::RaiseHand), ClassroomError::LessonEnded);
        let late = crate::classroom::Actor { id: lectern_proto::ParticipantId(78), ..r.s2.clone() };
        assert_eq!(r.room.on_join_request(r.now, &late).decision, JoinDecision::Deny(DenyReason::LessonEnded));
        assert!(r.room.attendance_report(r.now + 1).people.iter().all(|p| p.intervals[0].left_at.is_some()));
    }
}
