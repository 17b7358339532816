//! Run regression kernel files on the reference and print their outputs,
//! or with `--target ptx|spirv|wgsl` compare a device target with the
//! reference and print the outcome (for bisecting a device mismatch by
//! hand-edited variants of a regression file).
//!
//! `cargo run -p vyre-testkit --example replay -- tests/kernels/regress_<hash>.vyre`
//! `cargo run -p vyre-testkit --features cuda --example replay -- --target ptx a.vyre b.vyre`
use vyre_testkit::DeviceTarget;
use vyre_testkit::harness::{DeviceRunOptions, check_target, load_regression};

fn target(art: &str) -> Result<DeviceTarget, String> {
    match art {
        #[cfg(feature = "cuda")]
        "ptx" => Ok(on("ptx", vyre::Device::cuda(0).map_err(|e| e.to_string())?)),
        #[cfg(feature = "wgpu")]
        "spirv" => Ok(on(
            "spirv",
            vyre::Device::wgpu().map_err(|e| e.to_string())?,
        )),
        #[cfg(feature = "wgpu")]
        "wgsl" => Ok(on("wgsl", vyre::Device::wgpu().map_err(|e| e.to_string())?)),
        other => Err(format!("target `{other}` needs its feature (cuda, wgpu)")),
    }
}

/// The target running artifact `art` on `device` (unused in a build
/// without the `cuda` and `wgpu` features, where no device target exists).
#[cfg_attr(not(any(feature = "cuda", feature = "wgpu")), allow(dead_code))]
fn on(art: &'static str, device: vyre::Device) -> DeviceTarget {
    DeviceTarget {
        label: art.to_string(),
        device,
        artifacts: vec![art],
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let device = match args.iter().position(|a| a == "--target") {
        Some(i) if i + 1 < args.len() => {
            let t = match target(&args[i + 1]) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            args.drain(i..=i + 1);
            Some(t)
        }
        _ => None,
    };
    for path in args {
        let case = match load_regression(std::path::Path::new(&path)) {
            Ok(case) => case,
            Err(e) => {
                println!("{path}: {e}");
                continue;
            }
        };
        match &device {
            None => println!("{path}: {:?}", vyre_testkit::run_reference(&case)),
            Some(t) => println!(
                "{path} on {}: {}",
                t.label,
                check_target(&case, t, DeviceRunOptions::default())
            ),
        }
    }
}
