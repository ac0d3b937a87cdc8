//! A whiteboard or notes update as the hub applies it (`boardUpdate` on `/rtc`, base64-decoded):
//! it is applied or refused, never panics, and the document still encodes and decodes after it.
#![no_main]

use lectern_hub::classroom::whiteboard::SharedDoc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut doc = SharedDoc::default();
    let _ = doc.apply(data);
    let state = doc.state();
    let again = SharedDoc::restore(&state).expect("the hub's own state decodes");
    assert_eq!(again.state(), state);
});
