//! What this box can be configured to use, as the hub's web admin offers it: the devices the
//! probe sees (with a configurable name) and the H.264 encoders installed. A `--virtual` box also
//! lists its test sources under the names its configuration uses, so it can be configured too.

use lectern_proto::device::{Inventory, InventoryDevice};

use crate::config::DEFAULT_ENCODERS;
use crate::media::{EncoderRegistry, GstEncoderRegistry};
use crate::probe;

/// Call after `media::init`. `camera` is the configured camera (the test pattern's name when virtual).
pub fn inventory(virtual_sources: bool, camera: &str) -> Inventory {
    let listed = |class: &str| -> Vec<InventoryDevice> {
        probe::devices(class)
            .into_iter()
            .filter_map(|d| d.device.map(|device| InventoryDevice { name: d.name, device }))
            .collect()
    };
    let mut inv = Inventory {
        cameras: listed("Video/Source"),
        microphones: listed("Audio/Source"),
        speakers: listed("Audio/Sink"),
        encoders: {
            let registry = GstEncoderRegistry::default();
            DEFAULT_ENCODERS.iter().filter(|e| registry.is_available(e)).map(|&e| e.to_owned()).collect()
        },
    };
    if virtual_sources {
        let test = |name: &str, device: &str| InventoryDevice { name: name.to_owned(), device: device.to_owned() };
        inv.cameras.insert(0, test("Test pattern (virtual camera)", camera));
        inv.microphones.insert(0, test("Test tone (virtual microphone)", "default"));
    }
    // Two providers can report one device; the admin's list should show it once.
    for list in [&mut inv.cameras, &mut inv.microphones, &mut inv.speakers] {
        let mut seen = std::collections::HashSet::new();
        list.retain(|d| seen.insert(d.device.clone()));
    }
    inv
}
