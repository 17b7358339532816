//! Fuzz target `parse`: see `vyre_testkit::fuzz::parse_property`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vyre_testkit::fuzz::parse_property(data) {
        panic!("property violated: {e}");
    }
});
