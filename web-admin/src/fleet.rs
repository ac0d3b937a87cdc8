//! The classroom boxes as the admin sees them. The hub owns the device control channel; it hands
//! us a [`Fleet`] so this crate can list boxes and send them commands without knowing about sockets.
//! The fleet view joins the connected boxes with the configured rooms, so a room whose box is
//! missing shows as `offline`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use lectern_proto::RoomId;
use lectern_proto::device::{DeviceState, HubMsg, Inventory, Telemetry};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::session::Caller;

/// A connected box and its last report. Also what a cluster node shares about its boxes with the
/// others (`hub/src/cluster/fleet.rs`), hence `Deserialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSummary {
    pub room: RoomId,
    pub name: String,
    pub version: Option<String>,
    pub connected_at: u64,
    pub last_seen: u64,
    pub telemetry: Option<Telemetry>,
    /// The enrolled device's id (its credential's subject); `None` for a box on a hand-made token.
    pub device_id: Option<String>,
    pub inventory: Option<Inventory>,
    /// When the camera's last snapshot arrived (Unix milliseconds), or why the box had none.
    pub snapshot_at: Option<u64>,
    pub snapshot_error: Option<String>,
    /// What it runs: its image release and slot, or its Debian packages (`DeviceMsg::Software`).
    pub software: Option<lectern_proto::update::Software>,
    /// On a cluster node: the node (its public URL) whose control channel the box keeps, when
    /// that is another node; `None` for a box connected here (and on a hub on its own).
    #[serde(default)]
    pub node: Option<String>,
}

/// A box taken off the waiting list by its claim code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Whom to hand the credential to (the hub's handle for the waiting box).
    pub box_key: String,
    pub hostname: String,
    pub version: String,
    pub ip: String,
}

/// What the hub's device registry offers the admin.
pub trait Fleet: Send + Sync {
    /// Connected boxes, sorted by room.
    fn devices(&self) -> Vec<DeviceSummary>;
    /// Sends a command to the room's box; false if none is connected.
    fn send(&self, room: &RoomId, cmd: HubMsg) -> bool;
    /// Takes the box waiting with this claim code off the waiting list; `None` for a code that
    /// is unknown, used or expired (indistinguishably).
    fn claim(&self, code: &str) -> Option<Claimed>;
    /// Hands a claimed box its `Enrolled` message, now or when it next connects.
    fn deliver(&self, box_key: &str, msg: HubMsg);
    /// Refuses the credential with this `jti` from now on and disconnects whoever uses it.
    fn revoke(&self, jti: &str);
    /// The room's box's last camera snapshot (JPEG).
    fn snapshot(&self, room: &RoomId) -> Option<std::sync::Arc<[u8]>>;
    /// A counter bumped whenever a box connects, reports, answers or leaves: the fleet view is
    /// pushed from it (`fleet_events`). `None`: nothing to watch (the page is sent a full
    /// comparison now and then instead).
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// A fleet with no boxes, for tests and for embedding without a device channel.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFleet;

impl Fleet for NoFleet {
    fn devices(&self) -> Vec<DeviceSummary> {
        Vec::new()
    }
    fn send(&self, _: &RoomId, _: HubMsg) -> bool {
        false
    }
    fn claim(&self, _: &str) -> Option<Claimed> {
        None
    }
    fn deliver(&self, _: &str, _: HubMsg) {}
    fn revoke(&self, _: &str) {}
    fn snapshot(&self, _: &RoomId) -> Option<std::sync::Arc<[u8]>> {
        None
    }
}

/// A row's state badge: the box's own report, `unknown` while a connected box has not reported
/// yet, `offline` for a configured room without a connected box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FleetState {
    Live,
    Idle,
    Connecting,
    Reconnecting,
    Unknown,
    Offline,
}

impl From<DeviceState> for FleetState {
    fn from(s: DeviceState) -> Self {
        match s {
            DeviceState::Live => FleetState::Live,
            DeviceState::Idle => FleetState::Idle,
            DeviceState::Connecting => FleetState::Connecting,
            DeviceState::Reconnecting => FleetState::Reconnecting,
        }
    }
}

/// One row of the fleet view: a configured room, a connected box, or both. The box's fields are
/// `null` when it is offline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetEntry {
    pub room: String,
    /// From the configured room; `""` when none or when the room is not configured.
    pub building: String,
    /// The configured room's name; `null` for a box whose room is not configured.
    pub room_name: Option<String>,
    pub configured: bool,
    pub online: bool,
    pub state: FleetState,
    /// The box's name (from its device token).
    pub name: Option<String>,
    pub version: Option<String>,
    pub connected_at: Option<u64>,
    pub last_seen: Option<u64>,
    pub telemetry: Option<Telemetry>,
    /// The box enrolled for this room, if any (it may be offline).
    pub device_id: Option<String>,
    /// Its newest configuration: version and `pending` / `applied` / `failed`.
    pub config: Option<ConfigState>,
    /// When the camera's last snapshot arrived (Unix milliseconds; `GET devices/{room}/snapshot`), or why there is none.
    pub snapshot_at: Option<u64>,
    pub snapshot_error: Option<String>,
    /// What the box runs (its release, or its Debian packages), and where an update of it is.
    pub software: Option<lectern_proto::update::Software>,
    pub update: Option<crate::releases::BoxUpdate>,
    /// Recordings on the box waiting to be uploaded (files, bytes, the last attempt's error), from
    /// its telemetry; `null` when none wait or the box is offline.
    pub upload: Option<lectern_proto::device::UploadBacklog>,
    /// On a cluster: the node (public URL) the box is connected to when it is not this one.
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigState {
    pub version: i64,
    pub state: String,
    pub error: Option<String>,
}

impl FleetEntry {
    /// A row for `room` with no box connected and nothing known about it.
    fn offline(room: &str) -> Self {
        FleetEntry {
            room: room.to_owned(),
            building: String::new(),
            room_name: None,
            configured: false,
            online: false,
            state: FleetState::Offline,
            name: None,
            version: None,
            connected_at: None,
            last_seen: None,
            telemetry: None,
            device_id: None,
            config: None,
            snapshot_at: None,
            snapshot_error: None,
            software: None,
            update: None,
            upload: None,
            node: None,
        }
    }
}

/// Joins configured rooms `(id, name, building)` with connected boxes; sorted by room id.
pub fn join(rooms: Vec<(String, String, String)>, devices: Vec<DeviceSummary>) -> Vec<FleetEntry> {
    let mut rows: BTreeMap<String, FleetEntry> = rooms
        .into_iter()
        .map(|(id, name, building)| {
            let row = FleetEntry { building, room_name: Some(name), configured: true, ..FleetEntry::offline(&id) };
            (id, row)
        })
        .collect();
    for d in devices {
        let row = rows.entry(d.room.to_string()).or_insert_with(|| FleetEntry::offline(d.room.as_str()));
        row.online = true;
        row.state = d.telemetry.as_ref().map_or(FleetState::Unknown, |t| t.state.into());
        row.name = Some(d.name);
        row.version = d.version;
        row.connected_at = Some(d.connected_at);
        row.last_seen = Some(d.last_seen);
        row.upload = d.telemetry.as_ref().and_then(|t| t.upload.clone());
        row.telemetry = d.telemetry;
        row.device_id = d.device_id;
        row.snapshot_at = d.snapshot_at;
        row.snapshot_error = d.snapshot_error;
        row.software = d.software;
        row.node = d.node;
    }
    rows.into_values().collect()
}

type EnrolledRow = (String, String, Option<i64>, Option<String>, Option<String>);

/// Every configured room and every connected box, with the enrolled box and its newest config.
pub async fn entries(st: &AdminState) -> Result<Vec<FleetEntry>> {
    let rooms: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, building FROM admin_rooms ORDER BY id").fetch_all(&st.pool).await?;
    let mut rows = join(rooms, st.fleet.devices());
    let enrolled: Vec<EnrolledRow> = sqlx::query_as(
        "SELECT d.room_id, d.id, c.version, c.state, c.error FROM admin_devices d \
         LEFT JOIN admin_device_configs c ON c.device_id = d.id \
           AND c.version = (SELECT MAX(version) FROM admin_device_configs WHERE device_id = d.id) \
         WHERE d.revoked_at IS NULL",
    )
    .fetch_all(&st.pool)
    .await?;
    let mut updates = crate::releases::progress_by_device(&st.pool).await?;
    for (room, id, version, state, error) in enrolled {
        if let Some(row) = rows.iter_mut().find(|r| r.room == room) {
            row.update = updates.remove(&id);
            row.device_id = Some(id);
            row.config = version.zip(state).map(|(version, state)| ConfigState { version, state, error });
        }
    }
    Ok(rows)
}

/// `GET /admin/api/devices`: every configured room and every connected box.
pub async fn list(State(st): State<AdminState>) -> Result<Json<Vec<FleetEntry>>> {
    Ok(Json(entries(&st).await?))
}

/// `POST /admin/api/devices/{room}/live` → 202; the box opens its camera and publishes.
pub async fn go_live(st: State<AdminState>, caller: Extension<Caller>, room: Path<String>) -> Result<StatusCode> {
    command(st, caller, room, HubMsg::GoLive, "device.golive").await
}

/// `POST /admin/api/devices/{room}/end` → 202; the box stops publishing and closes its camera.
pub async fn end(st: State<AdminState>, caller: Extension<Caller>, room: Path<String>) -> Result<StatusCode> {
    command(st, caller, room, HubMsg::End, "device.end").await
}

/// `POST /admin/api/devices/{room}/snapshot` → 202: the box is asked for a fresh picture (it
/// answers within a second or two if its camera is open; see `snapshotAt` / `snapshotError`).
pub async fn request_snapshot(
    st: State<AdminState>,
    caller: Extension<Caller>,
    room: Path<String>,
) -> Result<StatusCode> {
    command(st, caller, room, HubMsg::Snapshot, "device.snapshot.request").await
}

/// `GET /admin/api/devices/{room}/snapshot` → the last picture, `image/jpeg`.
/// Every view is audited: it is a picture of a classroom, perhaps with children in it.
pub async fn snapshot(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(room): Path<String>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let room = RoomId::parse(&room).map_err(|e| Error::invalid(format!("room: {e}")))?;
    let jpeg = st
        .fleet
        .snapshot(&room)
        .ok_or_else(|| Error::NotFound(format!("no snapshot of room '{room}' yet; request one first")))?;
    let entry = Entry::by(&caller, st.now(), "device.snapshot.view", room.as_str(), json!({ "bytes": jpeg.len() }));
    audit::record(&st.pool, &entry).await?;
    let mut resp = axum::body::Bytes::copy_from_slice(&jpeg).into_response();
    resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("image/jpeg"));
    Ok(resp)
}

async fn command(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(room): Path<String>,
    cmd: HubMsg,
    action: &str,
) -> Result<StatusCode> {
    let room = RoomId::parse(&room).map_err(|e| Error::invalid(format!("room: {e}")))?;
    if !st.fleet.send(&room, cmd) {
        return Err(Error::NotFound(format!("no classroom box is connected for room '{room}'")));
    }
    let entry = Entry::by(&caller, st.now(), action, room.as_str(), json!({ "delivered": true }));
    audit::record(&st.pool, &entry).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_proto::device::DeviceState;

    fn device(room: &str, state: Option<DeviceState>) -> DeviceSummary {
        DeviceSummary {
            room: RoomId::parse(room).unwrap(),
            name: format!("{room} box"),
            version: Some("0.1.0".into()),
            connected_at: 10,
            last_seen: 15,
            telemetry: state.map(|state| Telemetry {
                state,
                status: "ok".into(),
                encoder: None,
                fps: Some(30.0),
                bitrate_kbps: None,
                packet_loss_percent: None,
                cpu_percent: None,
                temperature_c: None,
                last_error: None,
                uptime_secs: 5,
                uplink: None,
                upload: None,
            }),
            device_id: None,
            inventory: None,
            snapshot_at: None,
            snapshot_error: None,
            software: None,
            node: None,
        }
    }

    #[test]
    fn configured_rooms_without_a_box_are_offline_and_stray_boxes_are_listed() {
        let rooms = vec![
            ("a".to_owned(), "Room A".to_owned(), "North".to_owned()),
            ("b".to_owned(), "Room B".to_owned(), "South".to_owned()),
        ];
        let rows = join(rooms, vec![device("b", Some(DeviceState::Live)), device("c", None)]);
        let summary: Vec<_> = rows.iter().map(|r| (r.room.as_str(), r.state, r.online, r.building.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("a", FleetState::Offline, false, "North"),
                ("b", FleetState::Live, true, "South"),
                ("c", FleetState::Unknown, true, "")
            ]
        );
        assert_eq!(rows[1].room_name.as_deref(), Some("Room B"));
        assert!(!rows[2].configured && rows[2].room_name.is_none());
        let json = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(
            (&json["state"], &json["telemetry"], &json["roomName"]),
            (&json!("offline"), &json!(null), &json!("Room A"))
        );
    }
}
