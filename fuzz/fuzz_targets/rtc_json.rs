//! A message on `/rtc`: signalling (`ClientMsg`) or a classroom command, as the socket reads it.
#![no_main]

use lectern_hub::http::inbound::Inbound;
use lectern_proto::signal::ClientMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = serde_json::from_str::<Inbound>(text);
        let _ = serde_json::from_str::<ClientMsg>(text);
    }
});
