//! Triage a differential failure: run seed(s) on a device target, shrink
//! (draws, then statements) while the same kind of failure persists, and
//! print the shrunk program as `.vyre` with the mismatches.
//!
//! `cargo run -p vyre-testkit --features wgpu --example triage -- spirv <seed>...`
//! (target: `spirv` or `wgsl` on wgpu, `ptx` on CUDA, `reference` on the CPU;
//! `TRIAGE_WIDE=1`: the seeds of `differential_wide_types`, generated with
//! the 64-bit types in every program)
use vyre_testkit::harness::{DeviceRunOptions, check_target, reduce_statements};
use vyre_testkit::{DeviceTarget, GenConfig, generate, shrink};

fn target(art: &'static str) -> DeviceTarget {
    let device = match art {
        #[cfg(feature = "wgpu")]
        "spirv" | "wgsl" => vyre::Device::wgpu().expect("wgpu device"),
        #[cfg(feature = "cuda")]
        "ptx" => vyre::Device::cuda(0).expect("cuda device"),
        _ => vyre::Device::cpu(),
    };
    DeviceTarget {
        label: art.to_string(),
        device,
        artifacts: vec![art],
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let art: &'static str = match args.next().as_deref() {
        Some("spirv") => "spirv",
        Some("wgsl") => "wgsl",
        Some("ptx") => "ptx",
        _ => "reference",
    };
    let t = target(art);
    let cfg = if std::env::var("TRIAGE_WIDE").is_ok_and(|v| v == "1") {
        GenConfig {
            wide_one_in: 1,
            ..GenConfig::default()
        }
    } else {
        GenConfig::default()
    };
    let opts = DeviceRunOptions::default();
    for seed in args.filter_map(|s| s.parse::<u64>().ok()) {
        let case = generate(seed, &cfg);
        let first = check_target(&case, &t, opts);
        if first.is_match() {
            println!("seed {seed}: match");
            continue;
        }
        let small = shrink(&case, &cfg, 600, |c| {
            check_target(c, &t, opts).same_kind(&first)
        });
        let small = reduce_statements(&small, 600, |c| check_target(c, &t, opts).same_kind(&first));
        println!(
            "==== seed {seed}: {}\n{}\ngrid {:?} inputs {:?}",
            check_target(&small, &t, opts),
            vyre::lang::print(&small.program),
            small.grid,
            small.inputs
        );
        if std::env::var("TRIAGE_SAVE").is_ok() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernels");
            match vyre_testkit::harness::save_regression(&small, &dir) {
                Ok(p) => println!("saved {}", p.display()),
                Err(e) => println!("could not save: {e}"),
            }
        }
        if std::env::var("TRIAGE_DEBUG").is_ok() {
            println!("{:?}", small.program.body);
            println!("reference: {:?}", vyre_testkit::run_reference(&small));
            println!(
                "target: {:?}",
                vyre_testkit::harness::run_on_device(&small, &t, opts).map(|r| r.outputs)
            );
        }
    }
}
