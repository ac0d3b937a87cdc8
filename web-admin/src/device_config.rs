//! A box's remote configuration ([`DeviceConfig`]): read from a request field by field, checked
//! against what the box reported it has (its inventory) before anything is sent, and rendered as
//! the TOML drop-in the box applies (`applyConfig`). The box checks again with its own rules and
//! keeps its last good configuration if this one fails there; the ranges here mirror
//! `appliance/src/config/settings.rs` so that almost nothing reaches the box only to be refused.

use std::fmt::Write as _;

use lectern_proto::device::{ContentCapture, DeviceConfig, Inventory, InventoryDevice, PanelConfig, SimulcastLayer};

use crate::error::{Error, Result};
use crate::json::Body;

pub const FIELDS: [&str; 14] = [
    "camera",
    "mic",
    "speaker",
    "width",
    "height",
    "framerate",
    "bitrateKbps",
    "keyframeIntervalS",
    "simulcast",
    "echoCancellation",
    "noiseSuppression",
    "autoGain",
    "panel",
    "content",
];
const CONTENT_FIELDS: [&str; 6] = ["enabled", "device", "width", "height", "framerate", "bitrateKbps"];
const PANEL_FIELDS: [&str; 7] = ["chip", "goLive", "mute", "privacy", "liveLed", "mutedLed", "faultLed"];
const MAX_LAYERS: usize = 3;

/// Reads a configuration object; every error names its field (`simulcast[1].width: …`).
pub fn parse(body: &Body) -> Result<DeviceConfig> {
    body.only(&FIELDS)?;
    let device = |field: &str| device_name(body, field);
    let simulcast = match body.opt_array("simulcast")? {
        None => None,
        Some(items) => {
            if items.len() > MAX_LAYERS {
                return Err(Error::invalid(format!("simulcast: at most {MAX_LAYERS} layers")));
            }
            let mut layers = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let key = format!("simulcast[{i}]");
                let layer = Body::element(&key, item)?;
                layer.only(&["width", "height", "bitrateKbps"]).map_err(|e| prefix(&key, e))?;
                let need = |f: &str| -> Result<u32> {
                    u32_field(&layer, f)
                        .map_err(|e| prefix(&key, e))?
                        .ok_or_else(|| Error::invalid(format!("{key}.{f}: required")))
                };
                layers.push(SimulcastLayer {
                    width: need("width")?,
                    height: need("height")?,
                    bitrate_kbps: need("bitrateKbps")?,
                });
            }
            Some(layers)
        }
    };
    let panel = match body.opt_object("panel")? {
        None => None,
        Some(p) => {
            p.only(&PANEL_FIELDS).map_err(|e| prefix("panel", e))?;
            let line = |f: &str| u32_field(&p, f).map_err(|e| prefix("panel", e));
            Some(PanelConfig {
                chip: p.string("chip").map_err(|e| prefix("panel", e))?,
                go_live: line("goLive")?,
                mute: line("mute")?,
                privacy: line("privacy")?,
                live_led: line("liveLed")?,
                muted_led: line("mutedLed")?,
                fault_led: line("faultLed")?,
            })
        }
    };
    Ok(DeviceConfig {
        camera: device("camera")?,
        mic: device("mic")?,
        speaker: device("speaker")?,
        width: u32_field(body, "width")?,
        height: u32_field(body, "height")?,
        framerate: u32_field(body, "framerate")?,
        bitrate_kbps: u32_field(body, "bitrateKbps")?,
        keyframe_interval_s: u32_field(body, "keyframeIntervalS")?,
        simulcast,
        echo_cancellation: body.opt_bool("echoCancellation")?,
        noise_suppression: body.opt_bool("noiseSuppression")?,
        auto_gain: body.opt_bool("autoGain")?,
        panel,
        content: body
            .opt_object("content")?
            .map(|c| parse_content(&c).map_err(|e| prefix("content", e)))
            .transpose()?,
    })
}

/// `content`'s fields; errors name the field without the `content.` the caller adds.
fn parse_content(c: &Body) -> Result<ContentCapture> {
    c.only(&CONTENT_FIELDS)?;
    Ok(ContentCapture {
        enabled: c.opt_bool("enabled")?,
        device: device_name(c, "device")?,
        width: u32_field(c, "width")?,
        height: u32_field(c, "height")?,
        framerate: u32_field(c, "framerate")?,
        bitrate_kbps: u32_field(c, "bitrateKbps")?,
    })
}

fn device_name(body: &Body, field: &str) -> Result<Option<String>> {
    match body.opt_string(field)?.map(|s| s.trim().to_owned()) {
        Some(s) if s.is_empty() || s.chars().count() > 256 || s.chars().any(char::is_control) => {
            Err(Error::invalid(format!("{field}: must be a device name of 1–256 characters")))
        }
        v => Ok(v),
    }
}

fn u32_field(body: &Body, field: &str) -> Result<Option<u32>> {
    body.opt_u64(field)?
        .map(|v| u32::try_from(v).map_err(|_| Error::invalid(format!("{field}: too large"))))
        .transpose()
}

fn prefix(key: &str, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::invalid(format!("{key}.{m}")),
        e => e,
    }
}

/// Checks `config` against the rules the box applies and the devices it reported (`None`: the box
/// has never connected, so device names cannot be checked and are refused).
pub fn validate(config: &DeviceConfig, inventory: Option<&Inventory>) -> Result<()> {
    let pick = |field: &str, value: &Option<String>, kind: &str, list: fn(&Inventory) -> &[InventoryDevice]| {
        let Some(value) = value else { return Ok(()) };
        let Some(inv) = inventory else {
            return Err(Error::invalid(format!(
                "{field}: this box has not reported its devices yet; connect it to the hub first"
            )));
        };
        let list = list(inv);
        if list.iter().any(|d| &d.device == value) {
            return Ok(());
        }
        let known: Vec<String> = list.iter().map(|d| format!("{} ({})", d.device, d.name)).collect();
        let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
        Err(Error::invalid(format!("{field}: '{value}' is not one of this box's {kind}: {known}")))
    };
    pick("camera", &config.camera, "cameras", |i| i.cameras.as_slice())?;
    pick("mic", &config.mic, "microphones", |i| i.microphones.as_slice())?;
    pick("speaker", &config.speaker, "speakers", |i| i.speakers.as_slice())?;
    // An HDMI-to-USB capture is a V4L2 camera to the box. One that is off is not used, so it is not
    // looked for (it may have been unplugged, which is why it is being turned off).
    let content_on = config.content.as_ref().filter(|c| c.enabled != Some(false));
    let content_device = content_on.and_then(|c| c.device.clone());
    pick("content.device", &content_device, "cameras", |i| i.cameras.as_slice())?;
    if let Some(device) = content_device.filter(|d| config.camera.as_ref() == Some(d)) {
        return Err(Error::invalid(format!(
            "content.device: '{device}' is the room camera; pick the laptop's capture"
        )));
    }
    let range = |field: &str, v: Option<u32>, lo: u32, hi: u32| match v {
        Some(v) if !(lo..=hi).contains(&v) => Err(Error::invalid(format!("{field}: {v} is outside {lo}–{hi}"))),
        _ => Ok(()),
    };
    let even = |field: &str, v: Option<u32>| match v {
        Some(v) if v % 2 != 0 => Err(Error::invalid(format!("{field}: {v} is odd; H.264 needs even sizes"))),
        _ => Ok(()),
    };
    // A picture's size, for the camera and the slides alike (`prefix` names the section).
    let size = |prefix: &str, width: Option<u32>, height: Option<u32>| {
        range(&format!("{prefix}width"), width, 16, 7680)?;
        range(&format!("{prefix}height"), height, 16, 4320)?;
        even(&format!("{prefix}width"), width)?;
        even(&format!("{prefix}height"), height)
    };
    size("", config.width, config.height)?;
    range("framerate", config.framerate, 1, 120)?;
    range("bitrateKbps", config.bitrate_kbps, 100, 100_000)?;
    range("keyframeIntervalS", config.keyframe_interval_s, 1, 60)?;
    // The box checks [content]'s keys even when it is off, so a value it would refuse is refused here.
    if let Some(c) = &config.content {
        size("content.", c.width, c.height)?;
        // Slides change a few times a minute; the box takes at most 30 fps for them.
        range("content.framerate", c.framerate, 1, 30)?;
        range("content.bitrateKbps", c.bitrate_kbps, 100, 100_000)?;
    }
    for (i, l) in config.simulcast.iter().flatten().enumerate() {
        let key = |f: &str| format!("simulcast[{i}].{f}");
        // A layer is a smaller copy of the main picture; the box's defaults are 1280x720 at 1500 kbit/s.
        range(&key("width"), Some(l.width), 16, config.width.unwrap_or(1280))?;
        range(&key("height"), Some(l.height), 16, config.height.unwrap_or(720))?;
        range(&key("bitrateKbps"), Some(l.bitrate_kbps), 50, config.bitrate_kbps.unwrap_or(1500))?;
        even(&key("width"), Some(l.width))?;
        even(&key("height"), Some(l.height))?;
    }
    if let Some(p) = &config.panel {
        let chip = p.chip.trim();
        let name = chip.strip_prefix("/dev/").unwrap_or(chip);
        if !name.strip_prefix("gpiochip").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
            return Err(Error::invalid(format!("panel.chip: '{chip}' is not a GPIO chip like gpiochip0")));
        }
        let mut seen: Vec<(&str, u32)> = Vec::new();
        for (key, line) in panel_lines(p) {
            let Some(line) = line else { continue };
            range(&format!("panel.{key}"), Some(line), 0, 1023)?;
            if let Some((first, _)) = seen.iter().find(|(_, l)| *l == line) {
                return Err(Error::invalid(format!("panel.{key}: line {line} is already used by panel.{first}")));
            }
            seen.push((key, line));
        }
    }
    Ok(())
}

fn panel_lines(p: &PanelConfig) -> [(&'static str, Option<u32>); 6] {
    [
        ("goLive", p.go_live),
        ("mute", p.mute),
        ("privacy", p.privacy),
        ("liveLed", p.live_led),
        ("mutedLed", p.muted_led),
        ("faultLed", p.fault_led),
    ]
}

/// `set`'s fields over `base`'s (bulk apply changes only what it names). `content` merges field
/// by field: a fleet shares a frame rate or an off switch while each box keeps its own capture.
pub fn merge(base: &DeviceConfig, set: &DeviceConfig) -> DeviceConfig {
    fn or<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
        a.clone().or_else(|| b.clone())
    }
    let content = match (&set.content, &base.content) {
        (Some(set), Some(base)) => Some(ContentCapture {
            enabled: or(&set.enabled, &base.enabled),
            device: or(&set.device, &base.device),
            width: or(&set.width, &base.width),
            height: or(&set.height, &base.height),
            framerate: or(&set.framerate, &base.framerate),
            bitrate_kbps: or(&set.bitrate_kbps, &base.bitrate_kbps),
        }),
        (set, base) => or(set, base),
    };
    DeviceConfig {
        camera: or(&set.camera, &base.camera),
        mic: or(&set.mic, &base.mic),
        speaker: or(&set.speaker, &base.speaker),
        width: or(&set.width, &base.width),
        height: or(&set.height, &base.height),
        framerate: or(&set.framerate, &base.framerate),
        bitrate_kbps: or(&set.bitrate_kbps, &base.bitrate_kbps),
        keyframe_interval_s: or(&set.keyframe_interval_s, &base.keyframe_interval_s),
        simulcast: or(&set.simulcast, &base.simulcast),
        echo_cancellation: or(&set.echo_cancellation, &base.echo_cancellation),
        noise_suppression: or(&set.noise_suppression, &base.noise_suppression),
        auto_gain: or(&set.auto_gain, &base.auto_gain),
        panel: or(&set.panel, &base.panel),
        content,
    }
}

/// The box's `applyConfig` text: its own TOML keys (`appliance.example.toml`).
pub fn to_toml(c: &DeviceConfig) -> String {
    let mut out = String::from("# Pushed by the hub's web admin; replaced by the next push.\n");
    let mut table = |name: &str, entries: &[(&str, Option<String>)]| {
        if entries.iter().any(|(_, v)| v.is_some()) {
            let _ = writeln!(out, "\n[{name}]");
            for (key, value) in entries {
                if let Some(value) = value {
                    let _ = writeln!(out, "{key} = {value}");
                }
            }
        }
    };
    let s = |v: &Option<String>| v.as_ref().map(|v| quote(v));
    let n = |v: Option<u32>| v.map(|v| v.to_string());
    let b = |v: Option<bool>| v.map(|v| v.to_string());
    table("camera", &[("device", s(&c.camera))]);
    table(
        "audio",
        &[
            ("mic", s(&c.mic)),
            ("speaker", s(&c.speaker)),
            ("aec", b(c.echo_cancellation)),
            ("ns", b(c.noise_suppression)),
            ("agc", b(c.auto_gain)),
        ],
    );
    table(
        "video",
        &[
            ("width", n(c.width)),
            ("height", n(c.height)),
            ("framerate", n(c.framerate)),
            ("bitrate_kbps", n(c.bitrate_kbps)),
            ("keyframe_interval_s", n(c.keyframe_interval_s)),
        ],
    );
    if let Some(content) = &c.content {
        table(
            "content",
            &[
                ("enabled", b(content.enabled)),
                ("device", s(&content.device)),
                ("width", n(content.width)),
                ("height", n(content.height)),
                ("framerate", n(content.framerate)),
                ("bitrate_kbps", n(content.bitrate_kbps)),
            ],
        );
    }
    if let Some(panel) = &c.panel {
        table("panel", &[("chip", Some(quote(&panel.chip)))]);
        table(
            "panel.buttons",
            &[("go_live", n(panel.go_live)), ("mute", n(panel.mute)), ("privacy", n(panel.privacy))],
        );
        table(
            "panel.leds",
            &[("live", n(panel.live_led)), ("muted", n(panel.muted_led)), ("fault", n(panel.fault_led))],
        );
    }
    // Arrays of tables last, so no key after them lands in the last layer.
    for l in c.simulcast.iter().flatten() {
        let _ = write!(
            out,
            "\n[[video.simulcast]]\nwidth = {}\nheight = {}\nbitrate_kbps = {}\n",
            l.width, l.height, l.bitrate_kbps
        );
    }
    out
}

/// A TOML basic string. JSON's escaping is a subset of TOML's, so serde_json writes it.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        Inventory {
            cameras: vec![
                InventoryDevice { name: "Test pattern".into(), device: "/dev/video0".into() },
                InventoryDevice { name: "USB3 HDMI capture".into(), device: "/dev/video2".into() },
            ],
            microphones: vec![],
            speakers: vec![],
            encoders: vec!["x264enc".into()],
        }
    }

    fn body(json: &str) -> Body {
        Body::parse(json.as_bytes()).unwrap()
    }

    fn refusal(json: &str) -> String {
        match parse(&body(json)).and_then(|c| validate(&c, Some(&inventory()))) {
            Ok(()) => panic!("{json} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            (r#"{"camera":"/dev/video9"}"#, "camera: '/dev/video9' is not one of this box's cameras: /dev/video0"),
            (r#"{"mic":"hw:1"}"#, "mic: 'hw:1' is not one of this box's microphones: none"),
            (r#"{"bitrateKbps":50}"#, "bitrateKbps: 50 is outside 100–100000"),
            (r#"{"width":1279}"#, "width: 1279 is odd"),
            (r#"{"framerate":"30"}"#, "framerate: must be a number"),
            (r#"{"bitrate":1}"#, "bitrate: unknown field"),
            (r#"{"simulcast":[{"width":640}]}"#, "simulcast[0].height: required"),
            (r#"{"simulcast":[{"width":640,"height":360,"bitrateKbps":9000}]}"#, "simulcast[0].bitrateKbps"),
            (r#"{"panel":{"chip":"gpiochip0","mute":5,"liveLed":5}}"#, "panel.liveLed: line 5 is already used"),
            (r#"{"panel":{"chip":"/etc/passwd"}}"#, "panel.chip: '/etc/passwd' is not a GPIO chip"),
            (r#"{"panel":{"chip":"gpiochip0","x":1}}"#, "panel.x: unknown field"),
            (r#"{"content":{"device":"/dev/video2","framerate":60}}"#, "content.framerate: 60 is outside 1–30"),
            (r#"{"content":{"enabled":false,"framerate":0}}"#, "content.framerate: 0 is outside 1–30"),
            (r#"{"content":{"width":1921}}"#, "content.width: 1921 is odd"),
            (r#"{"content":{"bitrateKbps":5}}"#, "content.bitrateKbps: 5 is outside 100–100000"),
            (r#"{"content":{"device":""}}"#, "content.device: must be a device name"),
            (r#"{"content":{"enabled":"no"}}"#, "content.enabled: must be"),
            (r#"{"content":{"fps":5}}"#, "content.fps: unknown field"),
            (r#"{"content":{"device":"hw:1,0"}}"#, "content.device: 'hw:1,0' is not one of this box's cameras"),
            (
                r#"{"camera":"/dev/video2","content":{"device":"/dev/video2"}}"#,
                "content.device: '/dev/video2' is the room camera",
            ),
        ];
        for (json, expected) in cases {
            let got = refusal(json);
            assert!(got.starts_with(expected), "{json}: got {got:?}, expected {expected:?}");
        }
        let c = parse(&body(r#"{"camera":"/dev/video0"}"#)).unwrap();
        assert!(validate(&c, None).unwrap_err().to_string().contains("has not reported its devices"));
    }

    #[test]
    fn the_toml_is_what_the_box_reads() {
        let c = parse(&body(
            r#"{"camera":"/dev/video0","bitrateKbps":2000,"echoCancellation":false,
                "simulcast":[{"width":640,"height":360,"bitrateKbps":500}],
                "panel":{"chip":"gpiochip0","goLive":17,"liveLed":27}}"#,
        ))
        .unwrap();
        validate(&c, Some(&inventory())).unwrap();
        let text = to_toml(&c);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["camera"]["device"].as_str(), Some("/dev/video0"));
        assert_eq!(v["video"]["bitrate_kbps"].as_integer(), Some(2000));
        assert_eq!(v["video"]["simulcast"][0]["width"].as_integer(), Some(640));
        assert_eq!(v["audio"]["aec"].as_bool(), Some(false));
        assert_eq!(v["panel"]["buttons"]["go_live"].as_integer(), Some(17));
        assert_eq!(v["panel"]["leds"]["live"].as_integer(), Some(27));
        assert!(v.get("status").is_none() && v["video"].get("width").is_none());
        let content = parse(&body(r#"{"content":{"enabled":true,"device":"/dev/video2","framerate":10}}"#)).unwrap();
        validate(&content, Some(&inventory())).unwrap();
        let v: toml::Value = toml::from_str(&to_toml(&content)).unwrap();
        assert_eq!(v["content"]["device"].as_str(), Some("/dev/video2"));
        assert_eq!(v["content"]["enabled"].as_bool(), Some(true));
        assert_eq!(v["content"]["framerate"].as_integer(), Some(10));
        assert!(v["content"].get("bitrate_kbps").is_none());
        let off = parse(&body(r#"{"content":{"enabled":false}}"#)).unwrap();
        assert_eq!(to_toml(&off).lines().skip(1).collect::<Vec<_>>(), ["", "[content]", "enabled = false"]);
        let tricky = DeviceConfig { mic: Some("a \"b\" \\ c".into()), ..DeviceConfig::default() };
        let v: toml::Value = toml::from_str(&to_toml(&tricky)).unwrap();
        assert_eq!(v["audio"]["mic"].as_str(), Some("a \"b\" \\ c"));
    }

    #[test]
    fn bulk_changes_only_what_it_names() {
        let base = DeviceConfig { camera: Some("/dev/video0".into()), bitrate_kbps: Some(1500), ..Default::default() };
        let set = DeviceConfig { bitrate_kbps: Some(2500), ..Default::default() };
        let merged = merge(&base, &set);
        assert_eq!((merged.camera.as_deref(), merged.bitrate_kbps), (Some("/dev/video0"), Some(2500)));
        let own =
            |device: &str| ContentCapture { device: Some(device.into()), width: Some(1280), ..Default::default() };
        let base = DeviceConfig { content: Some(own("/dev/video2")), ..Default::default() };
        let set = DeviceConfig {
            content: Some(ContentCapture { enabled: Some(false), framerate: Some(2), ..Default::default() }),
            ..Default::default()
        };
        let expected = ContentCapture { enabled: Some(false), framerate: Some(2), ..own("/dev/video2") };
        assert_eq!(merge(&base, &set).content, Some(expected), "each box keeps its own capture");
    }
}
