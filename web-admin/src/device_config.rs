//! A box's remote configuration ([`DeviceConfig`]): read from a request field by field, turned
//! into the box's own TOML schema (`box_config::Fragment`), checked with the box's own rules
//! (`box_config::resolve`, so nothing the box would refuse is sent) and against what the box
//! reported it has (its inventory), then rendered with `toml::to_string` as the drop-in the box
//! applies (`applyConfig`). Refusals name the admin's field (`bitrateKbps`), not the box's key.

use lectern_common::box_config::{
    self, AudioFragment, ButtonsFragment, CameraFragment, ContentFragment, Fragment, LayerFragment, LedsFragment,
    PanelFragment, VideoFragment, limits,
};
use lectern_proto::device::{ContentCapture, DeviceConfig, Inventory, InventoryDevice, PanelConfig, SimulcastLayer};

use crate::error::{Error, Result};
use crate::json::Body;

pub const FIELDS: [&str; 16] = [
    "camera",
    "mic",
    "speaker",
    "width",
    "height",
    "framerate",
    "bitrateKbps",
    "keyframeIntervalS",
    "adaptBitrate",
    "minBitrateKbps",
    "simulcast",
    "echoCancellation",
    "noiseSuppression",
    "autoGain",
    "panel",
    "content",
];
const CONTENT_FIELDS: [&str; 6] = ["enabled", "device", "width", "height", "framerate", "bitrateKbps"];
const PANEL_FIELDS: [&str; 7] = ["chip", "goLive", "mute", "privacy", "liveLed", "mutedLed", "faultLed"];

/// Reads a configuration object; every error names its field (`simulcast[1].width: …`).
pub fn parse(body: &Body) -> Result<DeviceConfig> {
    body.only(&FIELDS)?;
    let device = |field: &str| device_name(body, field);
    let simulcast = match body.opt_array("simulcast")? {
        None => None,
        Some(items) => {
            // Refused before reading them: a request cannot make the hub parse a thousand layers.
            if items.len() > limits::MAX_SIMULCAST_LAYERS {
                let max = limits::MAX_SIMULCAST_LAYERS;
                return Err(Error::invalid(format!("simulcast: {} layers; at most {max} are supported", items.len())));
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
        adapt_bitrate: body.opt_bool("adaptBitrate")?,
        min_bitrate_kbps: u32_field(body, "minBitrateKbps")?,
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

/// A device name as given, trimmed; the box's rules judge it (`validate`).
fn device_name(body: &Body, field: &str) -> Result<Option<String>> {
    Ok(body.opt_string(field)?.map(|s| s.trim().to_owned()))
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

/// Checks `config` with the box's own rules, then against the devices it reported (`None`: the box
/// has never connected, so device names cannot be checked and are refused).
pub fn validate(config: &DeviceConfig, inventory: Option<&Inventory>) -> Result<()> {
    if let Err(errors) = box_config::resolve(&to_fragment(config)) {
        // The first, like the other refusals: the page puts it next to its field.
        if let Some(e) = errors.first() {
            return Err(Error::invalid(format!("{}: {}", admin_field(&e.key), e.message)));
        }
    }
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
    pick("content.device", &content_device, "cameras", |i| i.cameras.as_slice())
}

/// The admin's name for a box key: `video.bitrate_kbps` → `bitrateKbps`,
/// `video.simulcast[1].bitrate_kbps` → `simulcast[1].bitrateKbps`, `panel.leds.live` → `panel.liveLed`.
fn admin_field(key: &str) -> String {
    const RENAMED: [(&str, &str); 9] = [
        ("camera.device", "camera"),
        ("audio.mic", "mic"),
        ("audio.speaker", "speaker"),
        ("audio.aec", "echoCancellation"),
        ("audio.ns", "noiseSuppression"),
        ("audio.agc", "autoGain"),
        ("video.", ""),
        ("panel.buttons.", "panel."),
        ("panel.leds.", "panel."),
    ];
    let (renamed, rest) =
        RENAMED.iter().find_map(|(from, to)| key.strip_prefix(from).map(|rest| (*to, rest))).unwrap_or(("", key));
    let led = if key.starts_with("panel.leds.") { "Led" } else { "" };
    format!("{renamed}{}{led}", camel(rest))
}

/// `bitrate_kbps` → `bitrateKbps`, segment by segment.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for ch in key.chars() {
        match ch {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The box's TOML fragment for `c`: the keys its own files use (`appliance.example.toml`).
pub fn to_fragment(c: &DeviceConfig) -> Fragment {
    fn some<T: PartialEq + Default>(t: T) -> Option<T> {
        (t != T::default()).then_some(t)
    }
    let audio = AudioFragment {
        mic: c.mic.clone(),
        speaker: c.speaker.clone(),
        aec: c.echo_cancellation,
        ns: c.noise_suppression,
        agc: c.auto_gain,
    };
    let video = VideoFragment {
        width: c.width,
        height: c.height,
        framerate: c.framerate,
        bitrate_kbps: c.bitrate_kbps,
        keyframe_interval_s: c.keyframe_interval_s,
        encoders: None,
        adapt_bitrate: c.adapt_bitrate,
        min_bitrate_kbps: c.min_bitrate_kbps,
        simulcast: c.simulcast.as_ref().map(|layers| {
            layers
                .iter()
                .map(|l| LayerFragment {
                    width: Some(l.width),
                    height: Some(l.height),
                    bitrate_kbps: Some(l.bitrate_kbps),
                })
                .collect()
        }),
    };
    let panel = c.panel.as_ref().map(|p| PanelFragment {
        chip: Some(p.chip.clone()),
        buttons: some(ButtonsFragment { go_live: p.go_live, mute: p.mute, privacy: p.privacy, active_low: None }),
        leds: some(LedsFragment { live: p.live_led, muted: p.muted_led, fault: p.fault_led, active_low: None }),
    });
    let content = c.content.as_ref().map(|x| ContentFragment {
        enabled: x.enabled,
        device: x.device.clone(),
        width: x.width,
        height: x.height,
        framerate: x.framerate,
        bitrate_kbps: x.bitrate_kbps,
    });
    Fragment {
        camera: c.camera.clone().map(|device| CameraFragment { device: Some(device) }),
        audio: some(audio),
        video: some(video),
        panel,
        content,
        ..Fragment::default()
    }
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
        adapt_bitrate: or(&set.adapt_bitrate, &base.adapt_bitrate),
        min_bitrate_kbps: or(&set.min_bitrate_kbps, &base.min_bitrate_kbps),
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
    // Serialising plain structs of strings, numbers and booleans cannot fail; an empty push (which
    // the box reads as "no change") is the safe answer if it ever did.
    let body = toml::to_string(&to_fragment(c)).unwrap_or_default();
    format!("# Pushed by the hub's web admin; replaced by the next push.\n\n{body}")
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
    fn nothing_the_admin_can_set_is_a_key_the_box_keeps_to_itself() {
        let everything = DeviceConfig {
            camera: Some("/dev/video0".into()),
            mic: Some("hw:1".into()),
            speaker: Some("hw:2".into()),
            width: Some(1280),
            height: Some(720),
            framerate: Some(30),
            bitrate_kbps: Some(2000),
            keyframe_interval_s: Some(2),
            adapt_bitrate: Some(true),
            min_bitrate_kbps: Some(500),
            simulcast: Some(vec![SimulcastLayer { width: 640, height: 360, bitrate_kbps: 500 }]),
            echo_cancellation: Some(true),
            noise_suppression: Some(true),
            auto_gain: Some(true),
            panel: Some(PanelConfig {
                chip: "gpiochip0".into(),
                go_live: Some(1),
                mute: Some(2),
                privacy: Some(3),
                live_led: Some(4),
                muted_led: Some(5),
                fault_led: Some(6),
            }),
            content: Some(ContentCapture {
                enabled: Some(true),
                device: Some("/dev/video2".into()),
                width: Some(1920),
                height: Some(1080),
                framerate: Some(5),
                bitrate_kbps: Some(1500),
            }),
        };
        assert_eq!(to_fragment(&everything).local_only_key(), None);
    }

    #[test]
    fn every_refusal_names_its_field() {
        let cases = [
            (r#"{"camera":"/dev/video9"}"#, "camera: '/dev/video9' is not one of this box's cameras: /dev/video0"),
            (r#"{"mic":"hw:1"}"#, "mic: 'hw:1' is not one of this box's microphones: none"),
            (r#"{"bitrateKbps":50}"#, "bitrateKbps: 50 is out of range 100..=100000"),
            (r#"{"keyframeIntervalS":0}"#, "keyframeIntervalS: 0 is out of range 1..=60"),
            (r#"{"bitrateKbps":1000,"minBitrateKbps":2000}"#, "minBitrateKbps"),
            (r#"{"camera":"  "}"#, "camera: must not be empty"),
            (r#"{"speaker":"hw:\u0007"}"#, "speaker: must be a device name"),
            (r#"{"panel":{"chip":"gpiochip0","faultLed":2000}}"#, "panel.faultLed: 2000 is out of range 0..=1023"),
            (r#"{"panel":{"chip":"gpiochip0","goLive":4,"privacy":4}}"#, "panel.privacy: line 4 is already used"),
            (r#"{"width":1279}"#, "width: 1279 is odd"),
            (r#"{"framerate":"30"}"#, "framerate: must be a number"),
            (r#"{"bitrate":1}"#, "bitrate: unknown field"),
            (r#"{"simulcast":[{"width":640}]}"#, "simulcast[0].height: required"),
            (r#"{"simulcast":[{"width":640,"height":360,"bitrateKbps":9000}]}"#, "simulcast[0].bitrateKbps"),
            (r#"{"panel":{"chip":"gpiochip0","mute":5,"liveLed":5}}"#, "panel.liveLed: line 5 is already used"),
            (r#"{"panel":{"chip":"/etc/passwd"}}"#, "panel.chip: '/etc/passwd' is not a GPIO chip"),
            (r#"{"panel":{"chip":"gpiochip0","x":1}}"#, "panel.x: unknown field"),
            (r#"{"content":{"device":"/dev/video2","framerate":60}}"#, "content.framerate: 60 is out of range 1..=30"),
            (r#"{"content":{"enabled":false,"framerate":0}}"#, "content.framerate: 0 is out of range 1..=30"),
            (r#"{"content":{"width":1921}}"#, "content.width: 1921 is odd"),
            (r#"{"content":{"bitrateKbps":5}}"#, "content.bitrateKbps: 5 is out of range 100..=100000"),
            (r#"{"content":{"device":""}}"#, "content.device: must not be empty"),
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
        // The box reads back exactly the fragment the admin checked.
        let back: Fragment = toml::from_str(&text).unwrap();
        assert_eq!(back, to_fragment(&c));
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
