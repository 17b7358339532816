//! The reference interpreter's matrix statements and asynchronous copies,
//! against hand-computed expectations: multiplies of every layout against a
//! naive loop in the stated order (start from `c[i][j]`, add the products in
//! order of `k` in `f32`), conversions on store, out-of-range elements,
//! aliasing, the shared-memory path, the uniformity verifier, subgroup-size
//! independence and the CPU device; warpgroup accumulators and their
//! multiply from shared arrays.

mod matrix_support;

use matrix_support::warpgroup::WgCase;
use vyre::backend::reference::{RefArg, RunError, RunOptions, run, run_with};
use vyre::half::{bf16, f16};
use vyre::ir::{
    Access, Axis, BufRef, Builtin, DataType, Expr, Literal, MatrixLayout, MatrixOp, MatrixRole,
    MatrixShape, Program, ProgramBuilder,
};
use vyre::ir::{MathFn, SharedTile, WarpgroupOperand};

const ROW: MatrixLayout = MatrixLayout::RowMajor;
const COL: MatrixLayout = MatrixLayout::ColMajor;

/// splitmix64: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }

    /// A value of `t` (`f16`, `bf16` or `f32`) as its bits: a signed
    /// number with a few significant bits over a range of exponents, so
    /// that sums of products need rounding in `f32`.
    fn elem(&mut self, t: DataType) -> u32 {
        let mant = self.below(2001) as f32 - 1000.0;
        let x = mant * 2f32.powi(self.below(9) as i32 - 12);
        bits_of(t, x)
    }
}

/// `x` converted to `t` (round to nearest even), as the element's bits.
fn bits_of(t: DataType, x: f32) -> u32 {
    match t {
        DataType::F16 => u32::from(f16::from_f32(x).to_bits()),
        DataType::BF16 => u32::from(bf16::from_f32(x).to_bits()),
        _ => x.to_bits(),
    }
}

/// The value of an element's bits.
fn value_of(t: DataType, bits: u32) -> f32 {
    match t {
        DataType::F16 => f16::from_bits(bits as u16).to_f32(),
        DataType::BF16 => bf16::from_bits(bits as u16).to_f32(),
        _ => f32::from_bits(bits),
    }
}

/// The element index of `(r, c)`, by hand.
fn at(layout: MatrixLayout, off: u64, stride: u64, r: u64, c: u64) -> u64 {
    match layout {
        MatrixLayout::RowMajor => off + r * stride + c,
        MatrixLayout::ColMajor => off + c * stride + r,
    }
}

/// `d = c + a * b` in the reference's order: `acc = c[i][j]`, then for
/// `k = 0, 1, ..`: `acc = acc + a[i][k] * b[k][j]`, each operation rounded
/// in `f32`. Row-major `m x k`, `k x n`, `m x n` values.
fn naive(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    let mut d = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = c[i * n + j];
            for kk in 0..k {
                let p = a[i * k + kk] * b[kk * n + j];
                acc += p;
            }
            d[i * n + j] = acc;
        }
    }
    d
}

/// The same sum in `f64` (exact for these operands), and the tolerance the
/// language allows targets around the reference:
/// `K * 2^-22 * (|c| + sum |a b|) + 2^-126`.
fn exact_and_bound(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &[f32],
) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for i in 0..m {
        for j in 0..n {
            let mut s = f64::from(c[i * n + j]);
            let mut mag = s.abs();
            for kk in 0..k {
                let p = f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
                s += p;
                mag += p.abs();
            }
            out.push((s, k as f64 * 2f64.powi(-22) * mag + 2f64.powi(-126)));
        }
    }
    out
}

/// One multiply test: where the operands lie and how the result is stored.
#[derive(Clone, Copy, Debug)]
struct Case {
    shape: MatrixShape,
    /// Operand element type (`f16` or `bf16`).
    elem: DataType,
    la: MatrixLayout,
    lb: MatrixLayout,
    lc: MatrixLayout,
    /// Layout and element type of the stored result.
    ls: MatrixLayout,
    store: DataType,
}

/// Offsets and strides (padded) of a case's four memories.
struct Placement {
    off: [u32; 4],
    stride: [u32; 4],
    len: [usize; 4],
}

impl Case {
    /// `(rows, cols)` of A, B, C and the result.
    fn dims(&self) -> [(u32, u32); 4] {
        let s = self.shape;
        [(s.m, s.k), (s.k, s.n), (s.m, s.n), (s.m, s.n)]
    }

    fn layouts(&self) -> [MatrixLayout; 4] {
        [self.la, self.lb, self.lc, self.ls]
    }

    /// Each matrix at a small offset with a stride 3 past its minor
    /// dimension.
    fn placement(&self) -> Placement {
        let mut p = Placement {
            off: [0; 4],
            stride: [0; 4],
            len: [0; 4],
        };
        for (q, ((rows, cols), layout)) in self.dims().into_iter().zip(self.layouts()).enumerate() {
            let (major, minor) = match layout {
                MatrixLayout::RowMajor => (rows, cols),
                MatrixLayout::ColMajor => (cols, rows),
            };
            p.off[q] = 5 + q as u32;
            p.stride[q] = minor + 3;
            p.len[q] = (p.off[q] + major * p.stride[q]) as usize;
        }
        p
    }

    /// `ma = load(a); mb = load(b); mc = load(c); mc = ma * mb + mc;
    /// store(out, mc)`, on one 32-invocation workgroup.
    fn program(&self, p: &Placement) -> Program {
        let mut b = ProgramBuilder::new("mma", [32, 1, 1]);
        let pa = b.buffer("a", self.elem, Access::Read);
        let pb = b.buffer("b", self.elem, Access::Read);
        let pc = b.buffer("c", DataType::F32, Access::Read);
        let out = b.buffer("out", self.store, Access::ReadWrite);
        let ma = b.matrix("ma", MatrixRole::A, self.elem, self.shape);
        let mb = b.matrix("mb", MatrixRole::B, self.elem, self.shape);
        let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, self.shape);
        let layouts = self.layouts();
        b.body(|blk| {
            for (q, (m, buf)) in [(ma, pa), (mb, pb), (mc, pc)].into_iter().enumerate() {
                blk.matrix(MatrixOp::Load {
                    matrix: m,
                    buf: BufRef::Param(buf),
                    offset: Expr::u32(p.off[q]),
                    stride: Expr::u32(p.stride[q]),
                    layout: layouts[q],
                    clip: None,
                });
            }
            blk.matrix(MatrixOp::MultiplyAdd {
                d: mc,
                a: ma,
                b: mb,
                c: mc,
            });
            blk.matrix(MatrixOp::Store {
                matrix: mc,
                buf: BufRef::Param(out),
                offset: Expr::u32(p.off[3]),
                stride: Expr::u32(p.stride[3]),
                layout: layouts[3],
                clip: None,
            });
        });
        b.finish()
    }

    /// Run with random operands from `seed`; returns the result's bits
    /// (row-major), the expected bits and the exact sums with bounds.
    fn run(&self, seed: u64, subgroup_size: u32) -> (Vec<u32>, Vec<u32>, Vec<(f64, f64)>) {
        let mut rng = Rng(seed);
        let pl = self.placement();
        let prog = self.program(&pl);
        let types = [self.elem, self.elem, DataType::F32, self.store];
        let mut vals: Vec<Vec<f32>> = Vec::new();
        let mut bufs: Vec<Vec<u32>> = Vec::new();
        for (q, &t) in types.iter().enumerate() {
            let (rows, cols) = self.dims()[q];
            // Padding and everything around holds junk the load must skip
            // (a sentinel the result must keep for the output).
            let mut buf: Vec<u32> = (0..pl.len[q])
                .map(|_| if q == 3 { 0x7e57 } else { rng.elem(t) })
                .collect();
            let mut v = vec![0.0; (rows * cols) as usize];
            for r in 0..rows {
                for c in 0..cols {
                    let idx = at(
                        self.layouts()[q],
                        u64::from(pl.off[q]),
                        u64::from(pl.stride[q]),
                        u64::from(r),
                        u64::from(c),
                    ) as usize;
                    if q < 3 {
                        v[(r * cols + c) as usize] = value_of(t, buf[idx]);
                    } else {
                        buf[idx] = 0x7e57;
                    }
                }
            }
            vals.push(v);
            bufs.push(buf);
        }
        let (m, n, k) = (
            self.shape.m as usize,
            self.shape.n as usize,
            self.shape.k as usize,
        );
        let d = naive(m, n, k, &vals[0], &vals[1], &vals[2]);
        let want: Vec<u32> = d.iter().map(|&x| bits_of(self.store, x)).collect();
        let exact = exact_and_bound(m, n, k, &vals[0], &vals[1], &vals[2]);
        {
            let [a, b, c, o] = &mut bufs[..] else {
                unreachable!()
            };
            run_with(
                &prog,
                [1, 1, 1],
                &mut [
                    RefArg::Buffer(a),
                    RefArg::Buffer(b),
                    RefArg::Buffer(c),
                    RefArg::Buffer(o),
                ],
                &opts(subgroup_size),
            )
            .unwrap_or_else(|e| panic!("{self:?}: {e}"));
        }
        let out = &bufs[3];
        let mut got = Vec::new();
        for r in 0..self.shape.m {
            for c in 0..self.shape.n {
                let idx = at(
                    self.ls,
                    u64::from(pl.off[3]),
                    u64::from(pl.stride[3]),
                    u64::from(r),
                    u64::from(c),
                ) as usize;
                got.push(out[idx]);
            }
        }
        // Nothing outside the tile was written.
        let touched: std::collections::HashSet<usize> = (0..self.shape.m)
            .flat_map(|r| (0..self.shape.n).map(move |c| (r, c)))
            .map(|(r, c)| {
                at(
                    self.ls,
                    u64::from(pl.off[3]),
                    u64::from(pl.stride[3]),
                    u64::from(r),
                    u64::from(c),
                ) as usize
            })
            .collect();
        for (i, &w) in out.iter().enumerate() {
            if !touched.contains(&i) {
                assert_eq!(w, 0x7e57, "{self:?}: element {i} outside the tile written");
            }
        }
        (got, want, exact)
    }
}

fn opts(subgroup_size: u32) -> RunOptions {
    RunOptions {
        subgroup_size,
        ..RunOptions::default()
    }
}

fn shape(m: u32, n: u32, k: u32) -> MatrixShape {
    MatrixShape { m, n, k }
}

/// Every layout of A, B, C and the stored result, for `shape` and `elem`;
/// the result must be the naive loop's bit for bit, and within the
/// targets' tolerance of the exact sum.
fn all_layouts(shape: MatrixShape, elem: DataType, seed: u64) {
    let mut rounded = 0;
    for (q, &(la, lb, lc, ls)) in [
        (ROW, ROW, ROW, ROW),
        (ROW, COL, ROW, COL),
        (COL, ROW, COL, ROW),
        (COL, COL, COL, COL),
        (ROW, ROW, COL, COL),
        (COL, COL, ROW, ROW),
    ]
    .iter()
    .enumerate()
    {
        let case = Case {
            shape,
            elem,
            la,
            lb,
            lc,
            ls,
            store: DataType::F32,
        };
        let (got, want, exact) = case.run(seed + q as u64, 32);
        assert_eq!(got, want, "{case:?}");
        for (g, (e, bound)) in got.iter().zip(&exact) {
            let g = f64::from(f32::from_bits(*g));
            assert!((g - e).abs() <= *bound, "{case:?}: {g} vs exact {e}");
            rounded += usize::from(g != *e);
        }
    }
    // The operands need rounding: the order of the sum is observable.
    assert!(rounded > 50, "only {rounded} results were rounded");
}

#[test]
fn multiply_16x8x16_bf16_matches_the_naive_loop() {
    all_layouts(shape(16, 8, 16), DataType::BF16, 1);
}

#[test]
fn multiply_32x16x32_f16_matches_the_naive_loop() {
    all_layouts(shape(32, 16, 32), DataType::F16, 100);
}

#[test]
fn multiply_32x16x32_bf16_matches_the_naive_loop() {
    all_layouts(shape(32, 16, 32), DataType::BF16, 200);
}

/// The stored result converted to `f16` and `bf16` buffers (each element
/// rounded to nearest even from the `f32` result).
#[test]
fn results_stored_into_narrow_buffers() {
    for (q, (elem, store)) in [
        (DataType::BF16, DataType::BF16),
        (DataType::BF16, DataType::F16),
        (DataType::F16, DataType::F16),
        (DataType::F16, DataType::BF16),
    ]
    .into_iter()
    .enumerate()
    {
        let case = Case {
            shape: shape(16, 16, 32),
            elem,
            la: ROW,
            lb: COL,
            lc: ROW,
            ls: if q % 2 == 0 { ROW } else { COL },
            store,
        };
        let (got, want, _) = case.run(300 + q as u64, 32);
        assert_eq!(got, want, "{case:?}");
    }
}

/// A one-workgroup program with accumulator `mc` (16 x 8) filled from
/// scalar `v`, optionally multiplied (`ma` from `a`, `mb` from `b`, both
/// row-major and dense), and stored row-major at 0 into `out` of `store`.
fn fill_program(store: DataType, multiply: Option<DataType>) -> Program {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("fill", [32, 1, 1]);
    let v = b.scalar("v", DataType::F32);
    let out = b.buffer("out", store, Access::ReadWrite);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let ops = multiply.map(|t| {
        let pa = b.buffer("a", t, Access::Read);
        let pb = b.buffer("b", t, Access::Read);
        let ma = b.matrix("ma", MatrixRole::A, t, s);
        let mb = b.matrix("mb", MatrixRole::B, t, s);
        (pa, pb, ma, mb)
    });
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: mc,
            value: Expr::param(v),
        });
        if let Some((pa, pb, ma, mb)) = ops {
            for (m, buf, stride) in [(ma, pa, 16), (mb, pb, 8)] {
                blk.matrix(MatrixOp::Load {
                    matrix: m,
                    buf: BufRef::Param(buf),
                    offset: Expr::u32(0),
                    stride: Expr::u32(stride),
                    layout: ROW,
                    clip: None,
                });
            }
            blk.matrix(MatrixOp::MultiplyAdd {
                d: mc,
                a: ma,
                b: mb,
                c: mc,
            });
        }
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: ROW,
            clip: None,
        });
    });
    b.finish()
}

/// Fill with a value, store into `store`: every element the value's bits.
fn fill_and_store(store: DataType, v: f32) -> Vec<u32> {
    let p = fill_program(store, None);
    let mut out = vec![0u32; 128];
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Scalar(Literal::f32(v)), RefArg::Buffer(&mut out)],
    )
    .expect("runs");
    out
}

#[test]
fn fill_and_store_round_to_nearest_even() {
    let cases: [(DataType, f32, u32); 12] = [
        // f32: exact, -0.0 kept.
        (DataType::F32, 2.5, 2.5f32.to_bits()),
        (DataType::F32, -0.0, 0x8000_0000),
        // f16: 1 + 2^-11 is the tie between 1.0 and 1 + 2^-10: even, 1.0;
        // 1 + 3 * 2^-11 ties between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
        (DataType::F16, 1.0 + 2f32.powi(-11), 0x3c00),
        (DataType::F16, 1.0 + 3.0 * 2f32.powi(-11), 0x3c02),
        (DataType::F16, 1.0 + 2f32.powi(-11) + 2f32.powi(-20), 0x3c01),
        (DataType::F16, 65520.0, 0x7c00),
        (DataType::F16, -2.5, 0xc100),
        // bf16: 1 + 2^-8 ties to 1.0, 1 + 3 * 2^-8 to 1 + 2^-6.
        (DataType::BF16, 1.0 + 2f32.powi(-8), 0x3f80),
        (DataType::BF16, 1.0 + 3.0 * 2f32.powi(-8), 0x3f82),
        (DataType::BF16, 1.0 + 2f32.powi(-8) + 2f32.powi(-16), 0x3f81),
        (DataType::BF16, -0.0, 0x8000),
        (DataType::BF16, f32::INFINITY, 0x7f80),
    ];
    for (store, v, want) in cases {
        let out = fill_and_store(store, v);
        assert!(
            out.iter().all(|&w| w == want),
            "fill {v} stored as {store}: {:#x} (want {want:#x})",
            out[0]
        );
    }
}

/// A tie made by the multiply itself: `1 + 2^-11` and `1 + 3 * 2^-11`
/// (exact in `f32`) stored as `f16` round to even.
#[test]
fn a_multiply_result_rounds_to_even_on_store() {
    let p = fill_program(DataType::F16, Some(DataType::F16));
    let mut out = vec![0u32; 128];
    let mut a = vec![0u32; 256];
    let mut b = vec![0u32; 128];
    // a[0][0] = 2^-11; b[0][0] = 1, b[0][1] = 3, b[0][2] = 2^-10 * 1.5.
    a[0] = bits_of(DataType::F16, 2f32.powi(-11));
    b[0] = bits_of(DataType::F16, 1.0);
    b[1] = bits_of(DataType::F16, 3.0);
    b[2] = bits_of(DataType::F16, 1.5 * 1024.0);
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Scalar(Literal::f32(1.0)),
            RefArg::Buffer(&mut out),
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut b),
        ],
    )
    .expect("runs");
    // (0, 2): 1 + 2^-11 * 1536 = 1.75.
    assert_eq!(&out[..3], &[0x3c00, 0x3c02, 0x3f00]);
    // Every other element is c = 1.0.
    assert!(out[3..].iter().all(|&w| w == 0x3c00));
}

#[test]
fn matrices_start_at_zero() {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("zero", [32, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    b.body(|blk| {
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: COL,
            clip: None,
        });
    });
    let p = b.finish();
    let mut o = vec![7u32; 128];
    // Two workgroups: the second starts from zero again (it stores the
    // same zeros).
    run(&p, [2, 1, 1], &mut [RefArg::Buffer(&mut o)]).expect("runs");
    assert_eq!(o, vec![0; 128]);
}

/// `c = a * b + c` over `k` in steps of 16 inside a `for` loop (the
/// accumulator is `d` and `c` at once), operands loaded at the loop
/// variable's offsets: `out = A (16 x 64) * B (64 x 8) + 0`.
#[test]
fn accumulating_in_place_over_a_k_loop() {
    let s = shape(16, 8, 16);
    let (m, n, k) = (16usize, 8usize, 64usize);
    let mut b = ProgramBuilder::new("kloop", [32, 1, 1]);
    let pa = b.buffer("a", DataType::BF16, Access::Read);
    let pb = b.buffer("b", DataType::BF16, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let ma = b.matrix("ma", MatrixRole::A, DataType::BF16, s);
    let mb = b.matrix("mb", MatrixRole::B, DataType::BF16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let kk = b.local("kk", DataType::U32, false);
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: mc,
            value: Expr::f32(0.0),
        });
        blk.for_step(kk, Expr::u32(0), Expr::u32(k as u32), 16, false, |body| {
            // A row-major 16 x 64: the k-slice at column kk.
            body.matrix(MatrixOp::Load {
                matrix: ma,
                buf: BufRef::Param(pa),
                offset: Expr::local(kk),
                stride: Expr::u32(k as u32),
                layout: ROW,
                clip: None,
            });
            // B column-major 64 x 8 (column j at j * 64): rows kk.. at kk.
            body.matrix(MatrixOp::Load {
                matrix: mb,
                buf: BufRef::Param(pb),
                offset: Expr::local(kk),
                stride: Expr::u32(k as u32),
                layout: COL,
                clip: None,
            });
            body.matrix(MatrixOp::MultiplyAdd {
                d: mc,
                a: ma,
                b: mb,
                c: mc,
            });
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(n as u32),
            layout: ROW,
            clip: None,
        });
    });
    let p = b.finish();
    let mut rng = Rng(7);
    let mut a: Vec<u32> = (0..m * k).map(|_| rng.elem(DataType::BF16)).collect();
    let mut bb: Vec<u32> = (0..k * n).map(|_| rng.elem(DataType::BF16)).collect();
    let av: Vec<f32> = a.iter().map(|&x| value_of(DataType::BF16, x)).collect();
    // Row-major values of B from its column-major buffer.
    let mut bv = vec![0.0; k * n];
    for r in 0..k {
        for c in 0..n {
            bv[r * n + c] = value_of(DataType::BF16, bb[c * k + r]);
        }
    }
    let want = naive(m, n, k, &av, &bv, &vec![0.0; m * n]);
    let mut o = vec![0u32; m * n];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut bb),
            RefArg::Buffer(&mut o),
        ],
    )
    .expect("runs");
    let want: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
    assert_eq!(o, want);
}

/// `mc = ma * mb + mc` with A from `a` (row-major, stride 16, at
/// `a_off`), B from `b` (row-major, stride 8, at `b_off`), C filled with
/// 0.5, stored row-major (stride 8) at `out_off` into `out`.
fn edge_program(a_off: u32, b_off: u32, out_off: u32) -> Program {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("edge", [32, 1, 1]);
    let pa = b.buffer("a", DataType::BF16, Access::Read);
    let pb = b.buffer("b", DataType::BF16, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let ma = b.matrix("ma", MatrixRole::A, DataType::BF16, s);
    let mb = b.matrix("mb", MatrixRole::B, DataType::BF16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: mc,
            value: Expr::f32(0.5),
        });
        for (m, buf, off, stride) in [(ma, pa, a_off, 16), (mb, pb, b_off, 8)] {
            blk.matrix(MatrixOp::Load {
                matrix: m,
                buf: BufRef::Param(buf),
                offset: Expr::u32(off),
                stride: Expr::u32(stride),
                layout: ROW,
                clip: None,
            });
        }
        blk.matrix(MatrixOp::MultiplyAdd {
            d: mc,
            a: ma,
            b: mb,
            c: mc,
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(out_off),
            stride: Expr::u32(8),
            layout: ROW,
            clip: None,
        });
    });
    b.finish()
}

#[test]
fn out_of_range_elements_read_zero_and_are_not_stored() {
    let mut rng = Rng(11);
    // A holds only its first 10 rows and 3 elements of the 11th: the rest
    // reads 0. The output holds 100 of the 128 elements: the rest is
    // dropped.
    let a_len = 10 * 16 + 3;
    let mut a: Vec<u32> = (0..a_len).map(|_| rng.elem(DataType::BF16)).collect();
    let mut b: Vec<u32> = (0..128).map(|_| rng.elem(DataType::BF16)).collect();
    let mut av: Vec<f32> = a.iter().map(|&x| value_of(DataType::BF16, x)).collect();
    av.resize(256, 0.0);
    let bv: Vec<f32> = b.iter().map(|&x| value_of(DataType::BF16, x)).collect();
    let want = naive(16, 8, 16, &av, &bv, &[0.5; 128]);
    let mut out = vec![0u32; 100];
    run(
        &edge_program(0, 0, 0),
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut b),
            RefArg::Buffer(&mut out),
        ],
    )
    .expect("runs");
    let want: Vec<u32> = want[..100].iter().map(|x| x.to_bits()).collect();
    assert_eq!(out, want);
    // Rows 11.. of the product are c alone.
    assert!(out[88..].iter().all(|&w| w == 0.5f32.to_bits()));

    // B's offset near `u32::MAX`: indices are computed in `u64` and do
    // not wrap to the start of the buffer, so B reads all zeros and the
    // result is c. A store there writes nothing either.
    for (b_off, out_off) in [(u32::MAX - 5, 0), (0, u32::MAX - 3)] {
        let mut out = vec![7u32; 128];
        run(
            &edge_program(0, b_off, out_off),
            [1, 1, 1],
            &mut [
                RefArg::Buffer(&mut a),
                RefArg::Buffer(&mut b),
                RefArg::Buffer(&mut out),
            ],
        )
        .expect("runs");
        if out_off == 0 {
            assert_eq!(out, vec![0.5f32.to_bits(); 128]);
        } else {
            assert_eq!(out, vec![7; 128]);
        }
    }
}

/// In an `unchecked` kernel an element out of range is an error naming
/// the buffer, as any other unchecked access.
#[test]
fn unchecked_out_of_range_is_reported() {
    let mut p = edge_program(0, 0, 0);
    p.unchecked = true;
    let mut a = vec![0u32; 256];
    let mut b = vec![0u32; 128];
    let mut out = vec![0u32; 128];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut b),
            RefArg::Buffer(&mut out),
        ],
    )
    .expect("in range");
    let mut short = vec![0u32; 120];
    let e = run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut short),
            RefArg::Buffer(&mut out),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&e, RunError::OutOfBounds { buffer, index: 120, len: 120, .. } if buffer == "b"),
        "{e:?}"
    );
}

/// The shared-memory path of a tiled kernel: every invocation copies 8
/// `bf16` of A (16 x 16, rows padded to 24 in memory) and, for the first
/// 16, 8 of B (16 x 8) into shared tiles with `async_copy`, commits,
/// waits, meets the others at a barrier; then the subgroup loads the
/// matrices from the shared tiles.
#[test]
fn matrices_load_from_shared_tiles_filled_by_async_copies() {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("tiles", [32, 1, 1]);
    let pa = b.buffer("a", DataType::BF16, Access::Read);
    let pb = b.buffer("b", DataType::BF16, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let ta = b.shared("ta", DataType::BF16, 256);
    let tb = b.shared("tb", DataType::BF16, 128);
    let ma = b.matrix("ma", MatrixRole::A, DataType::BF16, s);
    let mb = b.matrix("mb", MatrixRole::B, DataType::BF16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let t = || Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        // Row t / 2, half t % 2 of A: global (t / 2) * 24 + (t % 2) * 8.
        let src = t()
            .div(Expr::u32(2))
            .mul(Expr::u32(24))
            .add(t().rem(Expr::u32(2)).mul(Expr::u32(8)));
        blk.async_copy(ta, t().mul(Expr::u32(8)), pa, src, 8);
        blk.if_(t().lt(Expr::u32(16)), |then| {
            then.async_copy(tb, t().mul(Expr::u32(8)), pb, t().mul(Expr::u32(8)), 8);
        });
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
        blk.matrix(MatrixOp::Load {
            matrix: ma,
            buf: BufRef::Shared(ta),
            offset: Expr::u32(0),
            stride: Expr::u32(16),
            layout: ROW,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: mb,
            buf: BufRef::Shared(tb),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: ROW,
            clip: None,
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: mc,
            a: ma,
            b: mb,
            c: mc,
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: ROW,
            clip: None,
        });
    });
    let p = b.finish();
    let mut rng = Rng(21);
    let mut a: Vec<u32> = (0..16 * 24).map(|_| rng.elem(DataType::BF16)).collect();
    let mut bb: Vec<u32> = (0..128).map(|_| rng.elem(DataType::BF16)).collect();
    let av: Vec<f32> = (0..256)
        .map(|i| value_of(DataType::BF16, a[(i / 16) * 24 + i % 16]))
        .collect();
    let bv: Vec<f32> = bb.iter().map(|&x| value_of(DataType::BF16, x)).collect();
    let want: Vec<u32> = naive(16, 8, 16, &av, &bv, &[0.0; 128])
        .iter()
        .map(|x| x.to_bits())
        .collect();
    for size in [8, 32, 64] {
        let mut o = vec![0u32; 128];
        run_with(
            &p,
            [1, 1, 1],
            &mut [
                RefArg::Buffer(&mut a),
                RefArg::Buffer(&mut bb),
                RefArg::Buffer(&mut o),
            ],
            &opts(size),
        )
        .expect("runs");
        assert_eq!(o, want, "subgroup size {size}");
    }
}

/// `async_copy`: source elements out of range copy 0 (indices added
/// without wrapping), destination elements out of range are dropped.
#[test]
fn async_copies_fill_out_of_range_sources_with_zero() {
    let mut b = ProgramBuilder::new("copy", [8, 1, 1]);
    let src = b.buffer("src", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let base = b.scalar("base", DataType::U32);
    let sh = b.shared("sh", DataType::U32, 8);
    let t = || Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.store(BufRef::Shared(sh), t(), Expr::u32(0xdead));
        blk.barrier();
        blk.if_(t().eq(Expr::u32(0)), |then| {
            // sh[0..4] = src[base..base + 4]
            then.async_copy(sh, Expr::u32(0), src, Expr::param(base), 4);
            // sh[6..8] = src[0..2]; sh[8..10] is out of range.
            then.async_copy(sh, Expr::u32(6), src, Expr::u32(0), 4);
        });
        blk.async_commit();
        blk.async_wait(0);
        blk.barrier();
        blk.store(BufRef::Param(out), t(), Expr::load(BufRef::Shared(sh), t()));
    });
    let p = b.finish();
    let mut s: Vec<u32> = (1..=6).collect();
    for (base, want) in [
        (0, [1, 2, 3, 4, 0xdead, 0xdead, 1, 2]),
        (4, [5, 6, 0, 0, 0xdead, 0xdead, 1, 2]),
        (u32::MAX - 1, [0, 0, 0, 0, 0xdead, 0xdead, 1, 2]),
    ] {
        let mut o = vec![0u32; 8];
        run(
            &p,
            [1, 1, 1],
            &mut [
                RefArg::Buffer(&mut s),
                RefArg::Buffer(&mut o),
                RefArg::Scalar(Literal::U32(base)),
            ],
        )
        .expect("runs");
        assert_eq!(o, want, "base {base}");
    }
}

/// A kernel whose lanes pass the matrix statement `op(local_id)` (built
/// from the invocation's local id): load A at an offset, with a stride,
/// or fill with a value.
fn divergent(which: &str) -> Program {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("divergent", [32, 1, 1]);
    let pa = b.buffer("a", DataType::BF16, Access::Read);
    let ma = b.matrix("ma", MatrixRole::A, DataType::BF16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let t = Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        let (offset, stride) = match which {
            "offset" => (t.clone(), Expr::u32(16)),
            "stride" => (Expr::u32(0), Expr::u32(16).add(t.clone().div(Expr::u32(8)))),
            _ => (Expr::u32(0), Expr::u32(16)),
        };
        if which == "fill" {
            blk.matrix(MatrixOp::Fill {
                matrix: mc,
                value: t.clone().rem(Expr::u32(4)).cast(DataType::F32),
            });
        }
        blk.matrix(MatrixOp::Load {
            matrix: ma,
            buf: BufRef::Param(pa),
            offset,
            stride,
            layout: ROW,
            clip: None,
        });
    });
    b.finish()
}

#[test]
fn lanes_passing_different_operands_are_an_error() {
    for (which, lane, want) in [
        ("offset", 1, "lane 0 passes offset 0, lane 1 offset 1"),
        ("stride", 8, "lane 0 passes stride 16, lane 8 stride 17"),
        ("fill", 1, "lane 0 fills with 0.0"),
    ] {
        let p = divergent(which);
        let mut a = vec![0u32; 512];
        let e = run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut a)]).unwrap_err();
        let RunError::MatrixOperandsDiffer {
            kernel,
            workgroup,
            subgroup,
            statement,
            detail,
        } = &e
        else {
            panic!("{which}: {e:?}");
        };
        assert_eq!(kernel, "divergent");
        assert_eq!((*workgroup, *subgroup), ([0, 0, 0], 0));
        let stmt = if which == "fill" {
            "matrix statement 0 (`matrix_fill` of `mc`)"
        } else {
            "matrix statement 0 (`matrix_load` of `ma` from `a`)"
        };
        assert_eq!(statement, stmt, "{which}");
        assert!(detail.contains(want), "{which}: {detail}");
        assert!(
            detail.contains(&format!("lane {lane}")),
            "{which}: {detail}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("with different operands") && msg.contains("equal operands"),
            "{msg}"
        );
    }
    // With one lane per subgroup, each subgroup agrees with itself.
    let mut a = vec![0u32; 512];
    run_with(
        &divergent("offset"),
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut a)],
        &opts(1),
    )
    .expect("one lane per subgroup");
    // The uniform kernel runs.
    run(&divergent("none"), [1, 1, 1], &mut [RefArg::Buffer(&mut a)]).expect("uniform operands");
}

/// Tiles per workgroup and per 32 invocations: workgroups of 64, a
/// 32 x 16 x 32 `f16` multiply per tile, `tile = workgroup_id * 2 + which`
/// where `which` is 0 in uniform mode, `local_id / 32` otherwise.
fn tiled(per_warp: bool) -> Program {
    let s = shape(32, 16, 32);
    let mut b = ProgramBuilder::new("tiled", [64, 1, 1]);
    let pa = b.buffer("a", DataType::F16, Access::Read);
    let pb = b.buffer("b", DataType::F16, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let ma = b.matrix("ma", MatrixRole::A, DataType::F16, s);
    let mb = b.matrix("mb", MatrixRole::B, DataType::F16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let tile = b.local("tile", DataType::U32, false);
    let which = if per_warp {
        Expr::Builtin(Builtin::LocalId, Axis::X).div(Expr::u32(32))
    } else {
        Expr::u32(0)
    };
    b.body(|blk| {
        blk.let_(
            tile,
            Expr::Builtin(Builtin::WorkgroupId, Axis::X)
                .mul(Expr::u32(2))
                .add(which),
        );
        // Tile t: A at t * 1024 (32 x 32), B at t * 512 (32 x 16, column-
        // major), out at t * 512.
        blk.matrix(MatrixOp::Load {
            matrix: ma,
            buf: BufRef::Param(pa),
            offset: Expr::local(tile).mul(Expr::u32(1024)),
            stride: Expr::u32(32),
            layout: ROW,
            clip: None,
        });
        blk.matrix(MatrixOp::Load {
            matrix: mb,
            buf: BufRef::Param(pb),
            offset: Expr::local(tile).mul(Expr::u32(512)),
            stride: Expr::u32(32),
            layout: COL,
            clip: None,
        });
        blk.matrix(MatrixOp::MultiplyAdd {
            d: mc,
            a: ma,
            b: mb,
            c: mc,
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::local(tile).mul(Expr::u32(512)),
            stride: Expr::u32(16),
            layout: ROW,
            clip: None,
        });
    });
    b.finish()
}

/// Runs `tiled(per_warp)` on 3 workgroups (6 tiles of data) with subgroup
/// size `size`; returns the output and the naive tiles' bits (tiles never
/// computed stay 0).
fn run_tiled(per_warp: bool, size: u32) -> (Result<Vec<u32>, RunError>, Vec<u32>) {
    let mut rng = Rng(31);
    let mut a: Vec<u32> = (0..6 * 1024).map(|_| rng.elem(DataType::F16)).collect();
    let mut b: Vec<u32> = (0..6 * 512).map(|_| rng.elem(DataType::F16)).collect();
    let mut want = vec![0u32; 6 * 512];
    for t in 0..6 {
        if !per_warp && t % 2 == 1 {
            continue;
        }
        let av: Vec<f32> = a[t * 1024..][..1024]
            .iter()
            .map(|&x| value_of(DataType::F16, x))
            .collect();
        let mut bv = vec![0.0; 512];
        for r in 0..32 {
            for c in 0..16 {
                bv[r * 16 + c] = value_of(DataType::F16, b[t * 512 + c * 32 + r]);
            }
        }
        for (w, x) in
            want[t * 512..][..512]
                .iter_mut()
                .zip(naive(32, 16, 32, &av, &bv, &[0.0; 512]))
        {
            *w = x.to_bits();
        }
    }
    let mut o = vec![0u32; 6 * 512];
    let r = run_with(
        &tiled(per_warp),
        [3, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut b),
            RefArg::Buffer(&mut o),
        ],
        &opts(size),
    );
    (r.map(|()| o), want)
}

/// The result does not depend on the interpreter's subgroup size (each
/// statement acts on the whole tile), and where the operands are uniform
/// only over 32 invocations, larger subgroups are an error, not another
/// result.
#[test]
fn results_do_not_depend_on_the_subgroup_size() {
    for size in [1, 2, 4, 8, 16, 32, 64, 128] {
        let (got, want) = run_tiled(false, size);
        assert_eq!(got.expect("uniform"), want, "subgroup size {size}");
        let (got, want) = run_tiled(true, size);
        if size <= 32 {
            assert_eq!(got.expect("uniform per warp"), want, "subgroup size {size}");
        } else {
            let e = got.unwrap_err();
            assert!(
                matches!(
                    &e,
                    RunError::MatrixOperandsDiffer { subgroup: 0, detail, .. }
                        if detail.contains("lane 0 passes offset 0, lane 32 offset 1024")
                ),
                "subgroup size {size}: {e:?}"
            );
        }
    }
}

/// A GEMM of 128 x 128 x 64 `bf16` in 64 x 64 x 16 tiles through the CPU
/// device (`Device::cpu`): each workgroup of 32 computes one 64 x 64 block
/// of `C = A B`, looping over `k`.
#[test]
fn gemm_through_the_cpu_device() {
    use vyre::runtime::{Artifact, KernelSpec, ParamSpec};
    use vyre::{Device, Grid};
    let (mm, nn, kk) = (128u32, 128u32, 64u32);
    let s = shape(64, 64, 16);
    let mut b = ProgramBuilder::new("gemm", [32, 1, 1]);
    let pa = b.buffer("a", DataType::BF16, Access::Read);
    let pb = b.buffer("b", DataType::BF16, Access::Read);
    let pc = b.buffer("c", DataType::F32, Access::ReadWrite);
    let ma = b.matrix("ma", MatrixRole::A, DataType::BF16, s);
    let mb = b.matrix("mb", MatrixRole::B, DataType::BF16, s);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let k = b.local("k", DataType::U32, false);
    let wx = || Expr::Builtin(Builtin::WorkgroupId, Axis::X);
    let wy = || Expr::Builtin(Builtin::WorkgroupId, Axis::Y);
    b.body(|blk| {
        blk.for_step(k, Expr::u32(0), Expr::u32(kk), 16, false, |body| {
            body.matrix(MatrixOp::Load {
                matrix: ma,
                buf: BufRef::Param(pa),
                offset: wy().mul(Expr::u32(64 * kk)).add(Expr::local(k)),
                stride: Expr::u32(kk),
                layout: ROW,
                clip: None,
            });
            body.matrix(MatrixOp::Load {
                matrix: mb,
                buf: BufRef::Param(pb),
                offset: Expr::local(k)
                    .mul(Expr::u32(nn))
                    .add(wx().mul(Expr::u32(64))),
                stride: Expr::u32(nn),
                layout: ROW,
                clip: None,
            });
            body.matrix(MatrixOp::MultiplyAdd {
                d: mc,
                a: ma,
                b: mb,
                c: mc,
            });
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(pc),
            offset: wy().mul(Expr::u32(64 * nn)).add(wx().mul(Expr::u32(64))),
            stride: Expr::u32(nn),
            layout: ROW,
            clip: None,
        });
    });
    let p = b.finish();
    let bytes = vyre::ir::wire::to_wire(&p);
    let artifacts = [Artifact {
        target: "reference",
        arch: None,
        bytes: &bytes,
    }];
    let params = [
        ParamSpec::Buffer {
            name: "a",
            elem: DataType::BF16,
            access: Access::Read,
        },
        ParamSpec::Buffer {
            name: "b",
            elem: DataType::BF16,
            access: Access::Read,
        },
        ParamSpec::Buffer {
            name: "c",
            elem: DataType::F32,
            access: Access::ReadWrite,
        },
    ];
    let spec = KernelSpec {
        name: "gemm",
        key: "matrix_reference::gemm",
        params: &params,
        workgroup_size: p.workgroup_size,
        unchecked: false,
        artifacts: &artifacts,
        debug: &[],
        tensor_maps: &[],
    };
    let mut rng = Rng(41);
    let a: Vec<bf16> = (0..mm * kk)
        .map(|_| bf16::from_bits(rng.elem(DataType::BF16) as u16))
        .collect();
    let bm: Vec<bf16> = (0..kk * nn)
        .map(|_| bf16::from_bits(rng.elem(DataType::BF16) as u16))
        .collect();
    let dev = Device::cpu();
    let da = dev.upload(&a).unwrap();
    let db = dev.upload(&bm).unwrap();
    let mut dc = dev.zeros::<f32>((mm * nn) as usize).unwrap();
    dev.launch(
        &spec,
        Grid::Workgroups([2, 2, 1]),
        &mut [da.arg(), db.arg(), dc.arg_mut()],
    )
    .unwrap();
    let got = dev.download(&dc).unwrap();
    let av: Vec<f32> = a.iter().map(|x| x.to_f32()).collect();
    let bv: Vec<f32> = bm.iter().map(|x| x.to_f32()).collect();
    let want = naive(
        mm as usize,
        nn as usize,
        kk as usize,
        &av,
        &bv,
        &vec![0.0; (mm * nn) as usize],
    );
    let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
    let want: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
    assert_eq!(got, want);
}

/// A 16x8 accumulator loaded from `src` (`f32`, clipped to the scalar
/// parameters `lr x lc`) and stored into `dst` (clipped to `sr x sc`),
/// both in `layout` with the tile's own stride (8 row-major, 16
/// column-major).
fn clip_program(layout: MatrixLayout) -> Program {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("clip", [32, 1, 1]);
    let src = b.buffer("src", DataType::F32, Access::Read);
    let dst = b.buffer("dst", DataType::F32, Access::ReadWrite);
    let lr = b.scalar("lr", DataType::U32);
    let lc = b.scalar("lc", DataType::U32);
    let sr = b.scalar("sr", DataType::U32);
    let sc = b.scalar("sc", DataType::U32);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    let stride = if layout == ROW { 8 } else { 16 };
    let clip = |r, c| {
        Some(vyre::ir::MatrixClip {
            rows: Expr::param(r),
            cols: Expr::param(c),
        })
    };
    b.body(|blk| {
        blk.matrix(MatrixOp::Load {
            matrix: mc,
            buf: BufRef::Param(src),
            offset: Expr::u32(0),
            stride: Expr::u32(stride),
            layout,
            clip: clip(lr, lc),
        });
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(dst),
            offset: Expr::u32(0),
            stride: Expr::u32(stride),
            layout,
            clip: clip(sr, sc),
        });
    });
    b.finish()
}

/// Run [`clip_program`] with the clips `(lr, lc)` and `(sr, sc)` on a
/// source of distinct values and a destination of a sentinel; compare
/// with the hand-computed result.
fn check_clip(layout: MatrixLayout, (lr, lc): (u32, u32), (sr, sc): (u32, u32)) {
    const SENTINEL: u32 = 0xdead_beef;
    let stride = if layout == ROW { 8 } else { 16 };
    let mut src: Vec<u32> = (0..128).map(|i| (i as f32 + 1.0).to_bits()).collect();
    let mut dst = vec![SENTINEL; 128];
    let src_copy = src.clone();
    let p = clip_program(layout);
    for size in [32, 8] {
        dst.fill(SENTINEL);
        run_with(
            &p,
            [1, 1, 1],
            &mut [
                RefArg::Buffer(&mut src),
                RefArg::Buffer(&mut dst),
                RefArg::Scalar(Literal::U32(lr)),
                RefArg::Scalar(Literal::U32(lc)),
                RefArg::Scalar(Literal::U32(sr)),
                RefArg::Scalar(Literal::U32(sc)),
            ],
            &opts(size),
        )
        .expect("runs");
        for r in 0..16u64 {
            for c in 0..8u64 {
                let i = at(layout, 0, stride, r, c) as usize;
                let stored = r < u64::from(sr) && c < u64::from(sc);
                let loaded = r < u64::from(lr) && c < u64::from(lc);
                let want = match (stored, loaded) {
                    (false, _) => SENTINEL,
                    (true, true) => src_copy[i],
                    (true, false) => 0.0f32.to_bits(),
                };
                assert_eq!(
                    dst[i], want,
                    "{layout:?} load clip {lr}x{lc}, store clip {sr}x{sc}, subgroup {size}: element ({r}, {c})"
                );
            }
        }
    }
}

#[test]
fn clipped_loads_read_zero_outside_the_clip() {
    for layout in [ROW, COL] {
        // Store everything: the load's clip shows as zeros.
        check_clip(layout, (5, 3), (u32::MAX, u32::MAX));
        check_clip(layout, (16, 1), (16, 8));
        check_clip(layout, (0, 8), (16, 8));
        check_clip(layout, (16, 0), (16, 8));
    }
}

#[test]
fn clipped_stores_leave_the_outside_untouched() {
    for layout in [ROW, COL] {
        check_clip(layout, (16, 8), (5, 3));
        check_clip(layout, (16, 8), (15, 7));
        check_clip(layout, (16, 8), (1, 8));
        // A clip of 0 rows (or columns) stores nothing.
        check_clip(layout, (16, 8), (0, 8));
        check_clip(layout, (16, 8), (16, 0));
        // Both clipped.
        check_clip(layout, (4, 6), (9, 2));
    }
}

#[test]
fn a_clip_larger_than_the_tile_clips_nothing() {
    for layout in [ROW, COL] {
        check_clip(layout, (16, 8), (16, 8));
        check_clip(layout, (17, 100), (1000, 9));
        check_clip(layout, (u32::MAX, u32::MAX), (u32::MAX, u32::MAX));
    }
}

/// The clip is an operand like the offset: lanes passing different clips
/// are an error naming them.
#[test]
fn lanes_passing_different_clips_are_an_error() {
    let s = shape(16, 8, 16);
    let mut b = ProgramBuilder::new("divergent_clip", [32, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let mc = b.matrix("mc", MatrixRole::Accumulator, DataType::F32, s);
    b.body(|blk| {
        blk.matrix(MatrixOp::Store {
            matrix: mc,
            buf: BufRef::Param(out),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: ROW,
            clip: Some(vyre::ir::MatrixClip {
                rows: Expr::u32(16),
                cols: Expr::Builtin(Builtin::LocalId, Axis::X),
            }),
        });
    });
    let p = b.finish();
    let mut o = vec![0u32; 128];
    let err = run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).expect_err("lanes differ");
    let RunError::MatrixOperandsDiffer { detail, .. } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(detail, "lane 0 clips to 0 columns, lane 1 to 1");
}

/// The IR's own rules for matrices and copies, each broken once: the
/// validator names the problem (programs built without the front end, whose
/// spanned diagnostics `lang_parse` checks).
#[test]
fn broken_matrix_rules_are_validation_errors() {
    let shape = MatrixShape { m: 16, n: 8, k: 16 };
    let messages = |build: &dyn Fn(&mut ProgramBuilder)| -> String {
        let mut b = ProgramBuilder::new("k", [32, 1, 1]);
        build(&mut b);
        let errors = b.finish().validate().expect_err("invalid");
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Operands of the wrong role: an accumulator where B is needed.
    let m = messages(&|b| {
        let a = b.matrix("a", MatrixRole::A, DataType::BF16, shape);
        let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
        b.body(|blk| {
            blk.matrix(MatrixOp::MultiplyAdd { d: c, a, b: c, c });
        });
    });
    assert!(
        m.contains("`c` is an accumulator where a B matrix is needed"),
        "{m}"
    );
    // A shape that is no multiple of m16n8k16, and an f32 A operand.
    let m = messages(&|b| {
        b.matrix(
            "a",
            MatrixRole::A,
            DataType::F32,
            MatrixShape { m: 8, n: 8, k: 16 },
        );
    });
    assert!(m.contains("m = 8, n = 8, k = 16 is not supported"), "{m}");
    assert!(m.contains("an A matrix cannot hold `f32`"), "{m}");
    // Workgroups of whole subgroups only.
    let mut b = ProgramBuilder::new("k", [48, 1, 1]);
    b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
    let e = b.finish().validate().expect_err("48 invocations");
    assert!(e[0].to_string().contains("multiple of 32"), "{e:?}");
    // A matrix statement under a condition on the invocation.
    let m = messages(&|b| {
        let c = b.matrix("c", MatrixRole::Accumulator, DataType::F32, shape);
        b.body(|blk| {
            let cond = Expr::Builtin(Builtin::LocalId, Axis::X).lt(Expr::u32(3));
            blk.if_(cond, |t| {
                t.matrix(MatrixOp::Fill {
                    matrix: c,
                    value: Expr::f32(1.0),
                });
            });
        });
    });
    assert!(
        m.contains("control flow that depends on the invocation"),
        "{m}"
    );
    // Copies: element types must match, sizes are 4, 8 or 16 bytes.
    let m = messages(&|b| {
        let src = b.buffer("src", DataType::F16, Access::Read);
        let tile = b.shared("tile", DataType::U32, 64);
        let tile16 = b.shared("tile16", DataType::F16, 64);
        b.body(|blk| {
            blk.async_copy(tile, Expr::u32(0), src, Expr::u32(0), 8);
            blk.async_copy(tile16, Expr::u32(0), src, Expr::u32(0), 3);
        });
    });
    assert!(m.contains("from `f16` elements into `u32` elements"), "{m}");
    assert!(m.contains("`async_copy` of 3 `f16` elements"), "{m}");
}

// ---------------------------------------------------------------------------
// Warpgroup accumulators.

/// Run a [`WgCase`] on inputs from `seed` with subgroups of `size`.
fn wg_run(case: &WgCase, seed: u64, size: u32) -> (Result<Vec<u32>, RunError>, Vec<u32>) {
    let (mut a, mut b) = case.inputs(seed);
    let want = case.expected(&a, &b);
    let mut out = vec![0u32; case.out_len() as usize];
    let r = run_with(
        &case.program(),
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut b),
            RefArg::Buffer(&mut out),
        ],
        &opts(size),
    );
    (r.map(|()| out), want)
}

fn wg_case(n: u32, k: u32, elem: DataType) -> WgCase {
    WgCase {
        n,
        k,
        elem,
        layout: vyre::ir::SharedLayout::Linear,
        a_len: 64 * k,
        b_len: k * n,
        a_off: 0,
        a_stride: k,
        b_off: 0,
        b_stride: n,
        warpgroups: 1,
        per_warpgroup: 0,
        skip_odd: false,
    }
}

/// `d = A * B + c` with `d != c` against the plain loop in the documented
/// order, bit for bit: dense tiles, strides past the row (gaps) and below
/// it (overlapping rows), tiles reaching past the end of their arrays
/// (reading 0) and offsets near `u32::MAX` (past `u32`, so out of range),
/// linear and swizzled arrays (the layout changes nothing); `c` is stored
/// unchanged. Subgroups of 8 to 128 give the same results.
#[test]
fn warpgroup_multiply_matches_the_plain_loop() {
    let swz = vyre::ir::SharedLayout::Swizzled { cols: 64 };
    let mut cases = Vec::new();
    for (n, k) in [(8, 16), (16, 32), (24, 48), (256, 16)] {
        for elem in [DataType::F16, DataType::BF16] {
            cases.push(wg_case(n, k, elem));
        }
    }
    let base = wg_case(16, 32, DataType::BF16);
    cases.extend([
        WgCase {
            a_off: 5,
            a_stride: 37,
            b_off: 3,
            b_stride: 19,
            a_len: 64 * 37 + 40,
            b_len: 32 * 19 + 7,
            ..base
        },
        WgCase {
            a_stride: 8,
            b_stride: 4,
            ..base
        },
        // Past the ends: the last rows of A and B read 0.
        WgCase {
            a_off: 100,
            a_len: 64 * 32 - 300,
            b_off: 9,
            b_len: 32 * 16 - 50,
            ..base
        },
        // Near `u32::MAX`: the index passes `u32` (no wrap to 0).
        WgCase {
            a_off: u32::MAX - 40,
            b_off: u32::MAX - 3,
            ..base
        },
        WgCase {
            layout: swz,
            a_len: 4096,
            b_len: 512,
            a_off: 64,
            a_stride: 64,
            b_stride: 16,
            elem: DataType::F16,
            ..base
        },
    ]);
    for (q, case) in cases.iter().enumerate() {
        let mut first = None;
        for size in [8, 32, 128] {
            let (got, want) = wg_run(case, q as u64, size);
            let got = got.unwrap_or_else(|e| panic!("case {q} {case:?}: {e}"));
            assert_eq!(got.len(), want.len());
            for (e, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "case {q} {case:?}, subgroup size {size}, element {e}");
            }
            assert_eq!(*first.get_or_insert_with(|| got.clone()), got);
        }
        let products = &want_of(case, q as u64)[(64 * case.n) as usize..];
        assert!(
            products.iter().any(|&x| f32::from_bits(x) != 1.5) || case.a_off > u32::MAX - 64,
            "case {q}: nothing was multiplied"
        );
    }
}

fn want_of(case: &WgCase, seed: u64) -> Vec<u32> {
    let (a, b) = case.inputs(seed);
    case.expected(&a, &b)
}

/// Two warpgroups in a workgroup, each with its own `c` (`1.5 + g`) and
/// its own operand offsets (`g * 640` further), and its own part of `out`.
#[test]
fn warpgroups_of_a_workgroup_use_their_own_operands() {
    let case = WgCase {
        warpgroups: 2,
        per_warpgroup: 640,
        a_len: 64 * 32 + 640,
        b_len: 32 * 16 + 640,
        ..wg_case(16, 32, DataType::F16)
    };
    for size in [16, 64, 128] {
        let (got, want) = wg_run(&case, 7, size);
        assert_eq!(got.expect("runs"), want, "subgroup size {size}");
    }
    // The two halves differ (each warpgroup used its own operands).
    let want = want_of(&case, 7);
    let half = want.len() / 2;
    assert_ne!(want[..half], want[half..]);
}

/// Three warpgroups of which the middle one skips its multiply in a branch
/// on `local_id().x / 128`: it waits at the barrier after the branch while
/// the others multiply, its `d` stays 0, and the others' results are the
/// plain loop's, whatever the subgroup size.
#[test]
fn a_warpgroup_may_skip_matrix_statements_in_a_branch_of_its_own() {
    let case = WgCase {
        warpgroups: 3,
        per_warpgroup: 320,
        a_len: 64 * 32 + 640,
        b_len: 32 * 16 + 640,
        skip_odd: true,
        ..wg_case(16, 32, DataType::BF16)
    };
    for size in [8, 32, 128] {
        let (got, want) = wg_run(&case, 11, size);
        assert_eq!(got.expect("runs"), want, "subgroup size {size}");
    }
    // The swizzled tiles `wgmma` reads on sm_90a, two warpgroups.
    let swizzled = matrix_support::warpgroup::wgmma_branch_case();
    let (got, want) = wg_run(&swizzled, 5, 32);
    assert_eq!(got.expect("runs"), want);
    let want = want_of(&case, 11);
    let part = want.len() / 6;
    // Warpgroups 0 and 2 multiplied; warpgroup 1's `d` is 0.
    for (g, multiplied) in [(0, true), (1, false), (2, true)] {
        let d = &want[(2 * g + 1) * part..(2 * g + 2) * part];
        assert_eq!(d.iter().any(|&x| x != 0), multiplied, "warpgroup {g}");
    }
}

/// `warpgroup_barrier()` orders the shared-memory exchange inside each
/// warpgroup, in every workgroup, whatever the subgroup size.
#[test]
fn warpgroup_barriers_order_each_warpgroup() {
    use matrix_support::warpgroup::{barrier_exchange, barrier_exchange_expected};
    let p = barrier_exchange();
    for size in [8, 32, 128] {
        let mut out = vec![0u32; 3 * 256];
        run_with(&p, [3, 1, 1], &mut [RefArg::Buffer(&mut out)], &opts(size)).expect("runs");
        assert_eq!(out, barrier_exchange_expected(3), "subgroup size {size}");
    }
}

/// A warpgroup whose invocations do not all take a branch around a matrix
/// statement is refused by validation; a barrier in a branch that is the
/// same across each warpgroup but not across the workgroup is too.
#[test]
fn branches_around_warpgroup_statements_must_be_whole_warpgroups() {
    let program = |cond: Expr, barrier_inside: bool| {
        let mut b = ProgramBuilder::new("wg_branch", [256, 1, 1]);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let w = b.warpgroup_accumulator("w", 8, 16);
        b.body(|blk| {
            blk.if_(cond, |then| {
                then.matrix(MatrixOp::Fill {
                    matrix: w,
                    value: Expr::f32(1.0),
                });
                if barrier_inside {
                    then.barrier();
                }
            });
            blk.matrix(MatrixOp::Store {
                matrix: w,
                buf: BufRef::Param(out),
                offset: Expr::u32(0),
                stride: Expr::u32(8),
                layout: MatrixLayout::RowMajor,
                clip: None,
            });
        });
        b.finish()
    };
    let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
    // The same across each warpgroup: accepted.
    for cond in [
        lid().div(Expr::u32(128)).eq(Expr::u32(1)),
        lid().lt(Expr::u32(128)),
        lid().shr(Expr::u32(7)).ne(Expr::u32(0)),
        Expr::u32(255).lt(lid()),
    ] {
        let p = program(cond.clone(), false);
        assert!(p.validate().is_ok(), "{cond:?}: {:?}", p.validate());
    }
    // Not the same across a warpgroup: refused at the matrix statement.
    for cond in [
        lid().lt(Expr::u32(64)),
        lid().div(Expr::u32(64)).eq(Expr::u32(1)),
        lid().rem(Expr::u32(128)).eq(Expr::u32(0)),
    ] {
        let errors = program(cond.clone(), false).validate().unwrap_err();
        assert!(
            errors.iter().any(|e| e
                .message
                .contains("every invocation of its subgroup or warpgroup must take part")),
            "{cond:?}: {errors:?}"
        );
    }
    // A barrier needs the whole workgroup.
    let errors = program(lid().lt(Expr::u32(128)), true)
        .validate()
        .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("`barrier()` in control flow")),
        "{errors:?}"
    );
}

/// A warpgroup accumulator that is never filled is zero; a fill and a
/// clipped store into an `f16` buffer round to nearest even and leave the
/// clipped-out part (and the part out of range) untouched.
#[test]
fn warpgroup_fill_and_clipped_store() {
    let mut b = ProgramBuilder::new("wg_fill", [128, 1, 1]);
    let out = b.buffer("out", DataType::F16, Access::ReadWrite);
    let zero = b.buffer("zero", DataType::F32, Access::ReadWrite);
    let w = b.warpgroup_accumulator("w", 8, 16);
    let z = b.warpgroup_accumulator("z", 8, 16);
    b.body(|blk| {
        blk.matrix(MatrixOp::Fill {
            matrix: w,
            value: Expr::f32(1.0 + 2f32.powi(-11)),
        });
        blk.matrix(MatrixOp::Store {
            matrix: w,
            buf: BufRef::Param(out),
            offset: Expr::u32(2),
            stride: Expr::u32(10),
            layout: ROW,
            clip: Some(vyre::ir::MatrixClip {
                rows: Expr::u32(60),
                cols: Expr::u32(5),
            }),
        });
        blk.matrix(MatrixOp::Store {
            matrix: z,
            buf: BufRef::Param(zero),
            offset: Expr::u32(0),
            stride: Expr::u32(8),
            layout: ROW,
            clip: None,
        });
    });
    let p = b.finish();
    let sentinel = 0x7777u32;
    let mut o = vec![sentinel; 500];
    let mut zb = vec![0xffff_ffffu32; 512];
    for size in [32, 128] {
        o.fill(sentinel);
        run_with(
            &p,
            [1, 1, 1],
            &mut [RefArg::Buffer(&mut o), RefArg::Buffer(&mut zb)],
            &opts(size),
        )
        .expect("runs");
        // 1 + 2^-11 is halfway between f16 1.0 and its successor: even.
        let one = bits_of(DataType::F16, 1.0);
        for (i, &x) in o.iter().enumerate() {
            let (r, c) = (
                (i as u32).wrapping_sub(2) / 10,
                (i as u32).wrapping_sub(2) % 10,
            );
            let inside = i >= 2 && r < 60 && c < 5;
            assert_eq!(x, if inside { one } else { sentinel }, "element {i}");
        }
        assert!(zb.iter().all(|&x| x == 0), "a fresh accumulator is zero");
    }
}

/// The invocations of a warpgroup must pass equal operands to a statement
/// on warpgroup matrices: offsets of `A` or `B`, strides or a fill value
/// that differ within a warpgroup are a `WarpgroupOperandsDiffer` naming
/// the warpgroup, the statement and the invocations, whatever the subgroup
/// size; values that differ only between warpgroups are fine.
#[test]
fn warpgroup_invocations_passing_different_operands_are_an_error() {
    let lid = || Expr::Builtin(Builtin::LocalId, Axis::X);
    let program = |which: &str, div: u32| {
        let mut b = ProgramBuilder::new("wg_divergent", [256, 1, 1]);
        let ta = b.shared("ta", DataType::F16, 4096);
        let tb = b.shared("tb", DataType::F16, 1024);
        let w = b.warpgroup_accumulator("w", 8, 16);
        let v = || lid().div(Expr::u32(div));
        let pick = |what: &str, base: u32| {
            if which == what {
                Expr::u32(base).add(v())
            } else {
                Expr::u32(base)
            }
        };
        b.body(|blk| {
            blk.matrix(MatrixOp::Fill {
                matrix: w,
                value: if which == "fill" {
                    v().cast(DataType::F32)
                } else {
                    Expr::f32(0.0)
                },
            });
            blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d: w,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: ta,
                    offset: pick("a_off", 0),
                    stride: pick("a_stride", 16),
                    layout: MatrixLayout::RowMajor,
                }),
                b: SharedTile {
                    array: tb,
                    offset: pick("b_off", 0),
                    stride: pick("b_stride", 8),
                    layout: MatrixLayout::RowMajor,
                },
                c: w,
                asynchronous: false,
            });
        });
        b.finish()
    };
    for (which, stmt, want) in [
        ("fill", 0, "invocation 0 fills with 0.0"),
        (
            "a_off",
            1,
            "invocation 0 passes A offset 0, invocation 64 A offset 1",
        ),
        (
            "a_stride",
            1,
            "invocation 0 passes A stride 16, invocation 64 A stride 17",
        ),
        (
            "b_off",
            1,
            "invocation 0 passes B offset 0, invocation 64 B offset 1",
        ),
        (
            "b_stride",
            1,
            "invocation 0 passes B stride 8, invocation 64 B stride 9",
        ),
    ] {
        for size in [32, 64, 128] {
            let e = run_with(&program(which, 64), [1, 1, 1], &mut [], &opts(size)).unwrap_err();
            let RunError::WarpgroupOperandsDiffer {
                kernel,
                workgroup,
                warpgroup,
                statement,
                detail,
            } = &e
            else {
                panic!("{which}, size {size}: {e:?}");
            };
            assert_eq!(
                (kernel.as_str(), *workgroup, *warpgroup),
                ("wg_divergent", [0; 3], 0)
            );
            assert!(
                statement.starts_with(&format!("matrix statement {stmt} (")),
                "{which}: {statement}"
            );
            if which != "fill" {
                assert!(statement.contains("warpgroup_mma(&ta"), "{statement}");
            }
            assert!(detail.contains(want), "{which}, size {size}: {detail}");
            let msg = e.to_string();
            assert!(
                msg.contains("warpgroup 0") && msg.contains("equal operands"),
                "{msg}"
            );
        }
        // Operands that differ per warpgroup only are fine.
        run_with(&program(which, 128), [1, 1, 1], &mut [], &opts(32))
            .unwrap_or_else(|e| panic!("{which}: per-warpgroup operands: {e}"));
    }
}

// ---------------------------------------------------------------------------
// Attention building blocks: `matrix_map`, `matrix_row_max/sum`, `A` from
// an accumulator and `B` column-major.

fn lid() -> Expr {
    Expr::Builtin(Builtin::LocalId, Axis::X)
}

fn wgx() -> Expr {
    Expr::Builtin(Builtin::WorkgroupId, Axis::X)
}

/// The three locals a `matrix_map` defines (`u32`, `u32`, `f32`).
fn closure(b: &mut ProgramBuilder, tag: &str) -> [u32; 3] {
    [
        b.local(format!("r{tag}"), DataType::U32, false),
        b.local(format!("c{tag}"), DataType::U32, false),
        b.local(format!("v{tag}"), DataType::F32, false),
    ]
}

fn map(d: u32, src: u32, [row, col, value]: [u32; 3], expr: Expr) -> MatrixOp {
    MatrixOp::Map {
        d,
        src,
        row,
        col,
        value,
        expr,
    }
}

/// `(r * 16 + c) as f32`, of a closure's locals.
fn index_f32([r, c, _]: [u32; 3]) -> Expr {
    Expr::local(r)
        .mul(Expr::u32(16))
        .add(Expr::local(c))
        .cast(DataType::F32)
}

/// `matrix_map` evaluates its expression per element with the row, column
/// and value bound, and reads uniform locals, a scalar parameter, a shared
/// array (out of range reads 0) and `workgroup_id`, with the operators'
/// run-time semantics (`powf`, `exp`, a mask by row and column): two
/// workgroups, each with its own offsets, against the same expression
/// computed on the host.
#[test]
fn map_evaluates_the_closure_per_element() {
    let mut b = ProgramBuilder::new("map", [128, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let scale = b.scalar("scale", DataType::F32);
    let m = b.shared("m", DataType::F32, 70);
    let s = b.warpgroup_accumulator("s", 16, 16);
    let off = b.local("off", DataType::U32, false);
    let base = b.local("base", DataType::U32, false);
    let c1 = closure(&mut b, "1");
    let c2 = closure(&mut b, "2");
    let l = Expr::local;
    b.body(|blk| {
        blk.if_(lid().lt(Expr::u32(70)), |t| {
            t.store(
                BufRef::Shared(m),
                lid(),
                lid()
                    .cast(DataType::F32)
                    .mul(Expr::f32(0.25))
                    .sub(Expr::f32(3.0)),
            );
        });
        blk.barrier();
        blk.let_(off, wgx().mul(Expr::u32(12)));
        blk.let_(base, wgx().add(Expr::u32(2)));
        blk.matrix(MatrixOp::Fill {
            matrix: s,
            value: Expr::f32(1.5),
        });
        // s = v * (r * 16 + c) - 7
        blk.matrix(map(
            s,
            s,
            c1,
            l(c1[2]).mul(index_f32(c1)).sub(Expr::f32(7.0)),
        ));
        // s = c > r + base ? -inf : 2^(v * scale - m[r + off]) * exp(-c / 8)
        let y = l(c2[2])
            .mul(Expr::param(scale))
            .sub(Expr::load(BufRef::Shared(m), l(c2[0]).add(l(off))));
        let e = Expr::f32(2.0).math(MathFn::Powf, vec![y]).mul(
            l(c2[1])
                .cast(DataType::F32)
                .neg()
                .div(Expr::f32(8.0))
                .math(MathFn::Exp, vec![]),
        );
        let masked = l(c2[1]).gt(l(c2[0]).add(l(base)));
        blk.matrix(map(
            s,
            s,
            c2,
            Expr::select(masked, Expr::f32(f32::NEG_INFINITY), e),
        ));
        blk.matrix(MatrixOp::Store {
            matrix: s,
            buf: BufRef::Param(out),
            offset: wgx().mul(Expr::u32(1024)),
            stride: Expr::u32(16),
            layout: ROW,
            clip: None,
        });
    });
    let p = b.finish();
    let sc = 0.01f32;
    let mut want = Vec::new();
    for g in 0..2u32 {
        let m = |i: u32| {
            if i < 70 { i as f32 * 0.25 - 3.0 } else { 0.0 }
        };
        for r in 0..64u32 {
            for c in 0..16u32 {
                let v = 1.5f32 * ((r * 16 + c) as f32) - 7.0;
                let y = v * sc - m(r + 12 * g);
                let e = 2f32.powf(y) * (-(c as f32) / 8.0).exp();
                want.push(if c > r + g + 2 { f32::NEG_INFINITY } else { e });
            }
        }
    }
    for size in [32, 128] {
        let mut o = vec![0u32; 2048];
        run_with(
            &p,
            [2, 1, 1],
            &mut [
                RefArg::Buffer(&mut o),
                RefArg::Scalar(Literal::F32(sc.to_bits())),
            ],
            &opts(size),
        )
        .expect("runs");
        for (e, (&g, w)) in o.iter().zip(&want).enumerate() {
            assert_eq!(g, w.to_bits(), "element {e}: {} vs {w}", f32::from_bits(g));
        }
    }
    // Rows 58.. of workgroup 1 read `m[70..]`: 0, out of range.
    assert!(
        want.iter()
            .all(|x| x.is_finite() || *x == f32::NEG_INFINITY)
    );
}

/// The row-reduction kernel: `s` from a `matrix_map` of rows with NaN,
/// `-inf`, all-negative and cancelling values; `matrix_row_max` into `mx`
/// at offset 10 (rows 60.. out of range) and `matrix_row_sum` into `sm`,
/// both copied to `out`.
fn row_reduce_program(unchecked: bool) -> Program {
    let mut b = ProgramBuilder::new("rows", [128, 1, 1]);
    b.unchecked(unchecked);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let mx = b.shared("mx", DataType::F32, 70);
    let sm = b.shared("sm", DataType::F32, 70);
    let s = b.warpgroup_accumulator("s", 16, 16);
    let cl = closure(&mut b, "");
    let [r, c, _] = cl.map(Expr::local);
    let rf = r.clone().cast(DataType::F32);
    let cf = c.clone().cast(DataType::F32);
    let kind = r.clone().rem(Expr::u32(4));
    let u = Expr::u32;
    let value = Expr::select(
        kind.clone().eq(u(1)).and(c.clone().eq(u(3))),
        Expr::f32(f32::NAN),
        Expr::select(
            kind.clone().eq(u(2)),
            Expr::f32(f32::NEG_INFINITY),
            Expr::select(
                kind.eq(u(3)),
                cf.clone()
                    .add(Expr::f32(1.0))
                    .mul(Expr::f32(-0.3))
                    .sub(rf.clone()),
                Expr::select(
                    c.eq(u(0)),
                    rf.clone().sub(Expr::f32(30.5)).mul(Expr::f32(1e8)),
                    rf.sub(Expr::f32(31.5))
                        .mul(cf.add(Expr::f32(1.0)))
                        .mul(Expr::f32(-0.1)),
                ),
            ),
        ),
    );
    b.body(|blk| {
        blk.matrix(map(s, s, cl, value));
        blk.matrix(MatrixOp::RowReduce {
            op: vyre::ir::RowReduceOp::Max,
            src: s,
            dst: mx,
            offset: u(10),
        });
        blk.matrix(MatrixOp::RowReduce {
            op: vyre::ir::RowReduceOp::Add,
            src: s,
            dst: sm,
            offset: u(0),
        });
        blk.barrier();
        blk.if_(lid().lt(u(70)), |t| {
            t.store(
                BufRef::Param(out),
                lid(),
                Expr::load(BufRef::Shared(mx), lid()),
            );
            t.store(
                BufRef::Param(out),
                lid().add(u(70)),
                Expr::load(BufRef::Shared(sm), lid()),
            );
        });
    });
    b.finish()
}

/// The value of element `(r, c)` of `row_reduce_program`'s `s`.
fn row_value(r: u32, c: u32) -> f32 {
    let (rf, cf) = (r as f32, c as f32);
    match r % 4 {
        1 if c == 3 => f32::NAN,
        2 => f32::NEG_INFINITY,
        3 => (cf + 1.0) * -0.3 - rf,
        _ if c == 0 => (rf - 30.5) * 1e8,
        _ => (rf - 31.5) * (cf + 1.0) * -0.1,
    }
}

/// `matrix_row_max` folds `f32::max` from `-inf` (NaN skipped, a row of
/// negatives keeps its negative maximum, a row of `-inf` is `-inf`);
/// `matrix_row_sum` adds left to right from `0.0`, rounding each sum (NaN
/// propagates); elements past the array are dropped, and are an
/// `OutOfBounds` error in an unchecked kernel.
#[test]
fn row_reductions_fold_each_row() {
    let mut o = vec![0u32; 140];
    run(
        &row_reduce_program(false),
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
    )
    .expect("runs");
    let row = |r: u32| (0..16).map(move |c| row_value(r, c));
    for i in 0..70u32 {
        let want_max = if (10..70).contains(&i) {
            row(i - 10).fold(f32::NEG_INFINITY, f32::max)
        } else {
            0.0
        };
        let want_sum = if i < 64 {
            row(i).fold(0.0, |a, x| a + x)
        } else {
            0.0
        };
        assert_eq!(o[i as usize], want_max.to_bits(), "max at {i}");
        assert_eq!(o[70 + i as usize], want_sum.to_bits(), "sum at {i}");
    }
    let got = |i: usize| f32::from_bits(o[i]);
    // Row 1 (NaN at column 3): the maximum skips it, the sum is NaN.
    assert!(got(11).is_finite() && got(71).is_nan());
    // Row 2: all -inf.
    assert_eq!((got(12), got(72)), (f32::NEG_INFINITY, f32::NEG_INFINITY));
    // Row 3: all negative, the largest is -3.3.
    assert_eq!(got(13), -0.3 - 3.0);
    // Row 0 sums left to right: 1e8-sized first term absorbs others.
    let r0: Vec<f32> = row(0).collect();
    let reversed = r0.iter().rev().fold(0.0f32, |a, &x| a + x);
    assert_ne!(reversed.to_bits(), o[70], "the order is observable here");
    // Unchecked: row 60 goes to `mx[70]`.
    let e = run(
        &row_reduce_program(true),
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
    )
    .unwrap_err();
    assert!(
        matches!(&e, RunError::OutOfBounds { buffer, index: 70, len: 70, .. } if buffer == "mx"),
        "{e:?}"
    );
}

/// `d = P · B + c` with `P` a warpgroup accumulator, every element rounded
/// to nearest even to the operand type first (`1 + j * 2^-10` keeps its
/// value in `f16` and rounds in `bf16`, ties to even), `B` row- or
/// column-major at an odd offset and stride, part of it past the end of
/// its array (reads 0): against the plain loop, bit for bit, and unlike the
/// loop without the rounding.
#[test]
fn multiply_with_a_from_an_accumulator() {
    let (n, k) = (8u32, 16u32);
    for elem in [DataType::F16, DataType::BF16] {
        for layout in [ROW, COL] {
            let (b_off, b_stride, b_len) = if layout == ROW {
                (3, 11, 170)
            } else {
                (5, 19, 150)
            };
            let mut bld = ProgramBuilder::new("pv", [128, 1, 1]);
            let vb = bld.buffer("vb", elem, Access::Read);
            let out = bld.buffer("out", DataType::F32, Access::ReadWrite);
            let tb = bld.shared("tb", elem, b_len);
            let pm = bld.warpgroup_accumulator("p", k, 16);
            let d = bld.warpgroup_accumulator("d", n, k);
            let i = bld.local("i", DataType::U32, false);
            let cl = closure(&mut bld, "");
            let [r, c, _] = cl.map(Expr::local);
            // (1 + ((r * 16 + c) % 8) * 2^-10) * (r - 20)
            let pv = Expr::f32(1.0)
                .add(
                    index_f32(cl)
                        .rem(Expr::f32(8.0))
                        .mul(Expr::f32(2f32.powi(-10))),
                )
                .mul(r.cast(DataType::F32).sub(Expr::f32(20.0)));
            let _ = c;
            bld.body(|blk| {
                blk.for_(i, Expr::u32(0), Expr::u32(b_len.div_ceil(128)), |body| {
                    let idx = Expr::local(i).mul(Expr::u32(128)).add(lid());
                    body.if_(idx.clone().lt(Expr::u32(b_len)), |t| {
                        t.store(
                            BufRef::Shared(tb),
                            idx.clone(),
                            Expr::load(BufRef::Param(vb), idx),
                        );
                    });
                });
                blk.barrier();
                blk.matrix(map(pm, pm, cl, pv));
                blk.matrix(MatrixOp::Fill {
                    matrix: d,
                    value: Expr::f32(0.25),
                });
                blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                    d,
                    a: WarpgroupOperand::Accumulator(pm),
                    b: SharedTile {
                        array: tb,
                        offset: Expr::u32(b_off),
                        stride: Expr::u32(b_stride),
                        layout,
                    },
                    c: d,
                    asynchronous: false,
                });
                blk.matrix(MatrixOp::Store {
                    matrix: d,
                    buf: BufRef::Param(out),
                    offset: Expr::u32(0),
                    stride: Expr::u32(n),
                    layout: ROW,
                    clip: None,
                });
            });
            let prog = bld.finish();
            let mut rng = Rng(u64::from(b_len) + elem.bits() as u64);
            let mut vbits: Vec<u32> = (0..b_len).map(|_| rng.elem(elem)).collect();
            let mut o = vec![0u32; (64 * n) as usize];
            run(
                &prog,
                [1, 1, 1],
                &mut [RefArg::Buffer(&mut vbits), RefArg::Buffer(&mut o)],
            )
            .expect("runs");
            let bval = |kk: u32, j: u32| {
                let idx = u64::from(b_off) + layout.index(kk, j, b_stride);
                vbits.get(idx as usize).map_or(0.0, |&w| value_of(elem, w))
            };
            let pval = |r: u32, c: u32| {
                (1.0 + ((r * 16 + c) as f32 % 8.0) * 2f32.powi(-10)) * (r as f32 - 20.0)
            };
            let (mut want, mut unrounded) = (Vec::new(), Vec::new());
            for r in 0..64 {
                for j in 0..n {
                    let (mut acc, mut raw) = (0.25f32, 0.25f32);
                    for kk in 0..k {
                        let pr = value_of(elem, bits_of(elem, pval(r, kk)));
                        acc += pr * bval(kk, j);
                        raw += pval(r, kk) * bval(kk, j);
                    }
                    want.push(acc.to_bits());
                    unrounded.push(raw.to_bits());
                }
            }
            assert_eq!(o, want, "{elem} {layout:?}");
            if elem == DataType::BF16 {
                assert_ne!(o, unrounded, "{elem} {layout:?}: the rounding is applied");
            }
            // Some of B lies past the array: those elements read 0.
            let last = u64::from(b_off) + layout.index(k - 1, n - 1, b_stride);
            assert!(last >= u64::from(b_len));
        }
    }
}

/// `warpgroup_mma_t` with `A` from a shared array and `B` column-major
/// (`B[k][j]` at `offset + j * stride + k`): odd offsets and strides, a
/// tile past the end, and a `B` offset near `u32::MAX` (out of range past
/// `u32`, reading 0: `d` stays `c`).
#[test]
fn multiply_with_a_column_major_b() {
    let (n, k) = (16u32, 32u32);
    for (b_off, b_stride, b_len) in [(7u32, 33u32, 600u32), (0, 32, 512), (u32::MAX - 5, 32, 512)] {
        let elem = DataType::F16;
        let mut bld = ProgramBuilder::new("qk", [128, 1, 1]);
        let ab = bld.buffer("ab", elem, Access::Read);
        let bb = bld.buffer("bb", elem, Access::Read);
        let out = bld.buffer("out", DataType::F32, Access::ReadWrite);
        let ta = bld.shared("ta", elem, 64 * 35 + 3);
        let tb = bld.shared("tb", elem, b_len);
        let d = bld.warpgroup_accumulator("d", n, k);
        let i = bld.local("i", DataType::U32, false);
        bld.body(|blk| {
            for (tile, src, len) in [(ta, ab, 64 * 35 + 3), (tb, bb, b_len)] {
                blk.for_(i, Expr::u32(0), Expr::u32(len.div_ceil(128)), |body| {
                    let idx = Expr::local(i).mul(Expr::u32(128)).add(lid());
                    body.if_(idx.clone().lt(Expr::u32(len)), |t| {
                        t.store(
                            BufRef::Shared(tile),
                            idx.clone(),
                            Expr::load(BufRef::Param(src), idx),
                        );
                    });
                });
            }
            blk.barrier();
            blk.matrix(MatrixOp::Fill {
                matrix: d,
                value: Expr::f32(-2.0),
            });
            blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d,
                a: WarpgroupOperand::Shared(SharedTile {
                    array: ta,
                    offset: Expr::u32(3),
                    stride: Expr::u32(35),
                    layout: ROW,
                }),
                b: SharedTile {
                    array: tb,
                    offset: Expr::u32(b_off),
                    stride: Expr::u32(b_stride),
                    layout: COL,
                },
                c: d,
                asynchronous: true,
            });
            blk.matrix(MatrixOp::WarpgroupWait { pending: 0 });
            blk.matrix(MatrixOp::Store {
                matrix: d,
                buf: BufRef::Param(out),
                offset: Expr::u32(0),
                stride: Expr::u32(n),
                layout: ROW,
                clip: None,
            });
        });
        let prog = bld.finish();
        let mut rng = Rng(u64::from(b_stride));
        let mut abits: Vec<u32> = (0..64 * 35 + 3).map(|_| rng.elem(elem)).collect();
        let mut bbits: Vec<u32> = (0..b_len).map(|_| rng.elem(elem)).collect();
        let read = |v: &[u32], idx: u64| {
            usize::try_from(idx)
                .ok()
                .and_then(|i| v.get(i))
                .map_or(0.0, |&w| value_of(elem, w))
        };
        let mut want = Vec::new();
        for r in 0..64u64 {
            for j in 0..u64::from(n) {
                let mut acc = -2.0f32;
                for kk in 0..u64::from(k) {
                    let a = read(&abits, 3 + r * 35 + kk);
                    let b = read(&bbits, u64::from(b_off) + j * u64::from(b_stride) + kk);
                    acc += a * b;
                }
                want.push(acc.to_bits());
            }
        }
        let mut o = vec![0u32; (64 * n) as usize];
        for size in [32, 128] {
            run_with(
                &prog,
                [1, 1, 1],
                &mut [
                    RefArg::Buffer(&mut abits),
                    RefArg::Buffer(&mut bbits),
                    RefArg::Buffer(&mut o),
                ],
                &opts(size),
            )
            .expect("runs");
            assert_eq!(o, want, "B at {b_off}, stride {b_stride}");
        }
        let untouched = want.iter().all(|&x| x == (-2.0f32).to_bits());
        assert_eq!(untouched, b_off > u32::MAX - 64, "B at {b_off}");
    }
}

/// The attention block of `matrix_support::attention` (all four building
/// blocks, `exp` and a division by the row sum included) against its host
/// transcription, bit for bit, for `f16` and `bf16`, two workgroups.
#[test]
fn attention_block_matches_the_host() {
    use matrix_support::attention::{Attention, SCALE};
    for elem in [DataType::F16, DataType::BF16] {
        for exp in [true, false] {
            let att = Attention {
                elem,
                kv: 16,
                d: 16,
                exp,
                workgroups: 2,
            };
            let [mut q, mut k, mut v] = att.inputs(11);
            let want = att.expected(&[q.clone(), k.clone(), v.clone()]);
            let mut o = vec![0u32; (2 * att.out_per_workgroup()) as usize];
            run(
                &att.program(),
                [2, 1, 1],
                &mut [
                    RefArg::Buffer(&mut q),
                    RefArg::Buffer(&mut k),
                    RefArg::Buffer(&mut v),
                    RefArg::Buffer(&mut o),
                    RefArg::Scalar(Literal::F32(SCALE.to_bits())),
                ],
            )
            .expect("runs");
            for (e, (&g, w)) in o.iter().zip(&want).enumerate() {
                assert_eq!(g, w.to_bits(), "{elem} exp={exp}: element {e}");
            }
            assert!(want.iter().all(|x| x.is_finite()));
        }
    }
}

/// A local a `matrix_map` reads must be equal across the warpgroup (it is
/// evaluated where each element lives): one that differs per 64
/// invocations is a `WarpgroupOperandsDiffer` naming it; one per warpgroup
/// is fine. A row reduction's offset and an accumulator-`A` multiply's `B`
/// operands are compared likewise.
#[test]
fn map_locals_and_row_offsets_must_agree_across_a_warpgroup() {
    let program = |which: &str, div: u32| {
        let mut b = ProgramBuilder::new("wg_map", [256, 1, 1]);
        let out = b.buffer("out", DataType::F32, Access::ReadWrite);
        let sh = b.shared("sh", DataType::F32, 512);
        let tb = b.shared("tb", DataType::F16, 1024);
        let s = b.warpgroup_accumulator("s", 16, 16);
        let d = b.warpgroup_accumulator("d", 8, 16);
        let x = b.local("x", DataType::U32, false);
        let cl = closure(&mut b, "");
        let pick = |what: &str| {
            if which == what {
                Expr::local(x)
            } else {
                Expr::u32(0)
            }
        };
        b.body(|blk| {
            blk.let_(x, lid().div(Expr::u32(div)));
            blk.matrix(map(
                s,
                s,
                cl,
                Expr::local(cl[2]).add(pick("map").cast(DataType::F32)),
            ));
            blk.matrix(MatrixOp::RowReduce {
                op: vyre::ir::RowReduceOp::Max,
                src: s,
                dst: sh,
                offset: pick("row"),
            });
            blk.matrix(MatrixOp::WarpgroupMultiplyAdd {
                d,
                a: WarpgroupOperand::Accumulator(s),
                b: SharedTile {
                    array: tb,
                    offset: pick("b_off"),
                    stride: Expr::u32(8),
                    layout: COL,
                },
                c: d,
                asynchronous: false,
            });
            blk.matrix(MatrixOp::Store {
                matrix: d,
                buf: BufRef::Param(out),
                offset: lid().div(Expr::u32(128)).mul(Expr::u32(512)),
                stride: Expr::u32(8),
                layout: ROW,
                clip: None,
            });
        });
        b.finish()
    };
    for (which, stmt, want) in [
        (
            "map",
            "matrix statement 0 (`s = matrix_map(s, |r, c, v| ..)`)",
            "`matrix_map` reads `x`, which invocation 0 holds as 0x00000000 and invocation 64 as 0x00000001",
        ),
        (
            "row",
            "matrix statement 1 (`matrix_row_max(&sh, .., s)`)",
            "invocation 0 passes offset 0, invocation 64 offset 1",
        ),
        (
            "b_off",
            "matrix statement 2 (`d = warpgroup_mma_t(s, &tb, .., d)`)",
            "invocation 0 passes B offset 0, invocation 64 B offset 1",
        ),
    ] {
        for size in [32, 128] {
            let mut o = vec![0u32; 1024];
            let e = run_with(
                &program(which, 64),
                [1, 1, 1],
                &mut [RefArg::Buffer(&mut o)],
                &opts(size),
            )
            .unwrap_err();
            let RunError::WarpgroupOperandsDiffer {
                warpgroup: 0,
                statement,
                detail,
                ..
            } = &e
            else {
                panic!("{which}, size {size}: {e:?}");
            };
            assert_eq!(statement, stmt, "{which}");
            assert!(detail.contains(want), "{which}: {detail}");
        }
        let mut o = vec![0u32; 1024];
        run_with(
            &program(which, 128),
            [1, 1, 1],
            &mut [RefArg::Buffer(&mut o)],
            &opts(32),
        )
        .unwrap_or_else(|e| panic!("{which}: per-warpgroup values: {e}"));
    }
}
