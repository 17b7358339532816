//! Grids with more workgroups per dimension than wgpu allows (65,535): the
//! runtime folds x into y and the shader rebuilds the logical builtins (see
//! docs/targets.md, "Large grids on wgpu"). Each case is compared with the
//! reference interpreter bit-exactly. Without an adapter these print
//! `skipped: no wgpu adapter` and pass, unless `VYRE_REQUIRE_VULKAN=1`.

#![cfg(feature = "wgpu")]

mod naga_common;

use naga_common::{Arg, Case, Data, owned_spec, run_case};
use vyre::backend::naga::runtime::WgpuOptions;
use vyre::ir::{Access, Axis, BufRef, Builtin, DataType, Expr, ProgramBuilder};
use vyre::runtime::LaunchArg;
use vyre::{Device, Grid};
use vyre_testkit::Tolerance;

fn device(options: &WgpuOptions) -> Option<Device> {
    match Device::wgpu_with(options) {
        Ok(d) => Some(d),
        Err(e) => {
            assert!(
                !vyre_testkit::corpus::require_vulkan(),
                "VYRE_REQUIRE_VULKAN=1 but no wgpu adapter: {e}"
            );
            println!("skipped: no wgpu adapter ({e})");
            None
        }
    }
}

/// A kernel storing, for every invocation, its 9 builtin components
/// (`global_id`, `workgroup_id`, `num_workgroups`, x y z each) at
/// `out[9 * linear .. 9 * linear + 9]`, where `linear` is the invocation's
/// row-major index in the logical grid of global ids.
fn builtins_case(name: &str, workgroup_size: [u32; 3], workgroups: [u32; 3]) -> Case {
    let mut b = ProgramBuilder::new(name, workgroup_size);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let lin = b.local("lin", DataType::U32, false);
    let bi = |bt: Builtin, a: Axis| Expr::Builtin(bt, a);
    b.body(|blk| {
        // linear = (gz * ny + gy) * nx + gx, n* = num_workgroups * size.
        let nx = bi(Builtin::NumWorkgroups, Axis::X).mul(Expr::u32(workgroup_size[0]));
        let ny = bi(Builtin::NumWorkgroups, Axis::Y).mul(Expr::u32(workgroup_size[1]));
        blk.let_(
            lin,
            bi(Builtin::GlobalId, Axis::Z)
                .mul(ny)
                .add(bi(Builtin::GlobalId, Axis::Y))
                .mul(nx)
                .add(bi(Builtin::GlobalId, Axis::X))
                .mul(Expr::u32(9)),
        );
        let mut k = 0;
        for bt in [
            Builtin::GlobalId,
            Builtin::WorkgroupId,
            Builtin::NumWorkgroups,
        ] {
            for a in [Axis::X, Axis::Y, Axis::Z] {
                blk.store(
                    BufRef::Param(out),
                    Expr::local(lin).add(Expr::u32(k)),
                    bi(bt, a),
                );
                k += 1;
            }
        }
    });
    let threads: u32 = workgroups
        .iter()
        .zip(workgroup_size)
        .map(|(w, s)| w * s)
        .product();
    Case {
        program: b.finish(),
        // Poisoned so an invocation that never ran is visible.
        args: vec![Arg::Buf(Data::U32(vec![0xdead_beef; 9 * threads as usize]))],
        workgroups,
        // Only the parameter index (and type) matters: the reference
        // interpreter supplies the expected values.
        expected: vec![(0, Data::U32(Vec::new()))],
        tol: Tolerance::Float { ulp: 0, abs: 0.0 },
    }
}

fn check_builtins(case: &Case) {
    for force_wgsl in [false, true] {
        let Some(dev) = device(&WgpuOptions::from_env().with_force_wgsl(force_wgsl)) else {
            return;
        };
        let spec = owned_spec(&case.program, if force_wgsl { "wgsl" } else { "spirv" });
        let got = run_case(&dev, case, &spec).unwrap();
        let want = naga_common::run_reference(case).unwrap();
        assert_eq!(got.len(), 1);
        let (Data::U32(g), Data::U32(w)) = (&got[0].1, &want[0].1) else {
            panic!("unexpected data types")
        };
        assert!(
            !w.contains(&0xdead_beef),
            "the reference left slots unwritten"
        );
        if let Some(i) = (0..w.len()).find(|&i| g[i] != w[i]) {
            panic!(
                "{} (wgsl path: {force_wgsl}): first mismatch at out[{i}] (invocation {}, component {}): got {:#x}, want {:#x}",
                case.program.name,
                i / 9,
                i % 9,
                g[i],
                w[i]
            );
        }
    }
}

#[test]
fn one_d_grid_beyond_the_limit_matches_reference() {
    // 70,000 workgroups of 1: folded into [35000, 2, 1], no padding.
    check_builtins(&builtins_case("big_1d", [1, 1, 1], [70_000, 1, 1]));
}

#[test]
fn three_d_grid_beyond_the_limit_matches_reference() {
    // x folded by 2 into y (3 logical rows -> 6 physical), z untouched.
    check_builtins(&builtins_case("big_3d", [2, 1, 1], [65_536 + 7, 3, 2]));
}

#[test]
fn grid_within_the_limit_matches_reference() {
    check_builtins(&builtins_case("small_3d", [4, 2, 2], [5, 3, 2]));
}

#[test]
fn saxpy_over_two_pow_24_plus_3_elements() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    let case = naga_common::saxpy();
    // saxpy's workgroup is 64 wide; rebuild it 256 wide.
    let mut program = case.program.clone();
    program.workgroup_size = [256, 1, 1];
    let spec = owned_spec(&program, "big-saxpy");
    let n = (1usize << 24) + 3;
    let xs: Vec<f32> = (0..n).map(|k| (k % 1000) as f32 * 0.5 - 3.0).collect();
    let ys: Vec<f32> = (0..n).map(|k| (k % 777) as f32).collect();
    let a = 1.5f32;
    let x = dev.upload(&xs).unwrap();
    let mut y = dev.upload(&ys).unwrap();
    // 65,537 workgroups of 256: two more than the limit allows in x.
    spec.launch(
        &dev,
        Grid::threads(n),
        &mut [LaunchArg::F32(a), x.arg(), y.arg_mut()],
    )
    .unwrap();
    let got = dev.download(&y).unwrap();
    for k in 0..n {
        let want = a.mul_add(xs[k], ys[k]);
        let plain = a * xs[k] + ys[k];
        assert!(
            got[k] == want || got[k] == plain,
            "[{k}] {} vs {plain}",
            got[k]
        );
    }
}

#[test]
fn grid_beyond_what_folding_expresses_is_an_error() {
    let Some(dev) = device(&WgpuOptions::from_env()) else {
        return;
    };
    let case = builtins_case("too_big", [1, 1, 1], [1, 1, 1]);
    let spec = owned_spec(&case.program, "too-big");
    let mut out = dev.zeros::<u32>(9).unwrap();
    let err = spec
        .launch(
            &dev,
            Grid::Workgroups([70_000, 40_000, 1]),
            &mut [out.arg_mut()],
        )
        .unwrap_err();
    assert!(matches!(err, vyre::Error::InvalidGrid { .. }), "{err}");
    assert!(err.to_string().contains("folded"), "{err}");
}
