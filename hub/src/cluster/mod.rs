//! Several hubs as one (issue 20, `docs/cluster.md`): with `[coord] url` set, each room is served
//! by the one node holding its lease ([`lectern_coord`]), and a request for a room reaching another
//! node is forwarded there ([`forward`]) or, for a page, redirected. Without it the hub is on its
//! own and none of this runs.
//!
//! [`Cluster::route`] decides for one request: this node owns the room (serve it), another does
//! (forward to it), or nobody does yet (place the room: take it here, or forward with
//! `Lectern-Placed` so the chosen node takes it). A background task writes this node's record
//! to the registry every 2 s and lets go of rooms that have been empty for a minute.

pub mod fence;
pub mod fleet;
pub mod forward;
pub mod meter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lectern_coord::placement::{Placement, Recent};
use lectern_coord::redis::RedisUrl;
use lectern_coord::registry::{Load, NodeRecord, WRITE_EVERY, node_of};
use lectern_coord::{Coord, LeaseTiming, Leases};
use lectern_proto::RoomId;

use crate::http::AppState;
use crate::sfu::Command;

/// A room nobody has joined for this long, and empty, is let go.
const IDLE_RELEASE: Duration = Duration::from_secs(60);
/// How long a node that did not answer a forward is routed around: longer than a registry record
/// outlives its node.
const SUSPECT_FOR: Duration = Duration::from_secs(15);
/// How long a request waits for a room's lease to settle (a grace after a Redis restart is one
/// lease, 4 s) before it is refused with 503.
const ROUTE_WAIT: Duration = Duration::from_secs(10);

/// Where a request for a room goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Here,
    /// To the node that owns the room; `placed` when this node chose it for a room nobody owned.
    Forward {
        node: NodeRecord,
        placed: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("room '{0}' has no hub to serve it right now (the cluster is settling); try again in a few seconds")]
    Unsettled(RoomId),
    #[error("the cluster's coordination store is unreachable: {0}")]
    Coord(String),
}

pub struct Cluster {
    /// This node's id: its public URL.
    pub node: String,
    coord: Coord,
    leases: Leases,
    placement: Placement,
    recent: Mutex<Recent>,
    /// When each room was last routed here (rooms not routed for a while may be let go).
    last_routed: Mutex<HashMap<String, Instant>>,
    secret: Vec<u8>,
    pub agent: ureq::Agent,
    media: Vec<String>,
    start: Instant,
    serving: std::sync::atomic::AtomicBool,
    /// Nodes a forward could not reach, until when: a killed node's record stays in the registry
    /// for up to its TTL (10 s) and its leases for one lease (4 s); meanwhile it gets nothing.
    suspects: Mutex<HashMap<String, Instant>>,
    /// The registry as last read (every 2 s): where other nodes' boxes are.
    nodes: Mutex<Vec<NodeRecord>>,
}

/// A message for a box connected to another node, published on that node's channel.
#[derive(serde::Serialize, serde::Deserialize)]
struct BoxMessage {
    room: RoomId,
    msg: lectern_proto::device::HubMsg,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the secret.
        f.debug_struct("Cluster").field("node", &self.node).finish_non_exhaustive()
    }
}

impl Cluster {
    /// Joins the cluster at `url` as `public_url` (already validated), signing forwards with `secret`
    /// and recording its leases' epochs in `fence` (the store's `room_epochs`).
    /// [`spawn_upkeep`] starts its registry writer once the app exists.
    pub fn start(
        url: RedisUrl,
        public_url: &str,
        secret: &[u8],
        media: &[std::net::SocketAddr],
        fence: Arc<dyn lectern_coord::Fence>,
    ) -> Arc<Self> {
        let coord = Coord::redis(url);
        let node = public_url.to_owned();
        Arc::new(Self {
            leases: Leases::spawn(coord.clone(), fence, node.clone(), LeaseTiming::default()),
            node,
            coord,
            placement: Placement::default(),
            recent: Mutex::default(),
            last_routed: Mutex::default(),
            secret: secret.to_vec(),
            agent: forward::agent(),
            media: media.iter().map(ToString::to_string).collect(),
            start: Instant::now(),
            serving: true.into(),
            suspects: Mutex::default(),
            nodes: Mutex::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `Lectern-Forwarded-By` for a request this node forwards.
    pub fn sign(&self, method: &axum::http::Method, path: &str) -> String {
        forward::forwarded_by(&self.secret, &self.node, lectern_common::time::unix_ms(), method, path)
    }

    /// The forwarding node, when `headers` prove another node of the cluster forwarded the request.
    pub fn forwarded_by(
        &self,
        headers: &axum::http::HeaderMap,
        method: &axum::http::Method,
        path: &str,
    ) -> Option<String> {
        forward::verify(&self.secret, headers, method, path, lectern_common::time::unix_ms())
    }

    /// Where a request for `room` goes. `take` (a forwarded request this node was placed for, or
    /// one another node already forwarded) makes this node take a room nobody owns rather than
    /// place it elsewhere.
    pub async fn route(&self, room: &RoomId, take: bool) -> Result<Route, RouteError> {
        let deadline = Instant::now() + ROUTE_WAIT;
        let key = room.as_str();
        loop {
            if self.leases.owns(key) {
                self.touch(key);
                return Ok(Route::Here);
            }
            let holder = self.coord.holder(key).await.map_err(|e| RouteError::Coord(e.to_string()))?;
            match holder.as_deref().map(node_of) {
                Some(node) if node == self.node => self.leases.want(key),
                Some(node) => {
                    // Forward only to an owner that is alive; a dead one's lease lapses soon.
                    if !self.is_suspect(node)
                        && let Some(record) = self.node_record(node).await?
                    {
                        return Ok(Route::Forward { node: record, placed: false });
                    }
                }
                // A draining node takes no new room, even one another node sent it.
                None if !self.serving.load(std::sync::atomic::Ordering::Relaxed) => match self.place().await? {
                    Some(record) if record.id != self.node => {
                        return Ok(Route::Forward { node: record, placed: true });
                    }
                    _ => return Err(RouteError::Unsettled(room.clone())),
                },
                None if take => self.leases.want(key),
                None => match self.place().await? {
                    Some(record) if record.id != self.node => {
                        return Ok(Route::Forward { node: record, placed: true });
                    }
                    Some(_) => self.leases.want(key),
                    None => return Err(RouteError::Unsettled(room.clone())),
                },
            }
            if Instant::now() >= deadline {
                return Err(RouteError::Unsettled(room.clone()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node's leases (the store's writer reads their epochs).
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The public URLs of the nodes that serve, as last read: where a page goes when its own hub
    /// stops answering (`/healthz`).
    pub fn serving_nodes(&self) -> Vec<String> {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.iter().filter(|n| n.serving).map(|n| n.public_url.clone()).collect()
    }

    /// Stops taking new rooms (SIGTERM): the registry says so at its next write; rooms held stay
    /// until they end.
    pub fn drain(&self) {
        self.serving.store(false, std::sync::atomic::Ordering::Relaxed);
        // The timetable moves to a node that stays.
        self.leases.give_up(SCHEDULER_LEASE);
    }

    /// The rooms this node holds now.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.leases.rooms().iter().filter(|r| self.leases.owns(r)).filter_map(|r| RoomId::parse(r).ok()).collect()
    }

    pub fn rooms_held(&self) -> usize {
        self.rooms().len()
    }

    /// Whether `node` answers its health probe within a second (before a page is sent there: a
    /// browser sent to a dead node shows an error page, not a retry).
    pub async fn answers(&self, node: &NodeRecord) -> bool {
        let (agent, url) = (self.agent.clone(), format!("{}/healthz", node.public_url));
        let probe = tokio::task::spawn_blocking(move || {
            agent
                .get(&url)
                .config()
                .timeout_global(Some(Duration::from_secs(1)))
                .build()
                .call()
                .is_ok_and(|r| r.status().is_success())
        });
        probe.await.unwrap_or(false)
    }

    /// A forward to `node` failed to connect: leave it out of routing and placement for a while.
    pub fn suspect(&self, node: &str) {
        tracing::warn!(node, "a cluster node does not answer; routing around it");
        self.suspects.lock().unwrap_or_else(|e| e.into_inner()).insert(node.to_owned(), Instant::now() + SUSPECT_FOR);
    }

    fn is_suspect(&self, node: &str) -> bool {
        let mut suspects = self.suspects.lock().unwrap_or_else(|e| e.into_inner());
        suspects.retain(|_, until| Instant::now() < *until);
        suspects.contains_key(node)
    }

    fn touch(&self, room: &str) {
        self.last_routed.lock().unwrap_or_else(|e| e.into_inner()).insert(room.to_owned(), Instant::now());
    }

    async fn node_record(&self, id: &str) -> Result<Option<NodeRecord>, RouteError> {
        let nodes = self.coord.nodes().await.map_err(|e| RouteError::Coord(e.to_string()))?;
        Ok(nodes.into_iter().find(|n| n.id == id))
    }

    async fn place(&self) -> Result<Option<NodeRecord>, RouteError> {
        let mut nodes = self.coord.nodes().await.map_err(|e| RouteError::Coord(e.to_string()))?;
        nodes.retain(|n| !self.is_suspect(&n.id));
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.placement.choose(&nodes, &mut recent, self.now_ms()).cloned())
    }

    fn record(&self, load: Load, boxes: Vec<String>) -> NodeRecord {
        NodeRecord {
            id: self.node.clone(),
            public_url: self.node.clone(),
            media: self.media.clone(),
            serving: self.serving.load(std::sync::atomic::Ordering::Relaxed),
            load,
            boxes,
        }
    }

    /// Sends `msg` to the room's box through the node it is connected to; false when no node
    /// says it has that box.
    fn box_elsewhere(&self, room: &RoomId, msg: &lectern_proto::device::HubMsg) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(node) = nodes.iter().find(|n| n.id != self.node && n.boxes.iter().any(|b| b == room.as_str())) else {
            return false;
        };
        let Ok(payload) = serde_json::to_string(&BoxMessage { room: room.clone(), msg: msg.clone() }) else {
            return false;
        };
        let (coord, channel) = (self.coord.clone(), node_channel(&node.id));
        tokio::spawn(async move {
            if let Err(e) = coord.publish(&channel, &payload).await {
                tracing::warn!(error = %e, "cannot pass a message on to a box on another node");
            }
        });
        true
    }
}

fn node_channel(node: &str) -> String {
    format!("node:{node}")
}

/// Messages other nodes publish for the boxes connected here.
fn relay_box_messages(app: &Arc<AppState>, cluster: &Cluster) {
    let mut rx = cluster.coord.subscribe(&node_channel(&cluster.node));
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        while let Some(payload) = rx.recv().await {
            let Some(app) = app.upgrade() else { return };
            match serde_json::from_str::<BoxMessage>(&payload) {
                // Here only: a message is never passed on twice.
                Ok(m) => {
                    app.devices.send_here(&m.room, m.msg);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable message for a box from another node"),
            }
        }
    });
}

impl Cluster {}

/// The lease that makes one node of the cluster the timetable's scheduler (not a room id: those
/// cannot start with `@`).
const SCHEDULER_LEASE: &str = "@scheduler";

/// Runs the web admin's timetable scheduler: on a hub on its own, always; on a cluster node, only
/// while it holds the scheduler's lease, so each transition fires once cluster-wide. A node that
/// takes over starts with no memory of what is live: it sends the current slots' go-live again
/// (a live box ignores it) and ends them on time.
pub fn run_scheduler(app: &Arc<AppState>) {
    let Some(cluster) = app.cluster.clone() else {
        lectern_admin::spawn_scheduler(app.admin.clone());
        return;
    };
    let admin = app.admin.clone();
    cluster.leases.want(SCHEDULER_LEASE);
    tokio::spawn(async move {
        let mut running: Option<tokio::task::JoinHandle<()>> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let leading = cluster.leases.owns(SCHEDULER_LEASE);
            match (&running, leading) {
                (None, true) => {
                    tracing::info!("this node runs the timetable now");
                    running = Some(lectern_admin::spawn_scheduler(admin.clone()));
                }
                (Some(task), false) => {
                    tracing::info!("another node runs the timetable now");
                    task.abort();
                    running = None;
                }
                _ => {}
            }
        }
    });
}

/// Starts the node's upkeep, if it is a cluster node: every 2 s count what it serves, write its
/// record, let go of rooms empty and unrouted for [`IDLE_RELEASE`], share its boxes and read the
/// other nodes' ([`fleet`]).
pub fn spawn_upkeep(app: &Arc<AppState>) {
    let Some(cluster) = app.cluster.clone() else { return };
    let weak = Arc::downgrade(&cluster);
    app.devices.on_elsewhere(Box::new(move |room, msg| weak.upgrade().is_some_and(|c| c.box_elsewhere(room, msg))));
    let weak = Arc::downgrade(&cluster);
    app.devices.on_end_elsewhere(Box::new(move |room| {
        if let Some(c) = weak.upgrade() {
            fleet::end_elsewhere(&c, room);
        }
    }));
    let (coord, me) = (cluster.coord.clone(), cluster.node.clone());
    app.devices.on_revoke_elsewhere(Box::new(move |jti| fleet::revoke_elsewhere(&coord, &me, jti)));
    let here = Arc::downgrade(&app.devices);
    fleet::relay_revocations(&cluster.coord, cluster.node.clone(), move |jti| {
        if let Some(devices) = here.upgrade() {
            devices.revoke_here(jti);
        }
    });
    relay_box_messages(app, &cluster);
    fleet::relay_lesson_ends(app, &cluster);
    tokio::spawn(upkeep(Arc::downgrade(app)));
}

async fn upkeep(app: std::sync::Weak<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(WRITE_EVERY));
    let mut empty_since: HashMap<String, Instant> = HashMap::new();
    let mut shared = fleet::Writer::default();
    let mut meter = meter::Meter::default();
    loop {
        tick.tick().await;
        let Some(app) = app.upgrade() else { return };
        let Some(cluster) = app.cluster.clone() else { return };
        let sfu = &app.sfu;
        let mut load = Load::default();
        for room in cluster.leases.rooms() {
            let Ok(id) = RoomId::parse(&room) else { continue };
            let people = match sfu.call(&id, |reply| Command::Stats { room: id.clone(), reply }).await {
                Ok(stats) => stats.participants.len(),
                Err(_) => 0,
            };
            if cluster.leases.owns(&room) {
                load.rooms += 1;
                load.participants += u32::try_from(people).unwrap_or(u32::MAX);
            }
            let routed = cluster.last_routed.lock().unwrap_or_else(|e| e.into_inner()).get(&room).copied();
            let draining = !cluster.serving.load(std::sync::atomic::Ordering::Relaxed);
            if draining && people == 0 {
                // Nobody left in a draining node's room: whoever comes next starts it elsewhere.
                tracing::info!(%room, "draining: letting go of an empty room");
                cluster.leases.give_up(&room);
                continue;
            }
            if people > 0 || routed.is_some_and(|t| t.elapsed() < IDLE_RELEASE) {
                empty_since.remove(&room);
            } else if empty_since.entry(room.clone()).or_insert_with(Instant::now).elapsed() >= IDLE_RELEASE {
                tracing::info!(%room, "letting go of an empty room");
                cluster.leases.give_up(&room);
                empty_since.remove(&room);
                cluster.last_routed.lock().unwrap_or_else(|e| e.into_inner()).remove(&room);
            }
        }
        (load.cpu, load.packets_per_s) =
            meter.sample(Instant::now(), meter::cpu_ticks(), crate::media_io::udp::datagrams_sent());
        let boxes = app.devices.rooms().iter().map(|r| r.as_str().to_owned()).collect();
        if let Err(e) = cluster.coord.register(&cluster.record(load, boxes)).await {
            tracing::warn!(error = %e, "cannot write this node's record to the cluster registry");
        }
        match cluster.coord.nodes().await {
            Ok(nodes) => *cluster.nodes.lock().unwrap_or_else(|e| e.into_inner()) = nodes,
            Err(e) => tracing::warn!(error = %e, "cannot read the cluster registry"),
        }
        fleet::exchange(&app, &cluster, &mut shared).await;
    }
}
