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
