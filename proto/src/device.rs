//! The classroom box's control channel (`/device/ws`, device token): the hub tells the box when to
//! go live and what configuration to apply; the box reports its state and health every few seconds.

use serde::{Deserialize, Serialize};

use crate::RoomId;
use crate::update::{Software, UpdateOffer, UpdateStatus};

/// How often a box reports; the hub considers it gone after three missed reports.
pub const TELEMETRY_EVERY_SECS: u64 = 5;

/// Box → hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum DeviceMsg {
    /// First message after connecting with a credential.
    Hello {
        version: String,
        /// The devices and encoders the box has, for the admin's configuration form.
        #[serde(default)]
        inventory: Option<Inventory>,
    },
    /// First (and only) message of a box without a credential: it asks for a claim code to show.
    /// `box_key` is a random secret the box keeps, so a reconnecting box gets the same code.
    Enroll {
        box_key: String,
        version: String,
        #[serde(default)]
        hostname: String,
    },
    Telemetry(Telemetry),
    /// Answer to `snapshot`: a small JPEG of the camera (base64), or why there is none (the camera
    /// is closed outside lessons, privacy is on).
    Snapshot {
        #[serde(default)]
        jpeg_base64: Option<String>,
        #[serde(default)]
        error: Option<String>,
    },
    /// Outcome of an `applyConfig`; `error` names the offending key when it failed.
    ConfigResult {
        version: u64,
        ok: bool,
        #[serde(default)]
        error: Option<String>,
    },
    /// A step of an over-the-air update (`update`).
    UpdateStatus(UpdateStatus),
    /// What the box runs (its image release, or its Debian packages); sent after `hello`.
    Software(Software),
}

/// Longest free-text field the hub keeps from a box (a status line, an error); longer is cut.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest name-like field (a version, a hostname, an encoder).
pub const MAX_NAME_CHARS: usize = 64;

fn clip(text: &mut String, max: usize) {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
    }
}

impl DeviceMsg {
    /// The message with every free-text field cut to what the hub stores and shows, so a box
    /// (or something posing as one) cannot fill the fleet view or the database with text.
    pub fn clipped(mut self) -> Self {
        match &mut self {
            DeviceMsg::Hello { version, .. } => clip(version, MAX_NAME_CHARS),
            DeviceMsg::Enroll { version, hostname, .. } => {
                clip(version, MAX_NAME_CHARS);
                clip(hostname, MAX_NAME_CHARS);
            }
            DeviceMsg::Telemetry(t) => {
                clip(&mut t.status, MAX_TEXT_CHARS);
                t.encoder.iter_mut().for_each(|e| clip(e, MAX_NAME_CHARS));
                t.last_error.iter_mut().for_each(|e| clip(e, MAX_TEXT_CHARS));
                t.upload.iter_mut().flat_map(|u| u.error.iter_mut()).for_each(|e| clip(e, MAX_TEXT_CHARS));
            }
            DeviceMsg::Snapshot { error, .. } | DeviceMsg::ConfigResult { error, .. } => {
                error.iter_mut().for_each(|e| clip(e, MAX_TEXT_CHARS));
            }
            DeviceMsg::UpdateStatus(s) => {
                clip(&mut s.version, MAX_NAME_CHARS);
                s.detail.iter_mut().for_each(|e| clip(e, MAX_TEXT_CHARS));
            }
            DeviceMsg::Software(s) => {
                clip(&mut s.installer, MAX_NAME_CHARS);
                s.release.iter_mut().chain(s.slot.iter_mut()).for_each(|e| clip(e, MAX_NAME_CHARS));
                s.packages.truncate(crate::update::MAX_PACKAGES);
                for p in &mut s.packages {
                    clip(&mut p.name, MAX_NAME_CHARS);
                    clip(&mut p.version, MAX_NAME_CHARS);
                }
            }
        }
        self
    }
}

/// Hub → box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum HubMsg {
    /// A lesson starts: open the camera and publish.
    GoLive,
    /// The lesson is over: stop publishing and close the camera.
    End,
    /// Start (`on`) or stop recording lesson `lesson` on the box (`docs/recording.md`).
    Record { lesson: crate::LessonId, on: bool },
    /// A validated TOML fragment to apply; the box keeps the last good one if it fails.
    ApplyConfig { version: u64, config: String },
    /// The hub refused a message; the connection stays up.
    Error { message: String },
    /// Raised hands in order, for the box's display (empty: none).
    Hands { names: Vec<String> },
    /// Who waits in the lobby, for the box's display (a teacher admits them from a phone).
    Lobby { names: Vec<String> },
    /// Send a `snapshot` of the camera (for the fleet view), if it is open.
    Snapshot,
    /// To a box without a credential: show this code; an admin enters it to enroll the box.
    ClaimCode { code: String, expires_at: u64 },
    /// The box was enrolled: its own device credential (keep it secret) and its room.
    Enrolled { token: String, room: RoomId, device_id: String, name: String },
    /// An admin moved this enrolled box from room `from` to `room`: keep this new credential in
    /// place of the old one (which the hub refuses once this one is used) and reconnect with it.
    Moved { token: String, from: RoomId, room: RoomId, device_id: String, name: String },
    /// Run this release: download, verify, install into the other slot, reboot in the window.
    Update(UpdateOffer),
}

/// What a box can be configured to use (from its `probe`), sent with `Hello`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    pub cameras: Vec<InventoryDevice>,
    pub microphones: Vec<InventoryDevice>,
    pub speakers: Vec<InventoryDevice>,
    /// H.264 encoders installed, in the box's preference order.
    pub encoders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryDevice {
    /// Shown to people, e.g. "HD Pro Webcam C920".
    pub name: String,
    /// What goes in the configuration: a V4L2 path or an ALSA device name.
    pub device: String,
}

/// The part of a box's configuration the web admin sets. Every field is optional: what is left
/// out comes from the box's own files. The hub renders it as the box's `applyConfig` TOML.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framerate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyframe_interval_s: Option<u32>,
    /// Follow the uplink: lower the camera's bitrate when the hub reports loss (box default: on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapt_bitrate: Option<bool>,
    /// How far the main picture may give way, kbit/s (box default: a quarter of `bitrate_kbps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bitrate_kbps: Option<u32>,
    /// Lower-resolution copies of the camera for weak connections (at most 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulcast: Option<Vec<SimulcastLayer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo_cancellation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_suppression: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_gain: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelConfig>,
    /// The teacher's laptop through an HDMI capture, sent as a second video track (slides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentCapture>,
}

/// The box's `[content]`: every field optional like the rest, so a fleet can share a frame rate
/// while each box keeps its own capture device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentCapture {
    /// `false` turns the capture off and keeps the rest: the box's own files may name a device,
    /// and a push can override their keys but not remove them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A V4L2 device the box reported among its cameras; never the room camera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framerate: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulcastLayer {
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

/// GPIO lines of the box's buttons and LEDs (line offsets on `chip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PanelConfig {
    pub chip: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_live: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_led: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted_led: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_led: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeviceState {
    #[default]
    Idle,
    Connecting,
    Live,
    Reconnecting,
}

impl DeviceState {
    /// The word the JSON uses.
    pub fn name(self) -> &'static str {
        match self {
            DeviceState::Idle => "idle",
            DeviceState::Connecting => "connecting",
            DeviceState::Live => "live",
            DeviceState::Reconnecting => "reconnecting",
        }
    }
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
    /// The camera's bitrate following the uplink, while the box adapts it (`video.adapt_bitrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<UplinkReport>,
    /// Recording files on the box the hub does not hold whole yet; left out when none wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadBacklog>,
}

/// The box's recordings waiting to be uploaded, for the admin's device page ("Upload: 3 files,
/// 120 MB waiting").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadBacklog {
    pub files: u64,
    pub bytes: u64,
    /// Why the last attempt failed, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How the box's camera bitrate follows its uplink to the hub, for the admin's device page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UplinkReport {
    /// Sending less than configured because of the uplink.
    pub adapting: bool,
    /// Why the rate last moved or held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<UplinkReason>,
    /// All simulcast layers together now, and as configured (kbit/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kbps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_kbps: Option<u32>,
    /// The least round trip to the hub lately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_floor_ms: Option<u32>,
    /// Keyframe requests the hub sent this session.
    pub keyframe_requests: u64,
}

/// Why the box's uplink rate last moved or held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UplinkReason {
    /// At the configured rate, or climbing back.
    Clean,
    /// Cut for loss.
    Loss,
    /// Cut or held for a growing queue (round trip over its floor).
    Queue,
    /// Holding after a cut or with some loss.
    Hold,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_from_a_box_is_clipped_on_a_character_boundary() {
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        let t = Telemetry {
            state: DeviceState::Live,
            status: long.clone(),
            encoder: Some("x".repeat(1000)),
            fps: None,
            bitrate_kbps: None,
            packet_loss_percent: None,
            cpu_percent: None,
            temperature_c: None,
            last_error: Some(long.clone()),
            uptime_secs: 1,
            uplink: None,
            upload: None,
        };
        let DeviceMsg::Telemetry(t) = DeviceMsg::Telemetry(t).clipped() else { unreachable!() };
        assert_eq!(t.status.chars().count(), MAX_TEXT_CHARS);
        assert_eq!(t.encoder.map(|e| e.len()), Some(MAX_NAME_CHARS));
        assert_eq!(t.last_error.map(|e| e.chars().count()), Some(MAX_TEXT_CHARS));
        let hello = DeviceMsg::Hello { version: "1".repeat(100), inventory: None }.clipped();
        assert_eq!(hello, DeviceMsg::Hello { version: "1".repeat(MAX_NAME_CHARS), inventory: None });
        let short = DeviceMsg::ConfigResult { version: 1, ok: false, error: Some("video.width".into()) };
        assert_eq!(short.clone().clipped(), short);
    }

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
        // An older box's hello has no inventory.
        let hello: DeviceMsg = serde_json::from_str(r#"{"type":"hello","version":"0.1.0"}"#).unwrap();
        assert_eq!(hello, DeviceMsg::Hello { version: "0.1.0".into(), inventory: None });
    }

    #[test]
    fn moved_is_spelled_for_the_box() {
        let room = |r: &str| RoomId::parse(r).unwrap();
        let moved = HubMsg::Moved {
            token: "t.o.k".into(),
            from: room("lab-1"),
            room: room("lab-2"),
            device_id: "box-1".into(),
            name: "Lab box".into(),
        };
        let json = serde_json::to_string(&moved).unwrap();
        assert_eq!(
            json,
            r#"{"type":"moved","token":"t.o.k","from":"lab-1","room":"lab-2","deviceId":"box-1","name":"Lab box"}"#
        );
        assert_eq!(serde_json::from_str::<HubMsg>(&json).unwrap(), moved);
    }

    #[test]
    fn device_config_leaves_out_what_is_unset_and_refuses_unknown_fields() {
        let c = DeviceConfig { bitrate_kbps: Some(2000), ..DeviceConfig::default() };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"bitrateKbps":2000}"#);
        assert!(serde_json::from_str::<DeviceConfig>(r#"{"bitrate":2000}"#).is_err());
        let off = DeviceConfig { content: Some(ContentCapture { enabled: Some(false), ..Default::default() }), ..c };
        assert_eq!(serde_json::to_string(&off).unwrap(), r#"{"bitrateKbps":2000,"content":{"enabled":false}}"#);
        assert!(serde_json::from_str::<DeviceConfig>(r#"{"content":{"fps":5}}"#).is_err());
    }
}
