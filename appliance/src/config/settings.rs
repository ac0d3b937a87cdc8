//! Merged fragment + command-line overrides → validated `Settings`. Every problem is reported
//! with the key that holds it (`video.framerate: 0 is out of range 1..=120`), all at once, so
//! one edit fixes a file.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use lectern_proto::RoomId;

use super::ConfigError;
use super::fragment::{ContentFragment, Fragment, LayerFragment, PanelFragment, VideoFragment};
use crate::whip::Token;

/// The encoder ladder of ARCHITECTURE.md: hardware first, then software.
pub const DEFAULT_ENCODERS: [&str; 5] = ["v4l2h264enc", "nvv4l2h264enc", "vaapih264enc", "x264enc", "openh264enc"];
pub const DEFAULT_STATUS_LISTEN: &str = "127.0.0.1:8090";
/// Browsers negotiate up to three simulcast encodings; more would only cost the box CPU.
const MAX_SIMULCAST_LAYERS: usize = 3;
const LINE_OFFSETS: RangeInclusive<u32> = 0..=1023;

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
}

#[derive(Debug, Clone)]
pub struct HubSettings {
    pub url: String,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// ALSA device names; `None` = ALSA's default.
    pub mic: Option<String>,
    pub speaker: Option<String>,
    pub aec: bool,
    pub ns: bool,
    pub agc: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval_s: u32,
    /// Tried in order; the first that really starts encodes.
    pub encoders: Vec<String>,
    pub simulcast: Vec<Layer>,
}

/// Slides from an HDMI capture: sharp and big rather than smooth, so high resolution at a low
/// frame rate by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentConfig {
    /// A V4L2 device path, or a name as `lectern-appliance probe` prints it.
    pub device: String,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelPins {
    /// `/dev/gpiochipN`.
    pub chip: String,
    pub go_live: Option<u32>,
    pub mute: Option<u32>,
    pub privacy: Option<u32>,
    pub buttons_active_low: bool,
    pub live_led: Option<u32>,
    pub muted_led: Option<u32>,
    pub fault_led: Option<u32>,
    pub leds_active_low: bool,
}

/// One invalid key: `Display` is `key: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

/// Collects key errors instead of stopping at the first.
#[derive(Default)]
struct Checker {
    errors: Vec<KeyError>,
}

impl Checker {
    fn error(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(KeyError { key: key.into(), message: message.into() });
    }

    fn required<T>(&mut self, key: &str, value: Option<T>, hint: &str) -> Option<T> {
        if value.is_none() {
            self.error(key, format!("missing ({hint})"));
        }
        value
    }

    fn range(&mut self, key: &str, value: u32, range: RangeInclusive<u32>) -> u32 {
        if !range.contains(&value) {
            self.error(key, format!("{value} is out of range {}..={}", range.start(), range.end()));
        }
        value
    }

    fn not_empty(&mut self, key: &str, value: Option<String>) -> Option<String> {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            self.error(key, "must not be empty");
        }
        value
    }
}

/// Applies `overrides` on top of `fragment` and validates the result.
pub fn validate(fragment: &Fragment, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let f = with_overrides(fragment.clone(), overrides);
    let mut c = Checker::default();
    let hub = hub(&mut c, &f, overrides.token.as_ref());
    let camera = c.not_empty("camera.device", f.camera.and_then(|x| x.device)).unwrap_or_else(|| "/dev/video0".into());
    let content = f.content.and_then(|x| content(&mut c, x, &camera));
    let audio = f.audio.unwrap_or_default();
    let audio = AudioConfig {
        mic: c.not_empty("audio.mic", audio.mic),
        speaker: c.not_empty("audio.speaker", audio.speaker),
        aec: audio.aec.unwrap_or(true),
        ns: audio.ns.unwrap_or(true),
        agc: audio.agc.unwrap_or(true),
    };
    let video = video(&mut c, f.video.unwrap_or_default());
    let panel = f.panel.map(|p| panel(&mut c, p));
    let status = f.status.unwrap_or_default();
    let listen = status.listen.unwrap_or_else(|| DEFAULT_STATUS_LISTEN.to_owned());
    let status_listen = match listen.parse::<SocketAddr>() {
        Ok(addr) => status.enabled.unwrap_or(true).then_some(addr),
        Err(_) => {
            c.error("status.listen", format!("'{listen}' is not an IP:port address"));
            None
        }
    };
    match (hub, c.errors.is_empty()) {
        (Some(hub), true) => Ok(Settings { hub, camera, content, audio, video, panel, status_listen }),
        _ => Err(ConfigError::Invalid(c.errors)),
    }
}

fn with_overrides(mut f: Fragment, o: &Overrides) -> Fragment {
    fn set<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            slot.clone_from(value);
        }
    }
    let hub = f.hub.get_or_insert_with(Default::default);
    set(&mut hub.url, &o.hub);
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

fn hub(c: &mut Checker, f: &Fragment, token: Option<&Token>) -> Option<HubSettings> {
    let hub = f.hub.clone().unwrap_or_default();
    let url = c.required("hub.url", hub.url, "set it in appliance.toml or pass --hub");
    if let Some(url) = &url {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            c.error("hub.url", format!("'{url}' is not an http:// or https:// URL with a host"));
        }
    }
    let room = c
        .required("hub.room", hub.room, "set it in appliance.toml or pass --room")
        .and_then(|room| RoomId::parse(&room).map_err(|e| c.error("hub.room", format!("'{room}': {e}"))).ok());
    let token = match (token, hub.token_file) {
        (Some(token), _) => Some(TokenSource::Given(token.clone())),
        (None, Some(path)) if path.is_absolute() => Some(TokenSource::File(path)),
        (None, Some(path)) => {
            c.error("hub.token_file", format!("'{}' is not an absolute path", path.display()));
            None
        }
        (None, None) => {
            c.error("hub.token_file", "missing (or pass --token / LECTERN_TOKEN)");
            None
        }
    };
    let ca_file = match hub.ca_file {
        Some(path) if !path.is_absolute() => {
            c.error("hub.ca_file", format!("'{}' is not an absolute path", path.display()));
            None
        }
        other => other,
    };
    Some(HubSettings { url: url?, room: room?, token: token?, ca_file })
}

fn video(c: &mut Checker, v: VideoFragment) -> VideoConfig {
    let width = c.range("video.width", v.width.unwrap_or(1280), 16..=7680);
    let height = c.range("video.height", v.height.unwrap_or(720), 16..=4320);
    for (key, value) in [("video.width", width), ("video.height", height)] {
        if value % 2 != 0 {
            c.error(key, format!("{value} is odd; H.264 in 4:2:0 needs even sizes"));
        }
    }
    let framerate = c.range("video.framerate", v.framerate.unwrap_or(30), 1..=120);
    let bitrate_kbps = c.range("video.bitrate_kbps", v.bitrate_kbps.unwrap_or(1500), 100..=100_000);
    let keyframe_interval_s = c.range("video.keyframe_interval_s", v.keyframe_interval_s.unwrap_or(2), 1..=60);
    let encoders = v.encoders.unwrap_or_else(|| DEFAULT_ENCODERS.iter().map(|&e| e.to_owned()).collect());
    if encoders.is_empty() {
        c.error("video.encoders", "must name at least one encoder");
    }
    for (i, name) in encoders.iter().enumerate() {
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            c.error(format!("video.encoders[{i}]"), format!("'{name}' is not a GStreamer element name"));
        }
    }
    let layers = v.simulcast.unwrap_or_default();
    if layers.len() > MAX_SIMULCAST_LAYERS {
        c.error("video.simulcast", format!("{} layers; at most {MAX_SIMULCAST_LAYERS} are supported", layers.len()));
    }
    let main = Layer { width, height, bitrate_kbps };
    let simulcast = layers.into_iter().enumerate().filter_map(|(i, l)| layer(c, i, l, main)).collect();
    VideoConfig { width, height, framerate, bitrate_kbps, keyframe_interval_s, encoders, simulcast }
}

/// `None` without a device: the other keys alone (e.g. pushed to a whole fleet) send nothing.
/// `None` too when `enabled = false`; the keys are still checked, so a typo stays loud.
fn content(c: &mut Checker, f: ContentFragment, camera: &str) -> Option<ContentConfig> {
    let enabled = f.enabled.unwrap_or(true);
    let device = c.not_empty("content.device", f.device);
    // An unused device cannot collide with the camera.
    if enabled && device.as_deref() == Some(camera) {
        c.error("content.device", format!("'{camera}' is already camera.device"));
    }
    let width = c.range("content.width", f.width.unwrap_or(1920), 16..=7680);
    let height = c.range("content.height", f.height.unwrap_or(1080), 16..=4320);
    for (key, value) in [("content.width", width), ("content.height", height)] {
        if value % 2 != 0 {
            c.error(key, format!("{value} is odd; H.264 in 4:2:0 needs even sizes"));
        }
    }
    // Slides change a few times a minute: more than 30 fps only costs the box CPU.
    let framerate = c.range("content.framerate", f.framerate.unwrap_or(5), 1..=30);
    let bitrate_kbps = c.range("content.bitrate_kbps", f.bitrate_kbps.unwrap_or(1500), 100..=100_000);
    let device = device.filter(|_| enabled)?;
    Some(ContentConfig { device, width, height, framerate, bitrate_kbps })
}

fn layer(c: &mut Checker, i: usize, l: LayerFragment, main: Layer) -> Option<Layer> {
    let key = |field: &str| format!("video.simulcast[{i}].{field}");
    let width = c.required(&key("width"), l.width, "each layer needs width, height and bitrate_kbps");
    let height = c.required(&key("height"), l.height, "each layer needs width, height and bitrate_kbps");
    let bitrate = c.required(&key("bitrate_kbps"), l.bitrate_kbps, "each layer needs width, height and bitrate_kbps");
    let (width, height, bitrate_kbps) = (width?, height?, bitrate?);
    c.range(&key("width"), width, 16..=main.width.max(16));
    c.range(&key("height"), height, 16..=main.height.max(16));
    c.range(&key("bitrate_kbps"), bitrate_kbps, 50..=main.bitrate_kbps.max(50));
    for (field, value) in [("width", width), ("height", height)] {
        if value % 2 != 0 {
            c.error(key(field), format!("{value} is odd; H.264 in 4:2:0 needs even sizes"));
        }
    }
    Some(Layer { width, height, bitrate_kbps })
}

fn panel(c: &mut Checker, p: PanelFragment) -> PanelPins {
    let chip = c.not_empty("panel.chip", p.chip).filter(|chip| !chip.trim().is_empty());
    let chip = c.required("panel.chip", chip, "a [panel] needs its GPIO chip");
    let chip = chip.map_or_else(String::new, |chip| if chip.contains('/') { chip } else { format!("/dev/{chip}") });
    let b = p.buttons.unwrap_or_default();
    let l = p.leds.unwrap_or_default();
    let pins = PanelPins {
        chip,
        go_live: b.go_live,
        mute: b.mute,
        privacy: b.privacy,
        buttons_active_low: b.active_low.unwrap_or(true),
        live_led: l.live,
        muted_led: l.muted,
        fault_led: l.fault,
        leds_active_low: l.active_low.unwrap_or(false),
    };
    let mut seen: Vec<(&str, u32)> = Vec::new();
    for (key, line) in pins.lines() {
        let Some(line) = line else { continue };
        c.range(key, line, LINE_OFFSETS);
        match seen.iter().find(|(_, other)| *other == line) {
            Some((first, _)) => c.error(key, format!("line {line} is already used by {first}")),
            None => seen.push((key, line)),
        }
    }
    pins
}

impl PanelPins {
    /// Every configurable line with its key, buttons first.
    pub fn lines(&self) -> [(&'static str, Option<u32>); 6] {
        [
            ("panel.buttons.go_live", self.go_live),
            ("panel.buttons.mute", self.mute),
            ("panel.buttons.privacy", self.privacy),
            ("panel.leds.live", self.live_led),
            ("panel.leds.muted", self.muted_led),
            ("panel.leds.fault", self.fault_led),
        ]
    }
}
