//! One node's lease on one room: whether this node may admit new people to the room now, and
//! what to ask the coordination store next. Sans-IO: [`LeaseKeeper::poll`] hands out at most one
//! request at a time, the caller sends it and feeds the answer back with
//! [`LeaseKeeper::on_reply`] (or [`LeaseKeeper::on_error`] when the store could not be reached).
//!
//! The lease is counted from the moment the winning request was *sent*: the store set its key
//! later than that, so the key outlives the node's belief by at least the network delay. A small
//! margin covers the two clocks running at slightly different rates.

use crate::Millis;

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    /// The key's time to live in the store.
    pub ttl: Millis,
    /// A held lease is renewed this long after its last renewal was sent.
    pub renew_every: Millis,
    /// After a refusal or an error, the next attempt waits this long.
    pub retry_every: Millis,
}

impl Default for LeaseTiming {
    /// The figures: a 4 s lease renewed every second.
    fn default() -> Self {
        Self { ttl: 4_000, renew_every: 1_000, retry_every: 500 }
    }
}

impl LeaseTiming {
    /// How much of the ttl the node believes in: clock rates may differ by 1 %, plus 2 ms.
    fn believed(&self) -> Millis {
        self.ttl.saturating_sub(self.ttl / 100 + 2)
    }
}

/// What the node asks the store. `token` is the value the node writes under the room's key: its
/// node id and a counter, so a node restarted with the same id never mistakes an old key for its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Take the room if nobody holds it (and the store is not in its start-up grace).
    Acquire { token: String, ttl: Millis },
    /// Extend a held lease; re-create it if the key vanished (the store restarted).
    Renew { token: String, ttl: Millis },
    /// Give the room up (only if the key is still ours).
    Release { token: String },
}

/// What the store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `Acquire` or `Renew` succeeded: the key is ours for the ttl.
    Granted,
    /// Someone else holds the room.
    Held { owner: String },
    /// The store lost its keys recently; nobody may acquire for this much longer.
    Grace { remaining: Millis },
    /// `Release` done (or the key was not ours any more).
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not wanted, or given up.
    Idle,
    /// Wanted but not held: try at `next_try`.
    Seeking { next_try: Millis },
    /// Held until `valid_until` (node clock); renew at `renew_at`.
    Held { valid_until: Millis, renew_at: Millis },
    /// Giving up a held lease: send a release.
    Releasing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Acquire,
    Renew,
    Release,
}

/// One node's claim on one room.
#[derive(Debug, Clone)]
pub struct LeaseKeeper {
    node: String,
    timing: LeaseTiming,
    state: State,
    /// The request on its way and when it was sent.
    in_flight: Option<(Sent, Millis)>,
    /// Bumped for every acquisition, so each lease has a token of its own.
    generation: u64,
    /// Who holds the room, as last heard (for routing to the owner).
    owner: Option<String>,
}

impl LeaseKeeper {
    pub fn new(node: impl Into<String>, timing: LeaseTiming) -> Self {
        Self { node: node.into(), timing, state: State::Idle, in_flight: None, generation: 0, owner: None }
    }

    /// The value this node writes under the room's key while it holds it.
    pub fn token(&self) -> String {
        format!("{}#{}", self.node, self.generation)
    }

    /// Start seeking the room (no-op if already seeking or held).
    pub fn want(&mut self, now: Millis) {
        if matches!(self.state, State::Idle | State::Releasing) {
            self.state = State::Seeking { next_try: now };
        }
    }

    /// Stop wanting the room: a held lease is released, a sought one forgotten.
    pub fn give_up(&mut self) {
        self.state = match self.state {
            State::Held { .. } => State::Releasing,
            State::Releasing => State::Releasing,
            State::Idle | State::Seeking { .. } => State::Idle,
        };
    }

    /// Whether this node owns the room now: it may admit new people. Members already in stay
    /// whatever this says (an owner that cannot renew stops taking joins, not lessons).
    pub fn owns(&self, now: Millis) -> bool {
        matches!(self.state, State::Held { valid_until, .. } if now < valid_until)
    }

    /// Until when this node owns the room (node clock), if it holds it.
    pub fn valid_until(&self) -> Option<Millis> {
        match self.state {
            State::Held { valid_until, .. } => Some(valid_until),
            _ => None,
        }
    }

    /// The holder as last heard from the store: this node's token when it owns the room.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// The next request to send, if one is due and none is on its way.
    pub fn poll(&mut self, now: Millis) -> Option<Request> {
        if self.in_flight.is_some() {
            return None;
        }
        self.expire(now);
        let (sent, request) = match self.state {
            State::Idle => return None,
            State::Seeking { next_try } if now >= next_try => {
                self.generation += 1;
                (Sent::Acquire, Request::Acquire { token: self.token(), ttl: self.timing.ttl })
            }
            State::Held { renew_at, .. } if now >= renew_at => {
                (Sent::Renew, Request::Renew { token: self.token(), ttl: self.timing.ttl })
            }
            State::Releasing => (Sent::Release, Request::Release { token: self.token() }),
            State::Seeking { .. } | State::Held { .. } => return None,
        };
        self.in_flight = Some((sent, now));
        Some(request)
    }

    /// When [`poll`](Self::poll) may next have something to do, or ownership may lapse.
    pub fn next_deadline(&self) -> Option<Millis> {
        if self.in_flight.is_some() {
            // Only the reply (or its timeout, the caller's) moves things on; but a held lease
            // can still lapse meanwhile.
            return match self.state {
                State::Held { valid_until, .. } => Some(valid_until),
                _ => None,
            };
        }
        match self.state {
            State::Idle => None,
            State::Seeking { next_try } => Some(next_try),
            State::Held { valid_until, renew_at } => Some(renew_at.min(valid_until)),
            State::Releasing => Some(0),
        }
    }

    /// The store answered the request on its way.
    pub fn on_reply(&mut self, reply: Reply, now: Millis) {
        let Some((sent, sent_at)) = self.in_flight.take() else {
            return;
        };
        let retry = now + self.timing.retry_every;
        match (sent, reply) {
            (Sent::Acquire | Sent::Renew, Reply::Granted) => {
                if matches!(self.state, State::Seeking { .. } | State::Held { .. }) {
                    self.state = State::Held {
                        valid_until: sent_at + self.timing.believed(),
                        renew_at: sent_at + self.timing.renew_every,
                    };
                    self.owner = Some(self.token());
                    self.expire(now);
                } else {
                    // Given up while the request was out: hand the fresh lease straight back.
                    self.state = State::Releasing;
                }
            }
            (Sent::Acquire | Sent::Renew, Reply::Held { owner }) => {
                self.owner = Some(owner);
                if !matches!(self.state, State::Idle) {
                    self.state = State::Seeking { next_try: retry };
                }
            }
            (Sent::Acquire | Sent::Renew, Reply::Grace { remaining }) => {
                if !matches!(self.state, State::Idle) {
                    self.state = State::Seeking { next_try: now + remaining.max(1) };
                }
            }
            (Sent::Release, _) => {
                if matches!(self.state, State::Releasing) {
                    self.state = State::Idle;
                }
                self.owner = None;
            }
            (Sent::Acquire | Sent::Renew, Reply::Released) => {
                // Not an answer to these; treat as a refusal.
                if !matches!(self.state, State::Idle) {
                    self.state = State::Seeking { next_try: retry };
                }
            }
        }
    }

    /// The request on its way got no answer (store unreachable, timed out). A held lease stays
    /// believed until it lapses on its own; renewal is retried.
    pub fn on_error(&mut self, now: Millis) {
        let Some((sent, _)) = self.in_flight.take() else {
            return;
        };
        match (sent, &mut self.state) {
            (Sent::Renew, State::Held { renew_at, .. }) => *renew_at = now + self.timing.retry_every,
            (Sent::Acquire, State::Seeking { next_try }) => *next_try = now + self.timing.retry_every,
            // A lost release: the key lapses on its own.
            (Sent::Release, State::Releasing) => self.state = State::Idle,
            _ => {}
        }
        self.expire(now);
    }

    /// A held lease past its time is lost: seek it again.
    fn expire(&mut self, now: Millis) {
        if let State::Held { valid_until, .. } = self.state
            && now >= valid_until
        {
            self.state = State::Seeking { next_try: now };
            self.owner = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: LeaseTiming = LeaseTiming { ttl: 4_000, renew_every: 1_000, retry_every: 500 };

    #[test]
    fn a_granted_lease_counts_from_when_it_was_asked() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        assert_eq!(k.poll(0), Some(Request::Acquire { token: "a#1".into(), ttl: 4_000 }));
        k.on_reply(Reply::Granted, 300);
        assert!(k.owns(300));
        assert!(k.owns(3_957));
        assert!(!k.owns(3_958), "believed for less than the ttl from the send time");
        assert_eq!(k.owner(), Some("a#1"));
    }

    #[test]
    fn a_held_lease_is_renewed_and_lapses_when_the_store_is_gone() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        k.poll(0);
        k.on_reply(Reply::Granted, 10);
        assert_eq!(k.poll(999), None);
        assert_eq!(k.poll(1_000), Some(Request::Renew { token: "a#1".into(), ttl: 4_000 }));
        k.on_error(1_200);
        // Retried, still believed meanwhile.
        assert!(k.owns(1_200));
        assert!(matches!(k.poll(1_700), Some(Request::Renew { .. })));
        k.on_error(1_800);
        assert!(k.owns(3_957));
        assert!(!k.owns(3_958), "4 s less 1 % and 2 ms from the first send");
        // Once lapsed it seeks the room again with a new token.
        assert!(matches!(k.poll(4_000), Some(Request::Acquire { token, .. }) if token == "a#2"));
    }

    #[test]
    fn a_refused_node_learns_the_owner_and_retries_after_a_grace() {
        let mut k = LeaseKeeper::new("b", T);
        k.want(0);
        k.poll(0);
        k.on_reply(Reply::Held { owner: "a#1".into() }, 5);
        assert!(!k.owns(5));
        assert_eq!(k.owner(), Some("a#1"));
        assert_eq!(k.poll(504), None);
        assert!(k.poll(505).is_some());
        k.on_reply(Reply::Grace { remaining: 3_000 }, 510);
        assert_eq!(k.poll(3_509), None);
        assert!(k.poll(3_510).is_some());
    }

    #[test]
    fn giving_up_releases_and_a_late_grant_is_handed_back() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        k.poll(0);
        k.give_up();
        k.on_reply(Reply::Granted, 10);
        assert!(!k.owns(10));
        assert_eq!(k.poll(10), Some(Request::Release { token: "a#1".into() }));
        k.on_reply(Reply::Released, 20);
        assert_eq!(k.poll(30), None);
        assert_eq!(k.next_deadline(), None);
    }
}
