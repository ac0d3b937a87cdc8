//! The live WHIP/WHEP sessions, addressed by the unguessable id in their `Location`. A session
//! goes when its client `DELETE`s it, when its token is revoked, or when the room lets go of its
//! participant (ICE timed out, removed, lesson ended): then a `PATCH` or `DELETE` finds nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use lectern_proto::{ParticipantId, Role, RoomId};

/// Publish or receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Whip,
    Whep,
    /// `/whep/{room}/return`: the classroom appliance receives the remote participants.
    Return,
}

impl Flow {
    /// The first segment of the session's URL.
    pub fn path(self) -> &'static str {
        match self {
            Flow::Whip => "whip",
            Flow::Whep | Flow::Return => "whep",
        }
    }

    /// Who may open (and then change or end) such a session.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Flow::Whip => &[Role::Device, Role::Teacher, Role::Student],
            Flow::Whep => &[Role::Device, Role::Teacher, Role::Student, Role::Viewer],
            Flow::Return => &[Role::Device],
        }
    }
}

/// A live WHIP/WHEP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub flow: Flow,
    pub room: RoomId,
    pub participant: ParticipantId,
    /// The token's id, so revoking it ends the session; only the same token may change or end it.
    pub jti: String,
    /// Who opened it (`ip_key` form), for the cap on open sessions per token and client.
    pub client: IpAddr,
    /// Candidates trickled so far (capped, see `admission::MAX_TRICKLED`).
    pub trickled: usize,
    /// A newer session of the same classroom box took this one's participant over (see
    /// `Room::begin_takeover`): DELETE only forgets it, the participant stays.
    pub superseded: bool,
}

/// Every live session of the hub by resource id. Shared by the HTTP tasks; each call holds the
/// lock briefly and never across an await.
#[derive(Debug, Default)]
pub struct Resources {
    by_id: Mutex<HashMap<String, Resource>>,
}

impl Resources {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Resource>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, id: String, resource: Resource) {
        self.lock().insert(id, resource);
    }

    /// The session `id` if it is of `room` and reached under `flow`'s path; unknown otherwise.
    pub fn find(&self, id: &str, room: &RoomId, flow: Flow) -> Option<Resource> {
        self.lock().get(id).filter(|r| &r.room == room && r.flow.path() == flow.path()).cloned()
    }

    /// Sessions of `flow`'s kind open with token `jti` from `client`.
    pub fn open_by(&self, jti: &str, flow: Flow, client: IpAddr) -> usize {
        self.lock().values().filter(|r| r.jti == jti && r.flow == flow && r.client == client).count()
    }

    /// The participant of `jti`'s live (not superseded) `flow` session in `room`, if it has one.
    pub fn participant_of(&self, jti: &str, room: &RoomId, flow: Flow) -> Option<ParticipantId> {
        self.lock()
            .values()
            .find(|r| r.jti == jti && &r.room == room && r.flow == flow && !r.superseded)
            .map(|r| r.participant)
    }

    /// `participant`'s `flow` sessions other than `except` are superseded by `except`.
    pub fn supersede(&self, room: &RoomId, participant: ParticipantId, flow: Flow, except: &str) {
        for (id, r) in self.lock().iter_mut() {
            if id != except && r.participant == participant && &r.room == room && r.flow == flow {
                r.superseded = true;
            }
        }
    }

    /// Counts `n` more trickled candidates for session `id`; `false` (and nothing counted) past `max`.
    pub fn trickle(&self, id: &str, n: usize, max: usize) -> bool {
        match self.lock().get_mut(id) {
            Some(r) if r.trickled + n <= max => {
                r.trickled += n;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&self, id: &str) -> Option<Resource> {
        self.lock().remove(id)
    }

    /// The room let go of `participant`: its session, if it has one, goes too.
    pub fn forget_participant(&self, room: &RoomId, participant: ParticipantId) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, r| !(r.participant == participant && &r.room == room));
        before - map.len()
    }

    /// Removes and returns every session opened with token `jti`.
    pub fn take_by_jti(&self, jti: &str) -> Vec<Resource> {
        let mut map = self.lock();
        let ids: Vec<String> = map.iter().filter(|(_, r)| r.jti == jti).map(|(id, _)| id.clone()).collect();
        ids.iter().filter_map(|id| map.remove(id)).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomId {
        RoomId::parse(name).expect("valid room name")
    }

    fn res(flow: Flow, r: &str, p: u64, jti: &str) -> Resource {
        let client = IpAddr::from([198, 51, 100, 1]);
        Resource {
            flow,
            room: room(r),
            participant: ParticipantId(p),
            jti: jti.into(),
            client,
            trickled: 0,
            superseded: false,
        }
    }

    #[test]
    fn a_session_is_found_only_in_its_room_and_under_its_path() {
        let t = Resources::default();
        t.insert("a".into(), res(Flow::Return, "r", 1, "j"));
        assert_eq!(t.find("a", &room("r"), Flow::Whep), Some(res(Flow::Return, "r", 1, "j")), "return is a WHEP path");
        assert_eq!(t.find("a", &room("r"), Flow::Whip), None);
        assert_eq!(t.find("a", &room("other"), Flow::Whep), None);
        assert_eq!(t.find("b", &room("r"), Flow::Whep), None);
        assert_eq!(t.remove("a").map(|r| r.participant), Some(ParticipantId(1)));
        assert!(t.is_empty());
    }

    #[test]
    fn a_participant_the_room_let_go_of_loses_its_session_and_no_other() {
        let t = Resources::default();
        t.insert("a".into(), res(Flow::Whip, "r", 1, "j1"));
        t.insert("b".into(), res(Flow::Whep, "r", 2, "j2"));
        t.insert("c".into(), res(Flow::Whep, "other", 1, "j3"));
        assert_eq!(t.forget_participant(&room("r"), ParticipantId(1)), 1);
        assert_eq!(t.forget_participant(&room("r"), ParticipantId(1)), 0, "twice is fine");
        assert_eq!(t.len(), 2);
        assert!(t.find("a", &room("r"), Flow::Whip).is_none());
    }

    #[test]
    fn open_sessions_count_per_token_flow_and_client_and_trickling_is_capped() {
        let t = Resources::default();
        t.insert("a".into(), res(Flow::Whip, "r", 1, "box"));
        t.insert("b".into(), res(Flow::Return, "r", 2, "box"));
        t.insert("c".into(), res(Flow::Whip, "r", 3, "box"));
        let client = IpAddr::from([198, 51, 100, 1]);
        assert_eq!(t.open_by("box", Flow::Whip, client), 2);
        assert_eq!(t.open_by("box", Flow::Return, client), 1);
        assert_eq!(t.open_by("box", Flow::Whip, IpAddr::from([198, 51, 100, 2])), 0);
        assert!(t.trickle("a", 60, 64));
        assert!(!t.trickle("a", 5, 64), "past the cap");
        assert!(t.trickle("a", 4, 64));
        assert!(!t.trickle("unknown", 1, 64));
    }

    #[test]
    fn revoking_a_token_takes_every_session_opened_with_it() {
        let t = Resources::default();
        t.insert("a".into(), res(Flow::Whip, "r", 1, "box"));
        t.insert("b".into(), res(Flow::Return, "r", 2, "box"));
        t.insert("c".into(), res(Flow::Whep, "r", 3, "viewer"));
        let mut taken: Vec<u64> = t.take_by_jti("box").iter().map(|r| r.participant.0).collect();
        taken.sort();
        assert_eq!(taken, vec![1, 2]);
        assert_eq!(t.len(), 1);
        assert!(t.take_by_jti("box").is_empty());
    }
}
