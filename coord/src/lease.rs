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

/// What the node asks. `Acquire`, `Renew` and `Release` go to the coordination store (Redis or
/// in-process); `Fence` goes to the database's fence ([`crate::fence`]). The value under the room's
/// key is `<node>#<epoch>`: the store numbers every lease it creates, so a node restarted with the
/// same id never mistakes an old key for its own, and the database can refuse a stale owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Take the room if nobody holds it (and the store is not in its start-up grace). The store
    /// numbers the new lease one above both its own counter for the room and `floor` (the highest
    /// epoch this node has heard of), so epochs keep rising when the store lost its counter.
    Acquire { node: String, floor: u64, ttl: Millis },
    /// Extend a held lease. If the key vanished (the store restarted), the store creates it anew
    /// with a new epoch (above `floor`, the lease's own), which must be fenced like an acquisition.
    Renew { token: String, floor: u64, ttl: Millis },
    /// Give the room up (only if the key is still ours).
    Release { token: String },
    /// Record `epoch` as the room's highest in the database, only if no higher one (or the same
    /// from another lease) is there already.
    Fence { token: String, epoch: u64 },
}

/// What the store (or the fence) answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `Renew` succeeded: the key is ours for the ttl.
    Granted,
    /// `Acquire` (or a `Renew` that found the key gone) created the key with this epoch: ours once
    /// the fence records it.
    Acquired { epoch: u64 },
    /// Someone else holds the room.
    Held { owner: String },
    /// The store lost its keys recently; nobody may acquire for this much longer.
    Grace { remaining: Millis },
    /// `Release` done (or the key was not ours any more).
    Released,
    /// `Fence`: the epoch is now the room's highest.
    Fenced,
    /// `Fence`: the database already holds this epoch (or a higher one) from another lease.
    Stale { recorded: u64 },
}

/// The epoch in a key's value `<node>#<epoch>`.
pub fn epoch_of(token: &str) -> Option<u64> {
    token.rsplit_once('#').and_then(|(_, e)| e.parse().ok())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Not wanted, or given up.
    Idle,
    /// Wanted but not held: try at `next_try`.
    Seeking { next_try: Millis },
    /// The store granted a new lease; not ours until the fence records its epoch (next try at
    /// `next_try`). Lapses like a held lease.
    Fencing { valid_until: Millis, renew_at: Millis, next_try: Millis },
    /// Held until `valid_until` (node clock); renew at `renew_at`.
    Held { valid_until: Millis, renew_at: Millis },
    /// Giving up a held lease: send a release, then seek the room again if `again`.
    Releasing { again: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Acquire,
    Renew,
    Release,
    Fence,
}

/// One node's claim on one room.
#[derive(Debug, Clone)]
pub struct LeaseKeeper {
    node: String,
    timing: LeaseTiming,
    state: State,
    /// The request on its way and when it was sent.
    in_flight: Option<(Sent, Millis)>,
    /// The epoch of the lease this node holds or fences (0: none yet).
    epoch: u64,
    /// The highest epoch heard of for this room (from the store, other owners, the fence).
    floor: u64,
    /// Who holds the room, as last heard (for routing to the owner).
    owner: Option<String>,
}

impl LeaseKeeper {
    pub fn new(node: impl Into<String>, timing: LeaseTiming) -> Self {
        Self { node: node.into(), timing, state: State::Idle, in_flight: None, epoch: 0, floor: 0, owner: None }
    }

    /// The value this node's key holds while it holds the room.
    pub fn token(&self) -> String {
        format!("{}#{}", self.node, self.epoch)
    }

    /// The epoch of the lease this node owns, while it owns the room: its fenced writes carry it.
    pub fn epoch(&self, now: Millis) -> Option<u64> {
        self.owns(now).then_some(self.epoch)
    }

    /// Start seeking the room (no-op if already seeking or held).
    pub fn want(&mut self, now: Millis) {
        match self.state {
            State::Idle => self.state = State::Seeking { next_try: now },
            State::Releasing { .. } => self.state = State::Releasing { again: true },
            State::Seeking { .. } | State::Fencing { .. } | State::Held { .. } => {}
        }
    }

    /// Stop wanting the room: a held lease is released, a sought one forgotten.
    pub fn give_up(&mut self) {
        self.state = match self.state {
            State::Held { .. } | State::Fencing { .. } | State::Releasing { .. } => State::Releasing { again: false },
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
        let ttl = self.timing.ttl;
        let (sent, request) = match self.state {
            State::Idle => return None,
            State::Seeking { next_try } if now >= next_try => {
                (Sent::Acquire, Request::Acquire { node: self.node.clone(), floor: self.floor, ttl })
            }
            State::Fencing { next_try, .. } if now >= next_try => {
                (Sent::Fence, Request::Fence { token: self.token(), epoch: self.epoch })
            }
            State::Held { renew_at, .. } if now >= renew_at => {
                (Sent::Renew, Request::Renew { token: self.token(), floor: self.floor.max(self.epoch), ttl })
            }
            State::Releasing { .. } => (Sent::Release, Request::Release { token: self.token() }),
            State::Seeking { .. } | State::Fencing { .. } | State::Held { .. } => return None,
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
                State::Held { valid_until, .. } | State::Fencing { valid_until, .. } => Some(valid_until),
                _ => None,
            };
        }
        match self.state {
            State::Idle => None,
            State::Seeking { next_try } => Some(next_try),
            State::Fencing { valid_until, next_try, .. } => Some(next_try.min(valid_until)),
            State::Held { valid_until, renew_at } => Some(renew_at.min(valid_until)),
            State::Releasing { .. } => Some(0),
        }
    }

    /// The store (or the fence) answered the request on its way.
    pub fn on_reply(&mut self, reply: Reply, now: Millis) {
        let Some((sent, sent_at)) = self.in_flight.take() else {
            return;
        };
        let retry = now + self.timing.retry_every;
        match (sent, reply) {
            (Sent::Acquire | Sent::Renew, Reply::Acquired { epoch }) => {
                self.epoch = epoch;
                self.floor = self.floor.max(epoch);
                if matches!(self.state, State::Seeking { .. } | State::Held { .. } | State::Fencing { .. }) {
                    // Counted from the send, as any lease; but not ours before the fence says so.
                    self.state = State::Fencing {
                        valid_until: sent_at + self.timing.believed(),
                        renew_at: sent_at + self.timing.renew_every,
                        next_try: now,
                    };
                    self.expire(now);
                } else {
                    // Given up while the request was out: hand the fresh lease straight back.
                    self.state = State::Releasing { again: false };
                }
            }
            (Sent::Renew, Reply::Granted) => {
                if matches!(self.state, State::Seeking { .. } | State::Held { .. }) {
                    self.state = State::Held {
                        valid_until: sent_at + self.timing.believed(),
                        renew_at: sent_at + self.timing.renew_every,
                    };
                    self.owner = Some(self.token());
                    self.expire(now);
                }
            }
            (Sent::Fence, Reply::Fenced) => {
                if let State::Fencing { valid_until, renew_at, .. } = self.state {
                    self.state = State::Held { valid_until, renew_at };
                    self.owner = Some(self.token());
                    self.expire(now);
                }
            }
            (Sent::Fence, Reply::Stale { recorded }) => {
                // Another lease of this room got further: this one must not serve. Hand the key
                // back and ask again above what the database holds.
                self.floor = self.floor.max(recorded);
                if matches!(self.state, State::Fencing { .. }) {
                    self.state = State::Releasing { again: true };
                }
            }
            (Sent::Acquire | Sent::Renew, Reply::Held { owner }) => {
                self.floor = self.floor.max(epoch_of(&owner).unwrap_or(0));
                self.owner = Some(owner);
                if !matches!(self.state, State::Idle | State::Releasing { .. }) {
                    self.state = State::Seeking { next_try: retry };
                }
            }
            (Sent::Acquire | Sent::Renew, Reply::Grace { remaining }) => {
                if !matches!(self.state, State::Idle | State::Releasing { .. }) {
                    self.state = State::Seeking { next_try: now + remaining.max(1) };
                }
            }
            (Sent::Release, _) => {
                if let State::Releasing { again } = self.state {
                    self.state = if again { State::Seeking { next_try: now } } else { State::Idle };
                }
                self.owner = None;
            }
            (Sent::Acquire | Sent::Renew | Sent::Fence, _) => {
                // Not an answer to these; treat as a refusal.
                if matches!(self.state, State::Fencing { .. }) {
                    self.state = State::Releasing { again: true };
                } else if !matches!(self.state, State::Idle | State::Releasing { .. }) {
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
            (Sent::Fence, State::Fencing { next_try, .. }) => *next_try = now + self.timing.retry_every,
            // A lost release: the key lapses on its own.
            (Sent::Release, State::Releasing { again }) => {
                self.state = if *again { State::Seeking { next_try: now } } else { State::Idle };
            }
            _ => {}
        }
        self.expire(now);
    }

    /// A held (or fencing) lease past its time is lost: seek it again.
    fn expire(&mut self, now: Millis) {
        if let State::Held { valid_until, .. } | State::Fencing { valid_until, .. } = self.state
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

    fn acquire(node: &str, floor: u64) -> Option<Request> {
        Some(Request::Acquire { node: node.into(), floor, ttl: 4_000 })
    }

    /// Acquired with `epoch` at `at`, fenced at `at`.
    fn take(k: &mut LeaseKeeper, epoch: u64, at: Millis) {
        k.on_reply(Reply::Acquired { epoch }, at);
        assert!(!k.owns(at), "not before the fence");
        assert_eq!(k.poll(at), Some(Request::Fence { token: k.token(), epoch }));
        k.on_reply(Reply::Fenced, at);
    }

    #[test]
    fn a_granted_lease_counts_from_when_it_was_asked() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        assert_eq!(k.poll(0), acquire("a", 0));
        take(&mut k, 1, 300);
        assert!(k.owns(300));
        assert!(k.owns(3_957));
        assert!(!k.owns(3_958), "believed for less than the ttl from the send time");
        assert_eq!(k.owner(), Some("a#1"));
        assert_eq!(k.epoch(300), Some(1));
    }

    #[test]
    fn a_held_lease_is_renewed_and_lapses_when_the_store_is_gone() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        k.poll(0);
        take(&mut k, 1, 10);
        assert_eq!(k.poll(999), None);
        assert_eq!(k.poll(1_000), Some(Request::Renew { token: "a#1".into(), floor: 1, ttl: 4_000 }));
        k.on_error(1_200);
        // Retried, still believed meanwhile.
        assert!(k.owns(1_200));
        assert!(matches!(k.poll(1_700), Some(Request::Renew { .. })));
        k.on_error(1_800);
        assert!(k.owns(3_957));
        assert!(!k.owns(3_958), "4 s less 1 % and 2 ms from the first send");
        // Once lapsed it seeks the room again, above the epoch it had.
        assert_eq!(k.poll(4_000), acquire("a", 1));
    }

    #[test]
    fn a_refused_node_learns_the_owner_and_its_epoch_and_retries_after_a_grace() {
        let mut k = LeaseKeeper::new("b", T);
        k.want(0);
        k.poll(0);
        k.on_reply(Reply::Held { owner: "a#7".into() }, 5);
        assert!(!k.owns(5));
        assert_eq!(k.owner(), Some("a#7"));
        assert_eq!(k.poll(504), None);
        assert_eq!(k.poll(505), acquire("b", 7));
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
        k.on_reply(Reply::Acquired { epoch: 1 }, 10);
        assert!(!k.owns(10));
        assert_eq!(k.poll(10), Some(Request::Release { token: "a#1".into() }));
        k.on_reply(Reply::Released, 20);
        assert_eq!(k.poll(30), None);
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn a_lease_the_fence_refuses_is_handed_back_and_sought_above_the_recorded_epoch() {
        let mut k = LeaseKeeper::new("b", T);
        k.want(0);
        k.poll(0);
        k.on_reply(Reply::Acquired { epoch: 1 }, 10);
        assert_eq!(k.poll(10), Some(Request::Fence { token: "b#1".into(), epoch: 1 }));
        k.on_reply(Reply::Stale { recorded: 5 }, 20);
        assert!(!k.owns(20));
        assert_eq!(k.poll(20), Some(Request::Release { token: "b#1".into() }));
        k.on_reply(Reply::Released, 30);
        assert_eq!(k.poll(30), acquire("b", 5));
        take(&mut k, 6, 40);
        assert_eq!(k.epoch(40), Some(6));
    }

    #[test]
    fn a_renewal_that_recreates_the_key_is_fenced_again_before_it_counts() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        k.poll(0);
        take(&mut k, 3, 10);
        assert!(matches!(k.poll(1_000), Some(Request::Renew { .. })));
        // The store restarted: the key is created anew under a new epoch.
        k.on_reply(Reply::Acquired { epoch: 4 }, 1_010);
        assert!(!k.owns(1_010));
        assert_eq!(k.poll(1_010), Some(Request::Fence { token: "a#4".into(), epoch: 4 }));
        k.on_reply(Reply::Fenced, 1_020);
        assert_eq!(k.epoch(1_020), Some(4));
        assert!(k.owns(4_957) && !k.owns(4_958), "counted from the renewal's send");
    }

    #[test]
    fn an_unreachable_fence_is_retried_until_the_lease_lapses() {
        let mut k = LeaseKeeper::new("a", T);
        k.want(0);
        k.poll(0);
        k.on_reply(Reply::Acquired { epoch: 1 }, 10);
        assert!(matches!(k.poll(10), Some(Request::Fence { .. })));
        k.on_error(100);
        assert_eq!(k.poll(599), None);
        assert!(matches!(k.poll(600), Some(Request::Fence { .. })));
        k.on_error(3_958);
        assert!(!k.owns(3_958));
        assert_eq!(k.poll(3_958), acquire("a", 1));
    }
}
