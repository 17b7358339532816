//! A digest of what every registered target emits for generated programs
//! and for every corpus, example and bench kernel: one line per (kernel,
//! target). Two runs print the same lines exactly when the outputs are
//! byte-identical, which is how refactorings of the emitters are checked.
//!
//! `cargo run -p vyre-testkit --example emit_digest -- 2000 > before.txt`
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use vyre::DispatchConfig;
use vyre::driver::registered_aot_emitters;
use vyre::ir::Program;
use vyre_testkit::fuzz::SKIPPED_TARGETS;
use vyre_testkit::{GenConfig, generate};

fn digest(label: &str, program: &Program) {
    let mut targets: Vec<_> = registered_aot_emitters()
        .into_iter()
        .filter(|e| !SKIPPED_TARGETS.contains(&e.target))
        .collect();
    targets.sort_by_key(|e| e.target);
    for e in targets {
        match (e.emit)(program, &DispatchConfig::default()) {
            Ok(bytes) => {
                let mut h = DefaultHasher::new();
                bytes.hash(&mut h);
                println!("{label} {} {:016x}", e.target, h.finish());
            }
            Err(m) => println!(
                "{label} {} error: {}",
                e.target,
                m.lines().next().unwrap_or("")
            ),
        }
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = vyre_testkit::corpus::corpus_files(&root);
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read kernel file");
        let name = file.display().to_string();
        let module = vyre::lang::parse(&name, &source).unwrap_or_else(|e| panic!("{e}"));
        for k in &module.kernels {
            digest(&format!("{}::{}", file.display(), k.name), k);
        }
    }
    for seed in 0..n {
        digest(
            &format!("seed{seed}"),
            &generate(seed, &GenConfig::default()).program,
        );
    }
}
