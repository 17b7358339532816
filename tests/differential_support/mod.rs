//! Shared by the differential, regression and adversarial tests: the
//! device targets this build and machine can run.

use vyre_testkit::DeviceTarget;

/// Whether `VYRE_<NAME>=1` is set.
#[allow(dead_code)]
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The CPU device (always), wgpu with SPIR-V and with WGSL (feature
/// `wgpu`, when an adapter exists; lavapipe in CI), CUDA with PTX (feature
/// `cuda`, when a driver and GPU exist). A missing device prints a
/// `skipped:` line, or fails under `VYRE_REQUIRE_VULKAN=1` /
/// `VYRE_REQUIRE_CUDA=1`. `VYRE_DIFF_TARGETS` (labels separated by commas)
/// keeps only the targets it names. Prints each target's subgroup size.
pub fn targets() -> Vec<DeviceTarget> {
    #[allow(unused_mut)]
    let mut t = vec![DeviceTarget::cpu()];
    #[cfg(feature = "wgpu")]
    match vyre::Device::wgpu() {
        Ok(device) => {
            println!("wgpu device: {}", device.name());
            for art in ["spirv", "wgsl"] {
                t.push(DeviceTarget {
                    label: format!("wgpu:{art}"),
                    device: device.clone(),
                    artifacts: vec![art],
                });
            }
        }
        Err(e) if required("VYRE_REQUIRE_VULKAN") => panic!("VYRE_REQUIRE_VULKAN=1 but {e}"),
        Err(e) => println!("skipped: wgpu target: {e}"),
    }
    #[cfg(not(feature = "wgpu"))]
    println!("skipped: wgpu target (build with --features wgpu)");
    #[cfg(feature = "cuda")]
    match vyre::Device::cuda(0) {
        Ok(device) => {
            println!("cuda device: {}", device.name());
            t.push(DeviceTarget {
                label: "cuda:ptx".to_string(),
                device,
                artifacts: vec!["ptx"],
            });
        }
        Err(e) if required("VYRE_REQUIRE_CUDA") => panic!("VYRE_REQUIRE_CUDA=1 but {e}"),
        Err(e) => println!("skipped: cuda target: {e}"),
    }
    #[cfg(not(feature = "cuda"))]
    println!("skipped: cuda target (build with --features cuda)");
    // `VYRE_DIFF_TARGETS=cuda:ptx,wgpu:spirv` keeps only those (a long
    // run on a GPU host spends its time where it is asked to).
    if let Ok(keep) = std::env::var("VYRE_DIFF_TARGETS") {
        let keep: Vec<&str> = keep.split(',').map(str::trim).collect();
        t.retain(|x| keep.contains(&x.label.as_str()));
        println!("VYRE_DIFF_TARGETS: only {keep:?}");
    }
    // Cases with subgroup operations are compared with the reference run
    // at this size; a target without one skips them.
    for x in &t {
        match x.subgroup_size() {
            Some(s) => println!("{}: subgroup size {s}", x.label),
            None => println!(
                "{}: subgroup size unknown; cases with subgroup operations are skipped",
                x.label
            ),
        }
    }
    t
}
