//! Fuzz target `emit`: see `vyre_testkit::fuzz::emit_property`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = vyre_testkit::fuzz::emit_property(data) {
        panic!("property violated: {e}");
    }
});
