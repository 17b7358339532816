//! Differential testing: random valid programs (vyre-testkit's generator)
//! run on the reference interpreter and on every available target; results
//! must agree (bit-exact integers, floats within the per-operation bound of
//! `vyre_testkit::compare`).
//!
//! CI: seeds `0x5EED..0x5EED+300` of the default configuration (with the
//! 8- and 16-bit types, and the 64-bit ones in about one program in six),
//! the first 100 of them again without those types, and 60 programs that
//! all use the 64-bit types, on the CPU device (the `reference`
//! artifact through the runtime) and, with `--features wgpu`, on wgpu:
//! SPIR-V for every seed, WGSL for every 2nd (about 5 s for 200 seeds on
//! an idle two-core machine; lavapipe compiles each pipeline with LLVM). `VYRE_DIFF_CASES=N` and
//! `VYRE_DIFF_SEED=S` scale it up; with `--features cuda` the PTX target on
//! CUDA device 0 joins. A failing case is shrunk and saved as
//! `tests/kernels/regress_<hash>.vyre` (run by `differential_regressions`).
//! `VYRE_REQUIRE_VULKAN=1` / `VYRE_REQUIRE_CUDA=1` turn a missing device
//! into a failure instead of a `skipped:` line.
//!
//! Cases with subgroup operations are compared with the reference run at
//! the target's subgroup size; a target that does not report its size
//! skips them, and a target that cannot express a case's 64-bit types
//! (WGSL: none of them) skips the case (both counted in its summary line).
//!
//! Only the 64-bit programs: `VYRE_DIFF_CASES=N cargo test --features wgpu
//! --test differential -- differential_wide_types` (`VYRE_DIFF_CASES`
//! sets the count of every test here).

mod differential_support;

use std::path::Path;
use std::time::Instant;

use vyre_testkit::harness::{
    DeviceRunOptions, References, check_target, env_cases, reduce_statements, save_regression,
};
use vyre_testkit::{GenConfig, Outcome, generate, shrink};

/// Cases in CI (fixed seed). Keeps the test around two minutes on two
/// cores with lavapipe.
const CI_CASES: u64 = 300;
/// The WGSL path runs on every `WGSL_STRIDE`-th seed only.
const WGSL_STRIDE: u64 = 2;
/// First seed in CI.
const CI_SEED: u64 = 0x5EED;
/// Cases of the generator without the 8-, 16- and 64-bit types
/// ([`GenConfig::narrow`] off, [`GenConfig::wide_one_in`] 0: the programs
/// of the 32-bit types only) in CI.
const THIRTY_TWO_BIT_CASES: u64 = 100;
/// Cases of the generator with the 64-bit types in every program
/// ([`GenConfig::wide_one_in`] 1) in CI.
const WIDE_CASES: u64 = 60;

#[test]
fn differential() {
    let (cases, seed0) = env_cases(CI_CASES, CI_SEED);
    differential_with(&GenConfig::default(), cases, seed0);
}

/// The default configuration draws the narrow types (`f16 bf16 u8 i8 u16
/// i16`) and the 64-bit ones too; this runs the generator without them,
/// whose programs hold more of the 32-bit constructs.
#[test]
fn differential_without_narrow_types() {
    let cfg = GenConfig {
        narrow: false,
        wide_one_in: 0,
        ..GenConfig::default()
    };
    let (cases, seed0) = env_cases(THIRTY_TWO_BIT_CASES, CI_SEED);
    differential_with(&cfg, cases, seed0);
}

/// Programs that all use the 64-bit types (`u64 i64 f64`: buffers,
/// scalars, locals, shared and private arrays, casts, arithmetic, `f64`
/// division within 3 ulps); targets that cannot express them (WGSL) skip
/// them.
#[test]
fn differential_wide_types() {
    let cfg = GenConfig {
        wide_one_in: 1,
        ..GenConfig::default()
    };
    let (cases, seed0) = env_cases(WIDE_CASES, CI_SEED);
    differential_with(&cfg, cases, seed0);
}

/// Run `cases` cases of `cfg` from `seed0` on every target; shrink, save
/// and report the failures.
fn differential_with(cfg: &GenConfig, cases: u64, seed0: u64) {
    let targets = differential_support::targets();
    let start = Instant::now();
    let mut failures: Vec<(u64, usize, Outcome)> = Vec::new();
    let mut compared = vec![0u64; targets.len()];
    // Per target: compared cases with subgroup operations, and skipped
    // ones (subgroup size unknown, or 64-bit types the target cannot
    // express).
    let mut with_subgroups = vec![0u64; targets.len()];
    let mut skipped = vec![0u64; targets.len()];
    for seed in seed0..seed0 + cases {
        let case = generate(seed, cfg);
        let subgroups = case.program.uses_subgroups();
        // The reference runs once per subgroup size the targets need.
        let mut refs = References::new(&case);
        for (k, t) in targets.iter().enumerate() {
            if t.label.ends_with("wgsl") && !(seed - seed0).is_multiple_of(WGSL_STRIDE) {
                continue;
            }
            let outcome = refs.check(t, DeviceRunOptions::default());
            if outcome.is_skipped() {
                skipped[k] += 1;
                continue;
            }
            compared[k] += 1;
            with_subgroups[k] += u64::from(subgroups);
            if !outcome.is_match() {
                failures.push((seed, k, outcome));
            }
        }
    }
    for (k, t) in targets.iter().enumerate() {
        let bad = failures.iter().filter(|f| f.1 == k).count();
        let size = t
            .subgroup_size()
            .map_or_else(|| "unknown".to_string(), |s| s.to_string());
        println!(
            "{}: {} programs compared ({} with subgroup operations, subgroup size {size}), {bad} failed, {} skipped (subgroup size unknown, or 64-bit types it cannot express) (seeds {seed0:#x}..{:#x})",
            t.label,
            compared[k],
            with_subgroups[k],
            skipped[k],
            seed0 + cases
        );
    }
    println!("elapsed {:?}", start.elapsed());
    if failures.is_empty() {
        return;
    }
    // Shrink and save the first failure of each target and kind.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let mut report = String::new();
    let mut done: Vec<(usize, std::mem::Discriminant<Outcome>)> = Vec::new();
    // Shrinking costs one run per trial: bounded, `VYRE_DIFF_SHRINK` trials
    // for at most `VYRE_DIFF_SHRUNK` failures.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (budget, max_shrunk) = (env("VYRE_DIFF_SHRINK", 150), env("VYRE_DIFF_SHRUNK", 2));
    for (seed, k, outcome) in &failures {
        report += &format!("\nseed {seed:#x} on {}: {outcome}", targets[*k].label);
        let key = (*k, std::mem::discriminant(outcome));
        if done.contains(&key) || done.len() >= max_shrunk {
            continue;
        }
        done.push(key);
        let case = generate(*seed, cfg);
        let target = &targets[*k];
        let same = |c: &vyre_testkit::Case| {
            check_target(c, target, DeviceRunOptions::default()).same_kind(outcome)
        };
        let small = shrink(&case, cfg, budget, same);
        let small = reduce_statements(&small, budget, same);
        let shrunk = check_target(&small, target, DeviceRunOptions::default());
        report += &format!("\n  shrunk to {} draws: {shrunk}", small.draws.len());
        let saved = std::panic::catch_unwind(|| save_regression(&small, &dir));
        match saved {
            Ok(Ok(path)) => report += &format!("\n  saved {}", path.display()),
            Ok(Err(e)) => report += &format!("\n  could not save: {e}"),
            Err(_) => report += "\n  could not save: vyre::lang::print is not available",
        }
        report += &format!(
            "\n  shrunk program (grid {:?}):\n{}",
            small.grid,
            vyre::lang::print(&small.program)
        );
    }
    panic!("{} failing (case, target) pairs:{report}", failures.len());
}
