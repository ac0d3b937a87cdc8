//! A configuration fragment the hub pushes to a box (`applyConfig`): parsed, checked for keys
//! only the box's own files may set, and resolved by the rules both sides share.
#![no_main]

use lectern_common::box_config::{Fragment, resolve};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(fragment) = toml::from_str::<Fragment>(text)
    {
        let _ = fragment.local_only_key();
        let _ = resolve(&fragment);
    }
});
