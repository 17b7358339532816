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
