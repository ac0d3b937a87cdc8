//! A node's leases: a task that keeps one [`LeaseKeeper`] per room the node serves, sends their
//! requests to the [`Coord`] store, and publishes who owns what for the request handlers to read
//! without waiting ([`Leases::owns`], [`Leases::owner`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::Millis;
use crate::backend::Coord;
use crate::fence::Fence;
use crate::lease::{LeaseKeeper, LeaseTiming, Request};
use crate::registry::node_of;

/// What the handlers see of one room.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// This node owns the room until then.
    mine_until: Option<Instant>,
    /// The epoch of this node's lease while it owns the room.
    epoch: Option<u64>,
    /// Another node's id, as the store last said.
    other: Option<String>,
}

#[derive(Debug)]
enum Command {
    Want(String),
    GiveUp(String),
}

/// The handle the hub keeps; cheap to clone.
#[derive(Clone)]
pub struct Leases {
    node: String,
    commands: mpsc::UnboundedSender<Command>,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    /// Per room, the epoch of the latest lease this node held (kept after it lapses or is let go:
    /// the lesson's last writes carry it, and the fence refuses them only if a later owner came).
    last: Arc<Mutex<HashMap<String, u64>>>,
}

impl Leases {
    /// Starts the task for node `node` on `coord`, recording its leases' epochs in `fence`.
    pub fn spawn(coord: Coord, fence: Arc<dyn Fence>, node: impl Into<String>, timing: LeaseTiming) -> Self {
        let node = node.into();
        let (tx, rx) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let last = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(run(coord, fence, node.clone(), timing, rx, seen.clone(), last.clone()));
        Self { node, commands: tx, seen, last }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Seek (and then keep) the room.
    pub fn want(&self, room: &str) {
        let _ = self.commands.send(Command::Want(room.to_owned()));
    }

    /// Let the room go (its lesson ended, or the node drains it).
    pub fn give_up(&self, room: &str) {
        let _ = self.commands.send(Command::GiveUp(room.to_owned()));
    }

    /// Whether this node owns the room now (may admit new people).
    pub fn owns(&self, room: &str) -> bool {
        self.lock().get(room).and_then(|s| s.mine_until).is_some_and(|until| Instant::now() < until)
    }

    /// The epoch of this node's lease on the room while it owns it: the owner's writes carry it
    /// and the database refuses them once a later lease was recorded.
    pub fn epoch(&self, room: &str) -> Option<u64> {
        let seen = self.lock();
        let s = seen.get(room)?;
        s.mine_until.is_some_and(|until| Instant::now() < until).then_some(s.epoch).flatten()
    }

    /// The epoch of the latest lease this node held on the room, owned now or not.
    pub fn last_epoch(&self, room: &str) -> Option<u64> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).get(room).copied()
    }

    /// The node that owns the room, as last heard: this one's id while it owns it.
    pub fn owner(&self, room: &str) -> Option<String> {
        if self.owns(room) {
            return Some(self.node.clone());
        }
        self.lock().get(room).and_then(|s| s.other.clone())
    }

    /// The rooms this node holds or seeks.
    pub fn rooms(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Seen>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn run(
    coord: Coord,
    fence: Arc<dyn Fence>,
    node: String,
    timing: LeaseTiming,
    mut commands: mpsc::UnboundedReceiver<Command>,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    last: Arc<Mutex<HashMap<String, u64>>>,
) {
    let start = Instant::now();
    let now_ms = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    let at = |ms: Millis| start + Duration::from_millis(ms);
    let mut keepers: HashMap<String, LeaseKeeper> = HashMap::new();
    loop {
        // Everything due, one request at a time (each keeper has at most one on its way).
        let mut due: Vec<(String, Request, Millis)> = Vec::new();
        let now = now_ms();
        for (room, k) in &mut keepers {
            if let Some(r) = k.poll(now) {
                due.push((room.clone(), r, now));
            }
        }
        for (room, request, _) in due {
            let reply = match &request {
                Request::Fence { token, epoch } => fence.record(&room, token, *epoch).await,
                _ => coord.lease(&room, &request).await.map_err(|e| e.to_string()),
            };
            let Some(k) = keepers.get_mut(&room) else { continue };
            let now = now_ms();
            match reply {
                Ok(reply) => k.on_reply(reply, now),
                Err(e) => {
                    let what =
                        if matches!(request, Request::Fence { .. }) { "lease fence" } else { "coordination store" };
                    tracing::warn!(room, error = %e, "{what} unreachable");
                    k.on_error(now);
                }
            }
        }
        // Publish what the handlers should see, and forget rooms given up and released.
        {
            let now = now_ms();
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            keepers.retain(|room, k| {
                let entry = seen.entry(room.clone()).or_default();
                entry.mine_until = k.valid_until().filter(|&u| now < u).map(at);
                entry.epoch = k.epoch(now);
                if let Some(epoch) = entry.epoch {
                    last.lock().unwrap_or_else(|e| e.into_inner()).insert(room.clone(), epoch);
                }
                entry.other = k.owner().map(node_of).filter(|n| *n != node).map(str::to_owned);
                let keep = k.next_deadline().is_some() || entry.mine_until.is_some();
                if !keep {
                    seen.remove(room);
                }
                keep
            });
        }
        let next = keepers.values().filter_map(LeaseKeeper::next_deadline).min();
        let sleep = next.map_or(Duration::from_secs(3600), |d| Duration::from_millis(d.saturating_sub(now_ms())));
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Want(room)) => {
                    keepers.entry(room).or_insert_with(|| LeaseKeeper::new(node.clone(), timing)).want(now_ms());
                }
                Some(Command::GiveUp(room)) => {
                    if let Some(k) = keepers.get_mut(&room) {
                        k.give_up();
                    }
                }
                None => return,
            },
            () = tokio::time::sleep(sleep) => {}
        }
    }
}
