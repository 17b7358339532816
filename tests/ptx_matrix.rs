//! PTX of matrix operations and asynchronous copies: `ptxas` accepts it for
//! sm_80 and sm_90, the instruction choice (`ldmatrix` for aligned shared
//! tiles, one `mma.sync` per hardware tile, `cp.async.cg` for 16 bytes)
//! and the architecture rules. Without `ptxas` the assembly checks print
//! `skipped: ptxas not found` (`VYRE_REQUIRE_PTXAS=1` makes that a
//! failure); the text checks always run.

mod matrix_support;
mod ptx_support;

use matrix_support::*;
use ptx_support::{count, emit, ptxas};
use vyre::DispatchConfig;
use vyre::backend::ptx;
use vyre::driver::CompileError;
use vyre::ir::{
    Access, BufRef, DataType, Expr, MatrixLayout, MatrixOp, MatrixRole, MatrixShape, Program,
    ProgramBuilder,
};

/// The architectures matrix kernels are assembled for.
const MATRIX_ARCHES: [&str; 2] = ["sm_80", "sm_90"];

/// Emit `p` for sm_80 and sm_90 and assemble both (when ptxas exists);
/// the sm_80 text.
fn assemble(p: &Program) -> String {
    if let Err(e) = p.validate() {
        panic!("{} invalid: {e:?}", p.name);
    }
    let texts: Vec<String> = MATRIX_ARCHES.iter().map(|a| emit(p, a)).collect();
    if let Some(ptxas) = ptxas() {
        for (arch, text) in MATRIX_ARCHES.iter().zip(&texts) {
            let cubin = ptx::assemble(&ptxas, text, arch)
                .unwrap_or_else(|e| panic!("{} on {arch}: {e}\n--- PTX ---\n{text}", p.name));
            assert!(cubin.starts_with(b"\x7fELF"), "cubin is not an ELF file");
        }
    }
    texts.into_iter().next().unwrap_or_default()
}

fn gemm(elem: DataType, b_layout: MatrixLayout, out: DataType, edges: bool) -> Gemm {
    Gemm {
        elem,
        b_layout,
        out,
        edges,
        unchecked: false,
        clip: false,
    }
}

#[test]
fn every_gemm_variant_assembles() {
    for elem in [DataType::BF16, DataType::F16] {
        for b_layout in [MatrixLayout::RowMajor, MatrixLayout::ColMajor] {
            for out in [DataType::F32, DataType::BF16, DataType::F16] {
                for edges in [false, true] {
                    assemble(&gemm(elem, b_layout, out, edges).program());
                }
            }
        }
    }
    let mut g = gemm(DataType::BF16, MatrixLayout::RowMajor, DataType::BF16, true);
    g.unchecked = true;
    assemble(&g.program());
}

#[test]
fn shared_tiles_take_ldmatrix_and_one_mma_per_hardware_tile() {
    let text =
        assemble(&gemm(DataType::BF16, MatrixLayout::RowMajor, DataType::F32, false).program());
    // Per 16-deep step (two, unrolled): A 64x16 is four 16x16 pieces
    // (`.x4`, row-major: not transposed), B 16x64 row-major four pairs of
    // 16x8 tiles (`.x4.trans`).
    assert_eq!(
        count(&text, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 "),
        8,
        "{text}"
    );
    assert_eq!(
        count(&text, "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 "),
        8
    );
    // (64/16) * (64/8) * (16/16) = 32 per multiply-add.
    assert_eq!(
        count(
            &text,
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        ),
        64
    );
    // Offsets and strides are proven aligned and in range: no element-wise
    // fallback reads the shared arrays.
    assert_eq!(count(&text, "ld.shared"), 0, "{text}");
    // Each invocation copies 4 chunks of a and 4 of b per stage, in the
    // prologue and in the loop: 16-byte `cp.async.cg`, with the
    // source-size operand of a checked kernel.
    assert_eq!(count(&text, "cp.async.cg.shared.global "), 16);
    assert!(
        text.lines()
            .filter(|l| l.contains("cp.async.cg.shared.global"))
            .all(|l| l.contains(", 16, %r")),
        "{text}"
    );
    assert_eq!(count(&text, "cp.async.ca"), 0);
    assert_eq!(count(&text, "cp.async.commit_group;"), 2);
    assert_eq!(count(&text, "cp.async.wait_group 1;"), 1);
    // The destination indices are proven aligned and in range; the sources
    // (`row * k + ..`, `k` a parameter) are tested for alignment at run
    // time, with a fallback of 8 unguarded element stores per copy.
    assert_eq!(count(&text, "st.shared.b16 "), 16 * 8, "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.contains('@') && l.contains("st.shared")),
        "{text}"
    );
    // f32 pairs of the accumulator leave as `st.global.v2.f32` (after a
    // run-time alignment and range test), else one by one.
    assert_eq!(count(&text, "st.global.v2.f32 "), 64);
    assert_eq!(count(&text, "st.global.f32 "), 128);
    assert!(
        text.contains(".shared .align 16 .b8 vyre_s0[20480];"),
        "{text}"
    );
}

#[test]
fn column_major_b_is_not_transposed() {
    let text =
        assemble(&gemm(DataType::F16, MatrixLayout::ColMajor, DataType::BF16, false).program());
    assert_eq!(
        count(&text, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 "),
        16
    );
    assert_eq!(count(&text, "ldmatrix.sync.aligned.m8n8.x4.trans"), 0);
    assert_eq!(
        count(&text, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "),
        64
    );
    // bf16 results: pairs rounded by one `cvt.rn.bf16x2.f32` and stored as
    // one word.
    assert_eq!(count(&text, "cvt.rn.bf16x2.f32 "), 64);
    assert_eq!(count(&text, "st.global.b32 "), 64);
    assert_eq!(count(&text, "st.global.b16 "), 128);
}

/// One warp loading `a` (16x16) with `a_layout` and `b` (16x`n`) with
/// `b_layout` from shared arrays at `off_a`, `off_b` with strides `lda`,
/// `ldb`, then `c = a * b`, stored into `out`.
fn shared_tile(
    a_layout: MatrixLayout,
    b_layout: MatrixLayout,
    n: u32,
    off_a: Expr,
    lda: Expr,
    off_b: Expr,
    ldb: Expr,
) -> Program {
    let mut b = ProgramBuilder::new("shared_tile", [64, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let _x = b.scalar("x", DataType::U32);
    let sa = b.shared("sa", DataType::BF16, 512);
    let sb = b.shared("sb", DataType::BF16, 1024);
    let shape = MatrixShape { m: 16, n, k: 16 };
    let fa = b.matrix("fa", MatrixRole::A, DataType::BF16, shape);
    let fb = b.matrix("fb", MatrixRole::B, DataType::BF16, shape);
    let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.matrix(MatrixOp::Load {
            matrix: fa,
            buf: BufRef::Shared(sa),
            offset: off_a,
            stride: lda,
            layout: a_layout,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: fb,
            buf: BufRef::Shared(sb),
            offset: off_b,
            stride: ldb,
            layout: b_layout,
            clip: None,
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: c,
            a: fa,
            b: fb,
            c,
        });
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(n),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

#[test]
fn transposition_follows_the_layouts() {
    use MatrixLayout::{ColMajor, RowMajor};
    let lit = Expr::u32;
    // (A layout, B layout, A transposed, B transposed)
    for (la, lb, ta, tb) in [
        (RowMajor, RowMajor, false, true),
        (RowMajor, ColMajor, false, false),
        (ColMajor, RowMajor, true, true),
        (ColMajor, ColMajor, true, false),
    ] {
        // n = 24: three 16x8 tiles of B, an `.x4` and an `.x2`.
        let p = shared_tile(la, lb, 24, lit(64), lit(16), lit(128), lit(32));
        let text = assemble(&p);
        let trans = |x: &str| format!("ldmatrix.sync.aligned.m8n8.{x}.trans.shared.b16 ");
        let plain = |x: &str| format!("ldmatrix.sync.aligned.m8n8.{x}.shared.b16 ");
        let x4 = |t: bool| if t { trans("x4") } else { plain("x4") };
        let x2 = |t: bool| if t { trans("x2") } else { plain("x2") };
        let want_x4 = |t: bool| usize::from(ta == t) + usize::from(tb == t);
        assert_eq!(
            count(&text, &x4(true)),
            want_x4(true),
            "{la:?} {lb:?}\n{text}"
        );
        assert_eq!(count(&text, &x4(false)), want_x4(false), "{la:?} {lb:?}");
        assert_eq!(count(&text, &x2(tb)), 1, "{la:?} {lb:?}");
        assert_eq!(count(&text, &x2(!tb)), 0, "{la:?} {lb:?}");
        assert_eq!(count(&text, "mma.sync.aligned.m16n8k16."), 3);
        assert_eq!(count(&text, "ld.shared"), 0, "{text}");
    }
}

#[test]
fn unproven_shared_tiles_choose_at_run_time() {
    // Offsets from a parameter: alignment and range are tested once, then
    // `ldmatrix` or the element-wise path that checks every element.
    let x = || Expr::param(1);
    let p = shared_tile(
        MatrixLayout::RowMajor,
        MatrixLayout::RowMajor,
        8,
        x(),
        Expr::u32(16),
        x().mul(Expr::u32(8)),
        Expr::u32(8),
    );
    let text = assemble(&p);
    assert_eq!(count(&text, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 "), 1);
    assert_eq!(
        count(&text, "ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 "),
        1
    );
    // The fallbacks: 8 elements of A, 4 of B per lane, each checked.
    assert_eq!(count(&text, "ld.shared.b16 "), 12, "{text}");
    assert!(count(&text, "setp.lt.u64 ") >= 12 + 2, "{text}");
    // The offset of B is a multiple of 8 (alignment analysis): only its
    // range is tested; A's offset is tested for alignment too.
    assert_eq!(
        text.lines()
            .filter(|l| l.trim().starts_with("and.b32") && l.ends_with(", 7;"))
            .count(),
        1,
        "{text}"
    );
    assert_eq!(count(&text, "and.pred "), 1);
    // A stride of 20 elements can never align rows for `ldmatrix`.
    let p = shared_tile(
        MatrixLayout::RowMajor,
        MatrixLayout::ColMajor,
        8,
        Expr::u32(0),
        Expr::u32(20),
        Expr::u32(0),
        Expr::u32(16),
    );
    let text = assemble(&p);
    assert_eq!(count(&text, "ldmatrix.sync.aligned.m8n8.x2.shared.b16 "), 1);
    // A is statically in range, so its fallback checks nothing.
    assert_eq!(count(&text, "ld.shared.b16 "), 8, "{text}");
}

#[test]
fn buffer_tiles_load_pairs_when_aligned() {
    for b_layout in [MatrixLayout::RowMajor, MatrixLayout::ColMajor] {
        let p = global_gemm(DataType::BF16, b_layout);
        let text = assemble(&p);
        // Pairs adjacent in memory (A row-major, B column-major, the f32
        // accumulator) are one access on the aligned path.
        // A 32x16: 2x1 pieces of 4 words; B 16x32: 1x4 tiles of 2 words.
        let a_pairs = 2 * 4;
        let b_pairs = if b_layout == MatrixLayout::ColMajor {
            4 * 2
        } else {
            0
        };
        assert_eq!(
            count(&text, "ld.global.nc.b32 "),
            a_pairs + b_pairs,
            "{b_layout:?}\n{text}"
        );
        // The checked element-wise paths read every element on its own; a
        // row-major B (pairs along its columns) is element-wise on the
        // unchecked path too.
        let b_scalars = if b_layout == MatrixLayout::ColMajor {
            2 * 8
        } else {
            2 * 2 * 8
        };
        assert_eq!(
            count(&text, "ld.global.nc.b16 "),
            2 * a_pairs + b_scalars,
            "{b_layout:?}"
        );
        assert_eq!(count(&text, "ld.global.v2.f32 "), 16);
        assert_eq!(count(&text, "st.global.v2.f32 "), 16);
        assert_eq!(
            count(
                &text,
                "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
            ),
            8
        );
        assert_eq!(count(&text, "ldmatrix"), 0);
    }
}

#[test]
fn async_copies_by_size() {
    for (elem, n, bytes) in [
        (DataType::BF16, 8, 16),
        (DataType::F32, 4, 16),
        (DataType::F16, 4, 8),
        (DataType::F32, 2, 8),
        (DataType::F32, 1, 4),
        (DataType::U8, 4, 4),
    ] {
        let text = assemble(&copy_program(elem, n));
        let cache = if bytes == 16 { "cg" } else { "ca" };
        let copy = format!("cp.async.{cache}.shared.global ");
        assert_eq!(count(&text, &copy), 1, "{elem} x {n}\n{text}");
        let line = text.lines().find(|l| l.contains(&copy)).unwrap_or_default();
        assert!(line.contains(&format!(", {bytes}, %r")), "{line}");
        assert_eq!(count(&text, "cp.async.commit_group;"), 1);
        assert_eq!(count(&text, "cp.async.wait_group 0;"), 1);
        // The fallback for unaligned or partly out-of-range copies: one
        // load and one store per element.
        let (ld, st) = match elem.size_bytes() {
            1 => ("ld.global.u8 ", "st.shared.u8 "),
            2 => ("ld.global.b16 ", "st.shared.b16 "),
            _ => ("ld.global.b32 ", "st.shared.b32 "),
        };
        assert_eq!(count(&text, ld), n as usize, "{text}");
        assert!(count(&text, st) >= n as usize, "{text}");
    }
}

#[test]
fn unchecked_kernels_check_nothing() {
    let mut g = gemm(
        DataType::BF16,
        MatrixLayout::RowMajor,
        DataType::BF16,
        false,
    );
    g.unchecked = true;
    let text = assemble(&g.program());
    // No source size, no range test; only the sources' alignment (a
    // run-time `k`) is tested.
    let copies: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cp.async.cg.shared.global"))
        .collect();
    assert_eq!(copies.len(), 16);
    assert!(
        copies.iter().all(|l| l.trim_end().ends_with(", 16;")),
        "{copies:?}"
    );
    assert_eq!(count(&text, "setp.lt.u64 "), 0, "{text}");
    // The k loop and the prefetch's condition.
    assert_eq!(count(&text, "setp.lt.u32 "), 2, "{text}");
}

fn async_only(count: u32) -> Program {
    let mut b = ProgramBuilder::new("stage", [64, 1, 1]);
    let src = b.buffer("src", DataType::F32, Access::Read);
    let t = b.shared("t", DataType::F32, 256);
    b.body(|blk| {
        blk.async_copy(
            t,
            Expr::Builtin(vyre::ir::Builtin::LocalId, vyre::ir::Axis::X).mul(Expr::u32(4)),
            src,
            Expr::global_id_x().mul(Expr::u32(4)),
            count,
        );
        blk.async_commit();
        blk.async_wait(0);
    });
    b.finish()
}

#[test]
fn older_architectures_are_unsupported() {
    let g = gemm(DataType::BF16, MatrixLayout::RowMajor, DataType::F32, false).program();
    for arch in ["sm_70", "sm_75"] {
        let e = ptx::emit_ptx(&g, &DispatchConfig::default().with_target_arch(arch)).unwrap_err();
        match &e {
            CompileError::Unsupported {
                kernel,
                construct,
                target,
            } => {
                assert_eq!(kernel, "gemm_bf16_bn_f32");
                assert_eq!(target, "ptx");
                assert!(
                    construct.contains(
                        "matrix_mma of bf16 64x64x16 needs sm_80 or later (mma.sync.m16n8k16)"
                    ),
                    "{construct}"
                );
                assert!(construct.contains(arch), "{construct}");
            }
            other => panic!("{other:?}"),
        }
    }
    let e = ptx::emit_ptx(
        &async_only(4),
        &DispatchConfig::default().with_target_arch("sm_75"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("async_copy needs sm_80 or later (cp.async)"),
        "{e}"
    );
}

#[test]
fn an_unchosen_architecture_is_sm80_for_matrix_kernels() {
    let g = gemm(DataType::BF16, MatrixLayout::RowMajor, DataType::F32, false).program();
    assert_eq!(ptx::default_arch(&g), "sm_80");
    assert_eq!(ptx::default_arch(&async_only(4)), "sm_80");
    assert_eq!(ptx::default_arch(&ptx_support::saxpy()), ptx::DEFAULT_ARCH);
    let text = ptx::emit_ptx(&g, &DispatchConfig::default()).unwrap();
    assert!(text.contains(".target sm_80\n"), "{text}");
    assert!(text.contains(".version 7.0\n"));
    let text = ptx::emit_ptx(&ptx_support::saxpy(), &DispatchConfig::default()).unwrap();
    assert!(text.contains(".target sm_70\n"));
    // The cubin path resolves the same way.
    if let Some(ptxas) = ptxas() {
        let cubin = ptx::emit_cubin_with(&g, &DispatchConfig::default(), Some(&ptxas)).unwrap();
        assert!(cubin.starts_with(b"\x7fELF"));
    }
}

#[test]
fn matrix_shapes_split_into_hardware_tiles() {
    // mma.sync count = (m/16) * (n/8) * (k/16).
    for (m, n, k) in [
        (16, 8, 16),
        (32, 24, 32),
        (16, 64, 48),
        (64, 32, 16),
        (48, 8, 64),
    ] {
        let mut b = ProgramBuilder::new("shapes", [32, 1, 1]);
        let x = b.buffer("x", DataType::F16, Access::Read);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let shape = MatrixShape { m, n, k };
        let fa = b.matrix("fa", MatrixRole::A, DataType::F16, shape);
        let fb = b.matrix("fb", MatrixRole::B, DataType::F16, shape);
        let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
        let d = b.matrix("d", MatrixRole::Accumulator, DataType::F32, shape);
        b.body(|blk| {
            for (mat, layout) in [(fa, MatrixLayout::ColMajor), (fb, MatrixLayout::RowMajor)] {
                blk.matrix(MatrixOp::Load {
                    matrix: mat,
                    buf: BufRef::Param(x),
                    offset: Expr::u32(0),
                    stride: Expr::u32(64),
                    layout,
                    clip: None,
                });
            }
            blk.matrix(MatrixOp::Fill {
                matrix: c,
                value: Expr::f32(1.5),
            });
            blk.matrix(MatrixOp::MultiplyAdd { d, a: fa, b: fb, c });
            blk.matrix(MatrixOp::Store {
                matrix: d,
                buf: BufRef::Param(out),
                offset: Expr::u32(0),
                stride: Expr::u32(n),
                layout: MatrixLayout::ColMajor,
                clip: None,
            });
        });
        let text = assemble(&b.finish());
        let tiles = (m / 16) * (n / 8) * (k / 16);
        assert_eq!(
            count(&text, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "),
            tiles as usize,
            "{m}x{n}x{k}"
        );
        // The fill: one `mov` per accumulator register.
        assert_eq!(
            count(&text, "mov.f32 %f") - 2 * (m * n / 32) as usize,
            (m * n / 32) as usize,
            "{m}x{n}x{k}"
        );
    }
}

#[test]
#[ignore = "prints the PTX of the GEMM kernel for reading (run with --nocapture)"]
fn print_gemm_ptx() {
    let g = gemm(DataType::BF16, MatrixLayout::RowMajor, DataType::BF16, true);
    println!("{}", emit(&g.program(), "sm_90"));
}

/// One warp: an accumulator 16x8 filled with 1.0 and stored row-major
/// (stride 8) into `out` with `clip`; with `load_a`, also an A 16x16
/// loaded from a shared array with the same clip and multiplied in.
fn clipped_store(clip: Option<vyre::ir::MatrixClip>, load_a: bool) -> Program {
    let mut b = ProgramBuilder::new("clipped", [32, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let _rows = b.scalar("rows", DataType::U32);
    let _cols = b.scalar("cols", DataType::U32);
    let sa = b.shared("sa", DataType::BF16, 256);
    let shape = MatrixShape { m: 16, n: 8, k: 16 };
    let fa = b.matrix("fa", MatrixRole::A, DataType::BF16, shape);
    let fb = b.matrix("fb", MatrixRole::B, DataType::BF16, shape);
    let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: c,
            value: Expr::f32(1.0),
        });
        if load_a {
            blk.matrix(MatrixOp::Load {
                matrix: fa,
                buf: BufRef::Shared(sa),
                offset: Expr::u32(0),
                stride: Expr::u32(16),
                layout: MatrixLayout::RowMajor,
                clip: clip.clone(),
            });
            blk.matrix(MatrixOp::MultiplyAdd {
                d: c,
                a: fa,
                b: fb,
                c,
            });
        }
        blk.matrix(MatrixOp::Store {
            matrix: c,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: MatrixLayout::RowMajor,
            clip,
        });
    });
    b.finish()
}

fn param_clip() -> Option<vyre::ir::MatrixClip> {
    Some(vyre::ir::MatrixClip {
        rows: Expr::param(1),
        cols: Expr::param(2),
    })
}

#[test]
fn clipped_stores_test_the_whole_tile_once_and_keep_both_paths() {
    let plain = assemble(&clipped_store(None, false));
    let text = assemble(&clipped_store(param_clip(), false));
    // The warp-uniform test: rows >= 16 and cols >= 8.
    assert_eq!(count(&plain, "setp.ge.u32 "), 0, "{plain}");
    assert_eq!(count(&text, "setp.ge.u32 "), 2, "{text}");
    assert!(text.contains(", 16;") && text.contains(", 8;"), "{text}");
    // The fast path stores the lane's two pairs as it does unclipped...
    assert_eq!(count(&plain, "st.global.v2.f32 "), 2, "{plain}");
    assert_eq!(count(&text, "st.global.v2.f32 "), 2, "{text}");
    // ... and the clipped path its four elements one by one, each
    // guarded (clip and length).
    assert_eq!(count(&plain, "st.global.f32 "), 4, "{plain}");
    assert_eq!(count(&text, "st.global.f32 "), 4, "{text}");
    assert!(
        text.lines()
            .filter(|l| l.contains("st.global.f32 "))
            .all(|l| l.trim_start().starts_with('@')),
        "{text}"
    );
    // Per element: its row (g, g + 8) and column (2t, 2t + 1) against the
    // clip, computed once each.
    assert_eq!(
        count(&text, "setp.lt.u32 ") - count(&plain, "setp.lt.u32 "),
        4,
        "{text}"
    );
}

#[test]
fn a_clip_covering_the_tile_costs_nothing() {
    let plain = assemble(&clipped_store(None, true));
    let covering = |r, c| {
        Some(vyre::ir::MatrixClip {
            rows: Expr::u32(r),
            cols: Expr::u32(c),
        })
    };
    for (r, c) in [(16, 16), (100, u32::MAX)] {
        let text = assemble(&clipped_store(covering(r, c), true));
        assert_eq!(text, plain, "clip {r}x{c}");
    }
    // A literal clip that cuts the tile still tests and clips.
    let text = assemble(&clipped_store(covering(15, 16), true));
    assert_ne!(text, plain);
}

#[test]
fn clipped_shared_loads_keep_ldmatrix_behind_the_uniform_test() {
    let plain = assemble(&clipped_store(None, true));
    let text = assemble(&clipped_store(param_clip(), true));
    // Unclipped, the aligned in-range shared tile is `ldmatrix` alone.
    assert_eq!(
        count(&plain, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 "),
        1
    );
    assert_eq!(count(&plain, "ld.shared"), 0, "{plain}");
    // Clipped: `ldmatrix` when the clip covers the tile, else the lane's 8
    // elements, each guarded by the clip.
    assert_eq!(count(&text, "ldmatrix.sync.aligned.m8n8.x4.shared.b16 "), 1);
    assert_eq!(count(&text, "ld.shared.b16 "), 8, "{text}");
    assert_eq!(count(&text, "setp.ge.u32 "), 4, "{text}");
}
