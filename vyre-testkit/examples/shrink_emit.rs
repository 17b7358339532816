//! Shrink a generated program that an emitter rejects, and write it as a
//! fuzz regression input (`tests/fuzz_regressions/emit/<name>.vyre`).
//!
//! `cargo run -p vyre-testkit --example shrink_emit -- <seed> <name>`
use vyre_testkit::fuzz::emit_program;
use vyre_testkit::harness::reduce_statements;
use vyre_testkit::{GenConfig, generate, shrink};

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(23);
    let name = args.next().unwrap_or_else(|| format!("seed_{seed}"));
    let cfg = GenConfig::default();
    let case = generate(seed, &cfg);
    let Err(first) = emit_program(&case.program) else {
        println!("seed {seed}: every emitter accepts it");
        return;
    };
    let target = first.split_whitespace().next().unwrap_or("").to_string();
    let small = shrink(&case, &cfg, 4000, |c| {
        emit_program(&c.program).is_err_and(|e| e.starts_with(&target))
    });
    let small = reduce_statements(&small, 4000, |c| {
        emit_program(&c.program).is_err_and(|e| e.starts_with(&target))
    });
    let text = vyre::lang::print(&small.program);
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fuzz_regressions/emit")
        .join(format!("{name}.vyre"));
    std::fs::create_dir_all(out.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(&out, &text).expect("write");
    println!("wrote {}\n{text}", out.display());
    if let Err(e) = emit_program(&small.program) {
        println!("{}", e.lines().next().unwrap_or(""));
    }
}
