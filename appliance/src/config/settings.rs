//! Merged fragment + command-line overrides → validated `Settings`. The rules for every key but
//! `[hub]` live in `lectern_common::box_config` (the web admin checks a push with the same ones);
//! `[hub]` depends on the command line, so it is checked here. Every problem is reported with the
//! key that holds it (`video.framerate: 0 is out of range 1..=120`), all at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use lectern_common::box_config::{self, Fragment, HubUrls};
pub use lectern_common::box_config::{
    AudioConfig, ContentConfig, DEFAULT_ENCODERS, DEFAULT_STATUS_LISTEN, KeyError, Layer, PanelPins, VideoConfig,
};
use lectern_proto::RoomId;

use super::ConfigError;
use crate::whip::Token;

/// Values from the command line or environment: they win over every file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub hub: Option<String>,
    pub room: Option<RoomId>,
    pub token: Option<Token>,
    pub camera: Option<String>,
    /// The content capture (`content.device`); `--virtual` sends a test picture for any value.
    pub content: Option<String>,
    pub mic: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub framerate: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// Forces one encoder instead of the ladder.
    pub encoder: Option<String>,
    pub status_listen: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub hub: HubSettings,
    pub camera: String,
    /// The laptop's picture, sent as a second video track; `None` without a `content.device` or
    /// with `content.enabled = false`.
    pub content: Option<ContentConfig>,
    pub audio: AudioConfig,
    pub video: VideoConfig,
    pub panel: Option<PanelPins>,
    /// `None` when the status endpoint is disabled.
    pub status_listen: Option<SocketAddr>,
    /// `[recording]`: where and how lessons are recorded.
    pub recording: box_config::RecordingConfig,
    pub update: UpdateConfig,
}

/// `[update]`: how this box installs the releases the hub offers (`crate::update`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateConfig {
    pub installer: InstallerKind,
    pub keyring: Option<PathBuf>,
    pub rauc: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InstallerKind {
    /// No agent: a Debian-installed box is updated by apt (it still reports its packages).
    #[default]
    None,
    Rauc,
    Fake,
}

#[derive(Debug, Clone)]
pub struct HubSettings {
    /// The first of [`urls`](Self::urls): where a box enrolls and fetches updates.
    pub url: String,
    /// Every hub URL in the order tried (`hub.url` as a string is a list of one).
    pub urls: Vec<String>,
    pub room: RoomId,
    pub token: TokenSource,
    /// Extra trust anchors for an https:// hub.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum TokenSource {
    /// From `--token` / `LECTERN_TOKEN`.
    Given(Token),
    /// Read at start-up; only the path is ever logged.
    File(PathBuf),
}

/// Applies `overrides` on top of `fragment` and validates the result.
pub fn validate(fragment: &Fragment, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let f = with_overrides(fragment.clone(), overrides);
    let mut errors = Vec::new();
    let hub = hub(&mut errors, &f, overrides.token.as_ref());
    let update = update(&mut errors, &f);
    let resolved = box_config::resolve(&f).map_err(|e| errors.extend(e)).ok();
    match (hub, resolved) {
        (Some(hub), Some(r)) if errors.is_empty() => Ok(Settings {
            hub,
            camera: r.camera,
            content: r.content,
            audio: r.audio,
            video: r.video,
            panel: r.panel,
            status_listen: r.status_listen,
            update,
            recording: r.recording,
        }),
        _ => Err(ConfigError::Invalid(errors)),
    }
}

fn with_overrides(mut f: Fragment, o: &Overrides) -> Fragment {
    fn set<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            slot.clone_from(value);
        }
    }
    let hub = f.hub.get_or_insert_with(Default::default);
    // `--hub` / `LECTERN_HUB` may name several hubs, comma-separated.
    set(&mut hub.url, &o.hub.as_ref().map(|h| HubUrls::Many(h.split(',').map(|u| u.trim().to_owned()).collect())));
    set(&mut hub.room, &o.room.as_ref().map(|r| r.as_str().to_owned()));
    set(&mut f.camera.get_or_insert_with(Default::default).device, &o.camera);
    if o.content.is_some() {
        set(&mut f.content.get_or_insert_with(Default::default).device, &o.content);
    }
    set(&mut f.audio.get_or_insert_with(Default::default).mic, &o.mic);
    let video = f.video.get_or_insert_with(Default::default);
    set(&mut video.width, &o.width);
    set(&mut video.height, &o.height);
    set(&mut video.framerate, &o.framerate);
    set(&mut video.bitrate_kbps, &o.bitrate_kbps);
    set(&mut video.encoders, &o.encoder.as_ref().map(|e| vec![e.clone()]));
    set(&mut f.status.get_or_insert_with(Default::default).listen, &o.status_listen);
    f
}

fn hub(errors: &mut Vec<KeyError>, f: &Fragment, token: Option<&Token>) -> Option<HubSettings> {
    let mut error = |key: &str, message: String| errors.push(KeyError { key: key.to_owned(), message });
    let hub = f.hub.clone().unwrap_or_default();
    if hub.url.is_none() {
        error("hub.url", "missing (set it in appliance.toml or pass --hub)".to_owned());
    }
    let urls = hub.url.as_ref().map(HubUrls::urls).unwrap_or_default();
    if hub.url.is_some() && urls.is_empty() {
        error("hub.url", "an empty list (name at least one hub)".to_owned());
    }
    for (i, url) in urls.iter().enumerate() {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            error("hub.url", format!("'{url}' is not an http:// or https:// URL with a host"));
        } else if urls[..i].iter().any(|u| u.trim_end_matches('/') == url.trim_end_matches('/')) {
            error("hub.url", format!("'{url}' is listed twice"));
        }
    }
    if hub.room.is_none() {
        error("hub.room", "missing (set it in appliance.toml or pass --room)".to_owned());
    }
    let room =
        hub.room.and_then(|room| RoomId::parse(&room).map_err(|e| error("hub.room", format!("'{room}': {e}"))).ok());
    let token = match (token, hub.token_file) {
        (Some(token), _) => Some(TokenSource::Given(token.clone())),
        (None, Some(path)) if path.is_absolute() => Some(TokenSource::File(path)),
        (None, Some(path)) => {
            error("hub.token_file", format!("'{}' is not an absolute path", path.display()));
            None
        }
        (None, None) => {
            error("hub.token_file", "missing (or pass --token / LECTERN_TOKEN)".to_owned());
            None
        }
    };
    let ca_file = match hub.ca_file {
        Some(path) if !path.is_absolute() => {
            error("hub.ca_file", format!("'{}' is not an absolute path", path.display()));
            None
        }
        other => other,
    };
    let url = urls.first().cloned()?;
    Some(HubSettings { url, urls, room: room?, token: token?, ca_file })
}

fn update(errors: &mut Vec<KeyError>, f: &Fragment) -> UpdateConfig {
    let mut error = |key: &str, message: String| errors.push(KeyError { key: key.to_owned(), message });
    let u = f.update.clone().unwrap_or_default();
    let installer = match u.installer.as_deref() {
        None | Some("none") => InstallerKind::None,
        Some("rauc") => InstallerKind::Rauc,
        Some("fake") => InstallerKind::Fake,
        Some(other) => {
            error("update.installer", format!("'{other}' is not one of none, rauc, fake"));
            InstallerKind::None
        }
    };
    let keyring = match u.keyring {
        Some(path) if !path.is_absolute() => {
            error("update.keyring", format!("'{}' is not an absolute path", path.display()));
            None
        }
        other => other,
    };
    UpdateConfig { installer, keyring, rauc: u.rauc.unwrap_or_else(|| "rauc".to_owned()) }
}
