//! The classroom boxes as the admin sees them. The hub owns the device control channel; it hands
//! us a [`Fleet`] so this crate can list boxes and send them commands without knowing about sockets.

use axum::Json;
use axum::extract::State;
use lectern_proto::RoomId;
use lectern_proto::device::{HubMsg, Telemetry};
use serde::Serialize;

use crate::AdminState;

/// A connected box and its last report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSummary {
    pub room: RoomId,
    pub name: String,
    pub version: Option<String>,
    pub connected_at: u64,
    pub last_seen: u64,
    pub telemetry: Option<Telemetry>,
}

/// What the hub's device registry offers the admin.
pub trait Fleet: Send + Sync {
    /// Connected boxes, sorted by room.
    fn devices(&self) -> Vec<DeviceSummary>;
    /// Sends a command to the room's box; false if none is connected.
    fn send(&self, room: &RoomId, cmd: HubMsg) -> bool;
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
}

/// `GET /admin/api/devices`
pub async fn list(State(st): State<AdminState>) -> Json<Vec<DeviceSummary>> {
    Json(st.fleet.devices())
}
