//! A warpgroup GEMM built with `ProgramBuilder`, shared by the PTX test
//! (`tests/ptx_warpgroup.rs`) and the GPU test (`tests/cuda_kernels.rs`),
//! with a host-side expectation computed from the language's semantics
//! (`src/ir/matrix.rs`), independently of any backend.
#![allow(dead_code)]

use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, Literal, MatrixClip, MatrixLayout, MatrixOp,
    Program, ProgramBuilder, SharedLayout, SharedTile, WarpgroupOperand,
};

/// Columns of `c` per workgroup of [`warpgroup_gemm`].
pub const BN: u32 = 128;
/// Rows of `c` per workgroup (two warpgroups of 64).
pub const BM: u32 = 128;
/// `k` per step.
pub const BK: u32 = 64;

fn lid() -> Expr {
    Expr::Builtin(Builtin::LocalId, Axis::X)
}

fn wgid(a: Axis) -> Expr {
    Expr::Builtin(Builtin::WorkgroupId, a)
}

fn u(v: u32) -> Expr {
    Expr::u32(v)
}

/// `c = a × b` (`m × k` times `k × n`, row-major, `f32` out) by two
/// warpgroups of a 256-invocation workgroup, each a `64 × 128` accumulator
/// multiplied by `warpgroup_mma` from shared tiles of `A` (`128 × 64`) and
/// `B` (`64 × 128`), filled element by element (zero past the edges) and
/// laid out as `layout` (swizzled: the `wgmma` path on sm_90a). Edge tiles
/// are stored clipped. Parameters `a, b, c, m, n, k`.
pub fn warpgroup_gemm(elem: DataType, swizzled: bool) -> Program {
    let name = format!(
        "wg_gemm_{}_{}",
        elem.name(),
        if swizzled { "swizzled" } else { "linear" }
    );
    let mut b = ProgramBuilder::new(name, [256, 1, 1]);
    let a = b.buffer("a", elem, Access::Read);
    let bb = b.buffer("b", elem, Access::Read);
    let c = b.buffer("c", DataType::F32, Access::ReadWrite);
    let m = b.scalar("m", DataType::U32);
    let n = b.scalar("n", DataType::U32);
    let k = b.scalar("k", DataType::U32);
    let layout = |cols| {
        if swizzled {
            SharedLayout::Swizzled { cols }
        } else {
            SharedLayout::Linear
        }
    };
    let ta = b.shared_with_layout("ta", elem, BM * BK, layout(BK));
    let tb = b.shared_with_layout("tb", elem, BK * BN, layout(BN));
    let acc = b.warpgroup_accumulator("acc", BN, BK);
    let row0 = b.local("row0", DataType::U32, false);
    let col0 = b.local("col0", DataType::U32, false);
    let half = b.local("half", DataType::U32, false);
    let k0 = b.local("k0", DataType::U32, false);
    let i = b.local("i", DataType::U32, false);
    let r = b.local("r", DataType::U32, false);
    let cc = b.local("cc", DataType::U32, false);
    let zero = Expr::Lit(Literal::zero(elem));
    let (p, l) = (Expr::param, Expr::local);
    b.body(|blk| {
        blk.let_(row0, wgid(Axis::Y).mul(u(BM)));
        blk.let_(col0, wgid(Axis::X).mul(u(BN)));
        blk.let_(half, lid().div(u(128)));
        blk.for_step(k0, u(0), p(k), BK, false, |body| {
            // A tile: rows row0.., columns k0..
            body.for_step(i, lid(), u(BM * BK), 256, false, |f| {
                f.let_(r, l(i).div(u(BK)));
                f.let_(cc, l(i).rem(u(BK)));
                let gr = l(row0).add(l(r));
                let gc = l(k0).add(l(cc));
                let inside = gr.clone().lt(p(m)).bitand(gc.clone().lt(p(k)));
                let v = Expr::select(
                    inside,
                    Expr::load(BufRef::Param(a), gr.mul(p(k)).add(gc)),
                    zero.clone(),
                );
                f.store(BufRef::Shared(ta), l(i), v);
            });
            // B tile: rows k0.., columns col0..
            body.for_step(i, lid(), u(BK * BN), 256, false, |f| {
                f.let_(r, l(i).div(u(BN)));
                f.let_(cc, l(i).rem(u(BN)));
                let gr = l(k0).add(l(r));
                let gc = l(col0).add(l(cc));
                let inside = gr.clone().lt(p(k)).bitand(gc.clone().lt(p(n)));
                let v = Expr::select(
                    inside,
                    Expr::load(BufRef::Param(bb), gr.mul(p(n)).add(gc)),
                    zero.clone(),
                );
                f.store(BufRef::Shared(tb), l(i), v);
            });
            body.barrier();
            body.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: acc,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: ta,
                    offset: l(half).mul(u(64 * BK)),
                    stride: u(BK),
                    layout: MatrixLayout::RowMajor,
                }),
                b: SharedTile {
                    array: tb,
                    offset: u(0),
                    stride: u(BN),
                    layout: MatrixLayout::RowMajor,
                },
                c: acc,
                asynchronous: false,
            });
            body.barrier();
        });
        let top = l(row0).add(l(half).mul(u(64)));
        let rows = Expr::select(top.clone().lt(p(m)), p(m).sub(top.clone()), u(0));
        let cols = Expr::select(l(col0).lt(p(n)), p(n).sub(l(col0)), u(0));
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(c),
            offset: top.mul(p(n)).add(l(col0)),
            stride: p(n),
            layout: MatrixLayout::RowMajor,
            clip: Some(MatrixClip { rows, cols }),
        });
    });
    b.finish()
}

/// The expected `c` of [`warpgroup_gemm`]: every element the sum over `k`
/// in slices of [`BK`], each slice's products added in order of `k` to
/// the running `f32` sum (round to nearest even), as the reference does;
/// `a` and `b` given as `f32` values of the half-precision inputs.
pub fn expected(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for x in 0..k {
                s += a[i * k + x] * b[x * n + j];
            }
            c[i * n + j] = s;
        }
    }
    c
}

/// Elements of each array of [`swizzled_accesses`].
pub const SWIZZLED_LEN: u32 = 1024;

/// Every kind of access to swizzled shared arrays, to compare a target
/// that lays them out (PTX) with the reference (which need not): 256
/// invocations store `u32`s (four each) into a swizzled `u32` array of one
/// panel (`cols = 32`; the `f16` array below has two, so both of PTX's
/// index maps run), copy `f16` bits from `src` into a swizzled `f16`
/// array by 16-byte `async_copy`s, then read both back at scattered
/// indices (plain loads, through indices of whole swizzle atoms plus a rest,
/// some wrapping around 2^32) into `out32` and `out16`, and load a 16 × 16 `A`
/// matrix from the `f16` array (stored to `outm`, `f32`). Parameters
/// `src, out32, out16, outm`.
pub fn swizzled_accesses() -> Program {
    use vyre::ir::{MatrixRole, MatrixShape};
    let mut b = ProgramBuilder::new("swizzled_accesses", [256, 1, 1]);
    let src = b.buffer("src", DataType::F16, Access::Read);
    let out32 = b.buffer("out32", DataType::U32, Access::ReadWrite);
    let out16 = b.buffer("out16", DataType::F16, Access::ReadWrite);
    let outm = b.buffer("outm", DataType::F32, Access::ReadWrite);
    let s32 = b.shared_with_layout(
        "s32",
        DataType::U32,
        SWIZZLED_LEN,
        SharedLayout::Swizzled { cols: 32 },
    );
    let s16 = b.shared_with_layout(
        "s16",
        DataType::F16,
        SWIZZLED_LEN,
        SharedLayout::Swizzled { cols: 128 },
    );
    let shape = MatrixShape { m: 16, n: 8, k: 16 };
    let fa = b.matrix("fa", MatrixRole::A, DataType::F16, shape);
    let acc = b.matrix("acc", MatrixRole::Accumulator, DataType::F32, shape);
    let fb = b.matrix("fb", MatrixRole::B, DataType::F16, shape);
    let i = b.local("i", DataType::U32, false);
    let l = Expr::local;
    b.body(|blk| {
        blk.for_step(i, lid(), u(SWIZZLED_LEN), 256, false, |f| {
            // `i` as whole swizzle atoms plus the rest: PTX maps the rest
            // alone and adds the atoms' rows.
            let split = l(i).div(u(512)).mul(u(512)).add(l(i).rem(u(512)));
            f.store(
                BufRef::Shared(s32),
                split,
                l(i).mul(u(2_654_435_761)).add(u(7)),
            );
        });
        blk.for_step(i, lid().mul(u(8)), u(SWIZZLED_LEN), 2048, false, |f| {
            f.async_copy(s16, l(i), src, l(i), 8);
        });
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
        blk.for_step(i, lid(), u(SWIZZLED_LEN), 256, false, |f| {
            let scattered = l(i).mul(u(389)).rem(u(SWIZZLED_LEN));
            // Whole atoms (512 and 1024 elements) that wrap around 2^32:
            // the same elements as `scattered`.
            let wrapped32 = u(0u32.wrapping_sub(512)).add(scattered.clone().add(u(512)));
            let wrapped16 = u(0u32.wrapping_sub(1024)).add(scattered.add(u(1024)));
            f.store(
                BufRef::Param(out32),
                l(i),
                Expr::load(BufRef::Shared(s32), wrapped32),
            );
            f.store(
                BufRef::Param(out16),
                l(i),
                Expr::load(BufRef::Shared(s16), wrapped16),
            );
        });
        // A 16 x 16 tile from row 5, column 40 (crossing chunks and rows
        // of different swizzles) times an identity-like B of ones on the
        // diagonal: the rows of A, summed in blocks, land in `outm`.
        blk.matrix(MatrixOp::Load {
            matrix: fa,
            buf: BufRef::Shared(s16),
            offset: u(5 * 128 + 40),
            stride: u(128),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: fb,
            buf: BufRef::Shared(s16),
            offset: u(9 * 128 + 3),
            stride: u(128),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: acc,
            a: fa,
            b: fb,
            c: acc,
        });
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(outm),
            offset: lid().div(u(32)).mul(u(128)),
            stride: u(8),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

/// Keys of [`attention_step`].
pub const STEP_KEYS: u32 = 64;

/// One step of attention by two warpgroups (256 invocations), every new
/// warpgroup statement in it: `q` (`128 × d`), `k` and `v` (`64 × d`, `d`
/// = `dim`) are copied into shared tiles (swizzled with their row length
/// when `swizzled`: the `wgmma` path on sm_90a); each warpgroup takes 64
/// rows of `q` and computes `s = q · kᵀ` (`warpgroup_mma_t`), masks
/// `s[r][c]` to `-inf` where `c > r + 64 w` (`w` its warpgroup: a local
/// that differs between warpgroups), `m = matrix_row_max(s)`,
/// `p = exp((s - m[r]) · scale)`, `l = matrix_row_sum(p)`, `o = p · v`
/// (`A` from the accumulator `p`, rounded to the element type) and
/// stores `o / l[r]` (`f32`). Parameters `q, k, v, o, scale`.
pub fn attention_step(elem: DataType, dim: u32, swizzled: bool) -> Program {
    use vyre::ir::{MathFn, RowReduceOp};
    let name = format!(
        "attention_step_{}_d{dim}_{}",
        elem.name(),
        if swizzled { "swizzled" } else { "linear" }
    );
    let mut b = ProgramBuilder::new(name, [256, 1, 1]);
    let q = b.buffer("q", elem, Access::Read);
    let k = b.buffer("k", elem, Access::Read);
    let v = b.buffer("v", elem, Access::Read);
    let o = b.buffer("o", DataType::F32, Access::ReadWrite);
    let scale = b.scalar("scale", DataType::F32);
    let layout = || {
        if swizzled {
            SharedLayout::Swizzled { cols: dim }
        } else {
            SharedLayout::Linear
        }
    };
    let tq = b.shared_with_layout("tq", elem, 128 * dim, layout());
    let tk = b.shared_with_layout("tk", elem, STEP_KEYS * dim, layout());
    let tv = b.shared_with_layout("tv", elem, STEP_KEYS * dim, layout());
    let mrow = b.shared("mrow", DataType::F32, 128);
    let lrow = b.shared("lrow", DataType::F32, 128);
    let s = b.warpgroup_accumulator("s", STEP_KEYS, dim);
    let pm = b.warpgroup_accumulator("p", STEP_KEYS, dim);
    let acc = b.warpgroup_accumulator("acc", dim, STEP_KEYS);
    let w = b.local("w", DataType::U32, false);
    let i = b.local("i", DataType::U32, false);
    let vars: Vec<_> = (0..3)
        .map(|n| {
            [
                b.local(format!("r{n}"), DataType::U32, false),
                b.local(format!("c{n}"), DataType::U32, false),
                b.local(format!("x{n}"), DataType::F32, false),
            ]
        })
        .collect();
    let l = Expr::local;
    let map = |d, src, [row, col, value]: [u32; 3], expr| MatrixOp::Map {
        d,
        src,
        row,
        col,
        value,
        expr,
    };
    b.body(|blk| {
        blk.let_(w, lid().div(u(128)));
        for (buf, tile, rows) in [(q, tq, 128), (k, tk, STEP_KEYS), (v, tv, STEP_KEYS)] {
            blk.for_step(i, lid(), u(rows * dim), 256, false, |f| {
                f.store(
                    BufRef::Shared(tile),
                    l(i),
                    Expr::load(BufRef::Param(buf), l(i)),
                );
            });
        }
        blk.barrier();
        blk.matrix(MatrixOp::Fill {
            matrix: s,
            value: Expr::f32(0.0),
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: s,
            a: WarpgroupOperand::Shared(SharedTile {
                array: tq,
                offset: l(w).mul(u(64 * dim)),
                stride: u(dim),
                layout: MatrixLayout::RowMajor,
            }),
            b: SharedTile {
                array: tk,
                offset: u(0),
                stride: u(dim),
                layout: MatrixLayout::ColMajor,
            },
            c: s,
            asynchronous: false,
        });
        let [r0, c0, x0] = vars[0];
        blk.matrix(map(
            s,
            s,
            vars[0],
            Expr::select(
                l(c0).gt(l(r0).add(l(w).mul(u(64)))),
                Expr::f32(f32::NEG_INFINITY),
                l(x0),
            ),
        ));
        let rows = || l(w).mul(u(64));
        blk.matrix(MatrixOp::RowReduce {
            op: RowReduceOp::Max,
            src: s,
            dst: mrow,
            offset: rows(),
        });
        let [r1, _, x1] = vars[1];
        blk.matrix(map(
            pm,
            s,
            vars[1],
            l(x1)
                .sub(Expr::load(BufRef::Shared(mrow), rows().add(l(r1))))
                .mul(Expr::param(scale))
                .math(MathFn::Exp, vec![]),
        ));
        blk.matrix(MatrixOp::RowReduce {
            op: RowReduceOp::Add,
            src: pm,
            dst: lrow,
            offset: rows(),
        });
        blk.matrix(MatrixOp::Fill {
            matrix: acc,
            value: Expr::f32(0.0),
        });
        blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
            d: acc,
            a: WarpgroupOperand::Accumulator(pm),
            b: SharedTile {
                array: tv,
                offset: u(0),
                stride: u(dim),
                layout: MatrixLayout::RowMajor,
            },
            c: acc,
            asynchronous: false,
        });
        let [r2, _, x2] = vars[2];
        blk.matrix(map(
            acc,
            acc,
            vars[2],
            l(x2).div(Expr::load(BufRef::Shared(lrow), rows().add(l(r2)))),
        ));
        blk.matrix(MatrixOp::Store {
            matrix: acc,
            buf: BufRef::Param(o),
            offset: rows().mul(u(dim)),
            stride: u(dim),
            layout: MatrixLayout::RowMajor,
            clip: None,
        });
    });
    b.finish()
}

/// The expected `o` of [`attention_step`] in `f64` from the `f32` values
/// of the inputs (`q`: `128 × dim`, `k`, `v`: `64 × dim`), with `p`
/// rounded by `round` (to the element type) before it multiplies `v`, as
/// the program's accumulator operand is; targets differ from it by the
/// exponential's and the sums' rounding only.
pub fn attention_step_expected(
    (q, k, v): (&[f32], &[f32], &[f32]),
    dim: usize,
    scale: f32,
    round: impl Fn(f32) -> f32,
) -> Vec<f64> {
    let keys = STEP_KEYS as usize;
    let mut out = vec![0.0f64; 128 * dim];
    for r in 0..128 {
        let s: Vec<f32> = (0..keys)
            .map(|c| {
                if c > r {
                    return f32::NEG_INFINITY;
                }
                (0..dim)
                    .map(|x| f64::from(q[r * dim + x]) * f64::from(k[c * dim + x]))
                    .sum::<f64>() as f32
            })
            .collect();
        let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let p: Vec<f32> = s.iter().map(|x| ((x - m) * scale).exp()).collect();
        let l: f64 = p.iter().map(|x| f64::from(*x)).sum();
        for x in 0..dim {
            let acc: f64 = (0..keys)
                .map(|c| f64::from(round(p[c])) * f64::from(v[c * dim + x]))
                .sum();
            out[r * dim + x] = acc / l;
        }
    }
    out
}

/// Deterministic bf16 inputs of an attention of `heads × seq × dim`
/// (`q`, `k`, `v` as bits, in `[-1, 1)`, `[-1, 1)`, `[-0.5, 0.5)`).
pub fn attention_inputs(heads: usize, seq: usize, dim: usize) -> [Vec<u32>; 3] {
    let len = heads * seq * dim;
    let value = |i: usize, p: usize, q: usize| ((i * p) % q) as f32 / q as f32 - 0.5;
    let bits = |f: &dyn Fn(usize) -> f32| -> Vec<u32> {
        (0..len)
            .map(|i| u32::from(vyre::half::bf16::from_f32(f(i)).to_bits()))
            .collect()
    };
    [
        bits(&|i| 2.0 * value(i, 7, 13)),
        bits(&|i| 2.0 * value(i, 5, 11)),
        bits(&|i| value(i, 3, 17)),
    ]
}

/// Row `row` of head `head` of softmax(q kᵀ · scale) v in `f64` from bf16
/// bits (`causal`: keys after the query left out).
pub fn attention_row(
    [q, k, v]: [&[u32]; 3],
    (head, row): (usize, usize),
    (seq, dim): (usize, usize),
    scale: f64,
    causal: bool,
) -> Vec<f64> {
    let f = |x: u32| f64::from(vyre::half::bf16::from_bits(x as u16).to_f32());
    let base = head * seq * dim;
    let keys = if causal { row + 1 } else { seq };
    let s: Vec<f64> = (0..keys)
        .map(|j| {
            (0..dim)
                .map(|x| f(q[base + row * dim + x]) * f(k[base + j * dim + x]))
                .sum::<f64>()
                * scale
        })
        .collect();
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
    let l: f64 = p.iter().sum();
    (0..dim)
        .map(|x| {
            (0..keys)
                .map(|j| p[j] * f(v[base + j * dim + x]))
                .sum::<f64>()
                / l
        })
        .collect()
}

/// Check every row of `o` (bf16 bits) against [`attention_row`]: bf16
/// output rounding (half an ulp, 2^-9 relative) plus `p` rounded to bf16
/// before `p · v` (2^-9 of `Σ p |v| / l`, at most 2^-9 · 0.5).
pub fn check_attention(
    what: &str,
    inputs: [&[u32]; 3],
    o: &[u32],
    (heads, seq, dim): (usize, usize, usize),
    causal: bool,
) {
    let scale = 1.0 / (dim as f64).sqrt();
    for head in 0..heads {
        for row in 0..seq {
            let want = attention_row(inputs, (head, row), (seq, dim), scale, causal);
            for (x, w) in want.iter().enumerate() {
                let g = f64::from(
                    vyre::half::bf16::from_bits(o[(head * seq + row) * dim + x] as u16).to_f32(),
                );
                assert!(
                    (g - w).abs() <= w.abs() / 256.0 + 1e-3,
                    "{what}: o[{head}][{row}][{x}] = {g}, want {w}"
                );
            }
        }
    }
}
