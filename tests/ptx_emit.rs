//! Structure of the emitted PTX, and `ptxas` accepting it.

mod ptx_support;

use ptx_support::*;
use vyre::DispatchConfig;
use vyre::driver::CompileError;

#[test]
fn saxpy_assembles() {
    let text = emit(&saxpy(), "sm_70");
    println!("{text}");
    assemble_all(&saxpy(), &DispatchConfig::default());
}

use vyre::ir::{DataType, MathFn};

fn check_valid(p: &vyre::ir::Program) {
    if let Err(e) = p.validate() {
        panic!("{} invalid: {e:?}", p.name);
    }
}

#[test]
fn every_binop_assembles() {
    for (op, ty) in all_binops() {
        let p = binop_program(op, ty);
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn every_math_fn_assembles_accurate_and_fast() {
    for f in MathFn::ALL {
        for ty in [DataType::F32, DataType::I32, DataType::U32] {
            if vyre::ir::validate::math_type(f, &vec![ty; f.arity()]).is_none() {
                continue;
            }
            for fast in [false, true] {
                let p = math_program(f, ty, fast);
                check_valid(&p);
                assemble_all(&p, &DispatchConfig::default());
            }
        }
    }
}

#[test]
fn every_cast_assembles() {
    let tys = [DataType::Bool, DataType::I32, DataType::U32, DataType::F32];
    for from in tys {
        for to in tys {
            if to == DataType::Bool && from != DataType::Bool {
                continue;
            }
            let p = cast_program(from, to);
            check_valid(&p);
            assemble_all(&p, &DispatchConfig::default());
        }
    }
}

#[test]
fn shared_atomics_control_flow_assemble() {
    for p in [
        reduce_sum_u32(),
        atomics_program(DataType::U32),
        atomics_program(DataType::I32),
        control_flow(),
    ] {
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
        let unchecked = {
            let mut q = p.clone();
            q.unchecked = true;
            q
        };
        assemble_all(&unchecked, &DispatchConfig::default());
    }
}

#[test]
fn constant_operands_assemble() {
    use vyre::ir::{Access, BinOp, BufRef, Expr, ProgramBuilder};
    let mut b = ProgramBuilder::new("constants", [32, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let fo = b.buffer("fo", DataType::F32, Access::ReadWrite);
    b.body(|blk| {
        let mut k = 0;
        for op in [
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Rem,
            BinOp::Shl,
            BinOp::Shr,
            BinOp::BitAnd,
        ] {
            let e = Expr::Binary(op, Box::new(Expr::u32(7)), Box::new(Expr::u32(3)));
            blk.store(BufRef::Param(out), Expr::u32(k), e);
            let f = Expr::Binary(op, Box::new(Expr::i32(-7)), Box::new(Expr::i32(0)));
            blk.store(BufRef::Param(out), Expr::u32(k + 1), f.cast(DataType::U32));
            k += 2;
        }
        for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Rem] {
            let e = Expr::Binary(op, Box::new(Expr::f32(7.5)), Box::new(Expr::f32(2.0)));
            blk.store(BufRef::Param(fo), Expr::u32(k), e);
            k += 1;
        }
        blk.store(
            BufRef::Param(out),
            Expr::u32(40),
            Expr::u32(1).lt(Expr::u32(2)).cast(DataType::U32),
        );
        blk.store(
            BufRef::Param(fo),
            Expr::u32(41),
            Expr::f32(2.0).math(MathFn::Powf, vec![Expr::f32(0.5)]),
        );
        blk.store(
            BufRef::Param(fo),
            Expr::u32(42),
            Expr::i32(-3).cast(DataType::F32).math(MathFn::Exp, vec![]),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(43),
            Expr::select(Expr::bool(true), Expr::u32(1), Expr::u32(2)),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(44),
            Expr::i32(5)
                .neg()
                .math(MathFn::Abs, vec![])
                .cast(DataType::U32),
        );
    });
    let p = b.finish();
    check_valid(&p);
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn bad_inputs_are_errors() {
    let p = saxpy();
    let e = vyre::backend::ptx::emit_ptx(&p, &DispatchConfig::default().with_target_arch("sm_61"))
        .unwrap_err();
    assert!(matches!(e, CompileError::Unsupported { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("unsupported CUDA architecture `sm_61`"), "{e}");
    let mut bad = saxpy();
    bad.workgroup_size = [0, 1, 1];
    let e = vyre::backend::ptx::emit_ptx(&bad, &DispatchConfig::default()).unwrap_err();
    assert!(matches!(e, CompileError::InvalidKernel { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("invalid"), "{e}");
}

#[test]
fn registered_targets_and_artifacts() {
    use vyre::driver::{ArtifactFile, emit_aot_target, launcher_codegen};
    let ptx = emit_aot_target("ptx", &saxpy(), &DispatchConfig::default()).unwrap();
    assert!(String::from_utf8(ptx).unwrap().contains(".entry saxpy("));
    let c = launcher_codegen("ptx").unwrap();
    assert_eq!(
        (c.extension, c.per_arch, c.optional, c.runtime_feature),
        ("ptx", false, false, Some("cuda"))
    );
    let expr = (c.artifact_expr)(&ArtifactFile {
        target: "ptx",
        arch: None,
        file_name: "saxpy.ptx",
    })
    .unwrap();
    assert!(
        expr.contains("target: \"ptx\"") && expr.contains("include_bytes!(\"saxpy.ptx\")"),
        "{expr}"
    );
    let c = launcher_codegen("cubin").unwrap();
    assert_eq!(
        (c.extension, c.per_arch, c.optional, c.runtime_feature),
        ("cubin", true, true, Some("cuda"))
    );
    let expr = (c.artifact_expr)(&ArtifactFile {
        target: "cubin",
        arch: Some("sm_90"),
        file_name: "saxpy.sm_90.cubin",
    })
    .unwrap();
    assert!(expr.contains("Some(\"sm_90\")"), "{expr}");
    assert!(vyre::backend::ptx::ptxas_env_vars().contains(&"VYRE_PTXAS"));
}

#[test]
fn cubin_without_ptxas_is_unavailable() {
    let e = vyre::backend::ptx::emit_cubin_with(&saxpy(), &DispatchConfig::default(), None)
        .unwrap_err();
    assert!(e.is_tool_unavailable(), "{e:?}");
    let e = e.to_string();
    assert!(e.starts_with(vyre::driver::UNAVAILABLE_PREFIX), "{e}");
    assert!(!e.contains('\n'), "the note must be one line: {e}");
}

#[test]
fn ptxas_lookup_order() {
    use std::ffi::OsString;
    use vyre::backend::ptx::find_ptxas_with;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("cuda");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    let in_home = home.join("bin").join("ptxas");
    std::fs::write(&in_home, "").unwrap();
    let explicit = dir.path().join("my-ptxas");
    std::fs::write(&explicit, "").unwrap();
    let env = |pairs: Vec<(&'static str, OsString)>| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    assert_eq!(find_ptxas_with(&env(vec![])), None);
    assert_eq!(
        find_ptxas_with(&env(vec![("CUDA_HOME", home.clone().into())])),
        Some(in_home.clone())
    );
    assert_eq!(
        find_ptxas_with(&env(vec![("CUDA_PATH", home.clone().into())])),
        Some(in_home.clone())
    );
    assert_eq!(
        find_ptxas_with(&env(vec![("PATH", home.join("bin").into())])),
        Some(in_home.clone())
    );
    assert_eq!(
        find_ptxas_with(&env(vec![
            ("VYRE_PTXAS", explicit.clone().into()),
            ("CUDA_HOME", home.clone().into())
        ])),
        Some(explicit)
    );
    // A wrong explicit path is not silently replaced.
    assert_eq!(
        find_ptxas_with(&env(vec![
            ("VYRE_PTXAS", dir.path().join("nope").into()),
            ("CUDA_HOME", home.into())
        ])),
        None
    );
}

#[test]
fn cubin_with_ptxas_is_elf() {
    let Some(p) = ptxas() else { return };
    let cubin = vyre::backend::ptx::emit_cubin_with(
        &saxpy(),
        &DispatchConfig::default().with_target_arch("sm_80"),
        Some(&p),
    )
    .unwrap();
    assert!(cubin.starts_with(b"\x7fELF"));
}

// ---- Private arrays, strided loops, 16-byte array accesses ----

use vyre::ir::{Axis, BufRef, Builtin, Expr, Program, ProgramBuilder};

fn local_id_x() -> Expr {
    Expr::Builtin(Builtin::LocalId, Axis::X)
}

/// Parse one `.vyre` kernel.
fn one_kernel(source: &str) -> Program {
    let mut module = vyre::lang::parse("test.vyre", source).expect("parse");
    assert_eq!(module.kernels.len(), 1);
    module.kernels.remove(0)
}

/// Lines of `ptx` (trimmed) that contain `what`.
fn lines_with<'a>(ptx: &'a str, what: &str) -> Vec<&'a str> {
    ptx.lines()
        .map(str::trim)
        .filter(|l| l.contains(what))
        .collect()
}

/// A small `f32` private array (zeroed by unrolled stores) and a large
/// `u32` one (zeroed by a loop), both indexed at run time.
fn private_arrays() -> Program {
    let mut b = ProgramBuilder::new("private_arrays", [64, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let hist = b.private("hist", DataType::F32, 10);
    let big = b.private("big", DataType::U32, 300);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.for_(j, Expr::u32(0), Expr::u32(16), |f| {
            let slot = Expr::local(i).add(Expr::local(j)).rem(Expr::u32(12));
            f.store(
                BufRef::Private(hist),
                slot.clone(),
                Expr::load(BufRef::Private(hist), slot).add(Expr::f32(1.0)),
            );
            f.store(
                BufRef::Private(big),
                Expr::local(i).mul(Expr::local(j)),
                Expr::local(j),
            );
        });
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let h = Expr::load(BufRef::Private(hist), Expr::local(i).rem(Expr::u32(10)));
            let g = Expr::load(BufRef::Private(big), Expr::local(i)).cast(DataType::F32);
            t.store(BufRef::Param(out), Expr::local(i), h.add(g));
        });
    });
    b.finish()
}

use vyre::ir::Access;

#[test]
fn private_arrays_live_in_local_memory() {
    let p = private_arrays();
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    assert!(ptx.contains(".local .align 16 .b32 vyre_l0[10];"), "{ptx}");
    assert!(ptx.contains(".local .align 16 .b32 vyre_l1[300];"), "{ptx}");
    // Zeroed at the start: the small array by two 16-byte stores and a
    // tail of two, the large one by a loop of 16-byte stores.
    assert!(
        ptx.contains("st.local.v4.b32 [vyre_l0+0], {%r")
            && ptx.contains("st.local.v4.b32 [vyre_l0+16], {%r")
            && ptx.contains("st.local.b32 [vyre_l0+32], %r")
            && ptx.contains("st.local.b32 [vyre_l0+36], %r"),
        "{ptx}"
    );
    assert!(!ptx.contains("[vyre_l0+40]"), "{ptx}");
    assert!(ptx.contains("$L_zero_"), "{ptx}");
    // Run-time indices: checked loads and stores in the local space.
    assert!(!lines_with(&ptx, "ld.local.f32").is_empty(), "{ptx}");
    assert!(!lines_with(&ptx, "ld.local.u32").is_empty(), "{ptx}");
    assert!(
        lines_with(&ptx, "st.local.f32")
            .iter()
            .all(|l| l.starts_with('@')),
        "{ptx}"
    );
    assert!(!ptx.contains("shared"), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    let mut unchecked = p.clone();
    unchecked.unchecked = true;
    let text = emit(&unchecked, "sm_80");
    assert!(
        !text
            .lines()
            .any(|l| l.trim().starts_with('@') && l.contains(".local")),
        "{text}"
    );
    assemble_all(&unchecked, &DispatchConfig::default());
}

/// `for j in (start..end).step_by(step)` summing `j` into `out[i]`.
fn stepped(ty: DataType, start: Expr, end: Expr, step: u32) -> Program {
    let mut b = ProgramBuilder::new(format!("stepped_{}_{step}", ty.name()), [32, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let acc = b.local("acc", DataType::U32, true);
    let j = b.local("j", ty, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(acc, Expr::u32(0));
        blk.for_step(j, start, end, step, false, |f| {
            f.assign(
                acc,
                Expr::local(acc).add(Expr::local(j).cast(DataType::U32)),
            );
        });
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            t.store(BufRef::Param(out), Expr::local(i), Expr::local(acc));
        });
    });
    b.finish()
}

#[test]
fn stepped_loops_advance_by_step_and_stop_before_overflow() {
    // u32: exit when j > u32::MAX - step, then add the step.
    let p = stepped(DataType::U32, Expr::u32(0), Expr::u32(u32::MAX), 4);
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    assert!(ptx.contains(", 4294967291;"), "{ptx}");
    assert_eq!(lines_with(&ptx, "setp.gt.u32").len(), 1, "{ptx}");
    assert!(
        lines_with(&ptx, "add.u32")
            .iter()
            .any(|l| l.ends_with(", 4;")),
        "{ptx}"
    );
    assemble_all(&p, &DispatchConfig::default());
    // i32: the signed limit.
    let p = stepped(DataType::I32, Expr::i32(-100), Expr::i32(i32::MAX), 3);
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    assert!(ptx.contains("setp.lt.s32"), "{ptx}");
    let gt = lines_with(&ptx, "setp.gt.s32");
    assert_eq!(gt.len(), 1, "{ptx}");
    assert!(gt[0].ends_with(", 2147483644;"), "{ptx}");
    assert!(
        lines_with(&ptx, "add.s32")
            .iter()
            .any(|l| l.ends_with(", 3;")),
        "{ptx}"
    );
    assemble_all(&p, &DispatchConfig::default());
    // The largest u32 step: its immediate is written unsigned.
    let p = stepped(DataType::U32, Expr::u32(5), Expr::u32(7), u32::MAX);
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    assert!(ptx.contains(", 4294967295;"), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // A step of 1 is the plain loop: no overflow test.
    let p = stepped(DataType::U32, Expr::u32(0), Expr::u32(10), 1);
    let ptx = emit(&p, "sm_80");
    assert!(!ptx.contains("setp.gt"), "{ptx}");
    assert!(ptx.contains("add.s32 %r"), "{ptx}");
}

/// `sh[k] .. sh[k + 3]` with `k = local_id().x * mult`, summed into
/// `out[global_id().x]`; `sh` has `len` elements, the workgroup 256.
fn shared_quad(mult: u32, len: u32, store_between: bool) -> Program {
    let store = if store_between {
        "sh[k + 1] = 2.0;"
    } else {
        ""
    };
    one_kernel(&format!(
        "#[kernel(workgroup_size = 256)]
         pub fn quad(x: &[f32], out: &mut [f32]) {{
             #[shared] let mut sh: [f32; {len}];
             let i = global_id().x;
             sh[local_id().x] = x[i];
             barrier();
             let k = local_id().x * {mult};
             let a = sh[k];
             let b = sh[k + 1];
             {store}
             let c = sh[k + 2];
             let d = sh[k + 3];
             if i < out.len() {{
                 out[i] = a + b + c + d;
             }}
         }}"
    ))
}

#[test]
fn aligned_shared_quads_are_16_byte_loads() {
    let p = shared_quad(4, 1024, false);
    let ptx = emit(&p, "sm_80");
    assert_eq!(lines_with(&ptx, "ld.shared.v4.f32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "ld.shared.f32").is_empty(), "{ptx}");
    // 255 * 4 + 3 < 1024: proven, no check.
    assert!(
        !lines_with(&ptx, "ld.shared")
            .iter()
            .any(|l| l.starts_with('@')),
        "{ptx}"
    );
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn shared_quads_need_alignment_no_store_and_range() {
    // k a multiple of 2 only: four scalar loads.
    let p = shared_quad(2, 1024, false);
    let ptx = emit(&p, "sm_80");
    assert!(!ptx.contains("ld.shared.v4"), "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.shared.f32").len(), 4, "{ptx}");
    // A store to the array in the run: scalar loads.
    let p = shared_quad(4, 1024, true);
    let ptx = emit(&p, "sm_80");
    assert!(!ptx.contains("ld.shared.v4"), "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.shared.f32").len(), 4, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // The highest element not proven in range (255 * 4 + 3 >= 1020):
    // per-element loads, each checked.
    let p = shared_quad(4, 1020, false);
    let ptx = emit(&p, "sm_80");
    assert!(!ptx.contains("ld.shared.v4"), "{ptx}");
    let loads = lines_with(&ptx, "ld.shared.f32");
    assert_eq!(loads.len(), 4, "{ptx}");
    assert!(loads.iter().all(|l| l.starts_with('@')), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // Unchecked: nothing to prove.
    let mut p = shared_quad(4, 1020, false);
    p.unchecked = true;
    let ptx = emit(&p, "sm_80");
    assert_eq!(lines_with(&ptx, "ld.shared.v4.f32").len(), 1, "{ptx}");
}

#[test]
fn shared_quad_stores_and_private_quads_are_16_byte_accesses() {
    let p = one_kernel(
        "#[kernel(workgroup_size = 256)]
         pub fn tile(x: &[f32], out: &mut [f32]) {
             #[shared] let mut sh: [f32; 1024];
             let i = global_id().x;
             let k = local_id().x * 4;
             let v = if i < x.len() { x[i] } else { 0.0 };
             sh[k] = v;
             sh[k + 1] = v * 2.0;
             sh[k + 2] = v * 3.0;
             sh[k + 3] = v * 4.0;
             barrier();
             let r = ((local_id().x + 1) % 256) * 4;
             if i < out.len() {
                 out[i] = sh[r] + sh[r + 1] + sh[r + 2] + sh[r + 3];
             }
         }",
    );
    let ptx = emit(&p, "sm_80");
    assert_eq!(lines_with(&ptx, "st.shared.v4.f32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "st.shared.f32").is_empty(), "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.shared.v4.f32").len(), 1, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());

    // Private: a 16-byte store of the run-time quad `acc[4j..4j+3]`, then
    // constant-index loads of elements 4..7 as one 16-byte load.
    let mut b = ProgramBuilder::new("private_quads", [64, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let acc = b.private("acc", DataType::F32, 8);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(j, local_id_x().rem(Expr::u32(2)).mul(Expr::u32(4)));
        for o in 0..4 {
            blk.store(
                BufRef::Private(acc),
                Expr::local(j).add(Expr::u32(o)),
                Expr::f32(o as f32),
            );
        }
        blk.if_(Expr::local(i).lt(Expr::len(out)), |t| {
            let sum = (4..8)
                .map(|c| Expr::load(BufRef::Private(acc), Expr::u32(c)))
                .reduce(Expr::add)
                .unwrap();
            t.store(BufRef::Param(out), Expr::local(i), sum);
        });
    });
    let p = b.finish();
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    let st = lines_with(&ptx, "st.local.v4.f32");
    assert_eq!(st.len(), 1, "{ptx}");
    assert!(!st[0].starts_with('@'), "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.local.v4.f32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "ld.local.f32").is_empty(), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

// ---- Subgroup operations ----

use vyre::ir::SubgroupOp;

/// Workgroup shapes: whole warps, a partial last warp (48 = 32 + 16), and
/// a 2-D one (validation allows collectives in 2-D/3-D workgroups only when
/// x is a multiple of 128, so rows are whole subgroups on every target).
const SUBGROUP_SHAPES: [[u32; 3]; 3] = [[64, 1, 1], [48, 1, 1], [128, 2, 1]];

#[test]
fn every_subgroup_op_assembles() {
    for op in SubgroupOp::ALL {
        for ty in subgroup_types(op) {
            for wg in SUBGROUP_SHAPES {
                let lanes: &[LaneOperand] = if op.is_shuffle() {
                    &[
                        LaneOperand::Loaded,
                        LaneOperand::Const(1),
                        LaneOperand::Const(40),
                    ]
                } else {
                    &[LaneOperand::Loaded]
                };
                for &lane in lanes {
                    let p = subgroup_program(op, ty, wg, lane);
                    check_valid(&p);
                    assemble_all(&p, &DispatchConfig::default());
                }
            }
        }
    }
}

/// The PTX of one subgroup kernel on `arch`.
fn sg_ptx(op: SubgroupOp, ty: DataType, wg: [u32; 3], lane: LaneOperand, arch: &str) -> String {
    let p = subgroup_program(op, ty, wg, lane);
    check_valid(&p);
    emit(&p, arch)
}

/// How many lines of `ptx` contain `what`.
fn count(ptx: &str, what: &str) -> usize {
    lines_with(ptx, what).len()
}

const FULL: [u32; 3] = [64, 1, 1];
const PARTIAL: [u32; 3] = [48, 1, 1];
const LOADED: LaneOperand = LaneOperand::Loaded;

#[test]
fn subgroup_lane_size_and_members() {
    for arch in ARCHES {
        // The lane is %laneid; whole warps need no member computation.
        let ptx = sg_ptx(SubgroupOp::InvocationId, DataType::U32, FULL, LOADED, arch);
        assert_eq!(count(&ptx, "%laneid;"), 1, "{ptx}");
        assert!(!ptx.contains("selp"), "{ptx}");
        // The size is the constant 32, stored as is.
        let ptx = sg_ptx(SubgroupOp::Size, DataType::U32, FULL, LOADED, arch);
        assert!(
            lines_with(&ptx, "mov.b32")
                .iter()
                .any(|l| l.ends_with(", 32;")),
            "{ptx}"
        );
        // A block of 48: the second warp has 16 members (mask 0xffff,
        // highest member lane 15), found from the flat thread index.
        let ptx = sg_ptx(SubgroupOp::Ballot, DataType::Bool, PARTIAL, LOADED, arch);
        // The warp index (flat index / 32) against the last warp's, 1.
        let warp = lines_with(&ptx, "shr.u32");
        assert!(warp.len() == 1 && warp[0].ends_with(", 5;"), "{ptx}");
        assert_eq!(count(&ptx, ", 65535, 4294967295, %p"), 1, "{ptx}");
        assert_eq!(count(&ptx, ", 15, 31, %p"), 1, "{ptx}");
        // A 1-D block needs no flat-index arithmetic.
        assert!(lines_with(&ptx, "mad.lo.u32").is_empty(), "{ptx}");
    }
}

#[test]
fn subgroup_integer_reductions_use_redux_from_sm_80() {
    for (op, m) in [
        (SubgroupOp::Add, "add"),
        (SubgroupOp::Min, "min"),
        (SubgroupOp::Max, "max"),
    ] {
        for (ty, t) in [(DataType::U32, "u32"), (DataType::I32, "s32")] {
            for wg in [FULL, PARTIAL] {
                for arch in ["sm_80", "sm_90"] {
                    let ptx = sg_ptx(op, ty, wg, LOADED, arch);
                    let redux = lines_with(&ptx, "redux.sync");
                    assert_eq!(redux.len(), 1, "{ptx}");
                    assert!(
                        redux[0].starts_with(&format!("redux.sync.{m}.{t} ")),
                        "{ptx}"
                    );
                    let mask = if wg == FULL { "4294967295;" } else { "%r" };
                    assert!(redux[0].contains(&format!(", {mask}")), "{ptx}");
                    assert!(!ptx.contains("shfl"), "{ptx}");
                }
                // sm_70 has no redux: the butterfly.
                let ptx = sg_ptx(op, ty, wg, LOADED, "sm_70");
                assert!(!ptx.contains("redux"), "{ptx}");
                // Signed min/max combine as unsigned ones on flipped sign
                // bits (a ptxas workaround, `docs/targets.md`).
                let combine = if op != SubgroupOp::Add && ty == DataType::I32 {
                    assert!(lines_with(&ptx, &format!("{m}.s32")).is_empty(), "{ptx}");
                    format!("{m}.u32")
                } else {
                    format!("{m}.{t}")
                };
                butterfly(&ptx, &combine, wg == PARTIAL);
            }
        }
    }
}

/// `ptx` holds the reduction tree over offsets 16..1 combining with
/// `combine` (`add.rn.f32`, `min.s32`, ...): the xor butterfly in full
/// warps; in a block with a partial warp the same tree read downwards (each
/// step takes the partner only where `shfl.sync`'s predicate says it is a
/// member), then lane 0's result broadcast, since a missing lane cannot
/// carry the butterfly's partial results.
fn butterfly(ptx: &str, combine: &str, partial: bool) {
    let mode = if partial {
        "shfl.sync.down.b32"
    } else {
        "shfl.sync.bfly.b32"
    };
    let shfl = lines_with(ptx, mode);
    assert_eq!(shfl.len(), 5, "{ptx}");
    let broadcast = lines_with(ptx, "shfl.sync.idx.b32");
    if partial {
        assert_eq!(broadcast.len(), 1, "{ptx}");
        assert!(broadcast[0].contains(", 0, %r"), "{ptx}");
    } else {
        assert!(broadcast.is_empty(), "{ptx}");
    }
    for (line, off) in shfl.iter().zip([16, 8, 4, 2, 1]) {
        if partial {
            assert!(line.contains('|'), "{line}");
            // Clamp and mask: the registers computed at entry.
            assert!(line.contains(&format!(", {off}, %r")), "{line}");
        } else {
            assert!(!line.contains('|'), "{line}");
            assert!(
                line.ends_with(&format!(", {off}, 31, 4294967295;")),
                "{line}"
            );
        }
    }
    // The index arithmetic comes before the first shuffle.
    let from = ptx.find("shfl.sync").unwrap_or(0);
    let rest = &ptx[from..];
    assert_eq!(count(rest, &format!("{combine} ")), 5, "{ptx}");
    // A partner that is not a member: one select per step, only in a
    // partial warp.
    assert_eq!(count(rest, "selp"), if partial { 5 } else { 0 }, "{ptx}");
}

#[test]
fn subgroup_float_reductions_are_butterflies_with_identities() {
    for arch in ARCHES {
        for (op, combine, identity) in [
            (SubgroupOp::Add, "add.rn.f32", Some("0f80000000")),
            (SubgroupOp::Min, "min.f32", None),
            (SubgroupOp::Max, "max.f32", None),
        ] {
            let ptx = sg_ptx(op, DataType::F32, FULL, LOADED, arch);
            assert!(!ptx.contains("redux"), "{ptx}");
            butterfly(&ptx, combine, false);
            let ptx = sg_ptx(op, DataType::F32, PARTIAL, LOADED, arch);
            butterfly(&ptx, combine, true);
            let selects = lines_with(&ptx, "selp.f32");
            assert_eq!(selects.len(), 5, "{ptx}");
            for s in selects {
                match identity {
                    // -0.0 where the partner is missing.
                    Some(id) => assert!(s.contains(&format!(", {id}, %p")), "{s}"),
                    // Min/max: the own running value.
                    None => assert!(s.contains(", %f"), "{s}"),
                }
            }
        }
    }
}

#[test]
fn subgroup_shuffles_check_the_source_lane() {
    for arch in ARCHES {
        for (op, mode) in [
            (SubgroupOp::Shuffle, "idx"),
            (SubgroupOp::ShuffleXor, "bfly"),
            (SubgroupOp::ShuffleDown, "down"),
        ] {
            for ty in [DataType::U32, DataType::I32, DataType::F32] {
                let sel = if ty == DataType::F32 {
                    "selp.f32"
                } else {
                    "selp.b32"
                };
                let head = format!("shfl.sync.{mode}.b32");
                // A run-time lane operand: below 32 is checked, and so is
                // membership (`d|p`) where it can fail.
                for wg in [FULL, PARTIAL] {
                    let ptx = sg_ptx(op, ty, wg, LOADED, arch);
                    let shfl = lines_with(&ptx, &head);
                    assert_eq!(shfl.len(), 1, "{ptx}");
                    let below_32 = lines_with(&ptx, "setp.lt.u32");
                    assert_eq!(below_32.iter().filter(|l| l.ends_with(", 32;")).count(), 1);
                    let with_pred = shfl[0].contains('|');
                    assert_eq!(with_pred, wg == PARTIAL || mode == "down", "{ptx}");
                    assert_eq!(count(&ptx, "and.pred"), usize::from(with_pred) + 1, "{ptx}");
                    assert!(count(&ptx, sel) >= 1, "{ptx}");
                }
                // A constant operand below 32 in whole warps: `idx` and `bfly`
                // always name a member; `down` checks the end of the warp.
                let ptx = sg_ptx(op, ty, FULL, LaneOperand::Const(1), arch);
                let shfl = lines_with(&ptx, &head);
                assert_eq!(shfl.len(), 1, "{ptx}");
                assert!(shfl[0].ends_with(", 1, 31, 4294967295;"), "{ptx}");
                assert_eq!(shfl[0].contains('|'), mode == "down", "{ptx}");
                assert_eq!(count(&ptx, sel), usize::from(mode == "down"), "{ptx}");
                // A constant operand of 32 or more names no lane: the own
                // value, without a shuffle.
                let ptx = sg_ptx(op, ty, PARTIAL, LaneOperand::Const(40), arch);
                assert!(!ptx.contains("shfl"), "{ptx}");
            }
        }
    }
}

#[test]
fn subgroup_broadcast_and_votes() {
    for arch in ARCHES {
        for wg in [FULL, PARTIAL] {
            // The members are a prefix of the warp: lane 0 is the first.
            let ptx = sg_ptx(SubgroupOp::BroadcastFirst, DataType::F32, wg, LOADED, arch);
            let shfl = lines_with(&ptx, "shfl.sync.idx.b32 %f");
            assert_eq!(shfl.len(), 1, "{ptx}");
            assert!(shfl[0].contains(", 0, "), "{ptx}");
            let mask = if wg == FULL { " 4294967295;" } else { " %r" };
            for (op, head) in [
                (SubgroupOp::Ballot, "vote.sync.ballot.b32 %r"),
                (SubgroupOp::All, "vote.sync.all.pred %p"),
                (SubgroupOp::Any, "vote.sync.any.pred %p"),
            ] {
                let ptx = sg_ptx(op, DataType::Bool, wg, LOADED, arch);
                let vote = lines_with(&ptx, head);
                assert_eq!(vote.len(), 1, "{ptx}");
                assert!(vote[0].contains(", %p"), "{ptx}");
                assert!(
                    vote[0]
                        .rsplit(',')
                        .next()
                        .is_some_and(|m| m.starts_with(mask)),
                    "{ptx}"
                );
            }
        }
    }
}

// ---- Narrow element types (f16, bf16, u8, i8, u16, i16) ----

/// Every line of `ptx` with `.ftz` (no narrow conversion may flush
/// subnormals), but `exp`'s `ex2.approx.ftz`, whose argument and result
/// are never subnormal (`backend::ptx::math`, `exp_f32`).
fn ftz_lines(ptx: &str) -> Vec<&str> {
    lines_with(ptx, ".ftz")
        .into_iter()
        .filter(|l| !l.starts_with("ex2.approx.ftz.f32"))
        .collect()
}

#[test]
fn narrow_buffers_widen_on_load_and_convert_on_store() {
    for n in NARROW {
        let p = narrow_scale(n);
        check_valid(&p);
        for arch in ["sm_70", "sm_80", "sm_90"] {
            let ptx = emit(&p, arch);
            let size = n.size_bytes();
            // Addresses advance by the element size.
            let muls = lines_with(&ptx, "mul.wide.u32");
            assert_eq!(muls.len(), 2, "{ptx}");
            assert!(
                muls.iter().all(|l| l.ends_with(&format!(", {size};"))),
                "{ptx}"
            );
            let sm80 = arch != "sm_70";
            let (ld, st) = match n {
                DataType::F16 => ("ld.global.nc.b16 %h", "st.global.b16 "),
                DataType::BF16 if sm80 => ("ld.global.nc.u16 %r", "st.global.b16 "),
                DataType::BF16 => ("ld.global.nc.u16 %r", "st.global.u16 "),
                DataType::U8 => ("ld.global.nc.u8 %r", "st.global.u8 "),
                DataType::I8 => ("ld.global.nc.s8 %r", "st.global.u8 "),
                DataType::U16 => ("ld.global.nc.u16 %r", "st.global.u16 "),
                _ => ("ld.global.nc.s16 %r", "st.global.u16 "),
            };
            // x[i] is checked (the guard is on y): zeroed, then loaded.
            let loads = lines_with(&ptx, ld);
            assert_eq!(loads.len(), 1, "{arch} {ld}\n{ptx}");
            assert!(loads[0].starts_with('@'), "{ptx}");
            let stores = lines_with(&ptx, st);
            assert_eq!(stores.len(), 1, "{arch} {st}\n{ptx}");
            assert!(!stores[0].starts_with('@'), "{ptx}");
            match n {
                DataType::F16 => {
                    assert_eq!(lines_with(&ptx, "cvt.f32.f16 %f").len(), 1, "{ptx}");
                    // One rounding: the store's (widening's rounding of the
                    // product is the same rounding).
                    assert_eq!(lines_with(&ptx, "cvt.rn.f16.f32 %h").len(), 1, "{ptx}");
                }
                DataType::BF16 => {
                    // Widening is a shift into the upper half.
                    assert!(
                        lines_with(&ptx, "shl.b32")
                            .iter()
                            .any(|l| l.ends_with(", 16;")),
                        "{ptx}"
                    );
                    if sm80 {
                        assert_eq!(lines_with(&ptx, "cvt.rn.bf16.f32 %h").len(), 1, "{ptx}");
                    } else {
                        // No bf16 conversions before sm_80: integer RNE.
                        assert!(!ptx.contains(".bf16"), "{ptx}");
                        assert_eq!(lines_with(&ptx, "testp.notanumber.f32").len(), 1, "{ptx}");
                        assert_eq!(lines_with(&ptx, "32767;").len(), 1, "{ptx}");
                    }
                }
                // Integers: the load widens, the store wraps.
                _ => assert!(lines_with(&ptx, "cvt.").is_empty(), "{ptx}"),
            }
            assert!(ftz_lines(&ptx).is_empty(), "{ptx}");
        }
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn narrow_rounding_is_one_conversion_or_mask() {
    for n in NARROW {
        let p = narrow_round_program(n);
        check_valid(&p);
        for arch in ["sm_70", "sm_80", "sm_90"] {
            let ptx = emit(&p, arch);
            let lines: Vec<&str> = ptx.lines().map(str::trim).collect();
            let at = |what: &str| {
                lines
                    .iter()
                    .position(|l| l.starts_with(what))
                    .unwrap_or_else(|| panic!("{arch}: no `{what}`\n{ptx}"))
            };
            match n {
                DataType::F16 => {
                    let r = at("cvt.rn.f16.f32 %h");
                    assert!(lines[r + 1].starts_with("cvt.f32.f16 %f"), "{ptx}");
                }
                DataType::BF16 if arch != "sm_70" => {
                    // bf16(x) in the upper half, zero below: the f32 bits.
                    let r = at("cvt.rn.bf16x2.f32 %r");
                    assert!(lines[r].ends_with(", 0f00000000;"), "{ptx}");
                    assert!(lines[r + 1].starts_with("mov.b32 %f"), "{ptx}");
                }
                DataType::BF16 => {
                    assert!(!ptx.contains(".bf16"), "{ptx}");
                    let t = at("testp.notanumber.f32");
                    for (k, what) in [
                        "bfe.u32",
                        "add.u32",
                        "add.u32",
                        "or.b32",
                        "selp.b32",
                        "and.b32",
                        "mov.b32 %f",
                    ]
                    .iter()
                    .enumerate()
                    {
                        assert!(lines[t + 1 + k].starts_with(what), "{what}\n{ptx}");
                    }
                    assert!(lines[t + 1].ends_with(", 16, 1;"), "{ptx}");
                    assert!(lines[t + 2].ends_with(", 32767;"), "{ptx}");
                    assert!(lines[t + 4].ends_with(", 4194304;"), "{ptx}");
                    assert!(lines[t + 6].ends_with(", -65536;"), "{ptx}");
                }
                DataType::U8 => assert!(lines[at("and.b32 %r")].ends_with(", 255;"), "{ptx}"),
                DataType::U16 => {
                    assert!(lines[at("and.b32 %r")].ends_with(", 65535;"), "{ptx}");
                }
                DataType::I8 => {
                    at("cvt.s32.s8 %r");
                }
                _ => {
                    at("cvt.s32.s16 %r");
                }
            }
            assert!(ftz_lines(&ptx).is_empty(), "{ptx}");
        }
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn every_narrow_cast_and_binop_assembles() {
    for from in DataType::ALL {
        let p = casts_from_program(from);
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
    }
    // Float to narrow integer saturates (through the 32-bit saturating
    // conversion, then clamps to the range).
    let ptx = emit(&cast_program(DataType::F32, DataType::I8), "sm_80");
    assert!(ptx.contains("cvt.rzi.s32.f32"), "{ptx}");
    // The clamp is signed: unsigned instructions on flipped sign bits
    // (`signed_min_max_use_unsigned_instructions_with_flipped_sign_bits`).
    assert_eq!(lines_with(&ptx, "max.u32").len(), 1, "{ptx}");
    assert_eq!(lines_with(&ptx, "min.u32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "max.s32").is_empty(), "{ptx}");
    assert!(lines_with(&ptx, "min.s32").is_empty(), "{ptx}");
    assert!(ptx.contains("st.global.u8"), "{ptx}");
    for (op, ty) in narrow_binops() {
        let p = binop_program(op, ty);
        check_valid(&p);
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn narrow_shared_and_private_arrays_are_byte_arrays() {
    let p = narrow_arrays_program();
    check_valid(&p);
    for arch in ["sm_70", "sm_80"] {
        let ptx = emit(&p, arch);
        // 64 bf16; 10 u8 rounded up to whole words.
        assert!(ptx.contains(".shared .align 16 .b8 vyre_s0[128];"), "{ptx}");
        assert!(ptx.contains("\t.local .align 16 .b8 vyre_l0[12];"), "{ptx}");
        // Zeroed word by word (no 16-byte quad in 12 bytes).
        for off in [0, 4, 8] {
            assert!(
                ptx.contains(&format!("st.local.b32 [vyre_l0+{off}], %r")),
                "{ptx}"
            );
        }
        assert!(!ptx.contains("st.local.v4"), "{ptx}");
        let sh_st = if arch == "sm_70" {
            "st.shared.u16"
        } else {
            "st.shared.b16"
        };
        assert_eq!(lines_with(&ptx, sh_st).len(), 1, "{ptx}");
        assert_eq!(lines_with(&ptx, "ld.shared.u16 %r").len(), 1, "{ptx}");
        assert_eq!(lines_with(&ptx, "st.local.u8").len(), 1, "{ptx}");
        assert_eq!(lines_with(&ptx, "ld.local.u8 %r").len(), 1, "{ptx}");
        // Element addresses: index * size + base.
        let mads = lines_with(&ptx, "mad.lo.u32");
        assert!(mads.iter().any(|l| l.contains(", 2, %r")), "{ptx}");
        assert!(mads.iter().any(|l| l.contains(", 1, %r")), "{ptx}");
        assert!(ftz_lines(&ptx).is_empty(), "{ptx}");
    }
    assemble_all(&p, &DispatchConfig::default());
}

/// The vector accesses of a [`narrow_vector_program`] on `arch`:
/// (unguarded loads, guarded loads, unguarded stores, guarded stores) of
/// `what` (e.g. `v4.b32`).
fn vector_accesses(ptx: &str, what: &str) -> [usize; 4] {
    let count = |prefix: &str, guarded: bool| {
        ptx.lines()
            .map(str::trim)
            .filter(|l| l.starts_with('@') == guarded)
            .filter(|l| {
                let inst = l
                    .split_once(' ')
                    .map_or(*l, |(a, b)| if guarded { b } else { a });
                let inst = inst.split(' ').next().unwrap_or("");
                inst.starts_with(prefix) && inst.ends_with(what)
            })
            .count()
    };
    [
        count("ld.global", false),
        count("ld.global", true),
        count("st.global", false),
        count("st.global", true),
    ]
}

#[test]
fn narrow_load8_and_store8_move_16_bytes() {
    // Eight bf16 at a multiple of 8: one 16-byte load and store, unpacked
    // and packed in registers.
    let p = narrow_vector_program(DataType::BF16, 8, 8, true);
    check_valid(&p);
    for arch in ["sm_70", "sm_80", "sm_90"] {
        let ptx = emit(&p, arch);
        assert_eq!(vector_accesses(&ptx, ".v4.b32"), [1, 0, 1, 0], "{ptx}");
        assert!(lines_with(&ptx, "ld.global.nc.v4.b32").len() == 1, "{ptx}");
        assert!(lines_with(&ptx, ".u16").is_empty(), "{ptx}");
        assert!(lines_with(&ptx, ".b16").is_empty(), "{ptx}");
        // Unpacked: the low halves shifted up, the high halves masked.
        assert_eq!(
            lines_with(&ptx, "shl.b32")
                .iter()
                .filter(|l| l.ends_with(", 16;"))
                .count(),
            4,
            "{ptx}"
        );
        if arch == "sm_70" {
            // Rounded with integer RNE, the upper halves picked by prmt.
            assert_eq!(lines_with(&ptx, "testp.notanumber.f32").len(), 8, "{ptx}");
            let prmts = lines_with(&ptx, "prmt.b32");
            assert_eq!(prmts.len(), 4, "{ptx}");
            assert!(prmts.iter().all(|l| l.ends_with(", 30258;")), "{ptx}");
        } else {
            assert_eq!(lines_with(&ptx, "cvt.rn.bf16x2.f32").len(), 4, "{ptx}");
        }
        assert!(ftz_lines(&ptx).is_empty(), "{ptx}");
    }
    assemble_all(&p, &DispatchConfig::default());

    // Not proven in range: the vector accesses follow a branch to
    // element-wise fallbacks taken unless all eight are in range.
    let p = narrow_vector_program(DataType::BF16, 8, 8, false);
    let ptx = emit(&p, "sm_80");
    assert_eq!(vector_accesses(&ptx, ".v4.b32"), [1, 0, 1, 0], "{ptx}");
    let lines: Vec<&str> = ptx.lines().map(str::trim).collect();
    let behind_branch = lines
        .windows(2)
        .filter(|w| w[0].contains("bra $L_vtail_") && w[1].contains(".v4.b32"))
        .count();
    assert_eq!(behind_branch, 2, "{ptx}");
    let tail_loads = lines_with(&ptx, "ld.global.nc.u16");
    assert_eq!(tail_loads.len(), 7, "{ptx}");
    assert!(tail_loads.iter().all(|l| l.starts_with('@')), "{ptx}");
    assert_eq!(lines_with(&ptx, "bfi.b32").len(), 7, "{ptx}");
    let tail_stores = lines_with(&ptx, "st.global.u16");
    assert_eq!(tail_stores.len(), 7, "{ptx}");
    assert!(tail_stores.iter().all(|l| l.starts_with('@')), "{ptx}");
    // Elements 0..7 (the eighth in range means all are).
    for off in [0, 2, 4, 6, 8, 10, 12] {
        assert!(
            tail_stores
                .iter()
                .any(|l| l.contains(&format!("+{off}], "))),
            "{ptx}"
        );
    }
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn narrow_groups_shrink_to_the_proven_alignment() {
    // Four bf16 at a multiple of 4: one 8-byte access; two at a multiple
    // of 2: one 4-byte access; eight at any index: eight scalar ones.
    for (width, mult, ld, st, n) in [
        (4, 4, "ld.global.nc.v2.b32", "st.global.v2.b32", 1),
        (2, 2, "ld.global.nc.b32", "st.global.b32", 1),
        (8, 1, "ld.global.nc.u16", "st.global.b16", 8),
    ] {
        let p = narrow_vector_program(DataType::BF16, width, mult, true);
        let ptx = emit(&p, "sm_80");
        assert_eq!(lines_with(&ptx, ld).len(), n, "{ptx}");
        assert_eq!(lines_with(&ptx, st).len(), n, "{ptx}");
        // Proven where the guard's offset is below the alignment.
        let guarded = ptx
            .lines()
            .any(|l| l.trim().starts_with('@') && l.contains(".global."));
        assert_eq!(guarded, mult == 1, "{ptx}");
        assemble_all(&p, &DispatchConfig::default());
    }
    // Eight bf16 at a multiple of 4 only: the first four group (the other
    // four could wrap around past the key's alignment), checked since
    // `i + 7 < len` proves nothing there.
    let p = narrow_vector_program(DataType::BF16, 8, 4, true);
    let ptx = emit(&p, "sm_80");
    assert_eq!(lines_with(&ptx, "ld.global.nc.v2.b32").len(), 1, "{ptx}");
    assert!(!ptx.contains("v4.b32"), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // Four f16: one 8-byte access, halves moved through .b16 registers
    // (packed by cvt.rn.f16x2.f32 from sm_80).
    let p = narrow_vector_program(DataType::F16, 4, 4, true);
    for arch in ["sm_70", "sm_80"] {
        let ptx = emit(&p, arch);
        assert_eq!(vector_accesses(&ptx, ".v2.b32"), [1, 0, 1, 0], "{ptx}");
        assert_eq!(lines_with(&ptx, "mov.b32 {%h").len(), 2, "{ptx}");
        assert_eq!(lines_with(&ptx, "cvt.f32.f16").len(), 4, "{ptx}");
        if arch == "sm_70" {
            assert_eq!(lines_with(&ptx, "cvt.rn.f16.f32 %h").len(), 4, "{ptx}");
            assert_eq!(
                lines_with(&ptx, "mov.b32 %r")
                    .iter()
                    .filter(|l| l.contains("{%h"))
                    .count(),
                2,
                "{ptx}"
            );
        } else {
            assert_eq!(lines_with(&ptx, "cvt.rn.f16x2.f32").len(), 2, "{ptx}");
        }
    }
    assemble_all(&p, &DispatchConfig::default());
    // Sixteen u8: 16 bytes, unpacked by bfe and packed by prmt.
    let p = narrow_vector_program(DataType::U8, 16, 16, true);
    let ptx = emit(&p, "sm_80");
    assert_eq!(vector_accesses(&ptx, ".v4.b32"), [1, 0, 1, 0], "{ptx}");
    assert_eq!(lines_with(&ptx, "bfe.u32").len(), 16, "{ptx}");
    assert_eq!(lines_with(&ptx, "prmt.b32").len(), 12, "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
    // Four i8 and two i16: one word each, sign-extended by bfe.s32.
    for (n, w) in [(DataType::I8, 4), (DataType::I16, 2)] {
        let p = narrow_vector_program(n, w, w, true);
        let ptx = emit(&p, "sm_80");
        assert_eq!(vector_accesses(&ptx, ".b32"), [1, 0, 1, 0], "{ptx}");
        assert_eq!(lines_with(&ptx, "ld.global.nc.b32").len(), 1, "{ptx}");
        assert_eq!(lines_with(&ptx, "bfe.s32").len(), w as usize, "{ptx}");
        assemble_all(&p, &DispatchConfig::default());
    }
}

#[test]
fn narrow_array_groups_are_vector_accesses() {
    let p = narrow_array_vectors_program();
    check_valid(&p);
    let ptx = emit(&p, "sm_80");
    // Eight f16 of the shared array: one 16-byte store and load.
    assert!(
        ptx.contains(".shared .align 16 .b8 vyre_s0[1024];"),
        "{ptx}"
    );
    assert_eq!(lines_with(&ptx, "st.shared.v4.b32").len(), 1, "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.shared.v4.b32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "ld.shared.u16").is_empty(), "{ptx}");
    assert!(lines_with(&ptx, "st.shared.b16").is_empty(), "{ptx}");
    // Four u16 of the private array: 8-byte store at a run-time index and
    // 8-byte load at constant ones.
    let st = lines_with(&ptx, "st.local.v2.b32");
    assert_eq!(st.len(), 1, "{ptx}");
    assert!(!st[0].starts_with('@'), "{ptx}");
    assert_eq!(lines_with(&ptx, "ld.local.v2.b32").len(), 1, "{ptx}");
    assert!(lines_with(&ptx, "ld.local.u16").is_empty(), "{ptx}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn narrow_source_kernels_load8_and_instances() {
    // A bf16 row softmax (computed in f32): each invocation reads and
    // writes its 16 elements as two 16-byte accesses.
    let p = one_kernel(SOFTMAX_BF16);
    for arch in ["sm_80", "sm_90"] {
        let ptx = emit(&p, arch);
        assert_eq!(lines_with(&ptx, "ld.global.nc.v4.b32").len(), 2, "{ptx}");
        assert_eq!(lines_with(&ptx, "st.global.v4.b32").len(), 2, "{ptx}");
        // Scalar bf16 accesses only in the partial-tail fallbacks.
        assert!(
            lines_with(&ptx, ".u16").iter().all(|l| l.starts_with('@')),
            "{ptx}"
        );
        assert_eq!(lines_with(&ptx, "cvt.rn.bf16x2.f32").len(), 8, "{ptx}");
        assert!(ftz_lines(&ptx).is_empty(), "{ptx}");
    }
    assemble_all(&p, &DispatchConfig::default());

    // A generic kernel's instances: f32 and bf16 elements.
    let module = vyre::lang::parse(
        "scale.vyre",
        "#[kernel(workgroup_size = 256, instances(f32 = (T = f32), bf16 = (T = bf16)))]
         pub fn scale<T>(a: f32, x: &[T], y: &mut [T]) {
             let i = global_id().x;
             if i < y.len() {
                 y[i] = (a * x[i] as f32) as T;
             }
         }",
    )
    .expect("parse");
    let names: Vec<&str> = module.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["scale_f32", "scale_bf16"]);
    let f32_ptx = emit(&module.kernels[0], "sm_80");
    assert!(f32_ptx.contains("ld.global.nc.f32"), "{f32_ptx}");
    assert!(f32_ptx.contains("st.global.f32"), "{f32_ptx}");
    let bf16_ptx = emit(&module.kernels[1], "sm_80");
    assert!(bf16_ptx.contains("ld.global.nc.u16"), "{bf16_ptx}");
    assert!(bf16_ptx.contains("cvt.rn.bf16.f32 %h"), "{bf16_ptx}");
    assert!(bf16_ptx.contains("st.global.b16"), "{bf16_ptx}");
    for k in &module.kernels {
        assemble_all(k, &DispatchConfig::default());
    }
}

/// A bf16 row softmax in source: `load8`/`store8` of 16 elements per
/// invocation (the f32 bench kernel's structure).
const SOFTMAX_BF16: &str = r#"
const COLS: u32 = 4096;
const PER: u32 = 16;

/// Row softmax of a `rows x 4096` bf16 matrix, computed in f32.
#[kernel(workgroup_size = 256)]
pub fn softmax_rows_bf16(x: &[bf16], y: &mut [bf16]) {
    #[shared]
    let mut partial: [f32; 512];
    let tid = local_id().x;
    let base = workgroup_id().x * COLS + tid * 8;
    let mut v = [0.0f32; 16];
    #[unroll]
    for k in 0..2u32 {
        let q = x.load8(base + k * 2048);
        #[unroll]
        for j in 0..8u32 {
            v[k * 8 + j] = q[j] as f32;
        }
    }
    let mut m = v[0];
    #[unroll]
    for k in 1..PER {
        m = m.max(v[k]);
    }
    m = subgroup_max(m);
    let wave = tid / subgroup_size();
    if subgroup_invocation_id() == 0 {
        partial[wave] = m;
    }
    barrier();
    let mut row_max = partial[0];
    for k in 1..(256 / subgroup_size()) {
        row_max = row_max.max(partial[k]);
    }
    let mut s = 0.0;
    #[unroll]
    for k in 0..PER {
        v[k] = (v[k] - row_max).exp();
        s += v[k];
    }
    s = subgroup_add(s);
    if subgroup_invocation_id() == 0 {
        partial[256 + wave] = s;
    }
    barrier();
    let mut total = 0.0;
    for k in 0..(256 / subgroup_size()) {
        total += partial[256 + k];
    }
    let inv = 1.0 / total;
    #[unroll]
    for k in 0..2u32 {
        let b = k * 8;
        y.store8(base + k * 2048, [(v[b] * inv) as bf16, (v[b + 1] * inv) as bf16, (v[b + 2] * inv) as bf16, (v[b + 3] * inv) as bf16, (v[b + 4] * inv) as bf16, (v[b + 5] * inv) as bf16, (v[b + 6] * inv) as bf16, (v[b + 7] * inv) as bf16]);
    }
}
"#;

#[test]
fn exp_flushes_subnormals_only_under_fast_math() {
    // `fast_math` allows `ex2.approx.ftz` (a lone `MUFU.EX2`); a ULP budget
    // alone keeps subnormal results (`ex2.approx` without `.ftz`).
    let fast = emit(&math_program(MathFn::Exp, DataType::F32, true), "sm_80");
    assert_eq!(count(&fast, "ex2.approx.ftz.f32"), 1, "{fast}");
    let cfg = DispatchConfig::default().with_ulp_budget(64);
    let budget =
        vyre::backend::ptx::emit_ptx(&math_program(MathFn::Exp, DataType::F32, false), &cfg)
            .expect("emits");
    assert_eq!(count(&budget, "ex2.approx.f32"), 1, "{budget}");
    assert_eq!(count(&budget, "ex2.approx.ftz"), 0, "{budget}");
}

#[test]
fn accurate_exp_is_one_ex2_with_a_split_reduction() {
    // Within 4 ULP: the product x log2 e with its low part (two `fma`s),
    // one `ex2.approx.ftz` whose argument stays in [-24.5, 1.5], and the
    // power of two applied by one multiply. From sm_80 the input clamp
    // keeps a NaN (`.NaN`); before, a NaN input is selected back.
    let p = math_program(MathFn::Exp, DataType::F32, false);
    let sm80 = emit(&p, "sm_80");
    assert_eq!(count(&sm80, "ex2.approx.ftz.f32"), 1, "{sm80}");
    assert_eq!(count(&sm80, "max.NaN.f32"), 1, "{sm80}");
    assert_eq!(count(&sm80, "min.NaN.f32"), 1, "{sm80}");
    assert_eq!(count(&sm80, "testp.notanumber"), 0, "{sm80}");
    assert_eq!(count(&sm80, "0f32A57060"), 1, "{sm80}");
    let sm70 = emit(&p, "sm_70");
    assert_eq!(count(&sm70, "ex2.approx.ftz.f32"), 1, "{sm70}");
    assert_eq!(count(&sm70, ".NaN"), 0, "{sm70}");
    assert_eq!(count(&sm70, "testp.notanumber.f32"), 1, "{sm70}");
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn signed_min_max_use_unsigned_instructions_with_flipped_sign_bits() {
    // ptxas folds an `i32` negation into a three-operand signed min/max and
    // loses it (seed 0x60a2; `docs/targets.md`). Every signed min, max and
    // clamp, and the subgroup butterfly's, is a `u32` one on operands
    // with the sign bit flipped.
    let p = one_kernel(
        "#[kernel(workgroup_size = 32)]
pub fn k(a: &[i32], out: &mut [i32]) {
    let i = global_id().x;
    let n = -a[i];
    out[i] = a[i + 1].min(n).min(a[i + 2]) + a[i + 3].max(n).max(a[i + 4]) + a[i + 5].clamp(n, a[i + 6]);
}",
    );
    for arch in ["sm_70", "sm_90"] {
        let ptx = emit(&p, arch);
        for signed in ["min.s32", "max.s32"] {
            assert!(
                lines_with(&ptx, signed).is_empty(),
                "{arch}: {signed}\n{ptx}"
            );
        }
        assert_eq!(count(&ptx, "min.u32"), 3, "{arch}\n{ptx}");
        assert_eq!(count(&ptx, "max.u32"), 3, "{arch}\n{ptx}");
        assert_eq!(count(&ptx, "neg.s32"), 1, "{arch}\n{ptx}");
    }
    assemble_all(&p, &DispatchConfig::default());
    let sub = one_kernel(
        "#[kernel(workgroup_size = 32)]
pub fn k(a: &[i32], out: &mut [i32]) {
    let i = global_id().x;
    out[i] = subgroup_min(-a[i]) + subgroup_max(a[i]);
}",
    );
    // sm_70 has no `redux.sync`: the xor butterfly, five steps each.
    let ptx = emit(&sub, "sm_70");
    assert!(lines_with(&ptx, "min.s32").is_empty(), "{ptx}");
    assert_eq!(count(&ptx, "min.u32"), 5, "{ptx}");
    assert_eq!(count(&ptx, "max.u32"), 5, "{ptx}");
}

#[test]
fn f32_add_and_sub_are_fmas_so_ptxas_cannot_fold_a_tie_wrongly() {
    // ptxas folds `sub.rn.f32` of known values with an effective
    // subtraction that ties toward zero (16777199 - 1.5 gives 16777197;
    // docs/targets.md, "Constant folding of ties"). The emitter writes
    // `a + b` as fma(a, 1, b) and `a - b` as fma(b, -1, a), which it does
    // not fold.
    let p = one_kernel(
        "#[kernel(workgroup_size = 32)]
pub fn k(y: &mut [f32]) {
    let a = 16777216.0;
    let b = a - 17.0;
    y[0] = b - 1.5;
    y[1] = y[2] + y[3];
}",
    );
    let ptx = emit(&p, "sm_90");
    assert_eq!(count(&ptx, "add.rn.f32"), 0, "{ptx}");
    assert_eq!(count(&ptx, "sub.rn.f32"), 0, "{ptx}");
    assert_eq!(count(&ptx, "0fBF800000"), 2, "{ptx}");
    assert_eq!(count(&ptx, "0f3F800000"), 1, "{ptx}");
    // What ptxas makes of it: the cubin must not hold the wrongly rounded
    // 16777197 (0x4B7FFFED); with `sub.rn.f32` it does
    // (docs/bench/ptxas_fold_tie.ptx).
    let Some(ptxas) = ptxas() else { return };
    let cubin = vyre::backend::ptx::assemble(&ptxas, &ptx, "sm_90").expect("assembles");
    let wrong = 16_777_197.0f32.to_le_bytes();
    assert!(
        !cubin.windows(4).any(|w| w == wrong),
        "ptxas folded the tie"
    );
    let repro = include_str!("../docs/bench/ptxas_fold_tie.ptx");
    let folded = vyre::backend::ptx::assemble(&ptxas, repro, "sm_90").expect("assembles");
    if !folded.windows(4).any(|w| w == wrong) {
        println!("this ptxas folds the tie correctly; the fma form is kept anyway");
    }
}

/// The line of `ptx` (trimmed) that writes register `reg`.
fn definition<'a>(ptx: &'a str, reg: &str) -> &'a str {
    let head = format!(" {reg},");
    ptx.lines()
        .map(str::trim)
        .find(|l| l.contains(&head) && !l.starts_with('@') && !l.starts_with("st."))
        .unwrap_or_else(|| panic!("no definition of {reg} in\n{ptx}"))
}

#[test]
fn votes_read_a_predicate_rebuilt_from_a_register() {
    // ptxas (12.9 and 13.5) may compute a comparison as its negation and
    // flip its readers, but not a `vote`'s operand: `subgroup_any(0 > x)`
    // was true (seed 0x305022; docs/bench/ptxas_vote_negation.ptx). Every
    // vote reads `setp.ne.u32 q, selp(1, 0, p), 0`, which it flips right.
    let p = one_kernel(
        "#[kernel(workgroup_size = 20)]
pub fn k(a: &[u32], out: &mut [u32]) {
    let i = global_id().x;
    let mut z: [u32; 8];
    let x = a[i];
    out[i] = subgroup_ballot(z[1] * 6 > z[i]);
    if subgroup_any(0 > x) || subgroup_all(x > 2) {
        out[i + 1] = 1;
    }
}",
    );
    for arch in ["sm_70", "sm_90"] {
        let ptx = emit(&p, arch);
        let votes = lines_with(&ptx, "vote.sync.");
        assert_eq!(votes.len(), 3, "{ptx}");
        for vote in votes {
            let operands: Vec<&str> = vote
                .split([' ', ',', ';'])
                .filter(|s| !s.is_empty())
                .collect();
            let q = operands[2];
            let rebuilt = definition(&ptx, q);
            assert!(rebuilt.starts_with("setp.ne.u32 "), "{vote}: {rebuilt}");
            let bit = rebuilt.split(',').nth(1).expect("a source").trim();
            assert!(rebuilt.ends_with(", 0;"), "{rebuilt}");
            let select = definition(&ptx, bit);
            assert!(
                select.starts_with("selp.b32 ") && select.contains(", 1, 0, %p"),
                "{vote}: {select}"
            );
        }
    }
    assemble_all(&p, &DispatchConfig::default());
}

#[test]
fn unsigned_extensions_name_an_unsigned_destination() {
    // `cvt.s64.u32` zero-extends, but ptxas (12.9 and 13.5) sign-extends
    // one that feeds a `shl.b64` (seed 0x318662;
    // docs/bench/ptxas_zext_shl.ptx): a widening is named by the source's
    // signedness on both sides.
    let p = one_kernel(
        "#[kernel(workgroup_size = 32)]
pub fn k(a: &[u32], b: &[i32], c: &[u16], out: &mut [i64], outu: &mut [u64]) {
    let i = global_id().x;
    out[i] = 0i64.min((a[i] as i64) << 11) + (b[i] as i64) + (c[i] as i64);
    outu[i] = (b[i] as u64) + (a[i] as u64);
}",
    );
    let ptx = emit(&p, "sm_90");
    assert_eq!(count(&ptx, "cvt.u64.u32"), 3, "{ptx}");
    assert_eq!(count(&ptx, "cvt.s64.s32"), 2, "{ptx}");
    for mixed in ["cvt.s64.u32", "cvt.u64.s32"] {
        assert_eq!(count(&ptx, mixed), 0, "{mixed}\n{ptx}");
    }
    assemble_all(&p, &DispatchConfig::default());
}

/// `warpgroup_barrier()` is `barrier.sync 1 + w, 128` for warpgroup `w` of
/// the flat thread index (barrier 0 stays the workgroup's), in a 2D
/// workgroup too; it assembles on every architecture.
#[test]
fn warpgroup_barriers_name_one_barrier_per_warpgroup() {
    for (size, flat) in [("256", "mov.u32"), ("(128, 2)", "mad.lo.u32")] {
        let p = one_kernel(&format!(
            "#[kernel(workgroup_size = {size})]
pub fn k(out: &mut [u32]) {{
    #[shared]
    let mut sh: [u32; 256];
    let i = local_id().x + local_id().y * 128;
    sh[i] = i;
    warpgroup_barrier();
    out[i] = sh[i ^ 64];
    barrier();
}}"
        ));
        let ptx = emit(&p, "sm_90");
        let lines: Vec<&str> = ptx.lines().map(str::trim).collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("barrier.sync %r") && l.ends_with(", 128;"))
            .unwrap_or_else(|| panic!("no warpgroup barrier:\n{ptx}"));
        // The id is the warpgroup plus one, the warpgroup the flat index
        // shifted by 7.
        assert!(
            lines[at - 1].starts_with("add.u32") && lines[at - 1].ends_with(", 1;"),
            "{ptx}"
        );
        assert!(
            lines[at - 2].starts_with("shr.u32") && lines[at - 2].ends_with(", 7;"),
            "{ptx}"
        );
        // The flat index: `%tid.x` alone, or `x + y * 128`.
        assert!(lines[at - 3].starts_with(flat), "{size}\n{ptx}");
        assert_eq!(count(&ptx, "barrier.sync 0;"), 1, "{ptx}");
        assemble_all(&p, &DispatchConfig::default());
    }
}
