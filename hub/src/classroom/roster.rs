//! Who is in the room (admitted, not waiting) and who an [`Audience`] reaches.

use std::collections::BTreeMap;

use lectern_proto::{ParticipantId, Role};

use super::Audience;

/// What the classroom remembers of an admitted participant. The role is refreshed from the token on
/// every join, so a reconnecting teacher keeps teacher rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub subject: String,
    pub name: String,
    pub role: Role,
    /// A guest's other marks (see [`Actor::marks`](super::Actor::marks)).
    pub marks: Vec<String>,
    /// One of the room box's own connections (see [`Actor::box_link`](super::Actor::box_link)).
    pub box_link: bool,
}

impl Participant {
    /// The classroom box itself (its WHIP/WHEP connections), not a person using its credential.
    pub fn is_room_box(&self) -> bool {
        self.role == Role::Device && self.box_link
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roster {
    participants: BTreeMap<ParticipantId, Participant>,
}

impl Roster {
    pub fn add(&mut self, id: ParticipantId, participant: Participant) {
        self.participants.insert(id, participant);
    }

    pub fn remove(&mut self, id: ParticipantId) -> Option<Participant> {
        self.participants.remove(&id)
    }

    pub fn get(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.get(&id)
    }

    pub fn contains(&self, id: ParticipantId) -> bool {
        self.participants.contains_key(&id)
    }

    /// People taking a seat: everyone but teachers and the room's box.
    pub fn seated(&self) -> usize {
        self.participants.values().filter(|m| m.role != Role::Teacher && !m.is_room_box()).count()
    }

    pub fn ids(&self) -> Vec<ParticipantId> {
        self.participants.keys().copied().collect()
    }

    pub fn with_role(&self, role: Role) -> Vec<ParticipantId> {
        self.participants.iter().filter(|(_, m)| m.role == role).map(|(id, _)| *id).collect()
    }

    /// All connections of one identity (two tabs, a phone and a laptop).
    pub fn with_subject(&self, subject: &str) -> Vec<ParticipantId> {
        self.participants.iter().filter(|(_, m)| m.subject == subject).map(|(id, _)| *id).collect()
    }

    /// `One` reaches its participant even while it waits in the lobby; the others only reach the room.
    pub fn recipients(&self, to: &Audience) -> Vec<ParticipantId> {
        let select = |keep: &dyn Fn(&ParticipantId, &Participant) -> bool| {
            self.participants.iter().filter(|(id, m)| keep(id, m)).map(|(id, _)| *id).collect()
        };
        match to {
            Audience::Everyone => self.ids(),
            Audience::Teachers => self.with_role(Role::Teacher),
            Audience::TeachersAndDevices => select(&|_, m| matches!(m.role, Role::Teacher | Role::Device)),
            Audience::One(id) => vec![*id],
            Audience::Except(skip) => select(&|id, _| id != skip),
            // Spaces are the classroom's to resolve (it knows the breakout groups).
            Audience::Space(_) | Audience::SpaceExcept(..) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Roster {
        let mut r = Roster::default();
        for (id, role) in [(1, Role::Teacher), (2, Role::Student), (3, Role::Device), (4, Role::Viewer)] {
            let p = Participant {
                subject: format!("s{id}"),
                name: format!("n{id}"),
                role,
                marks: Vec::new(),
                box_link: false,
            };
            r.add(ParticipantId(id), p);
        }
        r
    }

    fn ids(v: &[u64]) -> Vec<ParticipantId> {
        v.iter().copied().map(ParticipantId).collect()
    }

    #[test]
    fn audiences_resolve_by_role() {
        let r = roster();
        assert_eq!(r.recipients(&Audience::Everyone), ids(&[1, 2, 3, 4]));
        assert_eq!(r.recipients(&Audience::Teachers), ids(&[1]));
        assert_eq!(r.recipients(&Audience::TeachersAndDevices), ids(&[1, 3]));
        assert_eq!(r.recipients(&Audience::Except(ParticipantId(2))), ids(&[1, 3, 4]));
        assert_eq!(r.recipients(&Audience::One(ParticipantId(99))), ids(&[99]), "lobby participants are reachable");
    }
}
