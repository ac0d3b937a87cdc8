//! `lectern-appliance probe`: what this machine offers, as JSON, for an installer choosing
//! `camera.device`, `audio.mic` and `video.encoders`. Devices come from GStreamer's device
//! monitor (the same view the pipeline will have, V4L2 and ALSA alike, and no extra crate);
//! encoders from the registry, with the ladder's verdict on each rung.

use gstreamer as gst;
use gstreamer::glib::translate::IntoGlib;
use gstreamer::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::DEFAULT_ENCODERS;
use crate::media::{EncoderRegistry, GstEncoderRegistry};

#[derive(Debug, Serialize)]
pub struct Probe {
    pub cameras: Vec<Device>,
    pub microphones: Vec<Device>,
    pub speakers: Vec<Device>,
    /// Every H.264 encoder in the registry.
    pub encoders: Vec<Encoder>,
    /// The default ladder, rung by rung: `works` or why not.
    pub ladder: Vec<Rung>,
}

#[derive(Debug, Serialize)]
pub struct Device {
    pub name: String,
    /// What to put in the config: a V4L2 path or an ALSA device name, when known.
    pub device: Option<String>,
    pub class: String,
    /// Formats, sizes and frame rates (or sample formats and rates), one entry per caps structure.
    pub caps: Vec<Value>,
    pub properties: Value,
}

#[derive(Debug, Serialize)]
pub struct Encoder {
    pub name: String,
    pub description: String,
    pub hardware: bool,
    pub rank: i32,
}

#[derive(Debug, Serialize)]
pub struct Rung {
    pub encoder: String,
    pub status: String,
}

/// Looks at devices and encoders. Call after `media::init`.
pub fn probe() -> Probe {
    Probe {
        cameras: devices("Video/Source"),
        microphones: devices("Audio/Source"),
        speakers: devices("Audio/Sink"),
        encoders: h264_encoders(),
        ladder: ladder(&GstEncoderRegistry::default()),
    }
}

/// The default ladder's verdict on each rung, as `registry` sees the machine.
pub fn ladder(registry: &dyn EncoderRegistry) -> Vec<Rung> {
    DEFAULT_ENCODERS
        .iter()
        .map(|&encoder| {
            let status = if !registry.is_available(encoder) {
                "not installed".to_owned()
            } else {
                registry.test_start(encoder).map_or_else(|reason| reason, |()| "works".to_owned())
            };
            Rung { encoder: encoder.to_owned(), status }
        })
        .collect()
}

/// The devices of one class; empty when no provider is installed or none is present.
pub fn devices(class: &str) -> Vec<Device> {
    let monitor = gst::DeviceMonitor::new();
    if monitor.add_filter(Some(class), None).is_none() {
        return Vec::new();
    }
    if monitor.start().is_err() {
        tracing::debug!(class, "no device provider for this class");
        return Vec::new();
    }
    let found = monitor.devices().into_iter().map(|d| device(&d)).collect();
    monitor.stop();
    found
}

fn device(d: &gst::Device) -> Device {
    let properties = d.properties();
    let prop = |name: &str| properties.as_ref().and_then(|p| p.get::<String>(name).ok());
    // V4L2 names its node `device.path`; ALSA exposes card and device numbers.
    let alsa = || {
        let card = properties.as_ref().and_then(|p| p.get::<String>("alsa.card").ok())?;
        let num = properties.as_ref().and_then(|p| p.get::<String>("alsa.device").ok()).unwrap_or_else(|| "0".into());
        Some(format!("hw:{card},{num}"))
    };
    let caps = d.caps().map(|caps| caps.iter().map(structure_json).collect()).unwrap_or_default();
    Device {
        name: d.display_name().to_string(),
        device: prop("device.path").or_else(|| prop("api.v4l2.path")).or_else(alsa),
        class: d.device_class().to_string(),
        caps,
        properties: properties.as_ref().map_or(Value::Null, |p| structure_json(p)),
    }
}

fn structure_json(s: &gst::StructureRef) -> Value {
    let mut map = Map::new();
    map.insert("media".to_owned(), Value::from(s.name().as_str()));
    for (field, value) in s.iter() {
        map.insert(field.to_string(), value_json(value));
    }
    Value::Object(map)
}

fn value_json(v: &gst::glib::Value) -> Value {
    if let Ok(i) = v.get::<i32>() {
        return i.into();
    }
    if let Ok(b) = v.get::<bool>() {
        return b.into();
    }
    if let Ok(s) = v.get::<String>() {
        return s.into();
    }
    if let Ok(f) = v.get::<gst::Fraction>() {
        return format!("{}/{}", f.numer(), f.denom()).into();
    }
    if let Ok(list) = v.get::<gst::List>() {
        return list.iter().map(|item| value_json(item)).collect();
    }
    // Ranges and anything exotic: GStreamer's own notation, e.g. "[ 1, 2147483647 ]".
    v.serialize().map_or(Value::Null, |s| s.as_str().into())
}

fn h264_encoders() -> Vec<Encoder> {
    let h264 = gst::Caps::builder("video/x-h264").build();
    let mut encoders: Vec<Encoder> =
        gst::ElementFactory::factories_with_type(gst::ElementFactoryType::VIDEO_ENCODER, gst::Rank::NONE)
            .into_iter()
            .filter(|f| {
                f.static_pad_templates()
                    .iter()
                    .any(|t| t.direction() == gst::PadDirection::Src && t.caps().can_intersect(&h264))
            })
            .map(|f| Encoder {
                name: f.name().to_string(),
                description: f.longname().to_string(),
                hardware: f.klass().contains("Hardware"),
                rank: f.rank().into_glib(),
            })
            .collect();
    encoders.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.name.cmp(&b.name)));
    encoders
}

/// What the camera at `path` offers (its caps as the device monitor sees them), if it is there.
pub fn camera_caps(path: &str) -> Option<gst::Caps> {
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Video/Source"), None)?;
    monitor.start().ok()?;
    let caps = monitor.devices().into_iter().find(|d| device(d).device.as_deref() == Some(path)).and_then(|d| d.caps());
    monitor.stop();
    caps
}

/// The V4L2 path for `camera`: a path as it is, a name (as `probe` prints it) looked up.
pub fn resolve_camera(camera: &str) -> Result<String, String> {
    if camera.starts_with('/') {
        return Ok(camera.to_owned());
    }
    let cameras = devices("Video/Source");
    cameras.iter().find(|d| d.name == camera).and_then(|d| d.device.clone()).ok_or_else(|| {
        let names: Vec<&str> = cameras.iter().map(|d| d.name.as_str()).collect();
        format!("camera.device: no camera named '{camera}' (found: {names:?}; `lectern-appliance probe` lists them)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Raspberry Pi 4 whose encoder device is busy, with x264 installed.
    struct Pi4;

    impl EncoderRegistry for Pi4 {
        fn is_available(&self, factory: &str) -> bool {
            matches!(factory, "v4l2h264enc" | "x264enc")
        }
        fn test_start(&self, factory: &str) -> Result<(), String> {
            if factory == "v4l2h264enc" { Err("failed to start: device busy".to_owned()) } else { Ok(()) }
        }
    }

    #[test]
    fn the_ladder_says_why_each_rung_does_not_work() {
        let rungs = ladder(&Pi4);
        let status = |name: &str| rungs.iter().find(|r| r.encoder == name).map(|r| r.status.as_str());
        assert_eq!(rungs.len(), DEFAULT_ENCODERS.len());
        assert_eq!(status("v4l2h264enc"), Some("failed to start: device busy"));
        assert_eq!(status("nvv4l2h264enc"), Some("not installed"));
        assert_eq!(status("x264enc"), Some("works"));
    }
}
