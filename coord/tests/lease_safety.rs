//! Lease safety on simulated time: nodes race for one room through a simulated store, with
//! arbitrary message delays, lost requests and replies, store restarts that lose every key, and
//! nodes that give the room up and want it back. Whatever happens, at no instant do two nodes
//! believe they own the room. (`tests/redis.rs` checks the real Redis scripts against the model.)

use lectern_coord::{LeaseKeeper, LeaseTiming, MemoryStore, Millis, Reply, Request};
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
}

fn plans() -> impl Strategy<Value = Plan> {
    (any::<u64>(), 2usize..=4, 0u64..=8_000, 0u64..=300, 0u64..=300, 0u64..=8, 0u64..=10).prop_map(
        |(seed, nodes, max_delay, slow, loss, restarts, churn)| Plan {
            seed: seed | 1,
            nodes,
            max_delay,
            slow,
            loss,
            restarts,
            churn,
        },
    )
}

fn delay(rng: &mut Rng, plan: &Plan) -> Millis {
    if rng.chance(plan.slow) { rng.below(plan.max_delay + 1) } else { rng.below(51) }
}

/// Runs 60 simulated seconds; returns how many steps had an owner (to see the run did something).
fn run(plan: &Plan) -> usize {
    let mut rng = Rng(plan.seed);
    let mut store = MemoryStore::new();
    let mut nodes: Vec<Node> = (0..plan.nodes)
        .map(|i| Node { keeper: LeaseKeeper::new(format!("n{i}"), TIMING), waiting: None, seq: 0 })
        .collect();
    let mut events: Vec<(Millis, Event)> = Vec::new();
    let mut owned_steps = 0;
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
                    let reply = store.handle("room", &request, at);
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
        owned_steps += usize::from(!owners.is_empty());
    }
    owned_steps
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
    let plan = Plan { seed: 7, nodes: 3, max_delay: 20, slow: 0, loss: 0, restarts: 0, churn: 0 };
    let steps = run(&plan);
    assert!(steps > 2_000, "owned in only {steps} steps");
}

/// A store restart wipes the key; the owner renews it back and keeps the room.
#[test]
fn the_owner_keeps_the_room_across_a_store_restart() {
    let mut store = MemoryStore::new();
    let mut a = LeaseKeeper::new("a", TIMING);
    let mut b = LeaseKeeper::new("b", TIMING);
    a.want(0);
    let mut now = 0;
    // Through the store's start-up grace to a.
    while !a.owns(now) {
        if let Some(r) = a.poll(now) {
            let reply = store.handle("room", &r, now);
            a.on_reply(reply, now);
        }
        now += 100;
    }
    b.want(now);
    store.restart();
    for _ in 0..100 {
        for k in [&mut a, &mut b] {
            if let Some(r) = k.poll(now) {
                let reply = store.handle("room", &r, now);
                k.on_reply(reply, now);
            }
        }
        assert!(a.owns(now) && !b.owns(now), "at {now}");
        now += 100;
    }
    assert!(b.owner().is_some_and(|o| o.starts_with("a#")), "{:?}", b.owner());
}
