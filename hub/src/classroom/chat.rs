//! Chat: room-wide and private messages, a bounded history, and who may see which message.

use std::collections::VecDeque;

use lectern_proto::classroom::{ChatMessage, ChatMessageId, ClassroomEvent, MAX_CHAT_CHARS, SharedFile};
use lectern_proto::{ParticipantId, Role};

use super::text::clean;
use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

/// Messages kept for late joiners; older ones drop off.
pub const HISTORY_LIMIT: usize = 500;

/// Private messages are tied to identities, not connections, so a rejoining participant gets back
/// the private messages of their earlier connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    message: ChatMessage,
    from_subject: String,
    to_subject: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chat {
    history: VecDeque<Stored>,
    next_id: u64,
}

/// The sender or recipient of a message as the chat records it.
pub struct Party<'a> {
    pub id: ParticipantId,
    pub subject: &'a str,
}

impl Chat {
    pub fn post(&mut self, now: u64, from: (&Party, &str, Role), to: Option<&Party>, text: String) -> ChatMessage {
        let (sender, from_name, from_role) = from;
        self.next_id += 1;
        let message = ChatMessage {
            id: ChatMessageId(self.next_id),
            from: sender.id,
            from_name: from_name.to_owned(),
            from_role,
            to: to.map(|p| p.id),
            text,
            sent_at: now,
            file: None,
        };
        if self.history.len() == HISTORY_LIMIT {
            self.history.pop_front();
        }
        let stored = Stored {
            message: message.clone(),
            from_subject: sender.subject.to_owned(),
            to_subject: to.map(|p| p.subject.to_owned()),
        };
        self.history.push_back(stored);
        message
    }

    /// A file message: its text is the file's name.
    pub fn post_file(&mut self, now: u64, from: (&Party, &str, Role), file: SharedFile) -> ChatMessage {
        let name = file.name.clone();
        let mut message = self.post(now, from, None, name);
        message.file = Some(file);
        if let Some(last) = self.history.back_mut() {
            last.message.file = message.file.clone();
        }
        message
    }

    pub fn delete(&mut self, id: ChatMessageId) -> bool {
        let before = self.history.len();
        self.history.retain(|s| s.message.id != id);
        self.history.len() != before
    }

    /// Every message, private ones included, oldest first (what is kept of a breakout group).
    pub fn all(&self) -> Vec<ChatMessage> {
        self.history.iter().map(|s| s.message.clone()).collect()
    }

    /// Room-wide messages and the private ones this identity sent or received, oldest first.
    pub fn visible_to(&self, subject: &str) -> Vec<ChatMessage> {
        self.history
            .iter()
            .filter(|s| s.to_subject.is_none() || s.from_subject == subject || s.to_subject.as_deref() == Some(subject))
            .map(|s| s.message.clone())
            .collect()
    }
}

impl Classroom {
    pub(super) fn send_chat(
        &mut self,
        now: u64,
        actor: &Actor,
        text: &str,
        to: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Student, Role::Teacher], "only students and teachers can chat")?;
        let recipient = match to {
            Some(id) => Some(self.private_recipient(actor, id)?),
            None if actor.role == Role::Student && !self.policy.students_may_chat => {
                return Err(ClassroomError::NotAllowed("the teacher turned off chat for students"));
            }
            None => None,
        };
        let text = clean(text, MAX_CHAT_CHARS, true)
            .map_err(|e| ClassroomError::text(e, "message is empty", "message is longer than 1000 characters"))?;
        if !self.chat_limit.try_acquire(&actor.subject, now) {
            return Err(ClassroomError::RateLimited);
        }
        let sender = Party { id: actor.id, subject: &actor.subject };
        let to_party = recipient.as_ref().map(|(id, subject)| Party { id: *id, subject });
        let name = self.display_name(actor.id);
        let message = self.chat.post(now, (&sender, &name, actor.role), to_party.as_ref(), text);
        self.attendance.count_chat(&actor.subject);
        let event = ClassroomEvent::Chat { message };
        Ok(match to {
            Some(id) => vec![send(Audience::One(id), event.clone()), send(Audience::One(actor.id), event)],
            None => vec![send(Audience::Everyone, event)],
        })
    }

    /// Students may write privately only to teachers; teachers to anyone. Returns the recipient's subject.
    fn private_recipient(&self, actor: &Actor, to: ParticipantId) -> Result<(ParticipantId, String), ClassroomError> {
        let participant = self.participant(to)?;
        if to == actor.id {
            return Err(ClassroomError::InvalidInput("you cannot send a private message to yourself"));
        }
        if actor.role == Role::Student && participant.role != Role::Teacher {
            return Err(ClassroomError::NotAllowed("students may only send private messages to a teacher"));
        }
        Ok((to, participant.subject.clone()))
    }

    pub(super) fn delete_chat(&mut self, actor: &Actor, id: ChatMessageId) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can delete chat messages")?;
        if !self.chat.delete(id) {
            return Err(ClassroomError::UnknownMessage(id));
        }
        Ok(vec![send(Audience::Everyone, ClassroomEvent::ChatDeleted { message_id: id })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::ClassroomCommand as C;

    fn say(text: &str) -> C {
        C::SendChat { text: text.into(), to: None }
    }

    #[test]
    fn room_message_reaches_everyone_trimmed_with_an_id() {
        let mut r = Room::new();
        let out = r.ok(r.s1.clone(), say("  hello\u{0007}  "));
        let got = events_to(&r, &out, r.viewer.id);
        let [ClassroomEvent::Chat { message }] = got.as_slice() else { panic!("{got:?}") };
        assert_eq!((message.text.as_str(), message.id, message.to), ("hello", ChatMessageId(1), None));
    }

    #[test]
    fn empty_and_over_length_messages_are_refused() {
        let mut r = Room::new();
        let before = r.room.clone();
        assert_eq!(r.refused(r.s1.clone(), say(" \n ")), ClassroomError::InvalidInput("message is empty"));
        let long = "x".repeat(MAX_CHAT_CHARS + 1);
        assert!(matches!(r.refused(r.s1.clone(), say(&long)), ClassroomError::InvalidInput(_)));
        assert_eq!(r.room, before);
        r.ok(r.s1.clone(), say(&"x".repeat(MAX_CHAT_CHARS)));
    }

    #[test]
    fn private_student_to_student_is_refused_but_to_teacher_allowed() {
        let mut r = Room::new();
        let before = r.room.clone();
        let err = r.refused(r.s1.clone(), C::SendChat { text: "psst".into(), to: Some(r.s2.id) });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
        assert_eq!(r.room, before);
        let out = r.ok(r.s1.clone(), C::SendChat { text: "help".into(), to: Some(r.teacher.id) });
        assert_eq!(events_to(&r, &out, r.teacher.id).len(), 1);
        assert_eq!(events_to(&r, &out, r.s1.id).len(), 1, "echoed to the sender");
        assert!(events_to(&r, &out, r.s2.id).is_empty());
    }

    #[test]
    fn history_on_join_holds_only_what_the_joiner_may_see() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), say("public"));
        r.ok(r.s1.clone(), C::SendChat { text: "to teacher".into(), to: Some(r.teacher.id) });
        let texts = |r: &Room, a| match r.room.snapshot_for(a) {
            ClassroomEvent::State { chat, .. } => chat.into_iter().map(|m| m.text).collect::<Vec<_>>(),
            e => panic!("{e:?}"),
        };
        assert_eq!(texts(&r, &r.s2), ["public"]);
        assert_eq!(texts(&r, &r.s1), ["public", "to teacher"]);
        assert_eq!(texts(&r, &r.teacher), ["public", "to teacher"]);
    }

    #[test]
    fn disabled_student_chat_still_lets_students_reach_a_teacher() {
        let mut r = Room::new();
        r.ok(
            r.teacher.clone(),
            C::SetPolicy(lectern_proto::classroom::PolicyPatch {
                students_may_chat: Some(false),
                ..Default::default()
            }),
        );
        assert!(matches!(r.refused(r.s1.clone(), say("hi")), ClassroomError::NotAllowed(_)));
        r.ok(r.teacher.clone(), say("quiet please"));
        r.ok(r.s1.clone(), C::SendChat { text: "sorry".into(), to: Some(r.teacher.id) });
    }

    #[test]
    fn chat_is_rate_limited_per_participant() {
        let mut r = Room::new();
        for _ in 0..5 {
            r.ok(r.s1.clone(), say("spam"));
        }
        assert_eq!(r.refused(r.s1.clone(), say("spam")), ClassroomError::RateLimited);
        r.ok(r.s2.clone(), say("not me"));
        r.now += 1_000;
        r.ok(r.s1.clone(), say("later"));
    }

    #[test]
    fn teacher_deletes_a_message_for_everyone_students_cannot() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), say("oops"));
        let id = ChatMessageId(1);
        assert!(matches!(r.refused(r.s1.clone(), C::DeleteChat { message_id: id }), ClassroomError::NotAllowed(_)));
        let out = r.ok(r.teacher.clone(), C::DeleteChat { message_id: id });
        assert_eq!(events_to(&r, &out, r.s2.id), vec![ClassroomEvent::ChatDeleted { message_id: id }]);
        assert_eq!(r.refused(r.teacher.clone(), C::DeleteChat { message_id: id }), ClassroomError::UnknownMessage(id));
    }

    #[test]
    fn history_is_bounded() {
        let mut chat = Chat::default();
        let p = Party { id: ParticipantId(1), subject: "s" };
        for i in 0..HISTORY_LIMIT + 3 {
            chat.post(i as u64, (&p, "n", Role::Teacher), None, format!("{i}"));
        }
        let all = chat.visible_to("s");
        assert_eq!(all.len(), HISTORY_LIMIT);
        assert_eq!(all[0].text, "3");
    }
}
