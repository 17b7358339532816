//! Write seed corpora for the cargo-fuzz targets:
//! `fuzz/corpus/{wire,parse,emit}/seed_<n>` from generated programs.
//!
//! `cargo run -p vyre-testkit --example fuzz_seeds -- [count]`
use vyre::ir::wire::to_wire;
use vyre_testkit::fuzz::emit_input;
use vyre_testkit::{GenConfig, generate};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for t in ["wire", "parse", "emit"] {
        std::fs::create_dir_all(root.join(t)).expect("mkdir");
    }
    for seed in 0..n {
        let c = generate(seed, &GenConfig::default());
        let w = |t: &str, bytes: &[u8]| {
            std::fs::write(root.join(t).join(format!("seed_{seed}")), bytes).expect("write");
        };
        w("wire", &to_wire(&c.program));
        w("parse", vyre::lang::print(&c.program).as_bytes());
        // The first byte picks the emitter: the seeds take turns.
        w("emit", &emit_input(seed as u8, &c.draws));
    }
    println!("wrote {n} seeds per target under {}", root.display());
}
