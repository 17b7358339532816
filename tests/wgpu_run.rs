//! Every test program runs through `Device::wgpu()` (lavapipe in CI) and
//! matches the expected results: bit-exact for integers, within the stated
//! ULP bound for floats. Both the SPIR-V passthrough path and the WGSL path
//! are exercised. Without an adapter these print `skipped: no wgpu adapter`
//! and pass, unless `VYRE_REQUIRE_VULKAN=1`.

// The wgpu runtime exists only with the `wgpu` feature.
#![cfg(feature = "wgpu")]

mod naga_common;

use naga_common::{Arg, Data, owned_spec, run_case};
use vyre::backend::naga::runtime::WgpuOptions;
use vyre::runtime::{Artifact, KernelSpec, LaunchArg};
use vyre::{Buffer, Device, Grid};
use vyre_testkit::corpus::require_vulkan;

fn device(options: &WgpuOptions) -> Option<Device> {
    match Device::wgpu_with(options) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(
                !require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
            );
            println!("skipped: no wgpu adapter ({e})");
            None
        }
    }
}

fn run_all(options: &WgpuOptions, tag: &str) {
    let Some(dev) = device(options) else { return };
    println!("device: {}", dev.name());
    let mut failures = Vec::new();
    for case in naga_common::all() {
        let spec = owned_spec(&case.program, tag);
        let oracle = match naga_common::run_reference(&case) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: reference interpreter: {e}", case.program.name));
                continue;
            }
        };
        match run_case(&dev, &case, &spec) {
            Ok(got) => {
                // Against the reference interpreter and the hand-written
                // expectations (which `naga_reference` checks agree).
                for (((param, g), (_, want)), (_, refv)) in
                    got.iter().zip(&case.expected).zip(&oracle)
                {
                    for w in [refv, want] {
                        if let Err(e) =
                            naga_common::compare(&case.program.name, *param, g, w, case.tol)
                        {
                            failures.push(e);
                        }
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.program.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} on {}:\n{}",
        tag,
        dev.name(),
        failures.join("\n")
    );
}

#[test]
fn programs_match_expected_spirv_path() {
    run_all(&WgpuOptions::from_env(), "spirv");
}

#[test]
fn programs_match_expected_wgsl_path() {
    run_all(&WgpuOptions::from_env().with_force_wgsl(true), "wgsl");
}

#[test]
fn unknown_adapter_name_is_a_clear_error() {
    let err =
        Device::wgpu_with(&WgpuOptions::default().with_adapter("no-such-adapter-xyz")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, vyre::Error::NoDevice { .. }), "{msg}");
    assert!(
        msg.contains("no-such-adapter-xyz") && msg.contains("VYRE_WGPU_ADAPTER"),
        "{msg}"
    );
}

#[test]
fn buffers_round_trip_and_repeated_launches_accumulate() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    let empty: Buffer<u32> = dev.zeros(0).unwrap();
    assert_eq!(dev.download(&empty).unwrap(), Vec::<u32>::new());
    let mut b = dev.upload(&[1i32, -2, 3]).unwrap();
    dev.write(&mut b, &[7, 8, 9]).unwrap();
    assert_eq!(dev.download(&b).unwrap(), vec![7, 8, 9]);
    assert!(dev.write(&mut b, &[1, 2]).is_err());

    let case = naga_common::saxpy();
    let owned = owned_spec(&case.program, "repeat");
    let (params, artifacts) = owned.parts();
    let spec = &owned.spec(&params, &artifacts);
    let (Arg::Buf(Data::F32(xs)), Arg::Buf(Data::F32(ys))) = (&case.args[1], &case.args[2]) else {
        unreachable!()
    };
    let x = dev.upload(xs).unwrap();
    let mut y = dev.upload(ys).unwrap();
    for _ in 0..3 {
        dev.launch(
            spec,
            Grid::threads(xs.len()),
            &mut [LaunchArg::F32(0.5), x.arg(), y.arg_mut()],
        )
        .unwrap();
    }
    let got = dev.download(&y).unwrap();
    for k in 0..xs.len() {
        let mut want = ys[k];
        for _ in 0..3 {
            want += 0.5 * xs[k];
        }
        assert!(
            vyre_testkit::ulp_distance(got[k], want) <= 2,
            "[{k}] {} vs {want}",
            got[k]
        );
    }
}

#[test]
fn launch_errors_are_values() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    let case = naga_common::saxpy();
    let owned = owned_spec(&case.program, "errors");
    let (params, artifacts) = owned.parts();
    let spec = &owned.spec(&params, &artifacts);
    let x = dev.upload(&[1.0f32; 4]).unwrap();
    let mut y = dev.upload(&[1.0f32; 4]).unwrap();
    // More workgroups than any device allows per dimension.
    let err = dev
        .launch(
            spec,
            Grid::Workgroups([u32::MAX, 1, 1]),
            &mut [LaunchArg::F32(1.0), x.arg(), y.arg_mut()],
        )
        .unwrap_err();
    assert!(matches!(err, vyre::Error::InvalidGrid { .. }), "{err}");

    // No artifact this device can run.
    let bare = &KernelSpec {
        artifacts: &[],
        key: "tests::bare",
        ..*spec
    };
    let err = dev
        .launch(
            bare,
            Grid::threads(4),
            &mut [LaunchArg::F32(1.0), x.arg(), y.arg_mut()],
        )
        .unwrap_err();
    assert!(
        matches!(err, vyre::Error::TargetNotCompiled { .. }),
        "{err}"
    );

    // A broken WGSL artifact on the WGSL path: a validation error, no panic.
    let wdev = device(&WgpuOptions::from_env().with_force_wgsl(true)).unwrap();
    let broken = &KernelSpec {
        artifacts: &[Artifact {
            target: "wgsl",
            arch: None,
            bytes: b"this is not wgsl",
        }],
        key: "tests::broken",
        ..*spec
    };
    let wx = wdev.upload(&[1.0f32; 4]).unwrap();
    let mut wy = wdev.upload(&[1.0f32; 4]).unwrap();
    let err = wdev
        .launch(
            broken,
            Grid::threads(4),
            &mut [LaunchArg::F32(1.0), wx.arg(), wy.arg_mut()],
        )
        .unwrap_err();
    assert!(matches!(err, vyre::Error::Backend { .. }), "{err}");
    // The device still works afterwards.
    let good = owned_spec(&case.program, "after-error");
    good.launch(
        &wdev,
        Grid::threads(4),
        &mut [LaunchArg::F32(1.0), wx.arg(), wy.arg_mut()],
    )
    .unwrap();
    assert_eq!(wdev.download(&wy).unwrap(), vec![2.0; 4]);
}

#[test]
fn oversized_buffers_are_errors() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    // Far beyond any storage binding limit; fails before allocating.
    let err = dev.zeros::<u32>(usize::MAX / 8).unwrap_err();
    assert!(matches!(err, vyre::Error::Backend { .. }), "{err}");
    assert!(err.to_string().contains("exceeds"), "{err}");
}

#[test]
fn copies_and_writes_are_ordered_with_launches() {
    for options in [
        WgpuOptions::from_env(),
        WgpuOptions::from_env().with_force_wgsl(true),
    ] {
        let Some(dev) = device(&options) else { return };
        vyre_testkit::device_contract::check_ordering(&dev, &["spirv", "wgsl"])
            .unwrap_or_else(|e| panic!("{}: {e}", dev.name()));
    }
}

/// Run `case` on both paths (SPIR-V passthrough and WGSL) and compare with
/// its hand-written expectations. (The reference interpreter is not asked:
/// these cases join `naga_common::all()` once it runs them.)
fn run_against_expected(case: &naga_common::Case) {
    for (options, tag) in [
        (WgpuOptions::from_env(), "spirv"),
        (WgpuOptions::from_env().with_force_wgsl(true), "wgsl"),
    ] {
        let Some(dev) = device(&options) else { return };
        let spec = owned_spec(&case.program, tag);
        let got = run_case(&dev, case, &spec)
            .unwrap_or_else(|e| panic!("{} on {}: {e}", case.program.name, dev.name()));
        assert_eq!(got.len(), case.expected.len());
        let failures: Vec<String> = got
            .iter()
            .zip(&case.expected)
            .filter_map(|((param, g), (_, want))| {
                naga_common::compare(&case.program.name, *param, g, want, case.tol).err()
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{tag} on {}:\n{}",
            dev.name(),
            failures.join("\n")
        );
    }
}

/// Private arrays filled with a per-invocation pattern and read back through
/// run-time indices (in and out of range), constant and `i32` indices, all
/// element types; every invocation starts from zeros.
#[test]
fn private_arrays_hold_per_invocation_values() {
    run_against_expected(&naga_common::private_arrays());
}

/// Strided loops with run-time bounds, `continue`, `break`, `#[unroll]`, and
/// the overflow end: `(u32::MAX - 5..u32::MAX).step_by(4)` runs exactly
/// twice, and the `i32` loops that would pass `i32::MAX` stop there.
#[test]
fn stepped_loops_stop_where_the_next_value_overflows() {
    run_against_expected(&naga_common::stepped_loops());
}

/// The device `options` open and its subgroup size, or `None` (printed)
/// without an adapter.
fn subgroup_device(options: &WgpuOptions) -> Option<(Device, Option<u32>)> {
    use vyre::backend::naga::runtime::WgpuBackend;
    match WgpuBackend::new(options) {
        Ok(b) => {
            let size = b.subgroup_size();
            Some((Device::from_backend(std::sync::Arc::new(b)), size))
        }
        Err(e) => {
            assert!(
                !require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
            );
            println!("skipped: no wgpu adapter ({e})");
            None
        }
    }
}

/// Every subgroup operation on both paths against expectations computed
/// for the device's subgroup size: lanes, sums, min/max (NaN-ignoring),
/// shuffles from in-range, out-of-range and missing lanes (a 36-invocation
/// 2D workgroup: a partial last subgroup), ballot, all, any,
/// broadcast-first, and a 128-invocation workgroup.
#[test]
fn subgroup_operations_match_expected() {
    for (options, tag) in [
        (WgpuOptions::from_env(), "spirv"),
        (WgpuOptions::from_env().with_force_wgsl(true), "wgsl"),
    ] {
        let Some((dev, size)) = subgroup_device(&options) else {
            return;
        };
        let Some(s) = size else {
            // Subgroups off, or a size that varies between pipelines: the
            // expectations need one size.
            assert!(
                !require_vulkan() || !dev.name().contains("llvmpipe"),
                "lavapipe reports no single subgroup size"
            );
            println!("skipped: {} has no fixed subgroup size", dev.name());
            return;
        };
        println!("{tag}: {} has subgroup size {s}", dev.name());
        for case in naga_common::subgroup_cases(s) {
            let spec = owned_spec(&case.program, tag);
            let got = run_case(&dev, &case, &spec)
                .unwrap_or_else(|e| panic!("{} on {}: {e}", case.program.name, dev.name()));
            let failures: Vec<String> = got
                .iter()
                .zip(&case.expected)
                .filter_map(|((param, g), (_, want))| {
                    naga_common::compare(&case.program.name, *param, g, want, case.tol).err()
                })
                .collect();
            assert!(
                failures.is_empty(),
                "{tag} on {} (subgroup size {s}):\n{}",
                dev.name(),
                failures.join("\n")
            );
        }
    }
}

/// A kernel with subgroup operations on a device opened without them fails
/// its launch with an error naming the kernel, the feature and the device,
/// on both paths; the device keeps working.
#[test]
fn subgroup_kernel_without_the_feature_is_an_error() {
    for options in [
        WgpuOptions::from_env().with_no_subgroups(true),
        WgpuOptions::from_env()
            .with_no_subgroups(true)
            .with_force_wgsl(true),
    ] {
        let Some((dev, size)) = subgroup_device(&options) else {
            return;
        };
        assert_eq!(size, None);
        let case = naga_common::subgroup_full(32);
        let spec = owned_spec(&case.program, "no-subgroups");
        let err = run_case(&dev, &case, &spec).unwrap_err();
        assert!(
            err.contains("subgroup_full")
                && err.contains("subgroup operations")
                && err.contains("wgpu")
                && err.contains("SUBGROUP"),
            "{err}"
        );
        let plain = naga_common::saxpy();
        let spec = owned_spec(&plain.program, "no-subgroups");
        run_case(&dev, &plain, &spec).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Narrow element types (`f16 bf16 u8 i8 u16 i16`): packed buffers, driven
// through the device backend with raw bytes and compared with `half` and
// Rust's casts bit for bit.

/// Run a narrow case; the final bytes of the buffers it checks.
fn run_narrow(
    dev: &Device,
    case: &naga_common::narrow::Case,
    spec: &KernelSpec<'_>,
) -> Result<Vec<Vec<u8>>, String> {
    use naga_common::narrow::Arg as NArg;
    use vyre::ir::Access;
    use vyre::runtime::{DeviceMemory, KernelArg, ParamSpec};
    let backend = dev.backend();
    let mut mems: Vec<Option<Box<dyn DeviceMemory>>> = Vec::new();
    for a in &case.args {
        mems.push(match a {
            NArg::Buf(bytes) => Some(backend.upload(bytes).map_err(|e| e.to_string())?),
            NArg::U32(_) | NArg::F32(_) => None,
        });
    }
    {
        let mut args: Vec<KernelArg<'_>> = Vec::new();
        for ((m, a), p) in mems.iter_mut().zip(&case.args).zip(spec.params) {
            args.push(match (m, a) {
                (Some(m), _) => {
                    if matches!(
                        p,
                        ParamSpec::Buffer {
                            access: Access::ReadWrite,
                            ..
                        }
                    ) {
                        KernelArg::BufferMut(&mut **m)
                    } else {
                        KernelArg::Buffer(&**m)
                    }
                }
                (None, NArg::U32(v)) => KernelArg::U32(*v),
                (None, NArg::F32(v)) => KernelArg::F32(*v),
                (None, NArg::Buf(_)) => unreachable!(),
            });
        }
        backend
            .launch(spec, case.workgroups, &mut args)
            .map_err(|e| e.to_string())?;
    }
    let mut outs = Vec::new();
    for (k, want, _) in &case.expected {
        let m = mems[*k].as_ref().expect("a buffer");
        let mut out = vec![0u8; want.len()];
        backend.read(&**m, &mut out).map_err(|e| e.to_string())?;
        outs.push(out);
    }
    Ok(outs)
}

fn run_narrow_all(options: &WgpuOptions, tag: &str, random: usize) {
    let Some(dev) = device(options) else { return };
    println!("device: {}", dev.name());
    let mut failures = Vec::new();
    for case in naga_common::narrow::cases(random) {
        let owned = owned_spec(&case.program, tag);
        let name = &case.program.name;
        match owned.with(|spec| run_narrow(&dev, &case, spec)) {
            Ok(outs) => {
                for ((param, want, cmp), got) in case.expected.iter().zip(&outs) {
                    let t = match &case.program.params[*param] {
                        vyre::ir::Param::Buffer(b) => b.elem,
                        vyre::ir::Param::Scalar { .. } => unreachable!(),
                    };
                    if let Err(e) = naga_common::narrow::compare(t, got, want, *cmp) {
                        failures.push(format!("{name} param {param} ({t}): {e}"));
                    }
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{tag} on {}:\n{}",
        dev.name(),
        failures.join("\n")
    );
}

/// Loads, arithmetic, casts, rounding (every `f16`/`bf16` value, the ties
/// between them and their neighbours, random `f32`s), shared and private
/// arrays and concurrent neighbour stores, on the SPIR-V path.
#[test]
fn narrow_types_match_half_spirv_path() {
    run_narrow_all(&WgpuOptions::from_env(), "narrow-spirv", 200_000);
}

/// As above on the WGSL path.
#[test]
fn narrow_types_match_half_wgsl_path() {
    run_narrow_all(
        &WgpuOptions::from_env().with_force_wgsl(true),
        "narrow-wgsl",
        20_000,
    );
}

/// Buffers of any byte length (narrow elements need not fill whole words)
/// upload, write, copy and read back exactly their bytes.
#[test]
fn odd_length_buffers_round_trip() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    let backend = dev.backend();
    for len in [1usize, 2, 3, 5, 6, 7, 1001] {
        let data: Vec<u8> = (0..len).map(|k| (k * 37 + 11) as u8).collect();
        let mut m = backend.upload(&data).unwrap();
        assert_eq!(m.len_bytes(), len);
        let mut out = vec![0u8; len];
        backend.read(&*m, &mut out).unwrap();
        assert_eq!(out, data, "upload of {len} bytes");
        let data2: Vec<u8> = data.iter().map(|b| b ^ 0xa5).collect();
        backend.write(&mut *m, &data2).unwrap();
        backend.read(&*m, &mut out).unwrap();
        assert_eq!(out, data2, "write of {len} bytes");
        let mut z = backend.alloc_zeroed(len).unwrap();
        backend.read(&*z, &mut out).unwrap();
        assert!(out.iter().all(|&b| b == 0), "zeros of {len} bytes");
        backend.copy(&*m, &mut *z).unwrap();
        backend.read(&*z, &mut out).unwrap();
        assert_eq!(out, data2, "copy of {len} bytes");
        assert!(backend.write(&mut *m, &data2[..len - 1]).is_err());
    }
}

/// `subgroup_broadcast_first` of a converted float, compared with a branch:
/// lavapipe's LLVM aborted the whole process on it ("Cannot select
/// X86ISD::VBROADCAST") and the NVIDIA Vulkan driver crashed on a program
/// with it, until the naga lowering broadcast the first lane's number and
/// shuffled the value from it.
#[test]
fn broadcast_first_of_a_converted_float() {
    let src = r#"
#[kernel(workgroup_size = 64)]
pub fn k(in0: &[u32], out: &mut [u32], outf: &mut [f32]) {
    let lid = local_id().x;
    let g = global_id().x;
    let first = subgroup_broadcast_first(in0[g] as f32);
    if first > (out[g] as f32) + 2.0 {
        out.atomic_xor(g, 5);
    }
    outf[g] = subgroup_broadcast_first(lid as f32) + first;
}
"#;
    let program = vyre::lang::parse("broadcast.vyre", src)
        .unwrap()
        .kernels
        .remove(0);
    let n = 256;
    let mut case = naga_common::Case {
        program,
        args: vec![
            Arg::Buf(Data::U32((0..n).map(|i| i * 7 % 13).collect())),
            Arg::Buf(Data::U32((0..n).map(|i| i % 5).collect())),
            Arg::Buf(Data::F32(vec![0.0; n as usize])),
        ],
        workgroups: [4, 1, 1],
        expected: Vec::new(),
        tol: vyre_testkit::Tolerance::FloatExact,
    };
    case.expected = vec![
        (1, Data::U32(vec![0; n as usize])),
        (2, Data::F32(vec![0.0; n as usize])),
    ];
    for (options, tag) in [
        (WgpuOptions::from_env(), "spirv"),
        (WgpuOptions::from_env().with_force_wgsl(true), "wgsl"),
    ] {
        let Some(dev) = device(&options) else { return };
        let Some(s) = dev.subgroup_size() else {
            println!("skipped: {} has no fixed subgroup size", dev.name());
            return;
        };
        let want = vyre_testkit::harness::run_reference_at(&case.testkit_case(), s)
            .and_then(|outputs| case.pick(&outputs))
            .unwrap();
        let spec = owned_spec(&case.program, tag);
        let got =
            run_case(&dev, &case, &spec).unwrap_or_else(|e| panic!("{tag} on {}: {e}", dev.name()));
        for ((param, g), (_, w)) in got.iter().zip(&want) {
            naga_common::compare("broadcast", *param, g, w, case.tol)
                .unwrap_or_else(|e| panic!("{tag} on {} (subgroup size {s}): {e}", dev.name()));
        }
    }
}

/// Thousands of launches without a wait, each with its own scalar: every
/// launch reads its own uniform slot, across the ring's wrap-arounds and
/// the submissions in between.
#[test]
fn every_launch_reads_its_own_scalars() {
    use vyre::ir::{Access, BufRef, DataType, Expr, ProgramBuilder};
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    // y[i] += a for i < y.len()
    let mut b = ProgramBuilder::new("add_scalar", [64, 1, 1]);
    let a = b.scalar("a", DataType::U32);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(y)), |then| {
            let v = Expr::load(BufRef::Param(y), Expr::local(i)).add(Expr::param(a));
            then.store(BufRef::Param(y), Expr::local(i), v);
        });
    });
    let spec = owned_spec(&b.finish(), "ring");
    let mut buf: Buffer<u32> = dev.zeros(100).unwrap();
    let launches = 2600u32;
    spec.with(|spec| {
        for k in 0..launches {
            dev.launch(
                spec,
                Grid::threads(100),
                &mut [LaunchArg::U32(k), buf.arg_mut()],
            )
            .unwrap();
        }
    });
    let want = launches * (launches - 1) / 2;
    assert_eq!(dev.download(&buf).unwrap(), vec![want; 100]);
}
