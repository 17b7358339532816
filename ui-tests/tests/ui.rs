//! The generated launchers' types are checked by rustc: these cases must
//! (not) compile, with the snapshot diagnostics in `tests/ui/fail/*.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
