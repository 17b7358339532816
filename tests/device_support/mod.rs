//! The devices a test runs on: the CPU interpreter always, wgpu where an
//! adapter exists, CUDA where a GPU exists. A missing GPU device prints
//! `skipped:`, unless `VYRE_REQUIRE_VULKAN=1` / `VYRE_REQUIRE_CUDA=1` make
//! it a failure.

use vyre::driver::emit_aot_target;
use vyre::ir::Program;
use vyre::{Device, DispatchConfig};
use vyre_testkit::harness::OwnedSpec;

/// Every device of this build and machine, the CPU first.
pub fn devices() -> Vec<Device> {
    let mut out = vec![Device::cpu()];
    #[cfg(feature = "wgpu")]
    match Device::wgpu() {
        Ok(d) => out.push(d),
        Err(e) => {
            assert!(
                !vyre_testkit::corpus::require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but: {e}"
            );
            println!("skipped: no wgpu adapter ({e})");
        }
    }
    #[cfg(feature = "cuda")]
    match Device::cuda(0) {
        Ok(d) => out.push(d),
        Err(e) => {
            assert!(
                std::env::var("VYRE_REQUIRE_CUDA").as_deref() != Ok("1"),
                "VYRE_REQUIRE_CUDA=1 but: {e}"
            );
            println!("skipped: no CUDA device ({e})");
        }
    }
    out
}

/// A spec of `program` under `key` with an artifact for every target this
/// build's devices run: `reference`, and `ptx` / `spirv` with the `cuda` /
/// `wgpu` features.
pub fn spec_for_every_target(program: &Program, key: &str) -> OwnedSpec {
    let mut spec = OwnedSpec::new(program, key);
    let mut targets = vec!["reference"];
    if cfg!(feature = "cuda") {
        targets.push("ptx");
    }
    if cfg!(feature = "wgpu") {
        targets.push("spirv");
    }
    for target in targets {
        let bytes = emit_aot_target(target, program, &DispatchConfig::default())
            .unwrap_or_else(|e| panic!("{} ({target}): {e}", program.name));
        spec.push_artifact(target, None, bytes);
    }
    spec
}
