//! Run a regression kernel file on the reference and print its outputs.
//!
//! `cargo run -p vyre-testkit --example replay -- tests/kernels/regress_<hash>.vyre`
fn main() {
    for path in std::env::args().skip(1) {
        match vyre_testkit::harness::load_regression(std::path::Path::new(&path)) {
            Ok(case) => println!("{path}: {:?}", vyre_testkit::run_reference(&case)),
            Err(e) => println!("{path}: {e}"),
        }
    }
}
