//! Every generated case runs on the reference interpreter without error
//! (no step-limit hit, no barrier divergence), and the CPU device running
//! the emitted `reference` artifact through the runtime agrees with it.

use vyre_testkit::harness::{
    DeviceRunOptions, DeviceTarget, check_target, from_words, run_reference, to_words,
};
use vyre_testkit::{GenConfig, Outcome, generate};

#[test]
fn generated_cases_run_on_the_reference() {
    let cfg = GenConfig::default();
    for seed in 0..1000u64 {
        let case = generate(seed, &cfg);
        if let Err(e) = run_reference(&case) {
            panic!("seed {seed}: {e}");
        }
    }
}

#[test]
fn cpu_device_agrees_with_the_reference() {
    let cfg = GenConfig::default();
    let target = DeviceTarget::cpu();
    let opts = DeviceRunOptions { guard_elems: 16 };
    for seed in 0..300u64 {
        let case = generate(seed, &cfg);
        let outcome = check_target(&case, &target, opts);
        assert_eq!(outcome, Outcome::Match, "seed {seed}: {outcome}");
    }
}

#[test]
fn results_do_not_depend_on_scheduling() {
    // Single-threaded and multi-threaded reference runs give the same bits:
    // a cheap check that the generator avoided races.
    use vyre::backend::reference::{RefArg, RunOptions, run_with};
    use vyre_testkit::Value;
    let narrow = GenConfig {
        narrow: true,
        ..GenConfig::default()
    };
    // 200 cases of the default configuration, 100 with the narrow types.
    let cases = (0..200u64)
        .map(|seed| (seed, GenConfig::default()))
        .chain((0..100u64).map(|seed| (seed, narrow.clone())));
    for (seed, cfg) in cases {
        let case = generate(seed, &cfg);
        let a = run_reference(&case).expect("reference");
        // The interpreter's memory: two words per 64-bit element.
        let mut bufs: Vec<Option<Vec<u32>>> = case
            .inputs
            .iter()
            .map(|v| match v {
                Value::Buffer { elem, data } => Some(to_words(*elem, data)),
                Value::Scalar(_) => None,
            })
            .collect();
        let mut args: Vec<RefArg<'_>> = bufs
            .iter_mut()
            .zip(&case.inputs)
            .map(|(b, v)| match (b, v) {
                (Some(d), _) => RefArg::Buffer(d),
                (None, Value::Scalar(l)) => RefArg::Scalar(*l),
                (None, Value::Buffer { .. }) => unreachable!(),
            })
            .collect();
        // Otherwise the defaults: the subgroup size `run_reference` uses.
        let opts = RunOptions {
            threads: Some(1),
            ..RunOptions::default()
        };
        run_with(&case.program, case.grid, &mut args, &opts).expect("single-threaded run");
        drop(args);
        let bufs: Vec<Option<Vec<u64>>> = bufs
            .into_iter()
            .zip(&case.inputs)
            .map(|(b, v)| match (b, v) {
                (Some(words), Value::Buffer { elem, .. }) => Some(from_words(*elem, &words)),
                _ => None,
            })
            .collect();
        assert_eq!(a, bufs, "seed {seed} (narrow: {})", cfg.narrow);
    }
}

/// Generated subgroup cases run on the reference at every subgroup size a
/// target may report, and the size reaches the interpreter: some results
/// differ between 8 and 32 lanes.
#[test]
fn generated_subgroup_cases_run_at_every_size() {
    use vyre_testkit::harness::run_reference_at;
    let cfg = GenConfig::default();
    let mut differ = 0u32;
    for seed in 0..150u64 {
        let case = generate(seed, &cfg);
        if !case.program.uses_subgroups() {
            continue;
        }
        let mut outs = Vec::new();
        for size in [1, 4, 8, 16, 32, 64, 128] {
            match run_reference_at(&case, size) {
                Ok(o) => outs.push((size, o)),
                Err(e) => panic!("seed {seed}, subgroup size {size}: {e}"),
            }
        }
        differ += u32::from(outs[2].1 != outs[4].1);
    }
    assert!(
        differ >= 8,
        "only {differ} cases depend on the subgroup size"
    );
}
