//! Files shared in the chat: the upload itself happens over HTTP (`http::files`); the classroom
//! decides who may share ([`Classroom::share_file`]) and what an upload checks before its bytes are
//! read ([`Classroom::file_gate`]). A file message goes to the chat of the space its uploader is in,
//! so a breakout group's files stay in the group, and it stays in that chat's history for late joiners.

use lectern_proto::breakout::GroupId;
use lectern_proto::classroom::{ClassroomEvent, SharedFile};
use lectern_proto::{LessonId, ParticipantId, Role};

use super::chat::Party;
use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

/// What an upload is checked against before the hub reads it: the lesson it is filed under, the
/// teacher's switch, and where each admitted person is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileGate {
    /// The lesson on now (`None`: no lesson is open in the room).
    pub lesson: Option<LessonId>,
    pub students_may_share: bool,
    pub people: Vec<Sharer>,
    /// The breakout round meeting now, if any (its groups are the `group`s below).
    pub round: Option<u32>,
}

/// One admitted participant as an upload sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sharer {
    pub id: ParticipantId,
    pub subject: String,
    pub role: Role,
    /// The breakout group they are in (`None`: the main room).
    pub group: Option<GroupId>,
}

/// Why a student's upload is refused while the switch is off.
pub const STUDENTS_MAY_NOT_SHARE: &str = "the teacher has not allowed students to share files";

impl FileGate {
    /// The participant an upload by `subject` speaks for: `wanted` if given (it must be theirs),
    /// else their first connection.
    pub fn sharer(&self, subject: &str, wanted: Option<ParticipantId>) -> Option<&Sharer> {
        self.people.iter().find(|p| p.subject == subject && wanted.is_none_or(|w| w == p.id))
    }

    /// Whether `sharer` may share a file now.
    pub fn allows(&self, sharer: &Sharer) -> Result<(), &'static str> {
        match sharer.role {
            Role::Teacher => Ok(()),
            Role::Student if self.students_may_share => Ok(()),
            Role::Student => Err(STUDENTS_MAY_NOT_SHARE),
            _ => Err("only teachers and students share files"),
        }
    }
}

impl Classroom {
    /// The upload's view of the room (see [`FileGate`]).
    pub fn file_gate(&self) -> FileGate {
        let people = self
            .roster
            .ids()
            .into_iter()
            .filter_map(|id| {
                let p = self.roster.get(id)?;
                Some(Sharer { id, subject: p.subject.clone(), role: p.role, group: self.location_of(id) })
            })
            .collect();
        FileGate {
            lesson: self.lesson.is_open().then(|| self.lesson.id().cloned()).flatten(),
            students_may_share: self.policy.students_may_share_files,
            people,
            round: self.breakout_round(),
        }
    }

    /// A checked and stored upload becomes a file message in the uploader's chat. Refused (and
    /// nothing changes) if the uploader is someone else, a student while the switch is off, or
    /// moved to another space since the upload was filed.
    pub(super) fn share_file(
        &mut self,
        now: u64,
        actor: &Actor,
        file: SharedFile,
        subject: &str,
        group: Option<GroupId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Student, Role::Teacher], "only teachers and students share files")?;
        if actor.subject != subject {
            return Err(ClassroomError::NotAllowed("that participant is not the holder of the upload's token"));
        }
        if actor.role == Role::Student && !self.policy.students_may_share_files {
            return Err(ClassroomError::NotAllowed(STUDENTS_MAY_NOT_SHARE));
        }
        if self.location_of(actor.id) != group {
            return Err(ClassroomError::Conflict(
                "you moved to another group while the file was uploading: share it again",
            ));
        }
        // A file message is a chat message: the same pace.
        if !self.chat_limit.try_acquire(&actor.subject, now) {
            return Err(ClassroomError::RateLimited);
        }
        self.in_space(actor, |c| {
            let sender = Party { id: actor.id, subject: &actor.subject };
            let name = c.display_name(actor.id);
            let message = c.chat.post_file(now, (&sender, &name, actor.role), file);
            Ok(vec![send(Audience::Everyone, ClassroomEvent::Chat { message })])
        })
    }
}

#[cfg(test)]
mod tests {
    use lectern_proto::classroom::{ClassroomCommand as C, PolicyPatch};

    use super::*;
    use crate::classroom::tests::{Room, events_to};

    fn file(id: i64) -> SharedFile {
        SharedFile {
            id,
            name: "worksheet.pdf".into(),
            size: 1234,
            content_type: "application/pdf".into(),
            url: format!("/files/{id}/worksheet.pdf?exp=1&sig=x"),
        }
    }

    fn share(a: &Actor, id: i64) -> C {
        C::ShareFile { file: file(id), subject: a.subject.clone(), group: None }
    }

    #[test]
    fn a_teachers_file_reaches_everyone_and_stays_in_the_history() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), share(&r.teacher, 7));
        let got = events_to(&r, &out, r.s1.id);
        let [ClassroomEvent::Chat { message }] = got.as_slice() else { panic!("{got:?}") };
        assert_eq!((message.text.as_str(), message.file.as_ref().map(|f| f.id)), ("worksheet.pdf", Some(7)));
        let ClassroomEvent::State { chat, .. } = r.room.snapshot_for(&r.s2) else { panic!() };
        assert_eq!(chat.len(), 1, "a late joiner sees it");
        assert_eq!(chat[0].file, Some(file(7)));
    }

    #[test]
    fn a_student_shares_only_once_the_teacher_allows_it() {
        let mut r = Room::new();
        let before = r.room.clone();
        assert_eq!(r.refused(r.s1.clone(), share(&r.s1, 1)), ClassroomError::NotAllowed(STUDENTS_MAY_NOT_SHARE));
        assert_eq!(r.room, before, "a refusal changes nothing");
        let gate = r.room.file_gate();
        let me = gate.sharer(&r.s1.subject, None).unwrap();
        assert_eq!(gate.allows(me), Err(STUDENTS_MAY_NOT_SHARE));
        let allow = PolicyPatch { students_may_share_files: Some(true), ..Default::default() };
        assert!(matches!(r.refused(r.s1.clone(), C::SetPolicy(allow)), ClassroomError::NotAllowed(_)));
        r.ok(r.teacher.clone(), C::SetPolicy(allow));
        let gate = r.room.file_gate();
        assert_eq!(gate.allows(gate.sharer(&r.s1.subject, Some(r.s1.id)).unwrap()), Ok(()));
        r.ok(r.s1.clone(), share(&r.s1, 1));
    }

    #[test]
    fn file_messages_keep_the_chats_pace() {
        let mut r = Room::new();
        for id in 0..5 {
            r.ok(r.teacher.clone(), share(&r.teacher, id));
        }
        assert_eq!(r.refused(r.teacher.clone(), share(&r.teacher, 9)), ClassroomError::RateLimited);
        r.now += 1_000;
        r.ok(r.teacher.clone(), share(&r.teacher, 9));
    }

    #[test]
    fn someone_elses_upload_and_other_roles_are_refused() {
        let mut r = Room::new();
        let err =
            r.refused(r.s1.clone(), C::ShareFile { file: file(1), subject: r.teacher.subject.clone(), group: None });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
        assert!(matches!(r.refused(r.viewer.clone(), share(&r.viewer, 1)), ClassroomError::NotAllowed(_)));
        let gate = r.room.file_gate();
        assert!(gate.sharer(&r.teacher.subject, Some(r.s1.id)).is_none(), "a participant id must be the token's");
        assert!(gate.allows(gate.sharer(&r.viewer.subject, None).unwrap()).is_err());
    }
}
