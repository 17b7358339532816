//! Warpgroup multiply kernels (`MatrixOp::WarpgroupMultiplyAdd` on
//! warpgroup accumulators) with host expectations written straight from
//! the semantics in `src/ir/matrix.rs`: `d[i][j] = c[i][j] + sum_k
//! A[i][k] * B[k][j]`, the sum started from `c[i][j]` and the products
//! added in order of `k`, each add rounded in `f32`; `A[i][k]` the element
//! `a_off + i * a_stride + k` of A's shared array (64-bit index, 0 when out
//! of range), `B[k][j]` likewise. A shared array's layout changes nothing.

use vyre::half::{bf16, f16};
use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, MatrixLayout, MatrixOp, Program, ProgramBuilder,
    SharedLayout, SharedTile, WarpgroupOperand,
};

/// One warpgroup multiply kernel: `warpgroups` warpgroups per workgroup
/// (invocations `128 g .. 128 (g + 1)` form warpgroup `g`), each of which
/// copies buffers `a` and `b` into the shared arrays (every invocation a
/// few elements), fills `c` with `1.5 + g`, computes `d = A * B + c` with
/// `A` at `a_off + g * per_warpgroup`, `B` at `b_off + g * per_warpgroup`,
/// and stores `c` and then `d` (row-major, stride `n`) at
/// `out[g * 2 * 64 * n ..]`. With `skip_odd`, the warpgroups of odd `g`
/// skip the multiply (a branch on `local_id().x / 128`, which each
/// warpgroup takes whole), their `d` staying 0, and all meet at a barrier
/// before the stores: the warpgroups that skip wait there while the others
/// multiply.
#[derive(Debug, Clone, Copy)]
pub struct WgCase {
    /// Columns of the accumulators.
    pub n: u32,
    /// The reduction length.
    pub k: u32,
    /// `f16` or `bf16`.
    pub elem: DataType,
    /// Both shared arrays' layout.
    pub layout: SharedLayout,
    /// Elements of A's and B's arrays (and of buffers `a` and `b`).
    pub a_len: u32,
    pub b_len: u32,
    pub a_off: u32,
    pub a_stride: u32,
    pub b_off: u32,
    pub b_stride: u32,
    /// Warpgroups per workgroup.
    pub warpgroups: u32,
    /// Added to both offsets per warpgroup.
    pub per_warpgroup: u32,
    /// Whether the warpgroups of odd index skip the multiply.
    pub skip_odd: bool,
}

/// Rows of a warpgroup accumulator.
pub const M: u32 = 64;

impl WgCase {
    /// Invocations of a workgroup.
    pub fn invocations(&self) -> u32 {
        128 * self.warpgroups
    }

    /// Elements of `out`.
    pub fn out_len(&self) -> u32 {
        2 * M * self.n * self.warpgroups
    }

    /// The kernel (buffers `a`, `b`, `out`).
    pub fn program(&self) -> Program {
        let ws = self.invocations();
        let mut b = ProgramBuilder::new("warpgroup_mma", [ws, 1, 1]);
        let pa = b.buffer("a", self.elem, Access::Read);
        let pb = b.buffer("b", self.elem, Access::Read);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let ta = b.shared_with_layout("ta", self.elem, self.a_len, self.layout);
        let tb = b.shared_with_layout("tb", self.elem, self.b_len, self.layout);
        let wc = b.warpgroup_accumulator("wc", self.n, self.k);
        let wd = b.warpgroup_accumulator("wd", self.n, self.k);
        let r = b.local("r", DataType::U32, false);
        let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
        let g = || lid().div(Expr::u32(128));
        let s = *self;
        b.body(|blk| {
            for (tile, buf, len) in [(ta, pa, s.a_len), (tb, pb, s.b_len)] {
                blk.for_(r, Expr::u32(0), Expr::u32(len.div_ceil(ws)), |body| {
                    let idx = Expr::local(r).mul(Expr::u32(ws)).add(lid());
                    body.if_(idx.clone().lt(Expr::u32(len)), |then| {
                        then.store(
                            BufRef::Shared(tile),
                            idx.clone(),
                            Expr::load(BufRef::Param(buf), idx),
                        );
                    });
                });
            }
            blk.barrier();
            blk.matrix(MatrixOp::Fill {
                matrix: wc,
                value: Expr::f32(1.5).add(g().cast(DataType::F32)),
            });
            let shift = || g().mul(Expr::u32(s.per_warpgroup));
            let multiply = MatrixOp::WarpgroupMultiplyAdd {
                d: wd,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: ta,
                    offset: Expr::u32(s.a_off).add(shift()),
                    stride: Expr::u32(s.a_stride),
                    layout: MatrixLayout::RowMajor,
                }),
                b: SharedTile {
                    array: tb,
                    offset: Expr::u32(s.b_off).add(shift()),
                    stride: Expr::u32(s.b_stride),
                    layout: MatrixLayout::RowMajor,
                },
                c: wc,
                asynchronous: false,
            };
            if s.skip_odd {
                let even = g().rem(Expr::u32(2)).eq(Expr::u32(0));
                blk.if_(even, |then| {
                    then.matrix(multiply);
                });
                blk.barrier();
            } else {
                blk.matrix(multiply);
            }
            for (q, m) in [wc, wd].into_iter().enumerate() {
                let base = g()
                    .mul(Expr::u32(2 * M * s.n))
                    .add(Expr::u32(q as u32 * M * s.n));
                blk.matrix(MatrixOp::Store {
                    matrix: m,
                    buf: BufRef::Param(out),
                    offset: base,
                    stride: Expr::u32(s.n),
                    layout: MatrixLayout::RowMajor,
                    clip: None,
                });
            }
        });
        b.finish()
    }

    /// Random `a` and `b` (as element bits) from `seed`: small signed
    /// values over a range of exponents, so sums need rounding.
    pub fn inputs(&self, seed: u64) -> (Vec<u32>, Vec<u32>) {
        let mut x = seed;
        let mut next = move || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let elem = self.elem;
        let mut value = move || {
            let v = next();
            let mant = (v % 2001) as f32 - 1000.0;
            bits_of(elem, mant * 2f32.powi(((v >> 16) % 9) as i32 - 12))
        };
        let a = (0..self.a_len).map(|_| value()).collect();
        let b = (0..self.b_len).map(|_| value()).collect();
        (a, b)
    }

    /// `out` for inputs `a` and `b`, by the plain loop of the semantics.
    pub fn expected(&self, a: &[u32], b: &[u32]) -> Vec<u32> {
        let (m, n, k) = (M as u64, u64::from(self.n), u64::from(self.k));
        // Element `idx` of an array, 0 out of range.
        let read = |arr: &[u32], idx: u64| {
            usize::try_from(idx)
                .ok()
                .and_then(|i| arr.get(i))
                .map_or(0.0, |&w| value_of(self.elem, w))
        };
        let mut out = Vec::new();
        for g in 0..u64::from(self.warpgroups) {
            let shift = g as u32 * self.per_warpgroup;
            let (a_off, b_off) = (
                u64::from(self.a_off.wrapping_add(shift)),
                u64::from(self.b_off.wrapping_add(shift)),
            );
            let c = 1.5 + g as f32;
            out.extend(std::iter::repeat_n(c.to_bits(), (m * n) as usize));
            if self.skip_odd && g % 2 == 1 {
                out.extend(std::iter::repeat_n(0f32.to_bits(), (m * n) as usize));
                continue;
            }
            for i in 0..m {
                for j in 0..n {
                    let mut acc = c;
                    for kk in 0..k {
                        let av = read(a, a_off + i * u64::from(self.a_stride) + kk);
                        let bv = read(b, b_off + kk * u64::from(self.b_stride) + j);
                        acc += av * bv;
                    }
                    out.push(acc.to_bits());
                }
            }
        }
        out
    }
}

/// `x` rounded to `t`'s bits (`f16`, `bf16`, else `f32`).
pub fn bits_of(t: DataType, x: f32) -> u32 {
    match t {
        DataType::F16 => u32::from(f16::from_f32(x).to_bits()),
        DataType::BF16 => u32::from(bf16::from_f32(x).to_bits()),
        _ => x.to_bits(),
    }
}

/// The value of `t`'s bits.
pub fn value_of(t: DataType, bits: u32) -> f32 {
    match t {
        DataType::F16 => f16::from_bits(bits as u16).to_f32(),
        DataType::BF16 => bf16::from_bits(bits as u16).to_f32(),
        _ => f32::from_bits(bits),
    }
}

/// Invocations per workgroup of [`barrier_exchange`].
pub const EXCHANGE_INVOCATIONS: u32 = 256;

/// A `warpgroup_barrier()` between two rounds of an exchange inside each
/// warpgroup of a 256-invocation workgroup: invocation `i` writes
/// `3 i + 1` to `sh[i]`, meets its warpgroup, reads `sh[i ^ 64]` (an
/// invocation of the same warpgroup), writes that plus 1 back to `sh[i]`,
/// meets it again and stores `sh[i ^ 32]` to `out[global id]`. Parameter
/// `out` (`u32`).
pub fn barrier_exchange() -> Program {
    let n = EXCHANGE_INVOCATIONS;
    let mut b = ProgramBuilder::new("warpgroup_barrier_exchange", [n, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U32, n);
    let v = b.local("v", DataType::U32, false);
    let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.store(
            BufRef::Shared(sh),
            lid(),
            lid().mul(Expr::u32(3)).add(Expr::u32(1)),
        );
        blk.warpgroup_barrier();
        blk.let_(
            v,
            Expr::load(BufRef::Shared(sh), lid().bitxor(Expr::u32(64))),
        );
        blk.warpgroup_barrier();
        blk.store(BufRef::Shared(sh), lid(), Expr::local(v).add(Expr::u32(1)));
        blk.warpgroup_barrier();
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x(),
            Expr::load(BufRef::Shared(sh), lid().bitxor(Expr::u32(32))),
        );
    });
    b.finish()
}

/// `out` of [`barrier_exchange`] over `workgroups` workgroups.
pub fn barrier_exchange_expected(workgroups: u32) -> Vec<u32> {
    (0..workgroups * EXCHANGE_INVOCATIONS)
        .map(|g| {
            let i = g % EXCHANGE_INVOCATIONS;
            3 * ((i ^ 32) ^ 64) + 1 + 1
        })
        .collect()
}

/// A [`WgCase`] of two warpgroups whose tiles `wgmma` reads on sm_90a
/// (swizzled arrays with strides equal to their rows, tiles on whole
/// swizzle rows): warpgroup 1 skips its multiply in a branch of its own.
pub fn wgmma_branch_case() -> WgCase {
    WgCase {
        n: 64,
        k: 64,
        elem: DataType::BF16,
        layout: SharedLayout::Swizzled { cols: 64 },
        a_len: 2 * 64 * 64,
        b_len: 2 * 64 * 64,
        a_off: 0,
        a_stride: 64,
        b_off: 0,
        b_stride: 64,
        warpgroups: 2,
        per_warpgroup: 64 * 64,
        skip_odd: true,
    }
}
