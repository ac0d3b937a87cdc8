//! A bearer token or a `join`'s token: verified against the hub's key.
#![no_main]

use lectern_hub::token::TokenKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let key = TokenKey::new(b"fuzz-secret-0123456789abcdef0123456789".to_vec());
        let _ = key.verify(token, 1_700_000_000);
    }
});
