//! A claim code as an admin typed it, against a table holding one waiting box.
#![no_main]

use lectern_hub::enroll::Enrollments;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else { return };
    let mut table = Enrollments::default();
    let mut seed = 0x1234_5678_9abc_def0_u64;
    let ip = std::net::IpAddr::from([192, 0, 2, 1]);
    let random = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        seed
    };
    let _ = table.request(&"k".repeat(32), "host", "1.0", ip, 1_000, random);
    let _ = table.claim(typed, 1_001);
});
