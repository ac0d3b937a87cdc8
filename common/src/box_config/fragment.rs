//! One configuration file as written (or pushed by the web admin): every key optional, unknown
//! keys rejected, so a typo fails loudly instead of silently keeping a default. `rules` resolves
//! merged fragments into checked values; `appliance/appliance.example.toml` documents every key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fragment {
    pub hub: Option<HubFragment>,
    pub camera: Option<CameraFragment>,
    pub content: Option<ContentFragment>,
    pub audio: Option<AudioFragment>,
    pub video: Option<VideoFragment>,
    pub panel: Option<PanelFragment>,
    pub status: Option<StatusFragment>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubFragment {
    pub url: Option<String>,
    pub room: Option<String>,
    /// The token itself never lives in the config: configs get copied, logged and pushed around.
    pub token_file: Option<PathBuf>,
    /// PEM certificates to trust for an https:// hub, besides the system's (a school's own CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraFragment {
    pub device: Option<String>,
}

/// The teacher's laptop through an HDMI-to-USB capture, sent as a second `content` track.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFragment {
    /// `false` turns content off while keeping the other keys: a pushed fragment cannot remove a
    /// `device` set by the files below it, only override it.
    pub enabled: Option<bool>,
    pub device: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<u32>,
    pub bitrate_kbps: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AudioFragment {
    pub mic: Option<String>,
    pub speaker: Option<String>,
    pub aec: Option<bool>,
    pub ns: Option<bool>,
    pub agc: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VideoFragment {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    pub keyframe_interval_s: Option<u32>,
    pub encoders: Option<Vec<String>>,
    pub simulcast: Option<Vec<LayerFragment>>,
    /// Follow the hub's loss and RTT reports: lower the camera's bitrate on a congested uplink
    /// and raise it back to `bitrate_kbps` when the loss is gone.
    pub adapt_bitrate: Option<bool>,
    /// The floor of that adaptation for the main picture (its ceiling is `bitrate_kbps`).
    pub min_bitrate_kbps: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFragment {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bitrate_kbps: Option<u32>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PanelFragment {
    pub chip: Option<String>,
    pub buttons: Option<ButtonsFragment>,
    pub leds: Option<LedsFragment>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonsFragment {
    pub go_live: Option<u32>,
    pub mute: Option<u32>,
    pub privacy: Option<u32>,
    pub active_low: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LedsFragment {
    pub live: Option<u32>,
    pub muted: Option<u32>,
    pub fault: Option<u32>,
    pub active_low: Option<bool>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFragment {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
}
