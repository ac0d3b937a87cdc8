//! The classroom box's control channel (`/device/ws`, device token): the hub tells the box when to
//! go live and what configuration to apply; the box reports its state and health every few seconds.

use serde::{Deserialize, Serialize};

/// How often a box reports; the hub considers it gone after three missed reports.
pub const TELEMETRY_EVERY_SECS: u64 = 5;

/// Box → hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum DeviceMsg {
    /// First message after connecting.
    Hello {
        version: String,
    },
    Telemetry(Telemetry),
    /// Outcome of an `applyConfig`; `error` names the offending key when it failed.
    ConfigResult {
        version: u64,
        ok: bool,
        #[serde(default)]
        error: Option<String>,
    },
}

/// Hub → box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum HubMsg {
    /// A lesson starts: open the camera and publish.
    GoLive,
    /// The lesson is over: stop publishing and close the camera.
    End,
    /// A validated TOML fragment to apply; the box keeps the last good one if it fails.
    ApplyConfig { version: u64, config: String },
    /// The hub refused a message; the connection stays up.
    Error { message: String },
    /// Raised hands in order, for the box's display (empty: none).
    Hands { names: Vec<String> },
    /// Who waits in the lobby, for the box's display (a teacher admits them from a phone).
    Lobby { names: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceState {
    Idle,
    Connecting,
    Live,
    Reconnecting,
}

/// A box's health as the fleet view shows it. Unknown figures are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Telemetry {
    pub state: DeviceState,
    /// Human-readable status line, e.g. "live" or "reconnecting in 2s: hub unreachable".
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet_loss_percent: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub uptime_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_round_trips_and_rejects_unknown_fields() {
        let json = r#"{"type":"telemetry","state":"live","status":"live","fps":29.9,"uptimeSecs":12}"#;
        let m: DeviceMsg = serde_json::from_str(json).unwrap();
        let DeviceMsg::Telemetry(t) = &m else { panic!("{m:?}") };
        assert_eq!(t.state, DeviceState::Live);
        assert!(
            serde_json::from_str::<DeviceMsg>(
                r#"{"type":"telemetry","state":"live","status":"x","uptimeSecs":1,"x":1}"#
            )
            .is_err()
        );
        assert_eq!(serde_json::to_string(&HubMsg::GoLive).unwrap(), r#"{"type":"goLive"}"#);
    }
}
