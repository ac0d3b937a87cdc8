//! The classroom boxes this hub knows right now: one control channel per room (a reconnecting
//! box replaces its old socket), what each last reported, and the boxes waiting to be enrolled.
//! The WebSocket sessions that fill it are in [`crate::http::device`]; the web admin reads and
//! commands it through [`lectern_admin::Fleet`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lectern_common::time::{unix_ms, unix_secs};
use lectern_proto::RoomId;
use lectern_proto::device::{DeviceMsg, HubMsg};
use tokio::sync::mpsc;

use crate::classroom::{Rate, RateLimiter};
use crate::enroll::{self, Enrollments};
use crate::token::TokenKey;

/// A snapshot is a thumbnail; anything bigger is refused rather than stored.
const MAX_SNAPSHOT_BYTES: usize = 48 * 1024;

/// Messages for one box that its control channel has not written yet. The hub sends a box a few
/// a minute (commands, the display's hands and lobby); a box this far behind is not reading.
pub const DEVICE_BACKLOG: usize = 64;

/// The boxes connected to this hub, one per room (a reconnecting box replaces its old socket), and
/// the boxes waiting to be enrolled.
pub struct DeviceRegistry {
    boxes: Mutex<HashMap<RoomId, Connected>>,
    next_conn: AtomicU64,
    enrollments: Mutex<Enrollments>,
    /// Anonymous enrolment requests per client address.
    enroll_rate: Mutex<RateLimiter<IpAddr>>,
    /// Waiting boxes' sockets by hashed box key, and credentials for boxes claimed while away.
    waiting: Mutex<Waiting>,
    key: TokenKey,
    /// Ends a revoked token's media sessions; set once the hub's HTTP state exists.
    on_revoke: OnceLock<RevokeHook>,
    /// Ends the room's lesson on the hub when the web admin (its timetable, or the fleet view)
    /// ends the room: set once the hub's HTTP state exists.
    on_end: OnceLock<EndHook>,
    /// Where the waiting boxes go whenever they change, to be saved (see `enroll`).
    saved: OnceLock<tokio::sync::watch::Sender<Vec<enroll::Pending>>>,
    /// Bumped whenever a box connects, reports, answers or leaves: the admin's fleet view is
    /// pushed from it.
    changes: tokio::sync::watch::Sender<u64>,
    /// On a cluster node: delivers a message to a box connected to another node (see
    /// [`crate::cluster`]); answers whether some node has that box.
    elsewhere: OnceLock<RemoteHook>,
    /// On a cluster node: the boxes connected to the other nodes, as they last shared them, and
    /// when that was read (see [`crate::cluster::fleet`]).
    remote: Mutex<Remote>,
    /// On a cluster node: ends a room's lesson on whichever node serves it (the web admin's end
    /// reaches the room's owner, not only this node's rooms).
    end_elsewhere: OnceLock<EndHook>,
    /// On a cluster node: tells the other nodes a token was revoked (they refuse it too, and drop
    /// the box if it is connected to them).
    revoke_elsewhere: OnceLock<RevokeHook>,
}

/// Other nodes' boxes, each marked with its node.
#[derive(Default)]
struct Remote {
    views: Vec<DeviceView>,
    read_at: Option<std::time::Instant>,
}

/// Other nodes' boxes not read again for this long are left out of the fleet (the coordination
/// store is unreachable, or the upkeep stopped): better a box missing than one shown live long gone.
const REMOTE_STALE: std::time::Duration = std::time::Duration::from_secs(15);

/// Sends a message to a box on another node of the cluster.
pub type RemoteHook = Box<dyn Fn(&RoomId, &HubMsg) -> bool + Send + Sync>;

/// Enrolment requests per address: a rack of boxes powered on together, then one every 6 s.
const ENROLL_RATE: Rate = Rate { burst: 10, every_ms: 6_000 };

/// What else must happen when a box's token is revoked (its WHIP/WHEP sessions end).
pub type RevokeHook = Box<dyn Fn(&str) + Send + Sync>;

/// What else must happen when the web admin ends a room (its lesson ends on the hub too).
pub type EndHook = Box<dyn Fn(&RoomId) + Send + Sync>;

#[derive(Default)]
struct Waiting {
    sockets: HashMap<String, (u64, mpsc::Sender<HubMsg>)>,
    /// Claimed while the box was offline: handed over when it asks again (until the code would
    /// have expired).
    undelivered: HashMap<String, (HubMsg, u64)>,
}

struct Connected {
    conn: u64,
    jti: String,
    tx: mpsc::Sender<HubMsg>,
    view: DeviceView,
    /// The camera's last snapshot, JPEG (kept out of `view`, which is cloned for every listing).
    snapshot: Option<Arc<[u8]>>,
}

/// What the hub knows about a room's box: the web admin's summary, kept as the box reports.
pub type DeviceView = lectern_admin::DeviceSummary;

impl DeviceRegistry {
    pub fn new(key: TokenKey) -> Self {
        Self {
            boxes: Mutex::default(),
            next_conn: AtomicU64::new(0),
            enrollments: Mutex::default(),
            enroll_rate: Mutex::new(RateLimiter::new(ENROLL_RATE)),
            waiting: Mutex::default(),
            key,
            on_revoke: OnceLock::new(),
            on_end: OnceLock::new(),
            saved: OnceLock::new(),
            changes: tokio::sync::watch::channel(0).0,
            elsewhere: OnceLock::new(),
            remote: Mutex::default(),
            end_elsewhere: OnceLock::new(),
            revoke_elsewhere: OnceLock::new(),
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What to do when the web admin ends a room (once; later calls are ignored).
    pub fn on_lesson_end(&self, hook: EndHook) {
        let _ = self.on_end.set(hook);
    }

    /// Takes back the boxes that were waiting before a restart, and from now on sends the waiting
    /// boxes to `save` whenever they change (once; later calls are ignored).
    pub fn keep_enrollments(
        &self,
        restored: Vec<enroll::Pending>,
        save: tokio::sync::watch::Sender<Vec<enroll::Pending>>,
    ) {
        self.enrollments().restore(restored, unix_secs());
        let _ = self.saved.set(save);
        self.enrollments_changed();
    }

    fn enrollments_changed(&self) {
        if let Some(save) = self.saved.get() {
            save.send_replace(self.enrollments().all());
        }
    }

    /// Sets what else a revocation does (once; later calls are ignored).
    pub fn on_revoke(&self, hook: RevokeHook) {
        let _ = self.on_revoke.set(hook);
    }

    /// On a cluster node: how a revocation reaches the other nodes (once; later calls are ignored).
    pub fn on_revoke_elsewhere(&self, hook: RevokeHook) {
        let _ = self.revoke_elsewhere.set(hook);
    }

    /// Refuses the token from now on on this hub: its box's socket closes, its media sessions end.
    /// Another node's revocation arrives here; the web admin's goes through [`Fleet::revoke`],
    /// which also tells the other nodes.
    pub fn revoke_here(&self, jti: &str) {
        self.key.revoke(jti);
        // Dropping the sender ends the box's session loop, which closes its socket.
        self.lock().retain(|_, c| c.jti != jti);
        self.changed();
        if let Some(hook) = self.on_revoke.get() {
            hook(jti);
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enrollments(&self) -> std::sync::MutexGuard<'_, Enrollments> {
        self.enrollments.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Connected>> {
        self.boxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A box's control channel opened: it replaces any older one of the same room.
    pub fn register(&self, view: DeviceView, jti: String, tx: mpsc::Sender<HubMsg>) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        // The old socket's sender is dropped here, which ends that session.
        self.lock().insert(view.room.clone(), Connected { conn, jti, tx, view, snapshot: None });
        self.changed();
        conn
    }

    /// What connection `conn` of the room's box reported (ignored once it was replaced).
    pub fn report(&self, room: &RoomId, conn: u64, msg: DeviceMsg) {
        self.update(room, conn, |v| apply(v, msg, unix_secs()));
    }

    /// The box's answer to `snapshot`: a picture, or why it has none.
    pub fn snapshot_received(&self, room: &RoomId, conn: u64, jpeg_base64: Option<String>, error: Option<String>) {
        self.set_snapshot(room, conn, snapshot_of(jpeg_base64, error));
    }

    /// Applies a change to what connection `conn` of the room's box reported (ignored once it was replaced).
    fn update(&self, room: &RoomId, conn: u64, f: impl FnOnce(&mut DeviceView)) {
        if let Some(c) = self.lock().get_mut(room).filter(|c| c.conn == conn) {
            f(&mut c.view);
        } else {
            return;
        }
        self.changed();
    }

    /// Keeps a box's answer to `snapshot`: the JPEG, or the reason it has none.
    fn set_snapshot(&self, room: &RoomId, conn: u64, jpeg: Result<Vec<u8>, String>) {
        if let Some(c) = self.lock().get_mut(room).filter(|c| c.conn == conn) {
            match jpeg {
                Ok(bytes) => {
                    c.snapshot = Some(bytes.into());
                    c.view.snapshot_at = Some(unix_ms());
                    c.view.snapshot_error = None;
                }
                Err(reason) => c.view.snapshot_error = Some(reason),
            }
        } else {
            return;
        }
        self.changed();
    }

    pub fn snapshot(&self, room: &RoomId) -> Option<Arc<[u8]>> {
        self.lock().get(room).and_then(|c| c.snapshot.clone())
    }

    /// Connection `conn` closed (a newer one of the same room stays).
    pub fn unregister(&self, room: &RoomId, conn: u64) {
        let mut boxes = self.lock();
        if boxes.get(room).is_some_and(|c| c.conn == conn) {
            boxes.remove(room);
            drop(boxes);
            self.changed();
        }
    }

    /// Sends a command to the room's box; false if none is connected. A box [`DEVICE_BACKLOG`]
    /// messages behind is dropped: its socket task ends, the box reconnects.
    /// Sends `msg` to the room's box, here or (on a cluster node) on the node it is connected to.
    pub fn send(&self, room: &RoomId, msg: HubMsg) -> bool {
        if self.lock().contains_key(room) {
            return self.send_here(room, msg);
        }
        self.elsewhere.get().is_some_and(|hook| hook(room, &msg))
    }

    /// Sets where messages for boxes connected to other nodes go (once).
    pub fn on_elsewhere(&self, hook: RemoteHook) {
        let _ = self.elsewhere.set(hook);
    }

    /// Sets how the web admin's end of a lesson reaches the node serving the room (once).
    pub fn on_end_elsewhere(&self, hook: EndHook) {
        let _ = self.end_elsewhere.set(hook);
    }

    /// Ends the room's lesson on this hub, if it serves it (another node's end of it).
    pub fn end_lesson_here(&self, room: &RoomId) {
        if let Some(hook) = self.on_end.get() {
            hook(room);
        }
    }

    /// The boxes connected to the other nodes of the cluster, as just read: the fleet view lists
    /// them with the node they are on. Pages watching the fleet are told when they change.
    pub fn set_remote(&self, mut views: Vec<DeviceView>) {
        views.sort_by(|a, b| a.room.cmp(&b.room).then(b.connected_at.cmp(&a.connected_at)));
        // A box that moved between nodes may be in two nodes' lists for a moment: the newest
        // connection is the one that counts.
        views.dedup_by(|later, first| later.room == first.room);
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        let changed = remote.views != views;
        remote.views = views;
        remote.read_at = Some(std::time::Instant::now());
        drop(remote);
        if changed {
            self.changed();
        }
    }

    /// The boxes connected to this hub only (what this node shares with the others).
    pub fn local(&self) -> Vec<DeviceView> {
        let mut v: Vec<DeviceView> = self.lock().values().map(|c| c.view.clone()).collect();
        v.sort_by(|a, b| a.room.cmp(&b.room));
        v
    }

    /// The rooms whose boxes are connected to this hub.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.lock().keys().cloned().collect()
    }

    /// Sends `msg` to the room's box if it is connected to this hub.
    pub fn send_here(&self, room: &RoomId, msg: HubMsg) -> bool {
        let mut boxes = self.lock();
        let Some(c) = boxes.get(room) else { return false };
        match c.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%room, "a classroom box is {DEVICE_BACKLOG} messages behind: closing its channel");
                boxes.remove(room);
                drop(boxes);
                self.changed();
                false
            }
        }
    }

    pub fn view(&self, room: &RoomId) -> Option<DeviceView> {
        self.lock().get(room).map(|c| c.view.clone())
    }

    /// Every box: those connected here, then (on a cluster node) those on other nodes whose room
    /// has no box here; sorted by room.
    pub fn all(&self) -> Vec<DeviceView> {
        let here = self.local();
        let remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = remote.read_at.is_some_and(|at| at.elapsed() < REMOTE_STALE);
        merge(here, if fresh { remote.views.clone() } else { Vec::new() })
    }

    /// A claim that reached box `key` (hashed) while it was away, if it is still good at `now`.
    pub fn take_undelivered(&self, key: &str, now: u64) -> Option<HubMsg> {
        let (msg, expires_at) = self.waiting().undelivered.remove(key)?;
        (expires_at > now).then_some(msg)
    }

    /// A box asks to be enrolled: a code for a person to claim it with, or why not.
    pub fn request_enrollment(
        &self,
        key: &str,
        hostname: &str,
        version: &str,
        ip: IpAddr,
        now: u64,
    ) -> Result<enroll::Pending, enroll::EnrollError> {
        let allowed = self
            .enroll_rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_acquire(&lectern_common::net::ip_key(ip), now.saturating_mul(1000));
        if !allowed {
            return Err(enroll::EnrollError::TooFast);
        }
        let code = self.enrollments().request(key, hostname, version, ip, now, rand::random);
        self.enrollments_changed();
        code
    }

    /// Box `key` waits on `tx` for its claim; returns the connection's number.
    pub fn wait_for_claim(&self, key: &str, tx: mpsc::Sender<HubMsg>) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.waiting().sockets.insert(key.to_owned(), (conn, tx));
        conn
    }

    /// Connection `conn` of waiting box `key` closed (a newer one stays); its code lasts only a
    /// little longer unless the box comes back.
    pub fn stop_waiting(&self, key: &str, conn: u64, now: u64) {
        let mut waiting = self.waiting();
        if waiting.sockets.get(key).is_some_and(|(c, _)| *c == conn) {
            waiting.sockets.remove(key);
            drop(waiting);
            self.enrollments().went_away(key, now);
            self.enrollments_changed();
        }
    }
}

/// The fleet: the boxes here, and the other nodes' boxes whose room has none here (a box that just
/// moved here is still in its old node's last list). Sorted by room.
fn merge(here: Vec<DeviceView>, remote: Vec<DeviceView>) -> Vec<DeviceView> {
    let mut all = here;
    let local: std::collections::HashSet<RoomId> = all.iter().map(|v| v.room.clone()).collect();
    all.extend(remote.into_iter().filter(|v| !local.contains(&v.room)));
    all.sort_by(|a, b| a.room.cmp(&b.room));
    all
}

/// What a box reported, as the fleet view shows it.
fn apply(view: &mut DeviceView, msg: DeviceMsg, now: u64) {
    view.last_seen = now;
    match msg {
        DeviceMsg::Hello { version, inventory } => {
            view.version = Some(version.chars().take(64).collect());
            view.inventory = inventory;
        }
        DeviceMsg::Telemetry(t) => view.telemetry = Some(t),
        DeviceMsg::ConfigResult { version, ok, error } => {
            tracing::info!(room = %view.room, version, ok, error = ?error, "classroom box answered a configuration");
        }
        DeviceMsg::Software(software) => view.software = Some(software),
        DeviceMsg::Enroll { .. } | DeviceMsg::Snapshot { .. } | DeviceMsg::UpdateStatus(_) => {}
    }
}

/// A box's snapshot answer, checked: a JPEG of bounded size, or the box's reason (clipped).
fn snapshot_of(jpeg_base64: Option<String>, error: Option<String>) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let Some(b64) = jpeg_base64 else {
        let reason = error.unwrap_or_else(|| "the box sent no picture".to_owned());
        return Err(reason.chars().filter(|c| !c.is_control()).take(200).collect());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "the box sent a picture that is not base64".to_owned())?;
    if bytes.len() > MAX_SNAPSHOT_BYTES || !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("the box sent a picture that is not a small JPEG".to_owned());
    }
    Ok(bytes)
}

/// The web admin lists and commands the boxes through this registry.
impl lectern_admin::Fleet for DeviceRegistry {
    fn devices(&self) -> Vec<lectern_admin::DeviceSummary> {
        self.all()
    }

    fn snapshot(&self, room: &RoomId) -> Option<Arc<[u8]>> {
        DeviceRegistry::snapshot(self, room)
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.changes.subscribe())
    }

    fn send(&self, room: &RoomId, cmd: HubMsg) -> bool {
        if matches!(cmd, HubMsg::End) {
            self.end_lesson_here(room);
            // The room may be served by another node of the cluster.
            if let Some(hook) = self.end_elsewhere.get() {
                hook(room);
            }
        }
        DeviceRegistry::send(self, room, cmd)
    }

    fn claim(&self, code: &str) -> Option<lectern_admin::fleet::Claimed> {
        let p = self.enrollments().claim(code, unix_secs());
        self.enrollments_changed();
        let p = p?;
        Some(lectern_admin::fleet::Claimed {
            box_key: p.box_key,
            hostname: p.hostname,
            version: p.version,
            ip: p.ip.to_string(),
        })
    }

    fn deliver(&self, box_key: &str, msg: HubMsg) {
        let mut waiting = self.waiting();
        let sent = waiting.sockets.remove(box_key).is_some_and(|(_, tx)| tx.try_send(msg.clone()).is_ok());
        if !sent {
            waiting.undelivered.insert(box_key.to_owned(), (msg, unix_secs() + enroll::CODE_TTL_SECS));
        }
    }

    fn revoke(&self, jti: &str) {
        self.revoke_here(jti);
        if let Some(hook) = self.revoke_elsewhere.get() {
            hook(jti);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use lectern_admin::Fleet;

    use super::*;

    fn room(name: &str) -> RoomId {
        RoomId::parse(name).expect("valid room name")
    }

    fn view(r: &str) -> DeviceView {
        DeviceView {
            room: room(r),
            name: "box".into(),
            version: None,
            connected_at: 1,
            last_seen: 1,
            telemetry: None,
            device_id: None,
            inventory: None,
            snapshot_at: None,
            snapshot_error: None,
            software: None,
            node: None,
        }
    }

    #[test]
    fn the_fleet_view_is_told_of_every_change_and_not_of_a_replaced_socket() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let mut changes = reg.changes().expect("the hub's registry is watched");
        let mut seen = || {
            changes.has_changed().unwrap_or(false) && {
                changes.borrow_and_update();
                true
            }
        };
        let (tx, _rx) = mpsc::channel(DEVICE_BACKLOG);
        let old = reg.register(view("r"), "j1".into(), tx);
        assert!(seen(), "a box connected");
        let (tx, _rx2) = mpsc::channel(DEVICE_BACKLOG);
        let new = reg.register(view("r"), "j2".into(), tx);
        assert!(seen());
        reg.report(&room("r"), old, DeviceMsg::Hello { version: "0.1".into(), inventory: None });
        assert!(!seen(), "the replaced socket's report changes nothing");
        reg.report(&room("r"), new, DeviceMsg::Hello { version: "0.2".into(), inventory: None });
        assert!(seen(), "a report");
        reg.snapshot_received(&room("r"), new, None, Some("no camera".into()));
        assert!(seen(), "an answer");
        reg.unregister(&room("r"), old);
        assert!(!seen(), "the old socket's close leaves the box connected");
        reg.unregister(&room("r"), new);
        assert!(seen(), "the box left");
    }

    #[test]
    fn other_nodes_boxes_join_the_fleet_marked_with_their_node_and_a_box_here_wins() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let mut changes = reg.changes().expect("watched");
        changes.borrow_and_update();
        reg.register(view("b"), "j".into(), mpsc::channel(DEVICE_BACKLOG).0);
        let on = |r: &str, node: &str, at: u64| DeviceView { node: Some(node.into()), connected_at: at, ..view(r) };
        changes.borrow_and_update();
        // Room "c" is in two nodes' lists (its box just moved): the newer connection counts.
        reg.set_remote(vec![
            on("c", "http://old", 1),
            on("a", "http://x", 1),
            on("b", "http://x", 1),
            on("c", "http://new", 2),
        ]);
        assert!(changes.has_changed().unwrap(), "the fleet page is told");
        let all: Vec<_> = reg.devices().into_iter().map(|v| (v.room.to_string(), v.node)).collect();
        assert_eq!(
            all,
            [("a".into(), Some("http://x".into())), ("b".into(), None), ("c".into(), Some("http://new".into()))],
            "the box connected here is listed as here"
        );
        assert_eq!(reg.local().len(), 1, "only its own boxes are what a node shares");
        changes.borrow_and_update();
        reg.set_remote(vec![on("a", "http://x", 1), on("c", "http://new", 2), on("b", "http://x", 1)]);
        assert!(!changes.has_changed().unwrap(), "the same list again is no change");
    }

    #[test]
    fn the_web_admins_end_runs_here_and_reaches_the_other_nodes() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let (here, there) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let h = here.clone();
        reg.on_lesson_end(Box::new(move |_| {
            h.fetch_add(1, Ordering::Relaxed);
        }));
        let t = there.clone();
        reg.on_end_elsewhere(Box::new(move |_| {
            t.fetch_add(1, Ordering::Relaxed);
        }));
        reg.send(&room("r"), HubMsg::End);
        Fleet::send(&reg, &room("r"), HubMsg::End);
        Fleet::send(&reg, &room("r"), HubMsg::GoLive);
        assert_eq!((here.load(Ordering::Relaxed), there.load(Ordering::Relaxed)), (1, 1));
    }

    #[test]
    fn a_reconnecting_box_replaces_its_old_socket_and_the_old_one_changes_nothing() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let (old_tx, mut old_rx) = mpsc::channel(DEVICE_BACKLOG);
        let old = reg.register(view("r"), "j1".into(), old_tx);
        let (new_tx, mut new_rx) = mpsc::channel(DEVICE_BACKLOG);
        let new = reg.register(view("r"), "j2".into(), new_tx);
        assert!(old_rx.try_recv().is_err() && old_rx.is_closed(), "the old session's channel closed");
        reg.update(&room("r"), old, |v| v.name = "stale".into());
        assert_eq!(reg.view(&room("r")).map(|v| v.name), Some("box".into()));
        reg.unregister(&room("r"), old);
        assert!(reg.send(&room("r"), HubMsg::Hands { names: vec![] }), "the new socket stays");
        assert!(matches!(new_rx.try_recv(), Ok(HubMsg::Hands { .. })));
        reg.unregister(&room("r"), new);
        assert!(reg.devices().is_empty());
        assert!(!reg.send(&room("r"), HubMsg::Hands { names: vec![] }));
    }

    #[test]
    fn a_box_that_stops_reading_is_dropped_once_its_backlog_is_full_and_another_room_is_untouched() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let (tx, mut stalled) = mpsc::channel(DEVICE_BACKLOG);
        reg.register(view("r"), "j1".into(), tx);
        let (tx, mut other) = mpsc::channel(DEVICE_BACKLOG);
        reg.register(view("o"), "j2".into(), tx);
        let hands = || HubMsg::Hands { names: vec!["a".into()] };
        let accepted = (0..10 * DEVICE_BACKLOG).filter(|_| reg.send(&room("r"), hands())).count();
        assert_eq!(accepted, DEVICE_BACKLOG, "nothing is queued past the backlog");
        assert!(reg.view(&room("r")).is_none(), "the box is no longer connected");
        while stalled.try_recv().is_ok() {}
        assert!(stalled.is_closed(), "its socket task sees its channel closed and ends");
        for _ in 0..3 * DEVICE_BACKLOG {
            assert!(reg.send(&room("o"), hands()), "a box that reads keeps its channel");
            assert!(other.try_recv().is_ok());
        }
    }

    #[test]
    fn revoking_closes_the_box_channel_and_runs_the_hook() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        reg.on_revoke(Box::new(move |jti| {
            assert_eq!(jti, "j1");
            seen.fetch_add(1, Ordering::Relaxed);
        }));
        let (tx, rx) = mpsc::channel(DEVICE_BACKLOG);
        reg.register(view("r"), "j1".into(), tx);
        reg.register(view("other"), "j2".into(), mpsc::channel(DEVICE_BACKLOG).0);
        reg.revoke("j1");
        assert!(rx.is_closed());
        assert_eq!(reg.devices().iter().map(|v| v.room.to_string()).collect::<Vec<_>>(), vec!["other"]);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_snapshot_is_a_small_jpeg_or_the_reason_there_is_none_clipped() {
        use base64::Engine;
        let b64 = |b: &[u8]| Some(base64::engine::general_purpose::STANDARD.encode(b));
        assert_eq!(snapshot_of(b64(&[0xFF, 0xD8, 1, 2]), None), Ok(vec![0xFF, 0xD8, 1, 2]));
        assert!(snapshot_of(b64(b"PNG..."), None).is_err(), "not a JPEG");
        assert!(snapshot_of(b64(&[0xFF; MAX_SNAPSHOT_BYTES + 1]), None).is_err(), "too big");
        assert!(snapshot_of(Some("not base64!".into()), None).is_err());
        let reason = snapshot_of(None, Some(format!("camera\u{7} closed{}", "!".repeat(500)))).unwrap_err();
        assert!(reason.starts_with("camera closed") && reason.chars().count() == 200, "{reason}");
        assert_eq!(snapshot_of(None, None), Err("the box sent no picture".into()));
    }

    #[test]
    fn a_report_updates_what_the_fleet_view_shows_and_only_for_the_current_connection() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let conn = reg.register(view("r"), "j".into(), mpsc::channel(DEVICE_BACKLOG).0);
        let hello = DeviceMsg::Hello { version: "v".repeat(100), inventory: None };
        reg.report(&room("r"), conn + 1, hello.clone());
        assert_eq!(reg.view(&room("r")).and_then(|v| v.version), None, "another connection's report");
        reg.report(&room("r"), conn, hello);
        let seen = reg.view(&room("r")).expect("registered");
        assert_eq!(seen.version.map(|v| v.len()), Some(64), "clipped");
        assert!(seen.last_seen > 1);
    }

    #[test]
    fn a_claim_made_while_the_box_was_away_waits_until_it_expires() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let enrolled = HubMsg::Error { message: "stand-in for Enrolled".into() };
        reg.deliver("key", enrolled.clone());
        assert_eq!(reg.take_undelivered("key", unix_secs() + enroll::CODE_TTL_SECS + 1), None, "expired");
        reg.deliver("key", enrolled);
        assert!(reg.take_undelivered("key", unix_secs()).is_some());
        assert!(reg.take_undelivered("key", unix_secs()).is_none(), "handed over once");
        let (tx, mut rx) = mpsc::channel(DEVICE_BACKLOG);
        let conn = reg.wait_for_claim("key", tx);
        reg.deliver("key", HubMsg::Hands { names: vec![] });
        assert!(rx.try_recv().is_ok(), "a waiting box gets it at once");
        reg.stop_waiting("key", conn, unix_secs());
    }

    #[test]
    fn enrolment_requests_are_limited_per_address() {
        let reg = DeviceRegistry::new(TokenKey::new(b"k".to_vec()));
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let now = 1_000;
        for i in 0..10 {
            assert!(reg.request_enrollment(&format!("key-{i}"), "box", "1", ip, now).is_ok(), "{i}");
        }
        assert_eq!(reg.request_enrollment("key-10", "box", "1", ip, now), Err(enroll::EnrollError::TooFast));
        assert!(reg.request_enrollment("key-10", "box", "1", "198.51.100.8".parse().unwrap(), now).is_ok());
        assert!(reg.request_enrollment("key-11", "box", "1", ip, now + 6).is_ok(), "one more every 6 s");
    }
}
