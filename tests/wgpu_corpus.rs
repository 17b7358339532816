//! Every kernel of the `.vyre` corpus (`tests/kernels/`,
//! `examples/*/kernels/`; the large `bench/kernels/` ones take lavapipe's
//! shader compiler minutes each, and are checked by `naga_corpus`) runs on `Device::wgpu()` (lavapipe in CI), through
//! SPIR-V passthrough and through WGSL, on generic inputs (buffers of 1024
//! elements, `u32` scalars 32, a 1-D grid of 1024 invocations or a 32 x 32
//! 2-D grid), and its outputs match the reference interpreter: integers
//! bit-exact, floats within 16 ULP or 1e-4 relative (transcendentals; the
//! largest difference seen is printed). Regression kernels (`regress_*`)
//! carry their own inputs and run in `differential_regressions`. Without an
//! adapter: `skipped: no wgpu adapter`, a failure when
//! `VYRE_REQUIRE_VULKAN=1`.

// The wgpu runtime exists only with the `wgpu` feature.
#![cfg(feature = "wgpu")]

mod naga_common;

use std::path::{Path, PathBuf};

use naga_common::{Arg, Case, Data, owned_spec, run_case};
use vyre::backend::naga::runtime::WgpuOptions;
use vyre::ir::{DataType, Literal, Param, Program};
use vyre::{Device, Grid};
use vyre_testkit::Tolerance;
use vyre_testkit::corpus::corpus_files;

const N: usize = 1024;

/// The corpus without the bench kernels (sized for 2^28 elements), the
/// regression files (run by `differential_regressions`) and `ieee.vyre`
/// (IEEE specials are the conformance driver's job, with the drivers known
/// to lose them listed there).
fn vyre_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    corpus_files(root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !p.starts_with(root.join("bench"))
                && name != "ieee.vyre"
                && !name.starts_with("regress_")
        })
        .collect()
}

/// Deterministic inputs for any kernel.
fn generic_case(p: &Program) -> Case {
    let mut args = Vec::new();
    let mut expected = Vec::new();
    for (i, param) in p.params.iter().enumerate() {
        match param {
            Param::Buffer(b) => {
                let k = |j: usize| {
                    (j as u32)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(i as u32 * 97)
                };
                let data = match b.elem {
                    // Halves of small integers, exact in every float type.
                    t @ (DataType::F16 | DataType::BF16) => Data::Narrow(
                        t,
                        (0..N)
                            .map(|j| {
                                let v = ((k(j) >> 26) as f32 - 32.0) * 0.5;
                                if t == DataType::F16 {
                                    u32::from(vyre::half::f16::from_f32(v).to_bits())
                                } else {
                                    u32::from(vyre::half::bf16::from_f32(v).to_bits())
                                }
                            })
                            .collect(),
                    ),
                    t if t.is_narrow() => Data::Narrow(
                        t,
                        (0..N)
                            .map(|j| Literal::from_bits(t, k(j) >> 22).bits())
                            .collect(),
                    ),
                    DataType::U32 => Data::U32((0..N).map(|j| k(j) >> 22).collect()),
                    DataType::I32 => Data::I32((0..N).map(|j| (k(j) >> 22) as i32 - 512).collect()),
                    // Small integers and halves: sums and products stay exact.
                    _ => Data::F32((0..N).map(|j| ((k(j) >> 26) as f32 - 32.0) * 0.5).collect()),
                };
                if b.access == vyre::ir::Access::ReadWrite {
                    expected.push((i, data.clone()));
                }
                args.push(Arg::Buf(data));
            }
            Param::Scalar { ty, .. } => args.push(match ty {
                DataType::U32 => Arg::U32(32),
                DataType::I32 => Arg::I32(3),
                DataType::F32 => Arg::F32(1.5),
                DataType::Bool => Arg::Bool(true),
                DataType::F16 => Arg::Lit(Literal::F16(vyre::half::f16::from_f32(1.5).to_bits())),
                DataType::BF16 => {
                    Arg::Lit(Literal::BF16(vyre::half::bf16::from_f32(1.5).to_bits()))
                }
                narrow => Arg::Lit(Literal::from_bits(*narrow, 3)),
            }),
        }
    }
    let [wx, wy, _] = p.workgroup_size;
    let workgroups = if wy > 1 {
        [32u32.div_ceil(wx), 32u32.div_ceil(wy), 1]
    } else {
        [(N as u32).div_ceil(wx), 1, 1]
    };
    Case {
        program: p.clone(),
        args,
        workgroups,
        expected,
        tol: Tolerance::Float { ulp: 16, abs: 0.0 },
    }
}

fn max_float_diff(got: &Data, want: &Data) -> Option<(u64, f32)> {
    let (Data::F32(g), Data::F32(w)) = (got, want) else {
        return None;
    };
    let mut worst = (0u64, 0.0f32);
    for (a, b) in g.iter().zip(w) {
        let d = vyre_testkit::ulp_distance(*a, *b);
        if d > worst.0 {
            worst = (d, (a - b).abs() / b.abs().max(1.0));
        }
    }
    Some(worst)
}

fn run(options: &WgpuOptions, tag: &str) {
    let dev = match Device::wgpu_with(options) {
        Ok(d) => d,
        Err(e) => {
            assert!(
                !vyre_testkit::corpus::require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
            );
            println!("skipped: no wgpu adapter ({e})");
            return;
        }
    };
    println!("device: {}", dev.name());
    let mut failures = Vec::new();
    let mut count = 0;
    for file in vyre_files() {
        let source = std::fs::read_to_string(&file).unwrap();
        let module = vyre::lang::parse(&file.display().to_string(), &source)
            .unwrap_or_else(|d| panic!("{} does not parse: {:?}", file.display(), d.diagnostics));
        for p in module.kernels {
            count += 1;
            // Unique per file: the pipeline cache is keyed by it, and
            // several files define a kernel of the same name.
            let rel = file
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(&file);
            let label = format!("{}::{}", rel.display(), p.name);
            let case = generic_case(&p);
            let want = match naga_common::run_reference(&case) {
                Ok(w) => w,
                Err(e) => {
                    failures.push(format!("{label}: reference: {e}"));
                    continue;
                }
            };
            let spec = owned_spec(&p, &format!("corpus-{tag}-{label}"));
            match run_case(&dev, &case, &spec) {
                Err(e) => failures.push(format!("{label}: {e}")),
                Ok(got) => {
                    for ((param, g), (_, w)) in got.iter().zip(&want) {
                        if let Some((ulp, rel)) = max_float_diff(g, w) {
                            if ulp > 0 {
                                println!("{label} param {param}: max {ulp} ulp ({rel:e} relative)");
                            }
                            // Within 16 ULP or 1e-4 relative (a NaN
                            // relative error, from an infinity on one side,
                            // is a failure).
                            if ulp > 16 && (rel.is_nan() || rel > 1e-4) {
                                failures.push(format!(
                                    "{label} param {param}: {ulp} ulp, {rel:e} relative"
                                ));
                            }
                        } else if let Err(e) =
                            naga_common::compare(&label, *param, g, w, Tolerance::FloatExact)
                        {
                            failures.push(e);
                        }
                    }
                }
            }
        }
    }
    println!("{count} corpus kernels on {tag}");
    assert!(count >= 8, "corpus too small: {count}");
    assert!(failures.is_empty(), "{tag}:\n{}", failures.join("\n"));
}

#[test]
fn corpus_matches_reference_spirv_path() {
    run(&WgpuOptions::from_env(), "spirv");
}

#[test]
fn corpus_matches_reference_wgsl_path() {
    run(&WgpuOptions::from_env().with_force_wgsl(true), "wgsl");
}

/// The grid helper is what the generated launchers use for 1-D kernels.
#[test]
fn generic_grid_covers_the_buffers() {
    assert_eq!(Grid::threads(N).workgroup_count([256, 1, 1]), [4, 1, 1]);
}
