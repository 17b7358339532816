//! Fuzz regressions and a deterministic fuzz corpus, as plain tests.
//!
//! - Every file under `tests/fuzz_regressions/<target>/` (a crash or
//!   property violation found by `cargo fuzz run <target>`) is replayed
//!   through the same property as the fuzz target; `emit/*.vyre` files are
//!   shrunk emitter findings kept as source (every kernel must emit for
//!   every linked target).
//! - A bounded mutation loop (`vyre_testkit::fuzz::Mutator`) over seed
//!   inputs runs each property on machines without cargo-fuzz; its size is
//!   `VYRE_FUZZ_ITERS` per target (default 2000), and per emitter for
//!   `emit`, whose inputs each pick one emitter.

use std::path::Path;

use vyre::ir::wire::to_wire;
use vyre_testkit::fuzz::{
    Mutator, emit_input, emit_program, emit_property, fuzzed_emitters, parse_property,
    wire_property,
};
use vyre_testkit::{GenConfig, generate};

type Property = fn(&[u8]) -> Result<(), String>;

fn targets() -> [(&'static str, Property); 3] {
    [
        ("parse", parse_property),
        ("wire", wire_property),
        ("emit", emit_property),
    ]
}

#[test]
fn replay_fuzz_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut failures = Vec::new();
    let mut n = 0;
    for (name, property) in targets() {
        let Ok(rd) = std::fs::read_dir(root.join(name)) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).expect("readable regression file");
            n += 1;
            let is_vyre = f.extension().is_some_and(|e| e == "vyre");
            let outcome = std::panic::catch_unwind(|| {
                if name == "emit" && is_vyre {
                    // A shrunk emitter finding, kept as source: every
                    // kernel must emit on every target.
                    let text = String::from_utf8_lossy(&data);
                    let module = vyre::lang::parse(&f.display().to_string(), &text)
                        .map_err(|d| format!("does not parse: {:?}", d.diagnostics))?;
                    module.kernels.iter().try_for_each(emit_program)
                } else {
                    property(&data)
                }
            });
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("{}: {e}", f.display())),
                Err(_) => failures.push(format!("{}: panicked", f.display())),
            }
        }
    }
    println!("{n} fuzz regression inputs replayed");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let cfg = GenConfig::default();
    match name {
        "wire" => (0..16)
            .map(|s| to_wire(&generate(s, &cfg).program))
            .collect(),
        "parse" => (0..16)
            .map(|s| vyre::lang::print(&generate(s, &cfg).program).into_bytes())
            .collect(),
        // The first byte picks the emitter: seed `s` starts on emitter `s`.
        _ => (0..16u8)
            .map(|s| emit_input(s, &generate(u64::from(s), &cfg).draws))
            .collect(),
    }
}

#[test]
fn mutation_corpus() {
    let iters: usize = std::env::var("VYRE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    for (name, property) in targets() {
        // `emit` runs one emitter per input: as many inputs per emitter as
        // the other targets get in all.
        let iters = if name == "emit" {
            iters * fuzzed_emitters().len()
        } else {
            iters
        };
        let corpus = seeds(name);
        let mut m = Mutator::new(0xF022);
        let start = std::time::Instant::now();
        for i in 0..iters {
            let mut input = corpus[i % corpus.len()].clone();
            let other = &corpus[(i * 7 + 3) % corpus.len()];
            m.mutate(&mut input, other);
            if let Err(e) = property(&input) {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/fuzz_findings")
                    .join(name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(format!("mutation_{i}"));
                let _ = std::fs::write(&path, &input);
                panic!(
                    "{name} iteration {i}: {e} (input saved to {})",
                    path.display()
                );
            }
        }
        println!("{name}: {iters} mutated inputs in {:?}", start.elapsed());
    }
}
