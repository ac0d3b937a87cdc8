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
    pub recording: Option<RecordingFragment>,
    pub update: Option<UpdateFragment>,
}

/// Over-the-air updates (`docs/ota.md`); checked by the appliance (`appliance/src/config`).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateFragment {
    /// `none` (default: a Debian-installed box, updated by apt), `rauc` (a Lectern image with
    /// A/B slots) or `fake` (a virtual box's stand-in, which installs nothing).
    pub installer: Option<String>,
    /// PEM certificates bundles must be signed with, checked with `rauc info --keyring`.
    pub keyring: Option<PathBuf>,
    /// The `rauc` program.
    pub rauc: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HubFragment {
    /// One hub URL, or a list tried in order (the box sticks to the last that worked): sites
    /// without a load balancer or DNS round robin in front of a cluster's hubs.
    pub url: Option<HubUrls>,
    pub room: Option<String>,
    /// The token itself never lives in the config: configs get copied, logged and pushed around.
    pub token_file: Option<PathBuf>,
    /// PEM certificates to trust for an https:// hub, besides the system's (a school's own CA).
    pub ca_file: Option<PathBuf>,
}

/// `hub.url`: a string or an array of strings (both spellings accepted; checked by the box).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum HubUrls {
    One(String),
    Many(Vec<String>),
}

impl HubUrls {
    /// The URLs in the order they are tried.
    pub fn urls(&self) -> Vec<String> {
        match self {
            HubUrls::One(url) => vec![url.clone()],
            HubUrls::Many(urls) => urls.clone(),
        }
    }
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

/// `[recording]`: where and how the box records lessons (issue 21, `docs/recording.md`).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingFragment {
    /// Local only: where the files go (`<dir>/<lesson id>/`).
    pub dir: Option<std::path::PathBuf>,
    /// A new file every this many minutes.
    pub fragment_minutes: Option<u32>,
    /// At most this many MB of recordings on the box.
    pub budget_mb: Option<u32>,
    /// At least this many MB left free on its filesystem.
    pub min_free_mb: Option<u32>,
    /// The uploader sends at most this many kbit/s (0: no cap).
    pub upload_kbps: Option<u32>,
}

impl Fragment {
    /// The first key set here that only the box's own files may set: where it connects and with
    /// what credential (`hub.*`), where its status endpoint listens (`status.*`), how it updates
    /// itself and whose signatures it trusts (`update.*`), where it records (`recording.dir`), which encoders it
    /// tries (`video.encoders`), how its buttons and LEDs are wired (`*.active_low`). A push from
    /// the hub carrying one is refused: a hub, or someone who took over its admin, must not be able
    /// to move a box to another hub or open its status endpoint to the network.
    pub fn local_only_key(&self) -> Option<&'static str> {
        fn first(keys: &[(&'static str, bool)]) -> Option<&'static str> {
            keys.iter().find(|(_, set)| *set).map(|(k, _)| *k)
        }
        if let Some(h) = &self.hub {
            let keys = [
                ("hub.url", h.url.is_some()),
                ("hub.room", h.room.is_some()),
                ("hub.token_file", h.token_file.is_some()),
                ("hub.ca_file", h.ca_file.is_some()),
            ];
            return Some(first(&keys).unwrap_or("hub"));
        }
        if let Some(s) = &self.status {
            return Some(
                first(&[("status.enabled", s.enabled.is_some()), ("status.listen", s.listen.is_some())])
                    .unwrap_or("status"),
            );
        }
        if let Some(u) = &self.update {
            let keys = [
                ("update.installer", u.installer.is_some()),
                ("update.keyring", u.keyring.is_some()),
                ("update.rauc", u.rauc.is_some()),
            ];
            return Some(first(&keys).unwrap_or("update"));
        }
        if self.recording.as_ref().is_some_and(|r| r.dir.is_some()) {
            return Some("recording.dir");
        }
        if self.video.as_ref().is_some_and(|v| v.encoders.is_some()) {
            return Some("video.encoders");
        }
        let panel = self.panel.as_ref();
        if panel.and_then(|p| p.buttons.as_ref()).is_some_and(|b| b.active_low.is_some()) {
            return Some("panel.buttons.active_low");
        }
        if panel.and_then(|p| p.leds.as_ref()).is_some_and(|l| l.active_low.is_some()) {
            return Some("panel.leds.active_low");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Fragment {
        toml::from_str(text).expect("a valid fragment")
    }

    #[test]
    fn keys_only_the_box_may_set_are_named() {
        let cases = [
            ("[hub]\nurl = \"https://elsewhere.test\"\n", "hub.url"),
            ("[hub]\nca_file = \"/tmp/ca.pem\"\n", "hub.ca_file"),
            ("[hub]\n", "hub"),
            ("[update]\nkeyring = \"/tmp/evil.pem\"\n", "update.keyring"),
            ("[status]\nlisten = \"0.0.0.0:8090\"\n", "status.listen"),
            ("[video]\nbitrate_kbps = 900\nencoders = [\"x264enc\"]\n", "video.encoders"),
            ("[recording]\ndir = \"/etc\"\n", "recording.dir"),
            ("[panel]\nchip = \"gpiochip0\"\n[panel.leds]\nactive_low = true\n", "panel.leds.active_low"),
        ];
        for (text, key) in cases {
            assert_eq!(parsed(text).local_only_key(), Some(key), "{text}");
        }
        let remote = "[video]\nbitrate_kbps = 900\nadapt_bitrate = false\n[audio]\nmic = \"hw:1\"\n[panel]\nchip = \"gpiochip0\"\n[panel.leds]\nlive = 4\n";
        assert_eq!(parsed(remote).local_only_key(), None);
    }
}
