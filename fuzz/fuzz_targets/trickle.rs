//! A WHIP/WHEP `PATCH` body: an `application/trickle-ice-sdpfrag`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frag) = std::str::from_utf8(data) {
        let _ = lectern_hub::whip::candidates(frag);
    }
});
