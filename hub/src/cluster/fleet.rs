//! The fleet view across nodes (issue 20): every node shares what its boxes last reported, and the
//! web admin on any node lists every box with the node it is connected to.
//!
//! Each node's boxes are one value in the coordination store (`fleet:<node>`, a JSON list of
//! [`DeviceView`]s) with a TTL, written by the upkeep (every 2 s at most) only when something
//! changed, or every [`REFRESH`] to keep it alive: a burst of reports between two ticks is one
//! write, and a node that stops writing (killed) drops out with its boxes on its own. Keys with a
//! TTL rather than pub/sub: a node that starts (or whose subscription dropped) reads the whole
//! fleet at once instead of waiting for every box's next report, and nothing has to be replayed.
//! Every tick a node reads the other live nodes' values in one `MGET`. `docs/cluster.md` gives the
//! arithmetic of the load this puts on Redis.
//!
//! A lesson ended from the web admin (its "End", or the timetable) on a node that does not serve
//! the room is ended by the node that does: the end is published on [`LESSON_END`], and each node
//! ends the room's lesson if it serves it.
//!
//! A token the web admin revokes (a box removed, moved, or its credential replaced) is refused by
//! every node: the revocation is published on [`REVOKED`] and each node applies it. The database
//! keeps revocations too, so a node that was down meanwhile reads them when it starts.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lectern_coord::{Coord, Millis};
use lectern_proto::RoomId;

use super::Cluster;
use crate::device_registry::DeviceView;
use crate::http::AppState;

/// How long a node's shared boxes live without a rewrite: as long as its registry record.
pub const SHARED_TTL: Millis = lectern_coord::registry::RECORD_TTL;
/// An unchanged list is written again this often, well within [`SHARED_TTL`].
pub const REFRESH: Duration = Duration::from_secs(5);
/// The channel a lesson's end crosses nodes on.
pub const LESSON_END: &str = "lessons:end";
/// The channel revoked tokens cross nodes on.
pub const REVOKED: &str = "tokens:revoked";

/// Where a node's boxes are kept in the coordination store.
pub fn key(node: &str) -> String {
    format!("fleet:{node}")
}

/// Decides when this node writes its boxes: when they changed since the last write, or when the
/// last write is [`REFRESH`] old. Time is passed in.
#[derive(Debug, Default)]
pub struct Writer {
    last: Option<(u64, Instant)>,
}

impl Writer {
    /// Whether `payload` is to be written at `now` (and, if so, it counts as written).
    pub fn due(&mut self, payload: &str, now: Instant) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        payload.hash(&mut h);
        let hash = h.finish();
        let due = self.last.is_none_or(|(prev, at)| prev != hash || now.saturating_duration_since(at) >= REFRESH);
        if due {
            self.last = Some((hash, now));
        }
        due
    }

    /// The write failed: the next tick writes again.
    pub fn failed(&mut self) {
        self.last = None;
    }
}

/// Another node's shared boxes, marked with that node. Its pictures stay on it (the snapshot
/// endpoint serves this node's boxes only), so they are not offered here.
pub fn parse(node: &str, payload: &str) -> Result<Vec<DeviceView>, serde_json::Error> {
    let mut views: Vec<DeviceView> = serde_json::from_str(payload)?;
    for v in &mut views {
        v.node = Some(node.to_owned());
        v.snapshot_at = None;
    }
    Ok(views)
}

/// One upkeep tick: writes this node's boxes if due, reads the other nodes'.
pub(super) async fn exchange(app: &AppState, cluster: &Cluster, writer: &mut Writer) {
    match serde_json::to_string(&app.devices.local()) {
        Ok(payload) if writer.due(&payload, Instant::now()) => {
            if let Err(e) = cluster.coord.put(&key(&cluster.node), &payload, SHARED_TTL).await {
                tracing::warn!(error = %e, "cannot share this node's boxes with the cluster");
                writer.failed();
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot encode this node's boxes"),
    }
    let others: Vec<String> = {
        let nodes = cluster.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.iter().filter(|n| n.id != cluster.node).map(|n| n.id.clone()).collect()
    };
    let keys: Vec<String> = others.iter().map(|n| key(n)).collect();
    match cluster.coord.get_many(&keys).await {
        Ok(values) => {
            let mut views = Vec::new();
            for (node, value) in others.iter().zip(values) {
                let Some(payload) = value else { continue };
                match parse(node, &payload) {
                    Ok(v) => views.extend(v),
                    Err(e) => tracing::warn!(node, error = %e, "unreadable boxes shared by another node"),
                }
            }
            app.devices.set_remote(views);
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the other nodes' boxes"),
    }
}

/// A lesson's end, published for the node that serves the room.
#[derive(serde::Serialize, serde::Deserialize)]
struct LessonEnd {
    room: RoomId,
    from: String,
}

/// Publishes the web admin's end of `room`'s lesson to every node (the one serving it ends it).
pub(super) fn end_elsewhere(cluster: &Cluster, room: &RoomId) {
    let Ok(payload) = serde_json::to_string(&LessonEnd { room: room.clone(), from: cluster.node.clone() }) else {
        return;
    };
    let coord = cluster.coord.clone();
    tokio::spawn(async move {
        if let Err(e) = coord.publish(LESSON_END, &payload).await {
            tracing::warn!(error = %e, "cannot tell the other nodes that a lesson ended");
        }
    });
}

/// Ends here the lessons other nodes' web admins ended.
pub(super) fn relay_lesson_ends(app: &Arc<AppState>, cluster: &Cluster) {
    let mut rx = cluster.coord.subscribe(LESSON_END);
    let (app, me) = (Arc::downgrade(app), cluster.node.clone());
    tokio::spawn(async move {
        while let Some(payload) = rx.recv().await {
            let Some(app) = app.upgrade() else { return };
            match serde_json::from_str::<LessonEnd>(&payload) {
                // This node's own end already ran here.
                Ok(end) if end.from == me => {}
                Ok(end) => app.devices.end_lesson_here(&end.room),
                Err(e) => tracing::warn!(error = %e, "unreadable lesson end from another node"),
            }
        }
    });
}

/// A revoked token's id, published for the other nodes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Revoked {
    jti: String,
    from: String,
}

/// Publishes a token this node revoked to every node.
pub(super) fn revoke_elsewhere(coord: &Coord, me: &str, jti: &str) {
    let Ok(payload) = serde_json::to_string(&Revoked { jti: jti.to_owned(), from: me.to_owned() }) else { return };
    let coord = coord.clone();
    tokio::spawn(async move {
        if let Err(e) = coord.publish(REVOKED, &payload).await {
            // The database has it: a node misses it only until it restarts.
            tracing::warn!(error = %e, "cannot tell the other nodes that a token was revoked");
        }
    });
}

/// Applies here (`apply`) the tokens other nodes revoked.
pub(super) fn relay_revocations(coord: &Coord, me: String, apply: impl Fn(&str) + Send + 'static) {
    let mut rx = coord.subscribe(REVOKED);
    tokio::spawn(async move {
        while let Some(payload) = rx.recv().await {
            match serde_json::from_str::<Revoked>(&payload) {
                // This node's own revocation already ran here.
                Ok(r) if r.from == me => {}
                Ok(r) => apply(&r.jti),
                Err(e) => tracing::warn!(error = %e, "unreadable revocation from another node"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_token_revoked_on_one_node_drops_its_box_on_another() {
        use crate::device_registry::DeviceRegistry;
        use crate::token::TokenKey;
        use lectern_admin::Fleet as _;
        let coord = Coord::local();
        let (a, b) = (
            Arc::new(DeviceRegistry::new(TokenKey::new(b"k".to_vec()))),
            Arc::new(DeviceRegistry::new(TokenKey::new(b"k".to_vec()))),
        );
        for (reg, me) in [(&a, "http://a"), (&b, "http://b")] {
            let (c, m) = (coord.clone(), me.to_owned());
            reg.on_revoke_elsewhere(Box::new(move |jti| revoke_elsewhere(&c, &m, jti)));
            let here = Arc::downgrade(reg);
            relay_revocations(&coord, me.to_owned(), move |jti| {
                if let Some(r) = here.upgrade() {
                    r.revoke_here(jti);
                }
            });
        }
        let view = |room: &str| {
            serde_json::from_value(serde_json::json!({"room": room, "name": room, "version": null,
            "connectedAt": 5, "lastSeen": 9, "telemetry": null, "deviceId": null, "inventory": null,
            "snapshotAt": null, "snapshotError": null, "software": null}))
            .unwrap()
        };
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        b.register(view("lab"), "j1".into(), tx);
        let (keep, kept) = tokio::sync::mpsc::channel(8);
        b.register(view("other"), "j2".into(), keep);
        a.revoke("j1");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !rx.is_closed() {
            assert!(tokio::time::Instant::now() < deadline, "node b never dropped the revoked box");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!kept.is_closed(), "another box stays");
        assert_eq!(b.devices().len(), 1);
    }

    #[test]
    fn a_node_writes_when_its_boxes_change_or_to_keep_them_alive_and_again_after_a_failure() {
        let mut w = Writer::default();
        let t0 = Instant::now();
        assert!(w.due("[a]", t0), "the first list");
        assert!(!w.due("[a]", t0 + Duration::from_secs(2)), "unchanged, still fresh");
        assert!(w.due("[a,b]", t0 + Duration::from_secs(2)), "changed");
        assert!(!w.due("[a,b]", t0 + Duration::from_secs(4)));
        assert!(w.due("[a,b]", t0 + Duration::from_secs(7)), "refreshed before its TTL lapses");
        w.failed();
        assert!(w.due("[a,b]", t0 + Duration::from_secs(8)), "a failed write is tried again");
        assert!(REFRESH.as_millis() * 2 <= u128::from(SHARED_TTL), "two writes fit in a TTL");
    }

    #[test]
    fn another_nodes_boxes_are_marked_with_it_without_their_pictures_and_junk_is_refused() {
        let payload = r#"[{"room":"lab-1","name":"Lab","version":null,"connectedAt":5,"lastSeen":9,
            "telemetry":null,"deviceId":null,"inventory":null,"snapshotAt":123,"snapshotError":null,
            "software":null}]"#;
        let views = parse("http://b", payload).expect("a node's list");
        assert_eq!(views.len(), 1);
        assert_eq!(views[0].node.as_deref(), Some("http://b"));
        assert_eq!(views[0].snapshot_at, None);
        assert!(parse("http://b", "{\"room\": 1}").is_err());
        assert!(parse("http://b", r#"[{"room":"../x"}]"#).is_err(), "a bad room id");
    }
}
