//! The devices a test runs on: the CPU interpreter always, wgpu where an
//! adapter exists, CUDA where a GPU exists. A missing GPU device prints
//! `skipped:`, unless `VYRE_REQUIRE_VULKAN=1` / `VYRE_REQUIRE_CUDA=1` make
//! it a failure.

use vyre::Device;

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
