//! Round-trip properties over the random program generator:
//! `from_wire(to_wire(p)) == p` and `parse(print(p)) == p`, over thousands
//! of fixed seeds and a shrinking `proptest` run.

use proptest::prelude::*;
use vyre::ir::Program;
use vyre::ir::wire::{from_wire, to_wire};
use vyre_testkit::{GenConfig, case_strategy, generate};

const SEEDS: u64 = 2000;

fn wire_roundtrip(p: &Program) -> Result<(), String> {
    let bytes = to_wire(p);
    match from_wire(&bytes) {
        Ok(q) if &q == p => {}
        Ok(q) => return Err(format!("decoded program differs:\n{p:#?}\nvs\n{q:#?}")),
        Err(e) => return Err(format!("decode failed: {e}")),
    }
    // Every strict prefix must be rejected cleanly, never panic.
    for cut in [0, 1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
        if cut < bytes.len() && from_wire(&bytes[..cut]).is_ok() {
            return Err(format!("prefix of {cut}/{} bytes decoded", bytes.len()));
        }
    }
    Ok(())
}

fn text_roundtrip(p: &Program) -> Result<(), String> {
    let text = vyre::lang::print(p);
    let module = vyre::lang::parse("generated.vyre", &text).map_err(|d| {
        format!(
            "printed program does not parse: {:#?}\n{text}",
            d.diagnostics
        )
    })?;
    match module.kernels.as_slice() {
        [q] if q == p => Ok(()),
        [q] => Err(format!("parse(print(p)) != p\n{text}\n{p:#?}\nvs\n{q:#?}")),
        ks => Err(format!("{} kernels parsed from\n{text}", ks.len())),
    }
}

#[test]
fn wire_roundtrip_over_generated_programs() {
    let cfg = GenConfig::default();
    for seed in 0..SEEDS {
        let p = generate(seed, &cfg).program;
        if let Err(e) = wire_roundtrip(&p) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn wire_roundtrip_over_narrow_programs() {
    let cfg = GenConfig {
        narrow: true,
        ..GenConfig::default()
    };
    for seed in 0..SEEDS {
        let p = generate(seed, &cfg).program;
        if let Err(e) = wire_roundtrip(&p) {
            panic!("seed {seed}: {e}");
        }
    }
}

/// Programs that all use the 64-bit types (literals of two words on the
/// wire, NaN payloads, `i64::MIN`).
#[test]
fn wire_roundtrip_over_wide_programs() {
    let cfg = GenConfig {
        wide_one_in: 1,
        ..GenConfig::default()
    };
    for seed in 0..SEEDS / 2 {
        let p = generate(seed, &cfg).program;
        if let Err(e) = wire_roundtrip(&p) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn text_roundtrip_over_wide_programs() {
    let cfg = GenConfig {
        wide_one_in: 1,
        ..GenConfig::default()
    };
    for seed in 0..SEEDS / 2 {
        let p = generate(seed, &cfg).program;
        if let Err(e) = text_roundtrip(&p) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn text_roundtrip_over_generated_programs() {
    let cfg = GenConfig::default();
    let mut failures = Vec::new();
    for seed in 0..SEEDS {
        let p = generate(seed, &cfg).program;
        if let Err(e) = text_roundtrip(&p) {
            failures.push((seed, e));
        }
    }
    if let Some((seed, e)) = failures.first() {
        panic!(
            "{} of {SEEDS} programs do not round-trip; seeds {:?}; first, seed {seed}: {e}",
            failures.len(),
            failures.iter().map(|f| f.0).take(20).collect::<Vec<_>>()
        );
    }
}

#[test]
fn text_roundtrip_over_narrow_programs() {
    let cfg = GenConfig {
        narrow: true,
        ..GenConfig::default()
    };
    for seed in 0..SEEDS {
        let p = generate(seed, &cfg).program;
        if let Err(e) = text_roundtrip(&p) {
            panic!("seed {seed}: {e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn wire_roundtrip_shrinking(case in case_strategy(GenConfig::default())) {
        prop_assert!(wire_roundtrip(&case.program).is_ok(), "{:?}", wire_roundtrip(&case.program));
    }
}
