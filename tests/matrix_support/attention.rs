//! A small attention block on warpgroup accumulators, with all four
//! attention building blocks: `S = Q · Kᵀ` (`warpgroup_mma_t`: `B`
//! column-major), a mask (`matrix_map` of `S` into itself), `matrix_row_max`,
//! `P = matrix_map(S, ..)` (scale and exponentiate, reading the row
//! maxima from shared memory), `matrix_row_sum`, `O = P ·
//! V` (`A` from the accumulator `P`, rounded to the operand type) and a
//! last `matrix_map` reading the row sums. The expected outputs are a
//! literal host transcription of the semantics in `src/ir/matrix.rs`.

use vyre::half::{bf16, f16};
use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, MathFn, MatrixLayout, MatrixOp, Program,
    ProgramBuilder, RowReduceOp, SharedTile, WarpgroupOperand,
};

/// Rows of every warpgroup accumulator.
const M: u32 = 64;

/// The kernel's knobs.
#[derive(Debug, Clone, Copy)]
pub struct Attention {
    /// `f16` or `bf16` operands.
    pub elem: DataType,
    /// Keys per block (`S` is `64 x kv`).
    pub kv: u32,
    /// Head dimension (`Q` is `64 x d`, `O` is `64 x d`).
    pub d: u32,
    /// `exp` and a division by the row sum (the real thing); otherwise
    /// `max(y / 4 + 1, 0)` and `o + l / 2`, operations every target rounds
    /// exactly (the products are by powers of two), for bit-exact
    /// comparisons with GPU drivers whose `exp` and `/` are approximate.
    pub exp: bool,
    /// Workgroups (each its own rows of `Q`, its own mask shift).
    pub workgroups: u32,
}

/// `x` rounded to `t`'s bits (`f16`, `bf16`).
fn bits_of(t: DataType, x: f32) -> u32 {
    match t {
        DataType::F16 => u32::from(f16::from_f32(x).to_bits()),
        _ => u32::from(bf16::from_f32(x).to_bits()),
    }
}

/// The value of `t`'s bits.
fn value_of(t: DataType, bits: u32) -> f32 {
    match t {
        DataType::F16 => f16::from_bits(bits as u16).to_f32(),
        _ => bf16::from_bits(bits as u16).to_f32(),
    }
}

/// `x` rounded to nearest even to `t`, as an `f32`.
fn round(t: DataType, x: f32) -> f32 {
    value_of(t, bits_of(t, x))
}

/// The scale of the scores (a power of two: exact).
pub const SCALE: f32 = 0.125;

impl Attention {
    /// Elements of `out` per workgroup: `O`, then the 64 row maxima and
    /// the 64 row sums.
    pub fn out_per_workgroup(&self) -> u32 {
        M * self.d + 2 * M
    }

    /// The kernel: parameters `q` (`64 x d` per workgroup), `k` (`kv x
    /// d`), `v` (`kv x d`), `out` (`f32`), `scale` (`f32`); one
    /// warpgroup per workgroup.
    pub fn program(&self) -> Program {
        let (elem, kv, d) = (self.elem, self.kv, self.d);
        let name = format!(
            "attention_{}_{kv}x{d}{}",
            elem.name(),
            if self.exp { "_exp" } else { "" }
        );
        let mut b = ProgramBuilder::new(name, [128, 1, 1]);
        let q = b.buffer("q", elem, Access::Read);
        let k = b.buffer("k", elem, Access::Read);
        let v = b.buffer("v", elem, Access::Read);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let scale = b.scalar("scale", DataType::F32);
        let tq = b.shared("tq", elem, M * d);
        let tk = b.shared("tk", elem, kv * d);
        let tv = b.shared("tv", elem, kv * d);
        let m = b.shared("m", DataType::F32, M);
        let l = b.shared("l", DataType::F32, M);
        let s = b.warpgroup_accumulator("s", kv, d);
        let p = b.warpgroup_accumulator("p", kv, d);
        let o = b.warpgroup_accumulator("o", d, kv);
        let i = b.local("i", DataType::U32, false);
        let shift = b.local("shift", DataType::U32, false);
        let base = b.local("base", DataType::U32, false);
        let closure = |b: &mut ProgramBuilder, tag: &str| {
            [
                b.local(format!("r{tag}"), DataType::U32, false),
                b.local(format!("c{tag}"), DataType::U32, false),
                b.local(format!("x{tag}"), DataType::F32, false),
            ]
        };
        let [r0, c0, x0] = closure(&mut b, "0");
        let [r1, c1, x1] = closure(&mut b, "1");
        let [r2, c2, x2] = closure(&mut b, "2");
        let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
        let wg = || Expr::Builtin(Builtin::WorkgroupId, Axis::X);
        let u = Expr::u32;
        let loc = Expr::local;
        let exp = self.exp;
        b.body(|blk| {
            blk.let_(base, wg().mul(u(M * d)));
            blk.let_(shift, u(3).add(wg().mul(u(5))));
            // Every invocation copies its share of the three tiles.
            for (tile, src, len, from) in [
                (tq, q, M * d, Some(base)),
                (tk, k, kv * d, None),
                (tv, v, kv * d, None),
            ] {
                blk.for_(i, u(0), u(len.div_ceil(128)), |body| {
                    let idx = loc(i).mul(u(128)).add(lid());
                    let at = from.map_or(idx.clone(), |f| loc(f).add(idx.clone()));
                    body.if_(idx.clone().lt(u(len)), |t| {
                        t.store(
                            BufRef::Shared(tile),
                            idx,
                            Expr::load(BufRef::Param(src), at),
                        );
                    });
                });
            }
            blk.barrier();
            blk.matrix(MatrixOp::Fill {
                matrix: s,
                value: Expr::f32(0.0),
            });
            // S = Q · Kᵀ: B[k][j] = K[j][k] = tk[j * d + k].
            blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: s,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: tq,
                    offset: u(0),
                    stride: u(d),
                    layout: MatrixLayout::RowMajor,
                }),
                b: SharedTile {
                    array: tk,
                    offset: u(0),
                    stride: u(d),
                    layout: MatrixLayout::ColMajor,
                },
                c: s,
                asynchronous: false,
            });
            // The causal-style mask first: S = c > r + shift ? -inf : S.
            blk.matrix(MatrixOp::Map {
                d: s,
                src: s,
                row: r0,
                col: c0,
                value: x0,
                expr: Expr::select(
                    loc(c0).gt(loc(r0).add(loc(shift))),
                    Expr::f32(f32::NEG_INFINITY),
                    loc(x0),
                ),
            });
            blk.matrix(MatrixOp::RowReduce {
                op: RowReduceOp::Max,
                src: s,
                dst: m,
                offset: u(0),
            });
            // P = f((S - m[r]) * scale): 1 at the row's maximum, 0 where
            // masked.
            let y = loc(x1)
                .sub(Expr::load(BufRef::Shared(m), loc(r1)))
                .mul(Expr::param(scale));
            let f = if exp {
                y.math(MathFn::Exp, vec![])
            } else {
                y.mul(Expr::f32(0.25))
                    .add(Expr::f32(1.0))
                    .math(MathFn::Max, vec![Expr::f32(0.0)])
            };
            blk.matrix(MatrixOp::Map {
                d: p,
                src: s,
                row: r1,
                col: c1,
                value: x1,
                expr: f,
            });
            blk.matrix(MatrixOp::RowReduce {
                op: RowReduceOp::Add,
                src: p,
                dst: l,
                offset: u(0),
            });
            blk.matrix(MatrixOp::Fill {
                matrix: o,
                value: Expr::f32(0.0),
            });
            // O = P · V, P rounded to the operand type.
            blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: o,
                a: WarpgroupOperand::Accumulator(p),
                b: SharedTile {
                    array: tv,
                    offset: u(0),
                    stride: u(d),
                    layout: MatrixLayout::RowMajor,
                },
                c: o,
                asynchronous: false,
            });
            let lr = Expr::load(BufRef::Shared(l), loc(r2));
            blk.matrix(MatrixOp::Map {
                d: o,
                src: o,
                row: r2,
                col: c2,
                value: x2,
                expr: if exp {
                    loc(x2).div(lr)
                } else {
                    loc(x2).add(lr.mul(Expr::f32(0.5)))
                },
            });
            let per = self.out_per_workgroup();
            let at = wg().mul(u(per));
            blk.matrix(MatrixOp::Store {
                matrix: o,
                buf: BufRef::Param(out),
                offset: at.clone(),
                stride: u(d),
                layout: MatrixLayout::RowMajor,
                clip: None,
            });
            blk.barrier();
            blk.if_(lid().lt(u(M)), |t| {
                let tail = at.add(u(M * d)).add(lid());
                t.store(
                    BufRef::Param(out),
                    tail.clone(),
                    Expr::load(BufRef::Shared(m), lid()),
                );
                t.store(
                    BufRef::Param(out),
                    tail.add(u(M)),
                    Expr::load(BufRef::Shared(l), lid()),
                );
            });
        });
        b.finish()
    }

    /// Inputs from `seed`: the bits of `q` (all workgroups), `k` and `v`.
    pub fn inputs(&self, seed: u64) -> [Vec<u32>; 3] {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // A few significant bits over a range of exponents.
            let mant = (state % 401) as f32 - 200.0;
            mant * 2f32.powi((state >> 20) as i32 % 5 - 7)
        };
        let elem = self.elem;
        let mut make = |n: u32| (0..n).map(|_| bits_of(elem, next())).collect();
        [
            make(self.workgroups * M * self.d),
            make(self.kv * self.d),
            make(self.kv * self.d),
        ]
    }

    /// The expected `out` of all workgroups (`out_per_workgroup` each).
    pub fn expected(&self, [q, k, v]: &[Vec<u32>; 3]) -> Vec<f32> {
        let (elem, kv, d) = (self.elem, self.kv as usize, self.d as usize);
        let val = |bits: &[u32], i: usize| value_of(elem, bits[i]);
        let mut out = Vec::new();
        for g in 0..self.workgroups as usize {
            let shift = 3 + 5 * g;
            let qb = g * 64 * d;
            // S = Q · Kᵀ, from 0.0, products in order of k.
            let mut s = vec![0.0f32; 64 * kv];
            for r in 0..64 {
                for j in 0..kv {
                    let mut acc = 0.0f32;
                    for kk in 0..d {
                        acc += val(q, qb + r * d + kk) * val(k, j * d + kk);
                    }
                    s[r * kv + j] = acc;
                }
            }
            for r in 0..64 {
                for c in 0..kv {
                    if c > r + shift {
                        s[r * kv + c] = f32::NEG_INFINITY;
                    }
                }
            }
            let m: Vec<f32> = (0..64)
                .map(|r| {
                    s[r * kv..][..kv]
                        .iter()
                        .fold(f32::NEG_INFINITY, |a, &x| a.max(x))
                })
                .collect();
            let mut p = vec![0.0f32; 64 * kv];
            for r in 0..64 {
                for c in 0..kv {
                    let y = (s[r * kv + c] - m[r]) * SCALE;
                    p[r * kv + c] = if self.exp {
                        y.exp()
                    } else {
                        (y * 0.25 + 1.0).max(0.0)
                    };
                }
            }
            let l: Vec<f32> = (0..64)
                .map(|r| p[r * kv..][..kv].iter().fold(0.0, |a, &x| a + x))
                .collect();
            let mut o = vec![0.0f32; 64 * d];
            for r in 0..64 {
                for j in 0..d {
                    let mut acc = 0.0f32;
                    for kk in 0..kv {
                        acc += round(elem, p[r * kv + kk]) * val(v, kk * d + j);
                    }
                    o[r * d + j] = if self.exp {
                        acc / l[r]
                    } else {
                        acc + l[r] * 0.5
                    };
                }
            }
            out.extend(o);
            out.extend(m);
            out.extend(l);
        }
        out
    }
}
