//! The differential harness: run a [`Case`](crate::generator::Case) on
//! the reference interpreter (the oracle) and on devices, compare, shrink a
//! mismatch and save it as a regression kernel.
//!
//! A device target is a [`vyre::Device`] plus the artifact targets to emit
//! for it (`spirv` for wgpu, `ptx` for CUDA, `reference` for the CPU
//! device). Artifacts are emitted in-process with
//! [`vyre::driver::emit_aot_target`] and held in an [`OwnedSpec`], lent
//! to launches as the `KernelSpec` `vyre-build`'s generated launchers
//! embed, so no build step is involved.
//!
//! Split by concern: `run` (the reference and device runs), `spec`
//! ([`OwnedSpec`]), `check` (comparison and outcomes), `shrink`
//! (shrinking a failing case) and `regress` (the regression file format).

mod check;
mod regress;
mod run;
mod shrink;
mod spec;

pub use check::{
    Mismatch, Outcome, References, check_against, check_target, compare, inexpressible, run_case,
    widened_bits,
};
pub use regress::{
    HEADER_MAGIC, case_from_header, case_header, load_regression, regression_source,
    save_regression,
};
pub use run::{
    DEFAULT_SUBGROUP_SIZE, DeviceRun, DeviceRunOptions, DeviceTarget, Outputs,
    REFERENCE_STEP_LIMIT, from_words, guard_word, launch_values, reference_subgroup_size,
    run_on_device, run_reference, run_reference_at, to_words,
};
pub use shrink::{count_nodes, reduce_statements, shrink};
pub use spec::{OwnedArtifact, OwnedSpec, owned_spec};

/// Environment knobs shared by the differential tests: `VYRE_DIFF_CASES`
/// (count) and `VYRE_DIFF_SEED` (first seed).
#[must_use]
pub fn env_cases(default_cases: u64, default_seed: u64) -> (u64, u64) {
    let get = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(d)
    };
    (
        get("VYRE_DIFF_CASES", default_cases),
        get("VYRE_DIFF_SEED", default_seed),
    )
}
