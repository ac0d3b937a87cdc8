//! Fragment → checked values, with the defaults. Every problem is reported with the key that
//! holds it (`video.framerate: 0 is out of range 1..=120`), all at once, so one edit fixes a file.
//! `[hub]` is the box's own business (it depends on its command line) and is not checked here.

use std::net::SocketAddr;
use std::ops::RangeInclusive;

use super::fragment::{ContentFragment, Fragment, LayerFragment, PanelFragment, VideoFragment};
use super::limits::{self, out_of_range};

/// The encoder ladder of ARCHITECTURE.md: hardware first, then software.
pub const DEFAULT_ENCODERS: [&str; 5] = ["v4l2h264enc", "nvv4l2h264enc", "vaapih264enc", "x264enc", "openh264enc"];
pub const DEFAULT_STATUS_LISTEN: &str = "127.0.0.1:8090";
const DEFAULT_CAMERA: &str = "/dev/video0";

/// One invalid key: `Display` is `key: message`. Keys are the TOML paths (`video.simulcast[1].width`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

/// A fragment's values, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// A V4L2 device path, or a camera name as `lectern-appliance probe` prints it.
    pub camera: String,
    /// The laptop's picture, sent as a second video track; `None` without a `content.device` or
    /// with `content.enabled = false`.
    pub content: Option<ContentConfig>,
    pub audio: AudioConfig,
    pub video: VideoConfig,
    pub panel: Option<PanelPins>,
    /// `None` when the status endpoint is disabled.
    pub status_listen: Option<SocketAddr>,
    pub recording: RecordingConfig,
}

/// `[recording]`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    pub dir: std::path::PathBuf,
    pub fragment_minutes: u32,
    pub budget_mb: u32,
    pub min_free_mb: u32,
    /// The upload's bandwidth cap in kbit/s; 0: none.
    pub upload_kbps: u32,
}

/// The upload's cap unless `recording.upload_kbps` says otherwise: about twice a 720p camera's
/// bitrate, so a lesson's files catch up, and a fraction of a school's uplink beside a live lesson.
pub const DEFAULT_UPLOAD_KBPS: u32 = 4000;
/// Where recordings go unless `recording.dir` says otherwise.
pub const DEFAULT_RECORDING_DIR: &str = "/var/lib/lectern/recordings";

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
    /// Whether the box lowers and raises its camera bitrate with what the hub reports.
    pub adapt_bitrate: bool,
    /// The main picture's floor while adapting, `BITRATE_KBPS.start()..=bitrate_kbps`.
    pub min_bitrate_kbps: u32,
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
    /// `/dev/gpiochipN` (or another path under /dev, such as a udev link).
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
            self.error(key, out_of_range(value, &range));
        }
        value
    }

    fn even(&mut self, key: &str, value: u32) {
        if !value.is_multiple_of(2) {
            self.error(key, format!("{value} is odd; H.264 in 4:2:0 needs even sizes"));
        }
    }

    /// A device name: not blank, not absurdly long, no control characters.
    fn device(&mut self, key: &str, value: Option<String>) -> Option<String> {
        let v = value.as_deref()?;
        if v.trim().is_empty() {
            self.error(key, "must not be empty");
        } else if !limits::DEVICE_NAME_CHARS.contains(&v.chars().count()) || v.chars().any(char::is_control) {
            let max = limits::DEVICE_NAME_CHARS.end();
            self.error(key, format!("must be a device name of at most {max} characters, without control characters"));
        }
        value
    }
}

/// Checks every key of `f` except `[hub]` and resolves the values. `Err` lists every problem.
pub fn resolve(f: &Fragment) -> Result<Resolved, Vec<KeyError>> {
    let mut c = Checker::default();
    let resolved = resolve_with(&mut c, f);
    if c.errors.is_empty() { Ok(resolved) } else { Err(c.errors) }
}

fn resolve_with(c: &mut Checker, f: &Fragment) -> Resolved {
    let camera = c.device("camera.device", f.camera.clone().and_then(|x| x.device));
    let camera = camera.unwrap_or_else(|| DEFAULT_CAMERA.to_owned());
    let content = f.content.clone().and_then(|x| content(c, x, &camera));
    let audio = f.audio.clone().unwrap_or_default();
    let audio = AudioConfig {
        mic: c.device("audio.mic", audio.mic),
        speaker: c.device("audio.speaker", audio.speaker),
        aec: audio.aec.unwrap_or(true),
        ns: audio.ns.unwrap_or(true),
        agc: audio.agc.unwrap_or(true),
    };
    let video = video(c, f.video.clone().unwrap_or_default());
    let panel = f.panel.clone().map(|p| panel(c, p));
    let status = f.status.clone().unwrap_or_default();
    let listen = status.listen.unwrap_or_else(|| DEFAULT_STATUS_LISTEN.to_owned());
    let status_listen = match listen.parse::<SocketAddr>() {
        Ok(addr) => status.enabled.unwrap_or(true).then_some(addr),
        Err(_) => {
            c.error("status.listen", format!("'{listen}' is not an IP:port address"));
            None
        }
    };
    let r = f.recording.clone().unwrap_or_default();
    let recording = RecordingConfig {
        dir: r.dir.unwrap_or_else(|| DEFAULT_RECORDING_DIR.into()),
        fragment_minutes: c.range(
            "recording.fragment_minutes",
            r.fragment_minutes.unwrap_or(10),
            limits::RECORDING_FRAGMENT_MINUTES,
        ),
        budget_mb: c.range("recording.budget_mb", r.budget_mb.unwrap_or(8192), limits::RECORDING_BUDGET_MB),
        min_free_mb: c.range("recording.min_free_mb", r.min_free_mb.unwrap_or(1024), limits::RECORDING_MIN_FREE_MB),
        upload_kbps: c.range(
            "recording.upload_kbps",
            r.upload_kbps.unwrap_or(DEFAULT_UPLOAD_KBPS),
            limits::RECORDING_UPLOAD_KBPS,
        ),
    };
    if !recording.dir.is_absolute() {
        c.error("recording.dir", format!("'{}' is not an absolute path", recording.dir.display()));
    }
    Resolved { camera, content, audio, video, panel, status_listen, recording }
}

/// A picture's size under `section` (`video`, `content`).
fn size(c: &mut Checker, section: &str, width: u32, height: u32) {
    let (w, h) = (format!("{section}.width"), format!("{section}.height"));
    c.range(&w, width, limits::WIDTH);
    c.range(&h, height, limits::HEIGHT);
    c.even(&w, width);
    c.even(&h, height);
}

fn video(c: &mut Checker, v: VideoFragment) -> VideoConfig {
    let (width, height) = (v.width.unwrap_or(1280), v.height.unwrap_or(720));
    size(c, "video", width, height);
    let framerate = c.range("video.framerate", v.framerate.unwrap_or(30), limits::FRAMERATE);
    let bitrate_kbps = c.range("video.bitrate_kbps", v.bitrate_kbps.unwrap_or(1500), limits::BITRATE_KBPS);
    let keyframe_interval_s =
        c.range("video.keyframe_interval_s", v.keyframe_interval_s.unwrap_or(2), limits::KEYFRAME_INTERVAL_S);
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
    if layers.len() > limits::MAX_SIMULCAST_LAYERS {
        let max = limits::MAX_SIMULCAST_LAYERS;
        c.error("video.simulcast", format!("{} layers; at most {max} are supported", layers.len()));
    }
    let main = Layer { width, height, bitrate_kbps };
    let simulcast = layers.into_iter().enumerate().filter_map(|(i, l)| layer(c, i, l, main)).collect();
    let floor = *limits::BITRATE_KBPS.start();
    let default_min = (bitrate_kbps / limits::DEFAULT_MIN_BITRATE_DIVISOR).max(floor).min(bitrate_kbps);
    let min_bitrate_kbps =
        c.range("video.min_bitrate_kbps", v.min_bitrate_kbps.unwrap_or(default_min), floor..=bitrate_kbps.max(floor));
    let adapt_bitrate = v.adapt_bitrate.unwrap_or(true);
    VideoConfig {
        width,
        height,
        framerate,
        bitrate_kbps,
        keyframe_interval_s,
        encoders,
        simulcast,
        adapt_bitrate,
        min_bitrate_kbps,
    }
}

/// `None` without a device: the other keys alone (e.g. pushed to a whole fleet) send nothing.
/// `None` too when `enabled = false`; the keys are still checked, so a typo stays loud.
fn content(c: &mut Checker, f: ContentFragment, camera: &str) -> Option<ContentConfig> {
    let enabled = f.enabled.unwrap_or(true);
    let device = c.device("content.device", f.device);
    // An unused device cannot collide with the camera.
    if enabled && device.as_deref() == Some(camera) {
        c.error("content.device", format!("'{camera}' is the room camera; pick the laptop's capture"));
    }
    let (width, height) = (f.width.unwrap_or(1920), f.height.unwrap_or(1080));
    size(c, "content", width, height);
    let framerate = c.range("content.framerate", f.framerate.unwrap_or(5), limits::CONTENT_FRAMERATE);
    let bitrate_kbps = c.range("content.bitrate_kbps", f.bitrate_kbps.unwrap_or(1500), limits::BITRATE_KBPS);
    let device = device.filter(|_| enabled)?;
    Some(ContentConfig { device, width, height, framerate, bitrate_kbps })
}

/// A smaller copy of the main picture: no larger, no costlier.
fn layer(c: &mut Checker, i: usize, l: LayerFragment, main: Layer) -> Option<Layer> {
    let key = |field: &str| format!("video.simulcast[{i}].{field}");
    let hint = "each layer needs width, height and bitrate_kbps";
    let width = c.required(&key("width"), l.width, hint);
    let height = c.required(&key("height"), l.height, hint);
    let bitrate = c.required(&key("bitrate_kbps"), l.bitrate_kbps, hint);
    let (width, height, bitrate_kbps) = (width?, height?, bitrate?);
    let floor = limits::LAYER_MIN_SIZE;
    c.range(&key("width"), width, floor..=main.width.max(floor));
    c.range(&key("height"), height, floor..=main.height.max(floor));
    let min_bitrate = limits::LAYER_MIN_BITRATE_KBPS;
    c.range(&key("bitrate_kbps"), bitrate_kbps, min_bitrate..=main.bitrate_kbps.max(min_bitrate));
    c.even(&key("width"), width);
    c.even(&key("height"), height);
    Some(Layer { width, height, bitrate_kbps })
}

/// `gpiochipN`, or a path under /dev (`/dev/gpiochip0`, a udev link).
fn chip_path(c: &mut Checker, chip: Option<String>) -> String {
    let Some(chip) = c.required("panel.chip", chip, "a [panel] needs its GPIO chip") else { return String::new() };
    let chip = chip.trim();
    let named = chip.strip_prefix("gpiochip").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let under_dev = chip.strip_prefix("/dev/").is_some_and(|rest| !rest.is_empty() && !rest.contains(".."));
    if named {
        format!("/dev/{chip}")
    } else if under_dev {
        chip.to_owned()
    } else {
        c.error("panel.chip", format!("'{chip}' is not a GPIO chip like gpiochip0 or /dev/gpiochip0"));
        String::new()
    }
}

fn panel(c: &mut Checker, p: PanelFragment) -> PanelPins {
    let chip = chip_path(c, p.chip);
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
        c.range(key, line, limits::GPIO_LINE);
        match seen.iter().find(|(_, other)| *other == line) {
            Some((first, _)) => c.error(key, format!("line {line} is already used by {first}")),
            None => seen.push((key, line)),
        }
    }
    pins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(toml: &str) -> Vec<String> {
        let f: Fragment = toml::from_str(toml).expect("parses");
        resolve(&f).err().unwrap_or_default().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_resolve_without_a_file() {
        let r = resolve(&Fragment::default()).expect("the defaults are valid");
        assert_eq!(
            (r.camera.as_str(), r.video.width, r.video.height, r.video.framerate),
            ("/dev/video0", 1280, 720, 30)
        );
        assert_eq!(r.status_listen, Some(DEFAULT_STATUS_LISTEN.parse().unwrap()));
        assert!(r.content.is_none() && r.panel.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key() {
        let got = errors("[video]\nframerate = 0\nwidth = 1281\n[panel]\nchip = \"/etc/passwd\"\n");
        assert_eq!(
            got,
            [
                "video.width: 1281 is odd; H.264 in 4:2:0 needs even sizes",
                "video.framerate: 0 is out of range 1..=120",
                "panel.chip: '/etc/passwd' is not a GPIO chip like gpiochip0 or /dev/gpiochip0",
            ]
        );
    }

    #[test]
    fn messages_follow_the_limits() {
        let got = errors("[content]\nframerate = 0\n");
        assert_eq!(got, [format!("content.framerate: {}", out_of_range(0, &limits::CONTENT_FRAMERATE))]);
    }

    #[test]
    fn device_names_are_checked_wherever_they_appear() {
        let long = "x".repeat(300);
        let got = errors(&format!("[camera]\ndevice = \"{long}\"\n[audio]\nmic = \" \"\n"));
        assert!(got[0].starts_with("camera.device: must be a device name of at most 256"), "{got:?}");
        assert_eq!(got[1], "audio.mic: must not be empty");
    }

    #[test]
    fn the_adaptation_floor_defaults_to_a_quarter_and_stays_under_the_bitrate() {
        let v = resolve(&Fragment::default()).expect("defaults").video;
        assert_eq!((v.adapt_bitrate, v.min_bitrate_kbps), (true, 375));
        let f: Fragment = toml::from_str("[video]\nbitrate_kbps = 200\n").expect("parses");
        assert_eq!(resolve(&f).expect("valid").video.min_bitrate_kbps, 100, "never under the bitrate range");
        let f: Fragment = toml::from_str("[video]\nadapt_bitrate = false\nmin_bitrate_kbps = 900\n").expect("parses");
        let v = resolve(&f).expect("valid").video;
        assert_eq!((v.adapt_bitrate, v.min_bitrate_kbps), (false, 900));
        let got = errors("[video]\nbitrate_kbps = 800\nmin_bitrate_kbps = 1000\n");
        assert_eq!(got, [format!("video.min_bitrate_kbps: {}", out_of_range(1000, &(100..=800)))]);
        let got = errors("[video]\nmin_bitrate_kbps = 0\n");
        assert_eq!(got, [format!("video.min_bitrate_kbps: {}", out_of_range(0, &(100..=1500)))]);
    }

    #[test]
    fn a_layer_is_no_larger_than_the_main_picture() {
        let got = errors("[[video.simulcast]]\nwidth = 1920\nheight = 180\nbitrate_kbps = 150\n");
        assert_eq!(got, ["video.simulcast[0].width: 1920 is out of range 16..=1280"]);
        let got = errors("[[video.simulcast]]\nwidth = 320\n");
        assert_eq!(got.len(), 2, "height and bitrate_kbps are missing: {got:?}");
    }
}
