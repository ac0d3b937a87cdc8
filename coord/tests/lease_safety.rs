//! Lease safety on simulated time: nodes race for one room through a simulated store, with
//! arbitrary message delays, lost requests and replies, store restarts that lose every key, and
//! nodes that give the room up and want it back. Every lease's epoch goes through the database's
//! fence (its own delays and losses; the database never loses what it recorded, while the store's
//! restarts lose the keys *and* the epoch counters), and owners write to the database under their
//! epoch, writes that may arrive late. Whatever happens, at no instant do two nodes believe they
//! own the room, an owner's epoch is the one the fence holds, and no write is let through while
//! another node owns the room. (`tests/redis.rs` checks the real Redis scripts against the model.)

use lectern_coord::{LeaseKeeper, LeaseTiming, MemoryFence, MemoryStore, Millis, Reply, Request};
use proptest::prelude::*;

const TIMING: LeaseTiming = LeaseTiming { ttl: 4_000, renew_every: 1_000, retry_every: 500 };
/// A request without an answer by then is given up (the connection is dropped).
const TIMEOUT: Millis = 1_500;

/// xorshift64*: the schedule's randomness from one proptest-chosen seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

enum Event {
    /// A request reaches the store.
    AtStore { node: usize, seq: u64, request: Request },
    /// The store's answer reaches the node.
    AtNode { node: usize, seq: u64, reply: Reply },
    /// An owner's write (say, a lesson opened) reaches the database.
    Write { node: usize, epoch: u64 },
}

struct Node {
    keeper: LeaseKeeper,
    /// The request on its way: its number and when it times out.
    waiting: Option<(u64, Millis)>,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Plan {
    seed: u64,
    nodes: usize,
    /// Network delay up to this, each way, for one message in `slow` per mille; the others
    /// take up to 50 ms. Long stragglers are what break a lease counted from the wrong moment.
    max_delay: Millis,
    slow: u64,
    /// Chance per mille that a message is lost.
    loss: u64,
    /// Chance per mille per step that the store restarts empty.
    restarts: u64,
    /// Chance per mille per step that a node changes its mind.
    churn: u64,
    /// Chance per mille per step that an owner writes to the database.
    writes: u64,
}

fn plans() -> impl Strategy<Value = Plan> {
    (any::<u64>(), 2usize..=4, 0u64..=8_000, 0u64..=300, 0u64..=300, 0u64..=8, 0u64..=10, 0u64..=200).prop_map(
        |(seed, nodes, max_delay, slow, loss, restarts, churn, writes)| Plan {
            seed: seed | 1,
            nodes,
            max_delay,
            slow,
            loss,
            restarts,
            churn,
            writes,
        },
    )
}

fn delay(rng: &mut Rng, plan: &Plan) -> Millis {
    if rng.chance(plan.slow) { rng.below(plan.max_delay + 1) } else { rng.below(51) }
}

/// What a run saw: steps with an owner, writes let through and refused.
#[derive(Debug, Default)]
struct Seen {
    owned_steps: usize,
    admitted: usize,
    refused: usize,
}

/// Runs 60 simulated seconds.
fn run(plan: &Plan) -> Seen {
    let mut rng = Rng(plan.seed);
    let mut store = MemoryStore::new();
    let mut fence = MemoryFence::new();
    let mut seen = Seen::default();
    let mut nodes: Vec<Node> = (0..plan.nodes)
        .map(|i| Node { keeper: LeaseKeeper::new(format!("n{i}"), TIMING), waiting: None, seq: 0 })
        .collect();
    let mut events: Vec<(Millis, Event)> = Vec::new();
    let mut now: Millis = 0;
    for n in &mut nodes {
        n.keeper.want(0);
    }
    while now < 60_000 {
        now += 1 + rng.below(40);
        if rng.chance(plan.restarts) {
            store.restart();
        }
        // Deliver what is due, oldest first.
        events.sort_by_key(|(at, _)| *at);
        let due: Vec<_> = {
            let split = events.iter().position(|(at, _)| *at > now).unwrap_or(events.len());
            events.drain(..split).collect()
        };
        for (at, event) in due {
            match event {
                Event::AtStore { node, seq, request } => {
                    let reply = match &request {
                        Request::Fence { token, epoch } => fence.record("room", token, *epoch),
                        _ => store.handle("room", &request, at),
                    };
                    if !rng.chance(plan.loss) {
                        events.push((at + delay(&mut rng, plan), Event::AtNode { node, seq, reply }));
                    }
                }
                Event::AtNode { node, seq, reply } => {
                    let n = &mut nodes[node];
                    // A reply to a request already given up is dropped with its connection. (`at`
                    // is after the previous step, so each node's clock still only moves forward.)
                    if n.waiting.is_some_and(|(s, _)| s == seq) {
                        n.waiting = None;
                        n.keeper.on_reply(reply, at);
                    }
                }
                Event::Write { node, epoch } => {
                    if fence.admits("room", epoch) {
                        let others: Vec<usize> =
                            (0..nodes.len()).filter(|&j| j != node && nodes[j].keeper.owns(at)).collect();
                        assert!(
                            others.is_empty(),
                            "n{node}'s write of epoch {epoch} let through at {at} ms while {others:?} own the room ({plan:?})"
                        );
                        seen.admitted += 1;
                    } else {
                        seen.refused += 1;
                    }
                }
            }
        }
        for (i, n) in nodes.iter_mut().enumerate() {
            if n.waiting.is_some_and(|(_, deadline)| now >= deadline) {
                n.waiting = None;
                n.keeper.on_error(now);
            }
            if rng.chance(plan.churn) {
                if n.keeper.owns(now) || rng.chance(500) {
                    n.keeper.give_up();
                } else {
                    n.keeper.want(now);
                }
            }
            if let Some(epoch) = n.keeper.epoch(now)
                && rng.chance(plan.writes)
            {
                events.push((now + delay(&mut rng, plan), Event::Write { node: i, epoch }));
            }
            if let Some(request) = n.keeper.poll(now) {
                n.seq += 1;
                n.waiting = Some((n.seq, now + TIMEOUT));
                if !rng.chance(plan.loss) {
                    events.push((now + delay(&mut rng, plan), Event::AtStore { node: i, seq: n.seq, request }));
                }
            }
        }
        let owners: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].keeper.owns(now)).collect();
        assert!(owners.len() <= 1, "two owners at {now} ms: {owners:?} ({plan:?})");
        for &i in &owners {
            let epoch = nodes[i].keeper.epoch(now);
            assert_eq!(epoch, fence.recorded("room"), "n{i} owns under an epoch the fence does not hold ({plan:?})");
        }
        seen.owned_steps += usize::from(!owners.is_empty());
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn never_two_owners(plan in plans()) {
        run(&plan);
    }
}

/// On a calm network somebody owns the room most of the time: the safety above is not bought by
/// never granting anything.
#[test]
fn a_calm_network_has_an_owner() {
    let plan = Plan { seed: 7, nodes: 3, max_delay: 20, slow: 0, loss: 0, restarts: 0, churn: 0, writes: 50 };
    let seen = run(&plan);
    assert!(seen.owned_steps > 2_000, "owned in only {} steps", seen.owned_steps);
    assert!(seen.admitted > 50, "{seen:?}");
}

/// Stragglers and restarts make the fence refuse some writes: the property above is not met by a
/// fence that never has anything to refuse.
#[test]
fn a_stormy_network_has_stale_writes_refused() {
    let refused: usize = (1..=40u64)
        .map(|seed| {
            let plan =
                Plan { seed, nodes: 3, max_delay: 6_000, slow: 200, loss: 50, restarts: 5, churn: 10, writes: 150 };
            run(&plan).refused
        })
        .sum();
    assert!(refused > 0, "no stale write was ever refused");
}

/// A store restart wipes the key; the owner renews it back and keeps the room.
#[test]
fn the_owner_keeps_the_room_across_a_store_restart() {
    let mut store = MemoryStore::new();
    let mut fence = MemoryFence::new();
    let mut a = LeaseKeeper::new("a", TIMING);
    let mut b = LeaseKeeper::new("b", TIMING);
    a.want(0);
    let mut now = 0;
    // Through the store's start-up grace to a.
    while !a.owns(now) {
        step(&mut a, &mut store, &mut fence, now);
        now += 100;
    }
    b.want(now);
    store.restart();
    let mut re_fenced = false;
    for _ in 0..100 {
        for k in [&mut a, &mut b] {
            step(k, &mut store, &mut fence, now);
        }
        // a's renewal re-creates its key under a new epoch, which is fenced before it counts: a
        // may pause for that one round trip, and b never owns.
        assert!(!b.owns(now), "at {now}");
        re_fenced |= a.epoch(now).is_some_and(|e| e > 1);
        now += 100;
    }
    assert!(a.owns(now) && re_fenced, "a keeps the room under a new epoch");
    assert!(b.owner().is_some_and(|o| o.starts_with("a#")), "{:?}", b.owner());
}

/// Delivers one request of `k` to the store (or the fence) at once.
fn step(k: &mut LeaseKeeper, store: &mut MemoryStore, fence: &mut MemoryFence, now: Millis) {
    if let Some(r) = k.poll(now) {
        let reply = match &r {
            Request::Fence { token, epoch } => fence.record("room", token, *epoch),
            _ => store.handle("room", &r, now),
        };
        k.on_reply(reply, now);
    }
}

/// A store that lost its keys and its epoch counters *without* the start-up grace (a replica
/// promoted without the boot key, say): b is handed the room while a still believes it owns it.
/// The fence still keeps the room's data to one owner: b's first epoch (the counter restarted at
/// 1) is refused, b asks again above what the database holds, and a's late write is refused.
#[test]
fn without_the_grace_the_fence_still_refuses_the_stale_owner() {
    let mut store = MemoryStore::new();
    let mut fence = MemoryFence::new();
    let mut a = LeaseKeeper::new("a", TIMING);
    let mut b = LeaseKeeper::new("b", TIMING);
    a.want(0);
    let mut now = 0;
    while !a.owns(now) {
        step(&mut a, &mut store, &mut fence, now);
        now += 100;
    }
    let old = a.epoch(now).expect("a's epoch");
    store.restart();
    // The store's boot as if it came up long ago: no grace.
    store.handle("other", &Request::Release { token: String::new() }, 0);
    b.want(now);
    for _ in 0..5 {
        step(&mut b, &mut store, &mut fence, now);
    }
    assert!(a.owns(now), "a has not heard anything yet");
    assert!(b.owns(now), "b took the room without the grace");
    let new = b.epoch(now).expect("b's epoch");
    assert!(new > old, "b's epoch {new} rose above a's {old} although the store forgot its counter");
    assert!(!fence.admits("room", old), "a's write is refused");
    assert!(fence.admits("room", new));
    // a learns at its next renewal.
    now += 1_000;
    step(&mut a, &mut store, &mut fence, now);
    assert!(!a.owns(now));
    assert!(a.owner().is_some_and(|o| o.starts_with("b#")), "{:?}", a.owner());
}
