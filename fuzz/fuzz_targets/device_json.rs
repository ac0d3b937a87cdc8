//! A message from a classroom box on `/device/ws`, read and clipped as the hub does.
#![no_main]

use lectern_proto::device::DeviceMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(msg) = serde_json::from_str::<DeviceMsg>(text)
    {
        let _ = serde_json::to_string(&msg.clipped());
    }
});
