//! Matrix and asynchronous-copy kernels shared by the PTX emission tests
//! (`tests/ptx_matrix.rs`) and the GPU tests (`tests/cuda_kernels.rs`),
//! with host-side expectations computed from the language's semantics
//! (`docs/language.md`, `src/ir/matrix.rs`), independently of any backend.
#![allow(dead_code)]

pub mod attention;
pub mod warpgroup;

use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, GridRule, Literal, MathFn, MatrixClip,
    MatrixLayout, MatrixOp, MatrixRole, MatrixShape, Program, ProgramBuilder,
};

fn lid() -> Expr {
    Expr::Builtin(Builtin::LocalId, Axis::X)
}

fn wgid(a: Axis) -> Expr {
    Expr::Builtin(Builtin::WorkgroupId, a)
}

fn u(v: u32) -> Expr {
    Expr::u32(v)
}

fn l(id: u32) -> Expr {
    Expr::local(id)
}

fn p(id: u32) -> Expr {
    Expr::param(id)
}

fn zero(ty: DataType) -> Expr {
    Expr::Lit(Literal::zero(ty))
}

/// A tiled GEMM `c = a * b` as a user would write it for tensor cores: a
/// workgroup of 4 warps computes a 128x128 block of `c`, each warp a 64x64
/// tile (one `64x64x16` accumulator), over `k` in steps of 32 with two
/// shared-memory stages filled by 16-byte asynchronous copies while the
/// other stage is multiplied (`ldmatrix` + `mma.sync`).
///
/// Parameters: `a` (`m x k`, row-major, `k` contiguous), `b` (`k x n`
/// row-major, or with [`MatrixLayout::ColMajor`] `n x k`: column `j` of
/// `B` contiguous), `c` (`m x ldc`, `out` elements), then `m, n, k, ldc`.
/// Launch `[ceil(n / 128), ceil(m / 128)]` workgroups with `ldc` at least
/// `128 * ceil(n / 128)`.
#[derive(Debug, Clone, Copy)]
pub struct Gemm {
    /// `bf16` or `f16` operands.
    pub elem: DataType,
    /// How `b` lies in memory.
    pub b_layout: MatrixLayout,
    /// `f32`, `bf16` or `f16` results.
    pub out: DataType,
    /// Guard the copies so that `m`, `n` and `k` need not be multiples of
    /// the block: a chunk that crosses an edge is filled element by
    /// element (0 outside).
    pub edges: bool,
    /// An `unchecked` kernel.
    pub unchecked: bool,
    /// Store `c` clipped to its `m x n` (rows `m - min(m, row0)`, columns
    /// `n - min(n, col0)` of each warp tile), so that `ldc` may be `n`: a
    /// tile past the right edge does not wrap into the next row.
    pub clip: bool,
}

/// Block rows and columns of `c` per workgroup.
pub const BLOCK: u32 = 128;
/// `k` per stage.
pub const BLOCK_K: u32 = 32;
/// Row stride of a stage of `a` (and of a column-major `b`) in shared
/// memory: padded by 8 elements against bank conflicts, still a multiple of
/// 8 (16 bytes) for `ldmatrix`.
const LDS_K: u32 = BLOCK_K + 8;
/// Row stride of a stage of a row-major `b`.
const LDS_N: u32 = BLOCK + 8;
const A_STAGE: u32 = BLOCK * LDS_K;

impl Gemm {
    fn b_stage(&self) -> u32 {
        match self.b_layout {
            MatrixLayout::RowMajor => BLOCK_K * LDS_N,
            MatrixLayout::ColMajor => BLOCK * LDS_K,
        }
    }

    /// The kernel's name.
    pub fn name(&self) -> String {
        format!(
            "gemm_{}_{}_{}{}{}{}",
            self.elem.name(),
            match self.b_layout {
                MatrixLayout::RowMajor => "bn",
                MatrixLayout::ColMajor => "bt",
            },
            self.out.name(),
            if self.edges { "_edges" } else { "" },
            if self.unchecked { "_unchecked" } else { "" },
            if self.clip { "_clip" } else { "" }
        )
    }

    /// The kernel.
    pub fn program(&self) -> Program {
        let g = *self;
        let elem = g.elem;
        let mut b = ProgramBuilder::new(g.name(), [128, 1, 1]);
        b.unchecked(g.unchecked);
        let a = b.buffer("a", elem, Access::Read);
        let bb = b.buffer("b", elem, Access::Read);
        let c = b.buffer("c", g.out, Access::ReadWrite);
        let m = b.scalar("m", DataType::U32);
        let n = b.scalar("n", DataType::U32);
        let k = b.scalar("k", DataType::U32);
        let ldc = b.scalar("ldc", DataType::U32);
        let ta = b.shared("ta", elem, 2 * A_STAGE);
        let tb = b.shared("tb", elem, 2 * g.b_stage());
        let shape = MatrixShape {
            m: 64,
            n: 64,
            k: 16,
        };
        let fa = b.matrix("fa", MatrixRole::A, elem, shape);
        let fb = b.matrix("fb", MatrixRole::B, elem, shape);
        let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, shape);
        let loc = |b: &mut ProgramBuilder, name: &str| b.local(name, DataType::U32, false);
        let tid = loc(&mut b, "tid");
        let warp = loc(&mut b, "warp");
        let wm = loc(&mut b, "wm");
        let wn = loc(&mut b, "wn");
        let bm = loc(&mut b, "bm");
        let bn = loc(&mut b, "bn");
        let ntiles = loc(&mut b, "ntiles");
        let kt = loc(&mut b, "kt");
        let cur = loc(&mut b, "cur");
        let kk = loc(&mut b, "kk");
        let stage_locals = |b: &mut ProgramBuilder, s: &str| StageLocals {
            i: loc(b, &format!("i{s}")),
            chunk: loc(b, &format!("chunk{s}")),
            ar: loc(b, &format!("ar{s}")),
            ac: loc(b, &format!("ac{s}")),
            br: loc(b, &format!("br{s}")),
            bc: loc(b, &format!("bc{s}")),
            e: loc(b, &format!("e{s}")),
            e2: loc(b, &format!("ee{s}")),
        };
        let first = stage_locals(&mut b, "0");
        let next = stage_locals(&mut b, "1");
        let stage_in = StageIn {
            g,
            a,
            bb,
            m,
            n,
            k,
            ta,
            tb,
            tid,
            bm,
            bn,
        };
        b.body(|blk| {
            blk.let_(tid, lid());
            blk.let_(warp, l(tid).div(u(32)));
            blk.let_(wm, l(warp).div(u(2)).mul(u(64)));
            blk.let_(wn, l(warp).rem(u(2)).mul(u(64)));
            blk.let_(bm, wgid(Axis::Y).mul(u(BLOCK)));
            blk.let_(bn, wgid(Axis::X).mul(u(BLOCK)));
            blk.let_(ntiles, p(k).add(u(BLOCK_K - 1)).div(u(BLOCK_K)));
            blk.matrix(MatrixOp::Fill {
                matrix: acc,
                value: Expr::f32(0.0),
            });
            stage_in.emit(blk, &first, u(0), u(0));
            blk.async_commit();
            blk.for_(kt, u(0), l(ntiles), |body| {
                body.let_(cur, l(kt).rem(u(2)));
                body.if_(l(kt).add(u(1)).lt(l(ntiles)), |t| {
                    stage_in.emit(
                        t,
                        &next,
                        l(kt).add(u(1)).rem(u(2)),
                        l(kt).add(u(1)).mul(u(BLOCK_K)),
                    );
                });
                body.async_commit();
                body.async_wait(1);
                body.barrier();
                body.for_step(kk, u(0), u(BLOCK_K / 16), 1, true, |s| {
                    s.matrix(MatrixOp::Load {
                        matrix: fa,
                        buf: BufRef::Shared(ta),
                        offset: l(cur)
                            .mul(u(A_STAGE))
                            .add(l(wm).mul(u(LDS_K)))
                            .add(l(kk).mul(u(16))),
                        stride: u(LDS_K),
                        layout: MatrixLayout::RowMajor,
                        clip: None,
                    });
                    let (offset, stride) = match g.b_layout {
                        MatrixLayout::RowMajor => (
                            l(cur)
                                .mul(u(g.b_stage()))
                                .add(l(kk).mul(u(16 * LDS_N)))
                                .add(l(wn)),
                            LDS_N,
                        ),
                        MatrixLayout::ColMajor => (
                            l(cur)
                                .mul(u(g.b_stage()))
                                .add(l(wn).mul(u(LDS_K)))
                                .add(l(kk).mul(u(16))),
                            LDS_K,
                        ),
                    };
                    s.matrix(MatrixOp::Load {
                        matrix: fb,
                        buf: BufRef::Shared(tb),
                        offset,
                        stride: u(stride),
                        layout: g.b_layout,
                        clip: None,
                    });
                    s.matrix(MatrixOp::MultiplyAdd {
                        d: acc,
                        a: fa,
                        b: fb,
                        c: acc,
                    });
                });
                body.barrier();
            });
            blk.matrix(MatrixOp::Store {
                matrix: acc,
                buf: BufRef::Param(c),
                offset: l(bm).add(l(wm)).mul(p(ldc)).add(l(bn)).add(l(wn)),
                stride: p(ldc),
                layout: MatrixLayout::RowMajor,
                clip: g.clip.then(|| {
                    let rest = |all: u32, at: Expr| p(all).sub(p(all).math(MathFn::Min, vec![at]));
                    MatrixClip {
                        rows: rest(m, l(bm).add(l(wm))),
                        cols: rest(n, l(bn).add(l(wn))),
                    }
                }),
            });
        });
        b.finish()
    }
}

/// Locals of one copy of the stage loader.
struct StageLocals {
    i: u32,
    chunk: u32,
    ar: u32,
    ac: u32,
    br: u32,
    bc: u32,
    e: u32,
    e2: u32,
}

/// What the stage loader refers to.
#[derive(Clone, Copy)]
struct StageIn {
    g: Gemm,
    a: u32,
    bb: u32,
    m: u32,
    n: u32,
    k: u32,
    ta: u32,
    tb: u32,
    tid: u32,
    bm: u32,
    bn: u32,
}

impl StageIn {
    /// Fill stage `stage` with the `k` columns `k0 ..` of the block: each
    /// thread copies 4 chunks of 8 elements of `a` and 4 of `b`.
    fn emit(&self, blk: &mut vyre::ir::Block, s: &StageLocals, stage: Expr, k0: Expr) {
        let st = *self;
        let g = st.g;
        blk.for_step(s.i, u(0), u(4), 1, true, |body| {
            body.let_(s.chunk, l(st.tid).add(l(s.i).mul(u(128))));
            // a: 128 rows x 32 columns, 4 chunks a row.
            body.let_(s.ar, l(s.chunk).div(u(4)));
            body.let_(s.ac, l(s.chunk).rem(u(4)).mul(u(8)));
            let dst = stage
                .clone()
                .mul(u(A_STAGE))
                .add(l(s.ar).mul(u(LDS_K)))
                .add(l(s.ac));
            let src = l(st.bm)
                .add(l(s.ar))
                .mul(p(st.k))
                .add(k0.clone())
                .add(l(s.ac));
            let row_ok = l(st.bm).add(l(s.ar)).lt(p(st.m));
            let col = k0.clone().add(l(s.ac));
            st.chunk(body, st.ta, st.a, dst, src, row_ok, col, p(st.k), s.e);
            // b: 32 x 128 (row-major: 16 chunks a row of k) or 128 x 32
            // (column-major: 4 chunks a column of n).
            let (dst, src, row_ok, col, limit) = match g.b_layout {
                MatrixLayout::RowMajor => {
                    body.let_(s.br, l(s.chunk).div(u(16)));
                    body.let_(s.bc, l(s.chunk).rem(u(16)).mul(u(8)));
                    (
                        stage
                            .clone()
                            .mul(u(g.b_stage()))
                            .add(l(s.br).mul(u(LDS_N)))
                            .add(l(s.bc)),
                        k0.clone()
                            .add(l(s.br))
                            .mul(p(st.n))
                            .add(l(st.bn))
                            .add(l(s.bc)),
                        k0.clone().add(l(s.br)).lt(p(st.k)),
                        l(st.bn).add(l(s.bc)),
                        p(st.n),
                    )
                }
                MatrixLayout::ColMajor => {
                    body.let_(s.br, l(s.chunk).div(u(4)));
                    body.let_(s.bc, l(s.chunk).rem(u(4)).mul(u(8)));
                    (
                        stage
                            .clone()
                            .mul(u(g.b_stage()))
                            .add(l(s.br).mul(u(LDS_K)))
                            .add(l(s.bc)),
                        l(st.bn)
                            .add(l(s.br))
                            .mul(p(st.k))
                            .add(k0.clone())
                            .add(l(s.bc)),
                        l(st.bn).add(l(s.br)).lt(p(st.n)),
                        k0.clone().add(l(s.bc)),
                        p(st.k),
                    )
                }
            };
            st.chunk(body, st.tb, st.bb, dst, src, row_ok, col, limit, s.e2);
        });
    }

    /// One chunk of 8 elements `src[src ..]` to `tile[dst ..]`: an
    /// asynchronous copy, or with edges one guarded by `row_ok && col + 8
    /// <= limit`, else element by element with 0 outside.
    #[allow(clippy::too_many_arguments)]
    fn chunk(
        &self,
        body: &mut vyre::ir::Block,
        tile: u32,
        from: u32,
        dst: Expr,
        src: Expr,
        row_ok: Expr,
        col: Expr,
        limit: Expr,
        e: u32,
    ) {
        let elem = self.g.elem;
        if !self.g.edges {
            body.async_copy(tile, dst, from, src, 8);
            return;
        }
        body.if_else(
            row_ok.clone().and(col.clone().add(u(8)).le(limit.clone())),
            |t| {
                t.async_copy(tile, dst.clone(), from, src.clone(), 8);
            },
            |o| {
                o.for_step(e, u(0), u(8), 1, true, |x| {
                    x.store(
                        BufRef::Shared(tile),
                        dst.clone().add(l(e)),
                        Expr::select(
                            row_ok.clone().and(col.clone().add(l(e)).lt(limit.clone())),
                            Expr::load(BufRef::Param(from), src.clone().add(l(e))),
                            zero(elem),
                        ),
                    );
                });
            },
        );
    }
}

/// A GEMM reading its operands straight from buffers (no shared memory):
/// one warp computes a 32x32 block of `c` (`f32`, `m x n`, row-major)
/// starting from the values in `c` (`c += a * b`), `k` a multiple of 16.
/// `a` is `m x lda`, `b` `k x ldb` (row-major) or `n x ldb` (column-major).
/// Launch `[n / 32, ceil(m / 32)]` workgroups (`n` a multiple of 32).
pub fn global_gemm(elem: DataType, b_layout: MatrixLayout) -> Program {
    let name = format!(
        "gemm_global_{}_{}",
        elem.name(),
        if b_layout == MatrixLayout::RowMajor {
            "bn"
        } else {
            "bt"
        }
    );
    let mut b = ProgramBuilder::new(name, [32, 1, 1]);
    let a = b.buffer("a", elem, Access::Read);
    let bb = b.buffer("b", elem, Access::Read);
    let c = b.buffer("c", DataType::F32, Access::ReadWrite);
    let _m = b.scalar("m", DataType::U32);
    let n = b.scalar("n", DataType::U32);
    let k = b.scalar("k", DataType::U32);
    let lda = b.scalar("lda", DataType::U32);
    let ldb = b.scalar("ldb", DataType::U32);
    let shape = MatrixShape {
        m: 32,
        n: 32,
        k: 16,
    };
    let fa = b.matrix("fa", MatrixRole::A, elem, shape);
    let fb = b.matrix("fb", MatrixRole::B, elem, shape);
    let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, shape);
    let bm = b.local("bm", DataType::U32, false);
    let bn = b.local("bn", DataType::U32, false);
    let kk = b.local("kk", DataType::U32, false);
    b.body(|blk| {
        blk.let_(bm, wgid(Axis::Y).mul(u(32)));
        blk.let_(bn, wgid(Axis::X).mul(u(32)));
        let c_at = l(bm).mul(p(n)).add(l(bn));
        blk.matrix(MatrixOp::Load {
            matrix: acc,
            buf: BufRef::Param(c),
            offset: c_at.clone(),
            stride: p(n),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.for_step(kk, u(0), p(k), 16, false, |body| {
            body.matrix(MatrixOp::Load {
                matrix: fa,
                buf: BufRef::Param(a),
                offset: l(bm).mul(p(lda)).add(l(kk)),
                stride: p(lda),
                layout: MatrixLayout::RowMajor,
                clip: None,
            });
            let offset = match b_layout {
                MatrixLayout::RowMajor => l(kk).mul(p(ldb)).add(l(bn)),
                MatrixLayout::ColMajor => l(bn).mul(p(ldb)).add(l(kk)),
            };
            body.matrix(MatrixOp::Load {
                matrix: fb,
                buf: BufRef::Param(bb),
                offset,
                stride: p(ldb),
                layout: b_layout,
                clip: None,
            });
            body.matrix(MatrixOp::MultiplyAdd {
                d: acc,
                a: fa,
                b: fb,
                c: acc,
            });
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(c),
            offset: c_at,
            stride: p(n),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

/// Length of the shared `A` array of [`tile_program`].
pub const TILE_A_LEN: u32 = 600;
/// Length of the shared `B` array of [`tile_program`].
pub const TILE_B_LEN: u32 = 400;
/// Length of the shared result array of [`tile_program`].
pub const TILE_S_LEN: u32 = 300;

/// One warp, one `16x8x32` multiply with every operand at run time, to
/// exercise the checked paths: `A` and `B` are loaded from shared arrays
/// (filled from `src_a`, `src_b`) at offsets and strides given as
/// parameters (aligned and in range: `ldmatrix`; otherwise the
/// element-wise paths), `d = a * b + c` with `c` filled with `fill` (`d`
/// is another matrix), then `d` is stored three ways: row-major into `out`
/// (`f32`, at `offo`, stride `ldo`), column-major into `out16` (`a`'s
/// type, at `offt`, stride `ldt`) and row-major into a shared array that
/// is copied to `outs` (`f32`, `TILE_S_LEN` elements; at `offs`, stride
/// 8).
///
/// Parameters: `src_a, src_b, out, out16, outs, offa, lda, offb, ldb,
/// offo, ldo, offt, ldt, offs, fill`.
pub fn tile_program(elem: DataType, a_layout: MatrixLayout, b_layout: MatrixLayout) -> Program {
    let name = format!(
        "tile_{}_{}{}",
        elem.name(),
        if a_layout == MatrixLayout::RowMajor {
            "ar"
        } else {
            "ac"
        },
        if b_layout == MatrixLayout::RowMajor {
            "br"
        } else {
            "bc"
        },
    );
    let mut b = ProgramBuilder::new(name, [32, 1, 1]);
    let src_a = b.buffer("src_a", elem, Access::Read);
    let src_b = b.buffer("src_b", elem, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let out16 = b.buffer("out16", elem, Access::ReadWrite);
    let outs = b.buffer("outs", DataType::F32, Access::ReadWrite);
    let s = |b: &mut ProgramBuilder, name: &str| b.scalar(name, DataType::U32);
    let offa = s(&mut b, "offa");
    let lda = s(&mut b, "lda");
    let offb = s(&mut b, "offb");
    let ldb = s(&mut b, "ldb");
    let offo = s(&mut b, "offo");
    let ldo = s(&mut b, "ldo");
    let offt = s(&mut b, "offt");
    let ldt = s(&mut b, "ldt");
    let offs = s(&mut b, "offs");
    let fill = b.scalar("fill", DataType::F32);
    let sa = b.shared("sa", elem, TILE_A_LEN);
    let sb = b.shared("sb", elem, TILE_B_LEN);
    let so = b.shared("so", DataType::F32, TILE_S_LEN);
    let shape = MatrixShape { m: 16, n: 8, k: 32 };
    let fa = b.matrix("fa", MatrixRole::A, elem, shape);
    let fb = b.matrix("fb", MatrixRole::B, elem, shape);
    let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    let d = b.matrix("d", MatrixRole::Accumulator, DataType::F32, shape);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let q = b.local("q", DataType::U32, false);
    let r = b.local("r", DataType::U32, false);
    b.body(|blk| {
        blk.for_step(i, lid(), u(TILE_A_LEN), 32, false, |body| {
            body.store(
                BufRef::Shared(sa),
                l(i),
                Expr::load(BufRef::Param(src_a), l(i)),
            );
        });
        blk.for_step(j, lid(), u(TILE_B_LEN), 32, false, |body| {
            body.store(
                BufRef::Shared(sb),
                l(j),
                Expr::load(BufRef::Param(src_b), l(j)),
            );
        });
        blk.for_step(q, lid(), u(TILE_S_LEN), 32, false, |body| {
            body.store(BufRef::Shared(so), l(q), Expr::f32(0.0));
        });
        blk.barrier();
        blk.matrix(MatrixOp::Load {
            matrix: fa,
            buf: BufRef::Shared(sa),
            offset: p(offa),
            stride: p(lda),
            layout: a_layout,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: fb,
            buf: BufRef::Shared(sb),
            offset: p(offb),
            stride: p(ldb),
            layout: b_layout,
            clip: None,
        });
        blk.matrix(MatrixOp::Fill {
            matrix: c,
            value: p(fill),
        });
        blk.matrix(MatrixOp::MultiplyAdd { d, a: fa, b: fb, c });
        blk.matrix(MatrixOp::Store {
            matrix: d,
            buf: BufRef::Param(out),
            offset: p(offo),
            stride: p(ldo),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: d,
            buf: BufRef::Param(out16),
            offset: p(offt),
            stride: p(ldt),
            layout: MatrixLayout::ColMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Store {
            matrix: d,
            buf: BufRef::Shared(so),
            offset: p(offs),
            stride: u(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.barrier();
        blk.for_step(r, lid(), u(TILE_S_LEN), 32, false, |body| {
            body.store(
                BufRef::Param(outs),
                l(r),
                Expr::load(BufRef::Shared(so), l(r)),
            );
        });
    });
    b.finish()
}

/// The workgroup counts that a GEMM kernel's `grid = (..)` rule gives for
/// `m x k` times `k x n`: its scalars `m`, `n` and `k`, and buffers `a`,
/// `b` and `c` of those shapes.
pub fn gemm_grid(rule: &GridRule, m: u32, n: u32, k: u32) -> [u32; 3] {
    let (m, n, k) = (u64::from(m), u64::from(n), u64::from(k));
    let scalar = |s: &str| match s {
        "m" => Some(m),
        "n" => Some(n),
        "k" => Some(k),
        _ => None,
    };
    let len = |s: &str| match s {
        "a" => Some(m * k),
        "b" => Some(k * n),
        "c" => Some(m * n),
        _ => None,
    };
    let dims = rule
        .eval(&scalar, &len)
        .unwrap_or_else(|e| panic!("grid rule: {e}"));
    dims.map(|d| u32::try_from(d).expect("grid fits u32"))
}

/// Length of the shared array of [`copy_program`] for `count`-element
/// copies: three elements short of one copy per invocation, so that the
/// last copies reach past its end.
pub fn copy_tile_len(count: u32) -> u32 {
    32 * count - 3
}

/// One warp of asynchronous copies: the shared array (`copy_tile_len`
/// elements) is zeroed, invocation `t` copies `count` elements from
/// `src[t * sstride + soff]` to `tile[t * count + doff]`, then the tile is
/// copied to `out`. Parameters: `src, out, doff, soff, sstride`.
pub fn copy_program(elem: DataType, count: u32) -> Program {
    let mut b = ProgramBuilder::new(format!("copy_{}_{count}", elem.name()), [32, 1, 1]);
    let src = b.buffer("src", elem, Access::Read);
    let out = b.buffer("out", elem, Access::ReadWrite);
    let doff = b.scalar("doff", DataType::U32);
    let soff = b.scalar("soff", DataType::U32);
    let sstride = b.scalar("sstride", DataType::U32);
    let len = copy_tile_len(count);
    let tile = b.shared("tile", elem, len);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    b.body(|blk| {
        blk.for_step(i, lid(), u(len), 32, false, |body| {
            body.store(BufRef::Shared(tile), l(i), zero(elem));
        });
        blk.barrier();
        blk.async_copy(
            tile,
            lid().mul(u(count)).add(p(doff)),
            src,
            lid().mul(p(sstride)).add(p(soff)),
            count,
        );
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
        blk.for_step(j, lid(), u(len), 32, false, |body| {
            body.store(
                BufRef::Param(out),
                l(j),
                Expr::load(BufRef::Shared(tile), l(j)),
            );
        });
    });
    b.finish()
}

/// What [`copy_program`] leaves in `out` (element bits): the semantics of
/// `async_copy`, element by element.
pub fn copy_expected(count: u32, src: &[u32], doff: u32, soff: u32, sstride: u32) -> Vec<u32> {
    let len = copy_tile_len(count) as usize;
    let mut tile = vec![0u32; len];
    for t in 0..32u32 {
        let d0 = u64::from(t.wrapping_mul(count).wrapping_add(doff));
        let s0 = u64::from(t.wrapping_mul(sstride).wrapping_add(soff));
        for e in 0..u64::from(count) {
            let v = usize::try_from(s0 + e)
                .ok()
                .and_then(|s| src.get(s).copied())
                .unwrap_or(0);
            if let Some(slot) = usize::try_from(d0 + e).ok().and_then(|d| tile.get_mut(d)) {
                *slot = v;
            }
        }
    }
    tile
}

// ---- Host arithmetic ----

/// The `f32` value of `bits` of `ty` (`f32`, `f16` or `bf16`).
pub fn to_f32(ty: DataType, bits: u32) -> f32 {
    match ty {
        DataType::F16 => half::f16::from_bits(bits as u16).to_f32(),
        DataType::BF16 => half::bf16::from_bits(bits as u16).to_f32(),
        _ => f32::from_bits(bits),
    }
}

/// `v` rounded to `ty` (to nearest even), as bits.
pub fn from_f32(ty: DataType, v: f32) -> u32 {
    match ty {
        DataType::F16 => u32::from(half::f16::from_f32(v).to_bits()),
        DataType::BF16 => u32::from(half::bf16::from_f32(v).to_bits()),
        _ => v.to_bits(),
    }
}

/// Deterministic inputs: `n` values of `ty` uniform in `[-1, 1)`, as bits.
pub fn random_bits(ty: DataType, n: usize, seed: u64) -> Vec<u32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
            from_f32(ty, v)
        })
        .collect()
}

/// Small integers `-4..=4` of `ty`, as bits: every product and sum of a
/// 32-long dot product is exact in `f32`, so results compare exactly.
pub fn small_int_bits(ty: DataType, n: usize, seed: u64) -> Vec<u32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            from_f32(ty, ((s >> 33) % 9) as f32 - 4.0)
        })
        .collect()
}

/// The reference of one output element: `acc` (the accumulator's start)
/// plus the products in order of `k`, each sum rounded to `f32` (the
/// language's definition of `matrix_mma`), and the tolerance allowed to a
/// target (`docs/language.md`): `K * 2^-22 * (|c| + sum |a b|) + 2^-126`,
/// with `K` the reduction length plus 16 for a chain of 16-deep
/// multiply-adds, each of which may err by its own bound.
pub fn dot_reference(c: f32, products: impl Iterator<Item = (f32, f32)>) -> (f32, f64) {
    let mut acc = c;
    let mut mag = f64::from(c.abs());
    let mut kk = 0u32;
    for (a, b) in products {
        acc += a * b;
        mag += f64::from((a * b).abs());
        kk += 1;
    }
    let tol = f64::from(kk + 16) * 2f64.powi(-22) * mag + 2f64.powi(-126);
    (acc, tol)
}

/// Check `got` (bits of `ty`) against the reference value `want` within
/// `tol`, plus half a unit in the last place of `ty` when the result was
/// rounded to a narrow type.
pub fn assert_close(what: &str, ty: DataType, got: u32, want: f32, tol: f64) {
    let g = f64::from(to_f32(ty, got));
    let w = f64::from(want);
    let rounding = match ty {
        DataType::BF16 => w.abs() * 2f64.powi(-8),
        DataType::F16 => w.abs() * 2f64.powi(-10) + 2f64.powi(-24),
        _ => 0.0,
    };
    assert!(
        (g - w).abs() <= tol + rounding,
        "{what}: got {g} ({got:#x}), want {w} (tolerance {})",
        tol + rounding
    );
}

/// Element `(r, c)` of a matrix at `off` with `stride` in `layout`, read
/// from `mem` as the language reads it: index in `u64`, 0 out of range.
pub fn element(
    mem: &[u32],
    off: u32,
    stride: u32,
    layout: MatrixLayout,
    r: u32,
    c: u32,
) -> Option<u32> {
    let idx = u64::from(off) + layout.index(r, c, stride);
    usize::try_from(idx).ok().and_then(|i| mem.get(i).copied())
}

/// Store element `(r, c)` as the language does: dropped out of range.
pub fn store_element(
    mem: &mut [u32],
    off: u32,
    stride: u32,
    layout: MatrixLayout,
    r: u32,
    c: u32,
    v: u32,
) {
    let idx = u64::from(off) + layout.index(r, c, stride);
    if let Some(slot) = usize::try_from(idx).ok().and_then(|i| mem.get_mut(i)) {
        *slot = v;
    }
}
