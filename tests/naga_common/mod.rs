//! Test programs for the naga targets, built with `ProgramBuilder`, each with
//! inputs and the expected outputs computed in plain Rust (vyre's semantics
//! written out by hand) so that the wgpu tests can compare.

#![allow(dead_code)]

use vyre::driver::emit_aot_target;
use vyre::ir::Program as IrProgram;
use vyre::ir::{
    Access, AtomicOp, Axis, BufRef, Builtin, DataType, Expr, MathFn, Program, ProgramBuilder,
};
use vyre::{Device, DispatchConfig, Grid};
use vyre_testkit::harness::OwnedSpec;
use vyre_testkit::{Tolerance, Value, ulp_distance};

pub mod narrow;

/// Host data of one buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// `u32` elements.
    U32(Vec<u32>),
    /// `i32` elements.
    I32(Vec<i32>),
    /// `f32` elements.
    F32(Vec<f32>),
    /// Elements of a 16- or 8-bit type, one `u32` of zero-extended bits
    /// each (`Literal::bits`).
    Narrow(DataType, Vec<u32>),
}

/// One launch argument.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A buffer with its initial contents.
    Buf(Data),
    /// A `u32` scalar.
    U32(u32),
    /// An `i32` scalar.
    I32(i32),
    /// An `f32` scalar.
    F32(f32),
    /// A `bool` scalar.
    Bool(bool),
    /// A scalar of any type (the narrow ones).
    Lit(vyre::ir::Literal),
}

/// A program with inputs, a grid and expected outputs.
pub struct Case {
    /// The kernel.
    pub program: Program,
    /// Arguments in parameter order.
    pub args: Vec<Arg>,
    /// Workgroups to launch.
    pub workgroups: [u32; 3],
    /// Expected final contents of read-write buffers, by parameter index.
    pub expected: Vec<(usize, Data)>,
    /// Float tolerance (integer outputs are always compared bit-exactly).
    pub tol: Tolerance,
}

fn load(buf: u32, index: Expr) -> Expr {
    Expr::load(BufRef::Param(buf), index)
}

fn gid(axis: Axis) -> Expr {
    Expr::Builtin(Builtin::GlobalId, axis)
}

fn lid(axis: Axis) -> Expr {
    Expr::Builtin(Builtin::LocalId, axis)
}

fn wid(axis: Axis) -> Expr {
    Expr::Builtin(Builtin::WorkgroupId, axis)
}

/// y = a * x + y, guarded by `i < y.len()`.
pub fn saxpy() -> Case {
    let n = 1000;
    let xs: Vec<f32> = (0..n).map(|k| k as f32 * 0.25 - 17.0).collect();
    let ys: Vec<f32> = (0..n).map(|k| (k as f32).sqrt()).collect();
    let av = 1.5f32;
    let expected: Vec<f32> = xs.iter().zip(&ys).map(|(x, y)| av * x + y).collect();
    Case {
        program: vyre_testkit::programs::documented_saxpy(64),
        args: vec![
            Arg::F32(av),
            Arg::Buf(Data::F32(xs)),
            Arg::Buf(Data::F32(ys)),
        ],
        workgroups: [16, 1, 1],
        expected: vec![(2, Data::F32(expected))],
        tol: Tolerance::Float { ulp: 1, abs: 0.0 },
    }
}

fn rust_div_i32(a: i32, b: i32) -> i32 {
    if b == 0 { 0 } else { a.wrapping_div(b) }
}
fn rust_rem_i32(a: i32, b: i32) -> i32 {
    if b == 0 { 0 } else { a.wrapping_rem(b) }
}
fn rust_div_u32(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(0)
}
fn rust_rem_u32(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(0)
}

const INT_OPS: usize = 18;

/// Integer arithmetic corner cases: division by zero, `i32::MIN / -1`,
/// shifts by 32 and more, wrapping, casts.
pub fn int_ops() -> Case {
    let mut b = ProgramBuilder::new("int_ops", [32, 1, 1]);
    let pa = b.buffer("a", DataType::I32, Access::Read);
    let pb = b.buffer("b", DataType::I32, Access::Read);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let n = b.scalar("n", DataType::U32);
    let i = b.local("i", DataType::U32, false);
    let x = b.local("x", DataType::I32, false);
    let y = b.local("y", DataType::I32, false);
    let ux = b.local("ux", DataType::U32, false);
    let uy = b.local("uy", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).ge(Expr::param(n)), |t| {
            t.return_();
        });
        blk.let_(x, load(pa, Expr::local(i)));
        blk.let_(y, load(pb, Expr::local(i)));
        blk.let_(ux, Expr::local(x).cast(DataType::U32));
        blk.let_(uy, Expr::local(y).cast(DataType::U32));
        let (lx, ly, lux, luy) = (
            || Expr::local(x),
            || Expr::local(y),
            || Expr::local(ux),
            || Expr::local(uy),
        );
        let results: Vec<Expr> = vec![
            lx().div(ly()),
            lx().rem(ly()),
            lx().shl(ly()),
            lx().shr(ly()),
            lx().add(ly()),
            lx().mul(ly()),
            lx().neg(),
            lx().not(),
            lx().math(MathFn::Abs, vec![]),
            lx().math(MathFn::Min, vec![ly()]),
            lx().math(MathFn::Max, vec![ly()]),
            lx().math(MathFn::Clamp, vec![ly(), Expr::i32(100)]),
            lux().div(luy()).cast(DataType::I32),
            lux().rem(luy()).cast(DataType::I32),
            lux().shr(ly()).cast(DataType::I32),
            lx().lt(ly())
                .cast(DataType::I32)
                .add(lx().eq(ly()).cast(DataType::I32).mul(Expr::i32(2))),
            Expr::select(
                lux().gt(luy()),
                lx().sub(ly()),
                lux().bitxor(luy()).cast(DataType::I32),
            ),
            lux()
                .math(MathFn::Max, vec![luy()])
                .bitor(lux().shl(Expr::u32(33)))
                .cast(DataType::I32),
        ];
        assert_eq!(results.len(), INT_OPS);
        for (k, r) in results.into_iter().enumerate() {
            let idx = Expr::local(i)
                .mul(Expr::u32(INT_OPS as u32))
                .add(Expr::u32(k as u32));
            blk.store(BufRef::Param(out), idx, r);
        }
    });
    let special = [
        0,
        1,
        -1,
        2,
        -2,
        3,
        7,
        -7,
        31,
        32,
        33,
        63,
        100,
        -100,
        i32::MIN,
        i32::MAX,
        12345,
        -98765,
    ];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &p in &special {
        for &q in &special {
            xs.push(p);
            ys.push(q);
        }
    }
    let count = xs.len();
    let mut expected = Vec::with_capacity(count * INT_OPS);
    for (&x, &y) in xs.iter().zip(&ys) {
        let (ux, uy) = (x as u32, y as u32);
        expected.extend([
            rust_div_i32(x, y),
            rust_rem_i32(x, y),
            x.wrapping_shl(y as u32),
            x.wrapping_shr(y as u32),
            x.wrapping_add(y),
            x.wrapping_mul(y),
            x.wrapping_neg(),
            !x,
            x.wrapping_abs(),
            x.min(y),
            x.max(y),
            x.max(y).min(100),
            rust_div_u32(ux, uy) as i32,
            rust_rem_u32(ux, uy) as i32,
            ux.wrapping_shr(y as u32) as i32,
            i32::from(x < y) + i32::from(x == y) * 2,
            if ux > uy {
                x.wrapping_sub(y)
            } else {
                (ux ^ uy) as i32
            },
            (ux.max(uy) | ux.wrapping_shl(33)) as i32,
        ]);
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::I32(xs)),
            Arg::Buf(Data::I32(ys)),
            Arg::Buf(Data::I32(vec![-5; count * INT_OPS])),
            Arg::U32(count as u32),
        ],
        workgroups: [(count as u32).div_ceil(32), 1, 1],
        expected: vec![(2, Data::I32(expected))],
        tol: Tolerance::FloatExact,
    }
}

const FLOAT_OPS: usize = 12;
const CAST_OPS: usize = 4;

fn rust_clamp(x: f32, lo: f32, hi: f32) -> f32 {
    x.max(lo).min(hi)
}

/// Float corner cases: saturating casts, NaN-ignoring min/max, exact ops.
pub fn float_ops() -> Case {
    let mut b = ProgramBuilder::new("float_ops", [16, 1, 1]);
    let px = b.buffer("x", DataType::F32, Access::Read);
    let py = b.buffer("y", DataType::F32, Access::Read);
    let outf = b.buffer("outf", DataType::F32, Access::ReadWrite);
    let outi = b.buffer("outi", DataType::I32, Access::ReadWrite);
    let flag = b.scalar("flag", DataType::Bool);
    let i = b.local("i", DataType::U32, false);
    let x = b.local("x", DataType::F32, false);
    let y = b.local("y", DataType::F32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(px)), |t| {
            t.let_(x, load(px, Expr::local(i)));
            t.let_(y, load(py, Expr::local(i)));
            let (lx, ly) = (|| Expr::local(x), || Expr::local(y));
            let fres: Vec<Expr> = vec![
                lx().math(MathFn::Min, vec![ly()]),
                lx().math(MathFn::Max, vec![ly()]),
                lx().math(MathFn::Floor, vec![]),
                lx().math(MathFn::Ceil, vec![]),
                lx().math(MathFn::Abs, vec![]),
                lx().math(MathFn::Clamp, vec![Expr::f32(-1.0), Expr::f32(1.0)]),
                lx().add(ly()),
                lx().mul(ly()),
                lx().sub(ly()).neg(),
                Expr::local(i)
                    .cast(DataType::F32)
                    .add(Expr::param(flag).cast(DataType::F32)),
                Expr::select(lx().lt(ly()), lx(), ly().mul(Expr::f32(2.0))),
                lx().cast(DataType::I32).cast(DataType::F32),
            ];
            assert_eq!(fres.len(), FLOAT_OPS);
            for (k, r) in fres.into_iter().enumerate() {
                let idx = Expr::local(i)
                    .mul(Expr::u32(FLOAT_OPS as u32))
                    .add(Expr::u32(k as u32));
                t.store(BufRef::Param(outf), idx, r);
            }
            let ires: Vec<Expr> = vec![
                lx().cast(DataType::I32),
                lx().cast(DataType::U32).cast(DataType::I32),
                lx().mul(Expr::f32(1e9)).cast(DataType::I32),
                lx().lt(ly())
                    .cast(DataType::I32)
                    .add(Expr::param(flag).cast(DataType::I32)),
            ];
            assert_eq!(ires.len(), CAST_OPS);
            for (k, r) in ires.into_iter().enumerate() {
                let idx = Expr::local(i)
                    .mul(Expr::u32(CAST_OPS as u32))
                    .add(Expr::u32(k as u32));
                t.store(BufRef::Param(outi), idx, r);
            }
        });
    });
    let special = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.5,
        -2.5,
        3.7,
        -3.7,
        1e10,
        -1e10,
        4294967295.0,
        4294967296.0,
        2147483520.0,
        2147483648.0,
        -2147483904.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        1e-30,
    ];
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for &p in &special {
        for &q in &special[..8] {
            xs.push(p);
            ys.push(q);
        }
        xs.push(p);
        ys.push(f32::NAN);
    }
    let flag_v = true;
    let n = xs.len();
    let mut ef = Vec::new();
    let mut ei = Vec::new();
    for k in 0..n {
        let (x, y) = (xs[k], ys[k]);
        ef.extend([
            x.min(y),
            x.max(y),
            x.floor(),
            x.ceil(),
            x.abs(),
            rust_clamp(x, -1.0, 1.0),
            x + y,
            x * y,
            -(x - y),
            k as f32 + f32::from(u8::from(flag_v)),
            if x < y { x } else { y * 2.0 },
            (x as i32) as f32,
        ]);
        ei.extend([
            x as i32,
            (x as u32) as i32,
            (x * 1e9) as i32,
            i32::from(x < y) + i32::from(flag_v),
        ]);
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::F32(xs)),
            Arg::Buf(Data::F32(ys)),
            Arg::Buf(Data::F32(vec![0.0; n * FLOAT_OPS])),
            Arg::Buf(Data::I32(vec![0; n * CAST_OPS])),
            Arg::Bool(flag_v),
        ],
        workgroups: [(n as u32).div_ceil(16), 1, 1],
        expected: vec![(2, Data::F32(ef)), (3, Data::I32(ei))],
        tol: Tolerance::FloatExact,
    }
}

/// Workgroup reduction in shared memory with barriers, partial sums per
/// workgroup and a global atomic total.
pub fn reduce() -> Case {
    let wg = 128u32;
    let mut b = ProgramBuilder::new("reduce_sum", [wg, 1, 1]);
    let x = b.buffer("x", DataType::U32, Access::Read);
    let partial = b.buffer("partial", DataType::U32, Access::ReadWrite);
    let total = b.buffer("total", DataType::U32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::U32, wg);
    let l = b.local("l", DataType::U32, false);
    let s = b.local("s", DataType::U32, true);
    let old = b.local("old", DataType::U32, false);
    b.body(|blk| {
        blk.let_(l, lid(Axis::X));
        // Unguarded: out-of-range reads give 0.
        blk.store(
            BufRef::Shared(tile),
            Expr::local(l),
            load(x, Expr::global_id_x()),
        );
        blk.barrier();
        blk.let_(s, Expr::u32(wg / 2));
        blk.while_(Expr::local(s).gt(Expr::u32(0)), |w| {
            w.if_(Expr::local(l).lt(Expr::local(s)), |t| {
                let sum = Expr::load(BufRef::Shared(tile), Expr::local(l)).add(Expr::load(
                    BufRef::Shared(tile),
                    Expr::local(l).add(Expr::local(s)),
                ));
                t.store(BufRef::Shared(tile), Expr::local(l), sum);
            });
            w.barrier();
            w.assign(s, Expr::local(s).shr(Expr::u32(1)));
        });
        blk.if_(Expr::local(l).eq(Expr::u32(0)), |t| {
            let v = Expr::load(BufRef::Shared(tile), Expr::u32(0));
            t.store(BufRef::Param(partial), wid(Axis::X), v.clone());
            t.let_(
                old,
                Expr::atomic(AtomicOp::Add, BufRef::Param(total), Expr::u32(0), v),
            );
        });
    });
    let n = 1000usize;
    let xs: Vec<u32> = (0..n as u32)
        .map(|k| k.wrapping_mul(2654435761) >> 8)
        .collect();
    let groups = (n as u32).div_ceil(wg) + 1; // one extra, all out of range
    let mut partials = vec![0u32; groups as usize];
    for (k, v) in xs.iter().enumerate() {
        partials[k / wg as usize] = partials[k / wg as usize].wrapping_add(*v);
    }
    let total_v = partials.iter().fold(0u32, |a, b| a.wrapping_add(*b));
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(xs)),
            Arg::Buf(Data::U32(vec![9; groups as usize])),
            Arg::Buf(Data::U32(vec![0])),
        ],
        workgroups: [groups, 1, 1],
        expected: vec![(1, Data::U32(partials)), (2, Data::U32(vec![total_v]))],
        tol: Tolerance::FloatExact,
    }
}

/// Histogram through shared atomics, then every atomic operation on a
/// global buffer, a compare-exchange increment loop and out-of-range atomics.
pub fn atomics() -> Case {
    let wg = 64u32;
    let bins_n = 16u32;
    let mut b = ProgramBuilder::new("atomics", [wg, 1, 1]);
    let data = b.buffer("data", DataType::U32, Access::Read);
    let bins = b.buffer("bins", DataType::U32, Access::ReadWrite);
    let misc = b.buffer("misc", DataType::I32, Access::ReadWrite);
    let olds = b.buffer("olds", DataType::U32, Access::ReadWrite);
    let hist = b.shared("hist", DataType::U32, bins_n);
    let i = b.local("i", DataType::U32, false);
    let v = b.local("v", DataType::U32, false);
    let sv = b.local("sv", DataType::I32, false);
    let cur = b.local("cur", DataType::I32, true);
    let got = b.local("got", DataType::I32, true);
    let oob = b.local("oob", DataType::U32, false);
    let h_old = b.local("h_old", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(v, load(data, Expr::local(i)));
        blk.let_(sv, Expr::local(v).cast(DataType::I32).sub(Expr::i32(500)));
        blk.if_(Expr::local(i).lt(Expr::len(data)), |t| {
            t.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Shared(hist),
                Expr::local(v).rem(Expr::u32(bins_n)),
                Expr::u32(1),
            ));
            let m = |k: u32| Expr::u32(k);
            t.eval(Expr::atomic(
                AtomicOp::Max,
                BufRef::Param(misc),
                m(0),
                Expr::local(sv),
            ));
            t.eval(Expr::atomic(
                AtomicOp::Min,
                BufRef::Param(misc),
                m(1),
                Expr::local(sv),
            ));
            t.eval(Expr::atomic(
                AtomicOp::Or,
                BufRef::Param(misc),
                m(2),
                Expr::i32(1).shl(Expr::local(v)),
            ));
            t.eval(Expr::atomic(
                AtomicOp::And,
                BufRef::Param(misc),
                m(3),
                Expr::i32(1).shl(Expr::local(v)).not(),
            ));
            t.eval(Expr::atomic(
                AtomicOp::Xor,
                BufRef::Param(misc),
                m(4),
                Expr::local(sv),
            ));
            t.eval(Expr::atomic(
                AtomicOp::Sub,
                BufRef::Param(misc),
                m(5),
                Expr::local(sv),
            ));
            // Compare-exchange increment loop on misc[6] (plain load of an
            // atomic buffer included).
            t.let_(cur, Expr::load(BufRef::Param(misc), m(6)));
            t.let_(got, Expr::i32(0));
            t.loop_(|lp| {
                lp.assign(
                    got,
                    Expr::atomic_compare_exchange(
                        BufRef::Param(misc),
                        m(6),
                        Expr::local(cur),
                        Expr::local(cur).add(Expr::i32(1)),
                    ),
                );
                lp.if_(Expr::local(got).eq(Expr::local(cur)), |d| {
                    d.break_();
                });
                lp.assign(cur, Expr::local(got));
            });
            // Out of range: no effect, yields 0.
            t.let_(
                oob,
                Expr::atomic(
                    AtomicOp::Add,
                    BufRef::Param(olds),
                    Expr::local(i).add(Expr::u32(1_000_000)),
                    Expr::u32(5),
                ),
            );
            t.store(
                BufRef::Param(olds),
                Expr::local(i),
                Expr::local(oob).add(Expr::u32(7)),
            );
        });
        blk.barrier();
        blk.if_(lid(Axis::X).lt(Expr::u32(bins_n)), |t| {
            t.let_(h_old, Expr::load(BufRef::Shared(hist), lid(Axis::X)));
            t.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(bins),
                lid(Axis::X),
                Expr::local(h_old),
            ));
        });
    });
    let n = 777usize;
    let vals: Vec<u32> = (0..n as u32).map(|k| (k * 37 + 11) % 1000).collect();
    let mut bins_e = vec![0u32; bins_n as usize];
    let mut misc_e = vec![i32::MIN, i32::MAX, 0, -1, 0, 0, 0, 42];
    for &val in &vals {
        bins_e[(val % bins_n) as usize] += 1;
        let s = val as i32 - 500;
        misc_e[0] = misc_e[0].max(s);
        misc_e[1] = misc_e[1].min(s);
        misc_e[2] |= 1i32.wrapping_shl(val);
        misc_e[3] &= !1i32.wrapping_shl(val);
        misc_e[4] ^= s;
        misc_e[5] = misc_e[5].wrapping_sub(s);
        misc_e[6] += 1;
    }
    let groups = (n as u32).div_ceil(wg);
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(vals)),
            Arg::Buf(Data::U32(vec![0; bins_n as usize])),
            Arg::Buf(Data::I32(vec![i32::MIN, i32::MAX, 0, -1, 0, 0, 0, 42])),
            Arg::Buf(Data::U32(vec![1; n])),
        ],
        workgroups: [groups, 1, 1],
        expected: vec![
            (1, Data::U32(bins_e)),
            (2, Data::I32(misc_e)),
            (3, Data::U32(vec![7; n])),
        ],
        tol: Tolerance::FloatExact,
    }
}

/// Wild indices: negative, past the end, `u32::MAX`, into an empty buffer.
pub fn wild() -> Case {
    let mut b = ProgramBuilder::new("wild", [32, 1, 1]);
    let src = b.buffer("src", DataType::U32, Access::Read);
    let idx = b.buffer("idx", DataType::I32, Access::Read);
    let gathered = b.buffer("gathered", DataType::U32, Access::ReadWrite);
    let scatter = b.buffer("scatter", DataType::U32, Access::ReadWrite);
    let empty = b.buffer("empty", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::I32, false);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.let_(j, load(idx, Expr::local(i)));
        let g = load(src, Expr::local(j))
            .add(Expr::load(BufRef::Param(empty), Expr::local(i)))
            .add(Expr::len(empty));
        blk.store(BufRef::Param(gathered), Expr::local(i), g);
        blk.store(
            BufRef::Param(scatter),
            Expr::local(j),
            Expr::local(i).add(Expr::u32(1)),
        );
        blk.store(BufRef::Param(empty), Expr::local(i), Expr::u32(99));
    });
    let src_v: Vec<u32> = (0..50).map(|k| 1000 + k).collect();
    let n = 64usize;
    // Wild indices, plus distinct in-range ones (one writer per slot).
    let idx_v: Vec<i32> = (0..n as i32)
        .map(|k| match k % 8 {
            0 => -1,
            1 => 50,
            2 => 51,
            3 => i32::MAX,
            4 => i32::MIN,
            5 if k == 5 => 49,
            r => k / 8 * 3 + (r - 5),
        })
        .collect();
    let mut gathered_e = vec![0u32; n];
    let mut scatter_e = vec![0u32; 50];
    for k in 0..n {
        let j = idx_v[k];
        gathered_e[k] = usize::try_from(j)
            .ok()
            .and_then(|j| src_v.get(j).copied())
            .unwrap_or(0);
        if let Some(slot) = usize::try_from(j).ok().and_then(|j| scatter_e.get_mut(j)) {
            *slot = k as u32 + 1;
        }
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(src_v)),
            Arg::Buf(Data::I32(idx_v)),
            Arg::Buf(Data::U32(vec![5; n])),
            Arg::Buf(Data::U32(vec![0; 50])),
            Arg::Buf(Data::U32(vec![])),
        ],
        // Exact grid: an extra invocation would read idx out of range (0)
        // and write scatter[0].
        workgroups: [(n as u32) / 32, 1, 1],
        expected: vec![
            (2, Data::U32(gathered_e)),
            (3, Data::U32(scatter_e)),
            (4, Data::U32(vec![])),
        ],
        tol: Tolerance::FloatExact,
    }
}

fn collatz_steps(mut v: u32) -> u32 {
    let mut steps = 0;
    while v != 1 {
        if steps >= 500 {
            break;
        }
        steps += 1;
        if v.is_multiple_of(2) {
            v /= 2;
            continue;
        }
        v = v.wrapping_mul(3).wrapping_add(1);
    }
    steps
}

/// `while` with `break`/`continue`, `for` with `continue`, `loop`, early
/// `return`, nested `if`/`else`, `if` expressions.
pub fn control() -> Case {
    let mut b = ProgramBuilder::new("control", [32, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let v = b.local("v", DataType::U32, true);
    let steps = b.local("steps", DataType::U32, true);
    let acc = b.local("acc", DataType::U32, true);
    let k = b.local("k", DataType::U32, false);
    let m = b.local("m", DataType::I32, false);
    let cnt = b.local("cnt", DataType::U32, true);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).mul(Expr::u32(3)).ge(Expr::len(out)), |t| {
            t.return_();
        });
        // Collatz steps, capped.
        blk.let_(v, Expr::local(i).add(Expr::u32(1)));
        blk.let_(steps, Expr::u32(0));
        blk.while_(Expr::local(v).ne(Expr::u32(1)), |w| {
            w.if_(Expr::local(steps).ge(Expr::u32(500)), |t| {
                t.break_();
            });
            w.assign(steps, Expr::local(steps).add(Expr::u32(1)));
            w.if_(Expr::local(v).rem(Expr::u32(2)).eq(Expr::u32(0)), |t| {
                t.assign(v, Expr::local(v).div(Expr::u32(2)));
                t.continue_();
            });
            w.assign(v, Expr::local(v).mul(Expr::u32(3)).add(Expr::u32(1)));
        });
        blk.store(
            BufRef::Param(out),
            Expr::local(i).mul(Expr::u32(3)),
            Expr::local(steps),
        );
        // Sum of even k below i % 13, skipping odd ones.
        blk.let_(acc, Expr::u32(0));
        blk.for_(k, Expr::u32(0), Expr::local(i).rem(Expr::u32(13)), |f| {
            f.if_else(
                Expr::local(k).bitand(Expr::u32(1)).eq(Expr::u32(1)),
                |t| {
                    t.continue_();
                },
                |e| {
                    e.assign(acc, Expr::local(acc).add(Expr::local(k)));
                },
            );
        });
        blk.store(
            BufRef::Param(out),
            Expr::local(i).mul(Expr::u32(3)).add(Expr::u32(1)),
            Expr::local(acc),
        );
        // Signed for loop with negative bounds, and `loop` with break.
        blk.let_(cnt, Expr::u32(0));
        blk.for_(
            m,
            Expr::i32(-5),
            Expr::local(i).cast(DataType::I32).sub(Expr::i32(10)),
            |f| {
                f.assign(cnt, Expr::local(cnt).add(Expr::u32(1)));
            },
        );
        blk.loop_(|l| {
            l.if_(Expr::local(cnt).ge(Expr::u32(1000)), |t| {
                t.break_();
            });
            l.assign(cnt, Expr::local(cnt).mul(Expr::u32(2)).add(Expr::u32(1)));
        });
        blk.store(
            BufRef::Param(out),
            Expr::local(i).mul(Expr::u32(3)).add(Expr::u32(2)),
            Expr::select(
                Expr::local(i).gt(Expr::u32(20)),
                Expr::local(cnt),
                Expr::local(cnt).add(Expr::u32(7)),
            ),
        );
    });
    let n = 100usize;
    let mut e = vec![0u32; n * 3];
    for i in 0..n as u32 {
        e[i as usize * 3] = collatz_steps(i + 1);
        e[i as usize * 3 + 1] = (0..i % 13).filter(|k| k % 2 == 0).sum();
        let mut cnt = (-5..(i as i32 - 10)).count() as u32;
        while cnt < 1000 {
            cnt = cnt * 2 + 1;
        }
        e[i as usize * 3 + 2] = if i > 20 { cnt } else { cnt + 7 };
    }
    Case {
        program: b.finish(),
        args: vec![Arg::Buf(Data::U32(vec![0; n * 3]))],
        workgroups: [(n as u32).div_ceil(32) + 1, 1, 1],
        expected: vec![(0, Data::U32(e))],
        tol: Tolerance::FloatExact,
    }
}

/// Transcendentals, compared within the documented bound.
pub fn transcendental() -> Case {
    let mut b = ProgramBuilder::new("transcendental", [64, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let v = b.local("v", DataType::F32, false);
    const K: u32 = 9;
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(Expr::local(i).lt(Expr::len(x)), |t| {
            t.let_(v, load(x, Expr::local(i)));
            let lv = || Expr::local(v);
            let r: Vec<Expr> = vec![
                lv().math(MathFn::Exp, vec![]),
                lv().math(MathFn::Abs, vec![]).math(MathFn::Ln, vec![]),
                lv().math(MathFn::Sin, vec![]),
                lv().math(MathFn::Cos, vec![]),
                lv().math(MathFn::Tanh, vec![]),
                lv().math(MathFn::Abs, vec![]).math(MathFn::Sqrt, vec![]),
                lv().math(MathFn::Powf, vec![Expr::f32(3.0)]),
                lv().math(MathFn::Abs, vec![])
                    .math(MathFn::Powf, vec![Expr::f32(0.5)]),
                lv().math(MathFn::MulAdd, vec![Expr::f32(3.0), Expr::f32(-1.0)]),
            ];
            for (k, e) in r.into_iter().enumerate() {
                let idx = Expr::local(i).mul(Expr::u32(K)).add(Expr::u32(k as u32));
                t.store(BufRef::Param(out), idx, e);
            }
        });
    });
    let xs: Vec<f32> = (0..200)
        .map(|k| (k as f32 - 100.0) * 0.0314)
        .chain([0.0, -0.0, 25.0, -25.0, 80.0])
        .collect();
    let mut e = Vec::new();
    for &v in &xs {
        e.extend([
            v.exp(),
            v.abs().ln(),
            v.sin(),
            v.cos(),
            v.tanh(),
            v.abs().sqrt(),
            v.powf(3.0),
            v.abs().powf(0.5),
            v.mul_add(3.0, -1.0),
        ]);
    }
    let n = xs.len();
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::F32(xs)),
            Arg::Buf(Data::F32(vec![0.0; n * K as usize])),
        ],
        workgroups: [(n as u32).div_ceil(64), 1, 1],
        expected: vec![(1, Data::F32(e))],
        tol: Tolerance::Float { ulp: 8, abs: 1e-5 },
    }
}

/// Tiled matrix multiply over 2-D workgroups with shared tiles and barriers
/// inside a `for` loop; small integer values keep every sum exact.
pub fn matmul() -> Case {
    let t = 8u32;
    let mut b = ProgramBuilder::new("matmul", [t, t, 1]);
    let pa = b.buffer("a", DataType::F32, Access::Read);
    let pb = b.buffer("b", DataType::F32, Access::Read);
    let pc = b.buffer("c", DataType::F32, Access::ReadWrite);
    let pn = b.scalar("n", DataType::U32);
    let ta = b.shared("ta", DataType::F32, t * t);
    let tb = b.shared("tb", DataType::F32, t * t);
    let row = b.local("row", DataType::U32, false);
    let col = b.local("col", DataType::U32, false);
    let lx = b.local("lx", DataType::U32, false);
    let ly = b.local("ly", DataType::U32, false);
    let acc = b.local("acc", DataType::F32, true);
    let tile = b.local("tile", DataType::U32, false);
    let kk = b.local("kk", DataType::U32, false);
    let ar = b.local("ar", DataType::U32, false);
    let bc = b.local("bc", DataType::U32, false);
    b.body(|blk| {
        blk.let_(lx, lid(Axis::X));
        blk.let_(ly, lid(Axis::Y));
        blk.let_(col, gid(Axis::X));
        blk.let_(row, gid(Axis::Y));
        blk.let_(acc, Expr::f32(0.0));
        let n = || Expr::param(pn);
        blk.for_(
            tile,
            Expr::u32(0),
            n().add(Expr::u32(t - 1)).div(Expr::u32(t)),
            |f| {
                f.let_(ar, Expr::local(tile).mul(Expr::u32(t)).add(Expr::local(lx)));
                f.let_(bc, Expr::local(tile).mul(Expr::u32(t)).add(Expr::local(ly)));
                let a_ok = Expr::local(row).lt(n()).and(Expr::local(ar).lt(n()));
                let b_ok = Expr::local(bc).lt(n()).and(Expr::local(col).lt(n()));
                f.store(
                    BufRef::Shared(ta),
                    Expr::local(ly).mul(Expr::u32(t)).add(Expr::local(lx)),
                    Expr::select(
                        a_ok,
                        load(pa, Expr::local(row).mul(n()).add(Expr::local(ar))),
                        Expr::f32(0.0),
                    ),
                );
                f.store(
                    BufRef::Shared(tb),
                    Expr::local(ly).mul(Expr::u32(t)).add(Expr::local(lx)),
                    Expr::select(
                        b_ok,
                        load(pb, Expr::local(bc).mul(n()).add(Expr::local(col))),
                        Expr::f32(0.0),
                    ),
                );
                f.barrier();
                f.for_(kk, Expr::u32(0), Expr::u32(t), |g| {
                    let prod = Expr::load(
                        BufRef::Shared(ta),
                        Expr::local(ly).mul(Expr::u32(t)).add(Expr::local(kk)),
                    )
                    .mul(Expr::load(
                        BufRef::Shared(tb),
                        Expr::local(kk).mul(Expr::u32(t)).add(Expr::local(lx)),
                    ));
                    g.assign(acc, Expr::local(acc).add(prod));
                });
                f.barrier();
            },
        );
        blk.if_(
            Expr::local(row).lt(n()).and(Expr::local(col).lt(n())),
            |th| {
                th.store(
                    BufRef::Param(pc),
                    Expr::local(row).mul(n()).add(Expr::local(col)),
                    Expr::local(acc),
                );
            },
        );
    });
    let n = 21usize;
    let av: Vec<f32> = (0..n * n).map(|k| ((k * 7) % 11) as f32 - 5.0).collect();
    let bv: Vec<f32> = (0..n * n).map(|k| ((k * 3) % 7) as f32 - 3.0).collect();
    let mut cv = vec![0.0f32; n * n];
    for r in 0..n {
        for c in 0..n {
            cv[r * n + c] = (0..n).map(|k| av[r * n + k] * bv[k * n + c]).sum();
        }
    }
    let g = (n as u32).div_ceil(t);
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::F32(av)),
            Arg::Buf(Data::F32(bv)),
            Arg::Buf(Data::F32(vec![-1.0; n * n])),
            Arg::U32(n as u32),
        ],
        workgroups: [g, g, 1],
        expected: vec![(2, Data::F32(cv))],
        tol: Tolerance::FloatExact,
    }
}

/// `num_workgroups()`, `workgroup_id()` and `local_id()` on all axes.
pub fn builtins() -> Case {
    let ws = [4u32, 2, 2];
    let grid = [3u32, 2, 2];
    let mut b = ProgramBuilder::new("builtins", ws);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let flat = b.local("flat", DataType::U32, false);
    b.body(|blk| {
        let nx = ws[0] * grid[0];
        let ny = ws[1] * grid[1];
        blk.let_(
            flat,
            gid(Axis::Z)
                .mul(Expr::u32(nx * ny))
                .add(gid(Axis::Y).mul(Expr::u32(nx)))
                .add(gid(Axis::X)),
        );
        let code = Expr::Builtin(Builtin::NumWorkgroups, Axis::X)
            .add(Expr::Builtin(Builtin::NumWorkgroups, Axis::Y).mul(Expr::u32(10)))
            .add(Expr::Builtin(Builtin::NumWorkgroups, Axis::Z).mul(Expr::u32(100)))
            .add(wid(Axis::Z).mul(Expr::u32(1000)))
            .add(lid(Axis::Y).mul(Expr::u32(10000)))
            .add(lid(Axis::Z).mul(Expr::u32(100000)));
        blk.store(BufRef::Param(out), Expr::local(flat), code);
    });
    let total = (ws.iter().product::<u32>() * grid.iter().product::<u32>()) as usize;
    let mut e = vec![0u32; total];
    for z in 0..ws[2] * grid[2] {
        for y in 0..ws[1] * grid[1] {
            for x in 0..ws[0] * grid[0] {
                let flat = z * (ws[0] * grid[0] * ws[1] * grid[1]) + y * ws[0] * grid[0] + x;
                e[flat as usize] = grid[0]
                    + grid[1] * 10
                    + grid[2] * 100
                    + (z / ws[2]) * 1000
                    + (y % ws[1]) * 10000
                    + (z % ws[2]) * 100000;
            }
        }
    }
    Case {
        program: b.finish(),
        args: vec![Arg::Buf(Data::U32(vec![0; total]))],
        workgroups: grid,
        expected: vec![(0, Data::U32(e))],
        tol: Tolerance::FloatExact,
    }
}

/// Operations on literals only, which the WGSL front end would fold and
/// reject (`sqrt(-38.0)`, `i32::MAX + 1`, division by a literal 0, constant
/// indices past a shared array or huge ones into a buffer, non-finite
/// constants): vyre defines them all at run time.
pub fn constants() -> Case {
    let mut b = ProgramBuilder::new("constants", [4, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let acc = b.buffer("acc", DataType::U32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U32, 4);
    let old = b.local("old", DataType::U32, false);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(i, lid(Axis::X));
        blk.if_(Expr::local(i).eq(Expr::u32(0)), |t| {
            let vals = [
                Expr::f32(-38.0)
                    .math(MathFn::Sqrt, vec![])
                    .cast(DataType::U32),
                Expr::i32(i32::MAX).add(Expr::i32(1)).cast(DataType::U32),
                Expr::u32(7).div(Expr::u32(0)),
                Expr::i32(i32::MIN).div(Expr::i32(-1)).cast(DataType::U32),
                Expr::u32(1).shl(Expr::u32(35)),
                Expr::f32(f32::INFINITY).cast(DataType::U32),
                Expr::f32(f32::NAN)
                    .math(MathFn::Max, vec![Expr::f32(2.0)])
                    .cast(DataType::U32),
                Expr::f32(3e38)
                    .mul(Expr::f32(10.0))
                    .cast(DataType::I32)
                    .cast(DataType::U32),
                Expr::load(BufRef::Shared(sh), Expr::u32(9)).add(Expr::u32(100)),
            ];
            for (k, v) in vals.into_iter().enumerate() {
                t.store(BufRef::Param(out), Expr::u32(k as u32), v);
            }
            // Constant indices out of range: dropped, atomics yield 0.
            t.store(BufRef::Shared(sh), Expr::u32(48), Expr::u32(5));
            t.store(BufRef::Param(out), Expr::u32(u32::MAX), Expr::u32(5));
            t.let_(
                old,
                Expr::atomic(
                    AtomicOp::Add,
                    BufRef::Param(acc),
                    Expr::u32(u32::MAX),
                    Expr::u32(1),
                ),
            );
            t.eval(Expr::atomic(
                AtomicOp::Max,
                BufRef::Shared(sh),
                Expr::i32(-1),
                Expr::u32(1),
            ));
            t.store(
                BufRef::Param(out),
                Expr::u32(9),
                Expr::local(old).add(Expr::u32(1)),
            );
            t.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(acc),
                Expr::u32(0),
                Expr::u32(3),
            ));
        });
    });
    let expected = vec![
        0,
        i32::MIN as u32,
        0,
        i32::MIN as u32,
        8,
        u32::MAX,
        2,
        i32::MAX as u32,
        100,
        1,
    ];
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(vec![9; 10])),
            Arg::Buf(Data::U32(vec![10])),
        ],
        workgroups: [1, 1, 1],
        expected: vec![(0, Data::U32(expected)), (1, Data::U32(vec![13]))],
        tol: Tolerance::FloatExact,
    }
}

/// Every test case.
pub fn all() -> Vec<Case> {
    vec![
        saxpy(),
        int_ops(),
        float_ops(),
        reduce(),
        atomics(),
        wild(),
        control(),
        transcendental(),
        matmul(),
        builtins(),
        constants(),
    ]
}

/// A private array as the host sees it: out-of-range loads yield 0 and
/// out-of-range stores are dropped, like the kernels' checked accesses.
struct Private<T>(Vec<T>);

impl<T: Copy + Default> Private<T> {
    fn new(len: usize) -> Self {
        Self(vec![T::default(); len])
    }
    fn get(&self, k: u32) -> T {
        self.0.get(k as usize).copied().unwrap_or_default()
    }
    fn set(&mut self, k: u32, v: T) {
        if let Some(slot) = self.0.get_mut(k as usize) {
            *slot = v;
        }
    }
}

const PRIV_N: u32 = 100;
const PRIV_OUT: u32 = 4;

/// Thread-private arrays (`u32`, `i32` and `f32` elements): filled with a
/// per-invocation pattern through run-time indices (some past the end:
/// dropped), read back through run-time indices (some past the end: 0),
/// constant indices in and out of range, `i32` indices (negative ones are
/// out of range), elements never written (0: every invocation starts from
/// zeros), and an index range the bounds analysis proves (no check).
pub fn private_arrays() -> Case {
    let mut b = ProgramBuilder::new("private_arrays", [32, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let so = b.buffer("so", DataType::I32, Access::ReadWrite);
    let fo = b.buffer("fo", DataType::F32, Access::ReadWrite);
    let a = BufRef::Private(b.private("a", DataType::U32, 20));
    let s = BufRef::Private(b.private("s", DataType::I32, 8));
    let f = BufRef::Private(b.private("f", DataType::F32, 4));
    let i = b.local("i", DataType::U32, false);
    let k = b.local("k", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let j2 = b.local("j2", DataType::U32, false);
    let acc = b.local("acc", DataType::U32, true);
    let acc2 = b.local("acc2", DataType::U32, true);
    let m = b.local("m", DataType::I32, false);
    let li = || Expr::local(i);
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(li().ge(Expr::len(fo)), |t| {
            t.return_();
        });
        // Fill: k up to 22 of a 20-element array.
        blk.for_(k, Expr::u32(0), li().rem(Expr::u32(24)), |l| {
            let lk = || Expr::local(k);
            l.store(a, lk(), li().mul(Expr::u32(31)).add(lk().mul(lk())));
        });
        // Read back through a run-time permutation, 4 of 24 past the end.
        blk.let_(acc, Expr::u32(0));
        blk.for_(j, Expr::u32(0), Expr::u32(24), |l| {
            let lj = || Expr::local(j);
            let at = lj().mul(Expr::u32(7)).add(li()).rem(Expr::u32(24));
            l.assign(
                acc,
                Expr::local(acc).add(Expr::load(a, at).mul(lj().add(Expr::u32(1)))),
            );
        });
        blk.store(
            BufRef::Param(out),
            li().mul(Expr::u32(PRIV_OUT)),
            Expr::local(acc),
        );
        // Constant indices: in range, and past the end (load 0, store dropped).
        blk.store(
            a,
            Expr::u32(3),
            Expr::load(a, Expr::u32(3)).add(Expr::u32(1000)),
        );
        blk.store(a, Expr::u32(21), Expr::u32(5));
        blk.store(
            BufRef::Param(out),
            li().mul(Expr::u32(PRIV_OUT)).add(Expr::u32(1)),
            Expr::load(a, Expr::u32(3))
                .add(Expr::load(a, Expr::u32(19)))
                .add(Expr::load(a, Expr::u32(21))),
        );
        // A loop the analysis proves in range: no run-time check.
        blk.let_(acc2, Expr::u32(0));
        blk.for_(j2, Expr::u32(0), Expr::u32(20), |l| {
            let lj = || Expr::local(j2);
            l.assign(
                acc2,
                Expr::local(acc2)
                    .mul(Expr::u32(3))
                    .add(Expr::load(a, lj()).bitxor(lj())),
            );
        });
        blk.store(
            BufRef::Param(out),
            li().mul(Expr::u32(PRIV_OUT)).add(Expr::u32(2)),
            Expr::local(acc2),
        );
        // `i32` indices from -2 to 8: -2, -1 and 8 are out of range.
        blk.let_(
            m,
            li().rem(Expr::u32(11))
                .cast(DataType::I32)
                .sub(Expr::i32(2)),
        );
        blk.store(
            s,
            Expr::local(m),
            li().cast(DataType::I32).mul(Expr::i32(-3)),
        );
        blk.store(
            s,
            Expr::i32(1),
            Expr::load(s, Expr::i32(1)).add(Expr::i32(5)),
        );
        blk.store(
            BufRef::Param(so),
            li(),
            Expr::load(s, Expr::local(m))
                .mul(Expr::i32(100))
                .add(Expr::load(s, Expr::i32(1)))
                .add(Expr::load(s, li().rem(Expr::u32(8)).cast(DataType::I32))),
        );
        // `f32` elements.
        blk.store(
            f,
            li().rem(Expr::u32(4)),
            li().cast(DataType::F32).mul(Expr::f32(0.5)),
        );
        blk.store(
            f,
            li().add(Expr::u32(1)).rem(Expr::u32(4)),
            Expr::load(f, li().rem(Expr::u32(4))).add(Expr::f32(0.25)),
        );
        blk.store(
            BufRef::Param(fo),
            li(),
            Expr::load(f, Expr::u32(0))
                .add(Expr::load(f, Expr::u32(1)).mul(Expr::f32(2.0)))
                .add(Expr::load(f, Expr::u32(2)).mul(Expr::f32(4.0)))
                .add(Expr::load(f, Expr::u32(3)).mul(Expr::f32(8.0))),
        );
        blk.store(
            BufRef::Param(out),
            li().mul(Expr::u32(PRIV_OUT)).add(Expr::u32(3)),
            Expr::load(a, li().rem(Expr::u32(20))),
        );
    });
    let n = PRIV_N;
    let mut e_out = vec![0u32; (n * PRIV_OUT) as usize];
    let mut e_so = vec![0i32; n as usize];
    let mut e_fo = vec![0f32; n as usize];
    for i in 0..n {
        let mut a = Private::<u32>::new(20);
        let mut s = Private::<i32>::new(8);
        let mut f = Private::<f32>::new(4);
        for k in 0..i % 24 {
            a.set(k, i.wrapping_mul(31).wrapping_add(k.wrapping_mul(k)));
        }
        let acc = (0..24u32).fold(0u32, |acc, j| {
            acc.wrapping_add(a.get((j * 7 + i) % 24).wrapping_mul(j + 1))
        });
        let o = (i * PRIV_OUT) as usize;
        e_out[o] = acc;
        a.set(3, a.get(3).wrapping_add(1000));
        a.set(21, 5);
        e_out[o + 1] = a.get(3).wrapping_add(a.get(19)).wrapping_add(a.get(21));
        e_out[o + 2] = (0..20u32).fold(0u32, |acc, j| {
            acc.wrapping_mul(3).wrapping_add(a.get(j) ^ j)
        });
        let m = (i % 11) as i32 - 2;
        s.set(m.cast_unsigned(), (i as i32).wrapping_mul(-3));
        s.set(1, s.get(1).wrapping_add(5));
        e_so[i as usize] = s
            .get(m.cast_unsigned())
            .wrapping_mul(100)
            .wrapping_add(s.get(1))
            .wrapping_add(s.get(i % 8));
        f.set(i % 4, i as f32 * 0.5);
        f.set((i + 1) % 4, f.get(i % 4) + 0.25);
        e_fo[i as usize] = f.get(0) + f.get(1) * 2.0 + f.get(2) * 4.0 + f.get(3) * 8.0;
        e_out[o + 3] = a.get(i % 20);
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(vec![0; (n * PRIV_OUT) as usize])),
            Arg::Buf(Data::I32(vec![0; n as usize])),
            Arg::Buf(Data::F32(vec![0.0; n as usize])),
        ],
        workgroups: [n.div_ceil(32) + 1, 1, 1],
        expected: vec![
            (0, Data::U32(e_out)),
            (1, Data::I32(e_so)),
            (2, Data::F32(e_fo)),
        ],
        tol: Tolerance::FloatExact,
    }
}

/// The values of `for v in (start..end).step_by(step)` over `u32`, ending
/// where `v + step` overflows.
fn stepped_u32(start: u32, end: u32, step: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut v = Some(start);
    while let Some(x) = v.filter(|x| *x < end) {
        out.push(x);
        v = x.checked_add(step);
    }
    out
}

/// As [`stepped_u32`] over `i32`.
fn stepped_i32(start: i32, end: i32, step: u32) -> Vec<i32> {
    let step = i32::try_from(step).expect("i32 step");
    let mut out = Vec::new();
    let mut v = Some(start);
    while let Some(x) = v.filter(|x| *x < end) {
        out.push(x);
        v = x.checked_add(step);
    }
    out
}

const STEP_N: u32 = 40;
const STEP_UOUT: u32 = 8;
const STEP_IOUT: u32 = 4;

/// `for` loops with `step_by`: run-time bounds, `continue`, `#[unroll]`,
/// and loops whose next value overflows the type (`u32` and `i32`, up to
/// `step_by(i32::MAX)`), which end there instead of wrapping around.
pub fn stepped_loops() -> Case {
    let mut b = ProgramBuilder::new("stepped_loops", [32, 1, 1]);
    let uo = b.buffer("uo", DataType::U32, Access::ReadWrite);
    let io = b.buffer("io", DataType::I32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let cnt = b.local("cnt", DataType::U32, true);
    let sum = b.local("sum", DataType::U32, true);
    let isum = b.local("isum", DataType::I32, true);
    let icnt = b.local("icnt", DataType::I32, true);
    let v = (0..6)
        .map(|k| b.local(format!("v{k}"), DataType::U32, false))
        .collect::<Vec<_>>();
    let w = (0..3)
        .map(|k| b.local(format!("w{k}"), DataType::I32, false))
        .collect::<Vec<_>>();
    let li = || Expr::local(i);
    let uslot = |k: u32| Expr::local(i).mul(Expr::u32(STEP_UOUT)).add(Expr::u32(k));
    let islot = |k: u32| Expr::local(i).mul(Expr::u32(STEP_IOUT)).add(Expr::u32(k));
    b.body(|blk| {
        blk.let_(i, Expr::global_id_x());
        blk.if_(li().ge(Expr::u32(STEP_N)), |t| {
            t.return_();
        });
        // The overflow end: u32::MAX - 5 and u32::MAX - 1, then the next
        // value would pass u32::MAX.
        blk.let_(cnt, Expr::u32(0));
        blk.let_(sum, Expr::u32(0));
        blk.for_step(
            v[0],
            Expr::u32(u32::MAX - 5),
            Expr::u32(u32::MAX),
            4,
            false,
            |l| {
                l.assign(cnt, Expr::local(cnt).add(Expr::u32(1)));
                l.assign(sum, Expr::local(sum).add(Expr::local(v[0])));
            },
        );
        blk.store(BufRef::Param(uo), uslot(0), Expr::local(cnt));
        blk.store(BufRef::Param(uo), uslot(1), Expr::local(sum));
        // Run-time bounds: i .. i * 10 + 7 by 3.
        blk.let_(sum, Expr::u32(0));
        blk.for_step(
            v[1],
            li(),
            li().mul(Expr::u32(10)).add(Expr::u32(7)),
            3,
            false,
            |l| {
                l.assign(
                    sum,
                    Expr::local(sum).mul(Expr::u32(3)).add(Expr::local(v[1])),
                );
            },
        );
        blk.store(BufRef::Param(uo), uslot(2), Expr::local(sum));
        // `continue` moves to the next stepped value.
        blk.let_(cnt, Expr::u32(0));
        blk.for_step(v[2], Expr::u32(0), li().add(Expr::u32(20)), 5, false, |l| {
            l.if_(Expr::local(v[2]).rem(Expr::u32(2)).eq(Expr::u32(0)), |t| {
                t.continue_();
            });
            l.assign(
                cnt,
                Expr::local(cnt).mul(Expr::u32(7)).add(Expr::local(v[2])),
            );
        });
        blk.store(BufRef::Param(uo), uslot(3), Expr::local(cnt));
        // A step of half the range: 0 and 2^31, then the end.
        blk.let_(cnt, Expr::u32(0));
        blk.for_step(v[3], li(), Expr::u32(u32::MAX), 0x8000_0000, false, |l| {
            l.assign(
                cnt,
                Expr::local(cnt).mul(Expr::u32(5)).add(Expr::local(v[3])),
            );
        });
        blk.store(BufRef::Param(uo), uslot(4), Expr::local(cnt));
        // `#[unroll]` with literal bounds.
        blk.let_(sum, Expr::u32(0));
        blk.for_step(v[4], Expr::u32(1), Expr::u32(30), 7, true, |l| {
            l.assign(
                sum,
                Expr::local(sum).mul(Expr::u32(2)).add(Expr::local(v[4])),
            );
        });
        blk.store(BufRef::Param(uo), uslot(5), Expr::local(sum).add(li()));
        // `break` out of a stepped loop.
        blk.let_(cnt, Expr::u32(0));
        blk.for_step(v[5], Expr::u32(2), Expr::u32(1000), 9, false, |l| {
            l.if_(Expr::local(v[5]).gt(li().mul(Expr::u32(4))), |t| {
                t.break_();
            });
            l.assign(cnt, Expr::local(cnt).add(Expr::u32(1)));
        });
        blk.store(BufRef::Param(uo), uslot(6), Expr::local(cnt));
        // i32: run-time bounds through negative values.
        blk.let_(isum, Expr::i32(0));
        blk.let_(icnt, Expr::i32(0));
        blk.for_step(
            w[0],
            Expr::i32(-20),
            li().cast(DataType::I32).mul(Expr::i32(5)).sub(Expr::i32(7)),
            6,
            false,
            |l| {
                l.assign(
                    isum,
                    Expr::local(isum).mul(Expr::i32(3)).add(Expr::local(w[0])),
                );
                l.assign(icnt, Expr::local(icnt).add(Expr::i32(1)));
            },
        );
        blk.store(BufRef::Param(io), islot(0), Expr::local(isum));
        blk.store(BufRef::Param(io), islot(1), Expr::local(icnt));
        // i32 overflow end: i32::MAX - 10 and i32::MAX - 3, then past MAX.
        blk.let_(isum, Expr::i32(0));
        blk.for_step(
            w[1],
            Expr::i32(i32::MAX - 10),
            Expr::i32(i32::MAX),
            7,
            false,
            |l| {
                l.assign(isum, Expr::local(isum).add(Expr::i32(1)));
                l.assign(isum, Expr::local(isum).bitxor(Expr::local(w[1])));
            },
        );
        blk.store(BufRef::Param(io), islot(2), Expr::local(isum));
        // step_by(i32::MAX) from a negative start: two values.
        blk.let_(icnt, Expr::i32(0));
        blk.for_step(
            w[2],
            li().cast(DataType::I32).sub(Expr::i32(30)),
            Expr::i32(i32::MAX),
            i32::MAX.cast_unsigned(),
            false,
            |l| {
                l.assign(
                    icnt,
                    Expr::local(icnt).mul(Expr::i32(7)).add(Expr::local(w[2])),
                );
            },
        );
        blk.store(BufRef::Param(io), islot(3), Expr::local(icnt));
        blk.store(BufRef::Param(uo), uslot(7), Expr::u32(0xdead));
    });
    let n = STEP_N;
    let mut e_u = vec![0u32; (n * STEP_UOUT) as usize];
    let mut e_i = vec![0i32; (n * STEP_IOUT) as usize];
    for i in 0..n {
        let o = (i * STEP_UOUT) as usize;
        let vals = stepped_u32(u32::MAX - 5, u32::MAX, 4);
        e_u[o] = vals.len() as u32;
        e_u[o + 1] = vals.iter().fold(0u32, |a, v| a.wrapping_add(*v));
        e_u[o + 2] = stepped_u32(i, i * 10 + 7, 3)
            .iter()
            .fold(0u32, |a, v| a.wrapping_mul(3).wrapping_add(*v));
        e_u[o + 3] = stepped_u32(0, i + 20, 5)
            .iter()
            .filter(|v| *v % 2 != 0)
            .fold(0u32, |a, v| a.wrapping_mul(7).wrapping_add(*v));
        e_u[o + 4] = stepped_u32(i, u32::MAX, 0x8000_0000)
            .iter()
            .fold(0u32, |a, v| a.wrapping_mul(5).wrapping_add(*v));
        e_u[o + 5] = stepped_u32(1, 30, 7)
            .iter()
            .fold(0u32, |a, v| a.wrapping_mul(2).wrapping_add(*v))
            .wrapping_add(i);
        e_u[o + 6] = stepped_u32(2, 1000, 9)
            .iter()
            .take_while(|v| **v <= i * 4)
            .count() as u32;
        e_u[o + 7] = 0xdead;
        let o = (i * STEP_IOUT) as usize;
        let vals = stepped_i32(-20, i as i32 * 5 - 7, 6);
        e_i[o] = vals
            .iter()
            .fold(0i32, |a, v| a.wrapping_mul(3).wrapping_add(*v));
        e_i[o + 1] = vals.len() as i32;
        e_i[o + 2] = stepped_i32(i32::MAX - 10, i32::MAX, 7)
            .iter()
            .fold(0i32, |a, v| a.wrapping_add(1) ^ v);
        e_i[o + 3] = stepped_i32(i as i32 - 30, i32::MAX, i32::MAX.cast_unsigned())
            .iter()
            .fold(0i32, |a, v| a.wrapping_mul(7).wrapping_add(*v));
    }
    // The overflow ends really are two iterations each.
    assert_eq!(stepped_u32(u32::MAX - 5, u32::MAX, 4).len(), 2);
    assert_eq!(stepped_i32(i32::MAX - 10, i32::MAX, 7).len(), 2);
    assert_eq!(
        stepped_i32(-30, i32::MAX, i32::MAX.cast_unsigned()).len(),
        2
    );
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(vec![0; (n * STEP_UOUT) as usize])),
            Arg::Buf(Data::I32(vec![0; (n * STEP_IOUT) as usize])),
        ],
        workgroups: [n.div_ceil(32) + 1, 1, 1],
        expected: vec![(0, Data::U32(e_u)), (1, Data::I32(e_i))],
        tol: Tolerance::FloatExact,
    }
}

/// The cases for thread-private arrays and strided loops. They join
/// [`all`] once the reference interpreter (the oracle of the wgpu tests)
/// runs them; until then they are checked against their hand-written
/// expectations only.
pub fn private_and_stepped() -> Vec<Case> {
    vec![private_arrays(), stepped_loops()]
}

/// Compare `got` with `want`; `Err` lists the first mismatches.
pub fn compare(
    name: &str,
    param: usize,
    got: &Data,
    want: &Data,
    tol: Tolerance,
) -> Result<(), String> {
    let mut bad = Vec::new();
    match (got, want) {
        (Data::U32(g), Data::U32(w)) => {
            if g.len() != w.len() {
                return Err(format!(
                    "{name} param {param}: length {} != {}",
                    g.len(),
                    w.len()
                ));
            }
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                if a != b {
                    bad.push(format!("[{k}] got {a} want {b}"));
                }
            }
        }
        (Data::I32(g), Data::I32(w)) => {
            if g.len() != w.len() {
                return Err(format!(
                    "{name} param {param}: length {} != {}",
                    g.len(),
                    w.len()
                ));
            }
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                if a != b {
                    bad.push(format!("[{k}] got {a} want {b}"));
                }
            }
        }
        (Data::F32(g), Data::F32(w)) => {
            if g.len() != w.len() {
                return Err(format!(
                    "{name} param {param}: length {} != {}",
                    g.len(),
                    w.len()
                ));
            }
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                if !tol.accepts(b.to_bits(), a.to_bits()) {
                    let d = ulp_distance(*a, *b);
                    bad.push(format!("[{k}] got {a:e} want {b:e} ({d} ulp)"));
                }
            }
        }
        (Data::Narrow(t, g), Data::Narrow(u, w)) if t == u => {
            if g.len() != w.len() {
                return Err(format!(
                    "{name} param {param}: length {} != {}",
                    g.len(),
                    w.len()
                ));
            }
            // Bit-exact, except that any NaN matches any NaN.
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                if a != b && !(narrow::is_nan(*t, *a) && narrow::is_nan(*t, *b)) {
                    bad.push(format!("[{k}] got {a:#x} want {b:#x} ({t})"));
                }
            }
        }
        _ => return Err(format!("{name} param {param}: element types differ")),
    }
    if bad.is_empty() {
        Ok(())
    } else {
        let n = bad.len();
        bad.truncate(12);
        Err(format!(
            "{name} param {param}: {n} mismatches: {}",
            bad.join(", ")
        ))
    }
}

impl Data {
    /// The element type.
    pub fn elem(&self) -> DataType {
        match self {
            Self::U32(_) => DataType::U32,
            Self::I32(_) => DataType::I32,
            Self::F32(_) => DataType::F32,
            Self::Narrow(t, _) => *t,
        }
    }

    /// The elements as raw bits, one zero-extended `u64` each (the
    /// testkit's [`Value::Buffer`] convention).
    pub fn bits(&self) -> Vec<u64> {
        let words: Vec<u32> = match self {
            Self::U32(v) => v.clone(),
            Self::I32(v) => v.iter().map(|x| x.cast_unsigned()).collect(),
            Self::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            Self::Narrow(_, v) => v.clone(),
        };
        words.into_iter().map(u64::from).collect()
    }

    /// Data of the same element type as `self` from raw bits (one
    /// zero-extended `u64` per element; bits above 32 are an error: no
    /// element type here is wider).
    pub fn like(&self, bits: &[u64]) -> Self {
        let bits: Vec<u32> = bits
            .iter()
            .map(|&b| {
                u32::try_from(b).unwrap_or_else(|_| {
                    panic!("{b:#x}: bits above 32 in a `{}` element", self.elem())
                })
            })
            .collect();
        let bits = bits.as_slice();
        match self {
            Self::U32(_) => Self::U32(bits.to_vec()),
            Self::I32(_) => Self::I32(bits.iter().map(|x| x.cast_signed()).collect()),
            Self::F32(_) => Self::F32(bits.iter().map(|x| f32::from_bits(*x)).collect()),
            Self::Narrow(t, _) => Self::Narrow(*t, bits.to_vec()),
        }
    }
}

impl Arg {
    /// This argument as the testkit's [`Value`].
    pub fn value(&self) -> Value {
        use vyre::ir::Literal;
        match self {
            Self::Buf(d) => Value::Buffer {
                elem: d.elem(),
                data: d.bits(),
            },
            Self::U32(v) => Value::Scalar(Literal::U32(*v)),
            Self::I32(v) => Value::Scalar(Literal::I32(*v)),
            Self::F32(v) => Value::Scalar(Literal::f32(*v)),
            Self::Bool(v) => Value::Scalar(Literal::Bool(*v)),
            Self::Lit(l) => Value::Scalar(*l),
        }
    }
}

impl Case {
    /// The arguments as the testkit's [`Value`]s.
    pub fn inputs(&self) -> Vec<Value> {
        self.args.iter().map(Arg::value).collect()
    }

    /// The buffers `self.expected` names, out of every buffer's final bits.
    pub fn pick(&self, outputs: &[Option<Vec<u64>>]) -> Result<Vec<(usize, Data)>, String> {
        self.expected
            .iter()
            .map(|(p, want)| {
                let bits = outputs
                    .get(*p)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| format!("param {p} is not a buffer"))?;
                Ok((*p, want.like(bits)))
            })
            .collect()
    }

    /// This case as a testkit [`vyre_testkit::Case`] (no checks: the
    /// expectations here are explicit outputs, compared by [`compare`]).
    pub fn testkit_case(&self) -> vyre_testkit::Case {
        vyre_testkit::Case {
            program: self.program.clone(),
            inputs: self.inputs(),
            grid: self.workgroups,
            checks: vec![None; self.args.len()],
            draws: Vec::new(),
        }
    }
}

/// Run `case` on the reference interpreter (the oracle, through
/// [`vyre_testkit::run_reference`]); returns the final contents of the
/// buffers `case.expected` names.
pub fn run_reference(case: &Case) -> Result<Vec<(usize, Data)>, String> {
    case.pick(&vyre_testkit::run_reference(&case.testkit_case())?)
}

/// A spec for `program` with its spirv and wgsl artifacts, as a generated
/// launcher module would hold, keyed by the program's name and `tag`.
pub fn owned_spec(program: &IrProgram, tag: &str) -> OwnedSpec {
    let config = DispatchConfig::default();
    let mut spec = OwnedSpec::new(program, format!("tests::{}::{tag}", program.name));
    for target in ["spirv", "wgsl"] {
        let bytes = emit_aot_target(target, program, &config)
            .unwrap_or_else(|e| panic!("{}: {e}", program.name));
        spec.push_artifact(target, None, bytes);
    }
    spec
}

/// Run `case` on `dev` with `spec` (through
/// [`vyre_testkit::harness::launch_values`]); returns the final contents of
/// the buffers `case.expected` names.
pub fn run_case(dev: &Device, case: &Case, spec: &OwnedSpec) -> Result<Vec<(usize, Data)>, String> {
    let outputs = spec
        .with(|spec| {
            vyre_testkit::harness::launch_values(
                dev,
                spec,
                Grid::Workgroups(case.workgroups),
                &case.inputs(),
            )
        })
        .map_err(|e| e.to_string())?;
    case.pick(&outputs)
}

// ---------------------------------------------------------------------------
// Subgroup operations. The expected values depend on the device's subgroup
// size `s`: invocation `l` (flat local index) is lane `l % s` of subgroup
// `l / s`; the last subgroup is partial when the workgroup size is not a
// multiple of `s`.

/// The subgroups of a workgroup of `n` invocations on a device with
/// subgroups of `s`.
#[derive(Clone, Copy)]
pub struct Subgroups {
    /// Subgroup size.
    pub s: u32,
    /// Invocations per workgroup.
    pub n: u32,
}

impl Subgroups {
    /// Lane of flat local index `l`.
    pub fn lane(self, l: u32) -> u32 {
        l % self.s
    }

    /// Flat local indices of the subgroup holding `l`.
    pub fn members(self, l: u32) -> std::ops::Range<u32> {
        let base = l - l % self.s;
        base..(base + self.s).min(self.n)
    }

    /// The shuffle result: `v[l]` of lane `src` of `l`'s subgroup, or the
    /// own `v[l]` when that lane is `>= s` or has no invocation.
    pub fn shuffle<T: Copy>(self, v: &[T], l: u32, src: u64) -> T {
        let base = u64::from(l - l % self.s);
        if src < u64::from(self.s) && base + src < u64::from(self.n) {
            v[(base + src) as usize]
        } else {
            v[l as usize]
        }
    }
}

fn sg(op: vyre::ir::SubgroupOp, args: Vec<Expr>) -> Expr {
    Expr::Subgroup(op, args)
}

/// `f32::min`/`max` fold over the subgroup (NaN-ignoring).
fn fold_f32(vals: impl Iterator<Item = f32>, max: bool) -> f32 {
    vals.reduce(|a, b| if max { a.max(b) } else { a.min(b) })
        .unwrap_or(f32::NAN)
}

/// Workgroup shape of the subgroup cases: 36 invocations, a partial last
/// subgroup for subgroup sizes 8, 16, 32 and 64. (2D and 3D workgroups take
/// collective operations only with an x size that is a multiple of 128 on
/// the naga targets; see `subgroup_full`.)
const SG_WS: [u32; 3] = [36, 1, 1];

/// `(global flat index, local flat index)` of the invocation, for `SG_WS`.
fn sg_index() -> (Expr, Expr) {
    (Expr::global_id_x(), lid(Axis::X))
}

const SG_U: u32 = 9;
const SG_I: u32 = 4;
const SG_F: u32 = 4;

/// Lane, size, add/min/max over `u32`, `i32` and `f32` (with NaNs, and a
/// workgroup where every value is NaN), ballot, all, any, broadcast-first,
/// on a 2D workgroup with a partial last subgroup; expected for subgroup
/// size `s`.
pub fn subgroup_reduce(s: u32) -> Case {
    use vyre::ir::SubgroupOp as Op;
    let groups = 3u32;
    let n = SG_WS[0] * SG_WS[1];
    let total = (groups * n) as usize;
    let mut b = ProgramBuilder::new("subgroup_reduce", SG_WS);
    let xu = b.buffer("xu", DataType::U32, Access::Read);
    let xi = b.buffer("xi", DataType::I32, Access::Read);
    let xf = b.buffer("xf", DataType::F32, Access::Read);
    let xn = b.buffer("xn", DataType::F32, Access::Read);
    let ou = b.buffer("ou", DataType::U32, Access::ReadWrite);
    let oi = b.buffer("oi", DataType::I32, Access::ReadWrite);
    let of = b.buffer("of", DataType::F32, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    let u = b.local("u", DataType::U32, false);
    let i = b.local("i", DataType::I32, false);
    let f = b.local("f", DataType::F32, false);
    let nf = b.local("nf", DataType::F32, false);
    b.body(|blk| {
        let (gi, _) = sg_index();
        blk.let_(g, gi);
        blk.let_(u, load(xu, Expr::local(g)));
        blk.let_(i, load(xi, Expr::local(g)));
        blk.let_(f, load(xf, Expr::local(g)));
        blk.let_(nf, load(xn, Expr::local(g)));
        let at = |k: u32, slots: u32| Expr::local(g).mul(Expr::u32(slots)).add(Expr::u32(k));
        let uv = || Expr::local(u);
        let bool_u = |e: Expr| e.cast(DataType::U32);
        let us = [
            sg(Op::InvocationId, vec![]),
            sg(Op::Size, vec![]),
            sg(Op::Add, vec![uv()]),
            sg(Op::Min, vec![uv()]),
            sg(Op::Max, vec![uv()]),
            sg(Op::Ballot, vec![uv().bitand(Expr::u32(1)).eq(Expr::u32(1))]),
            bool_u(sg(Op::All, vec![uv().rem(Expr::u32(7)).ne(Expr::u32(0))])),
            bool_u(sg(Op::Any, vec![uv().rem(Expr::u32(13)).eq(Expr::u32(0))])),
            sg(Op::BroadcastFirst, vec![uv()]),
        ];
        for (k, e) in us.into_iter().enumerate() {
            blk.store(BufRef::Param(ou), at(k as u32, SG_U), e);
        }
        let is = [
            sg(Op::Add, vec![Expr::local(i)]),
            sg(Op::Min, vec![Expr::local(i)]),
            sg(Op::Max, vec![Expr::local(i)]),
            sg(Op::BroadcastFirst, vec![Expr::local(i)]),
        ];
        for (k, e) in is.into_iter().enumerate() {
            blk.store(BufRef::Param(oi), at(k as u32, SG_I), e);
        }
        let fs = [
            sg(Op::Add, vec![Expr::local(f)]),
            sg(Op::Min, vec![Expr::local(nf)]),
            sg(Op::Max, vec![Expr::local(nf)]),
            sg(Op::BroadcastFirst, vec![Expr::local(f)]),
        ];
        for (k, e) in fs.into_iter().enumerate() {
            blk.store(BufRef::Param(of), at(k as u32, SG_F), e);
        }
    });
    let xus: Vec<u32> = (0..total as u32)
        .map(|k| k.wrapping_mul(2_654_435_761).rotate_left(7) ^ (k * 3))
        .collect();
    let xis: Vec<i32> = xus.iter().map(|v| v.cast_signed()).collect();
    // Small integers: the sum is exact in any order.
    let xfs: Vec<f32> = (0..total as u32)
        .map(|k| ((k * 37 + 11) % 101) as f32 - 50.0)
        .collect();
    // NaN at every third invocation of workgroup 1, everywhere in
    // workgroup 2 (every subgroup all NaN), none in workgroup 0.
    let xns: Vec<f32> = (0..total as u32)
        .map(|k| {
            let w = k / n;
            if w == 2 || (w == 1 && k % 3 == 0) {
                f32::NAN
            } else {
                xfs[k as usize] * 1.5 + 0.25
            }
        })
        .collect();
    let geo = Subgroups { s, n };
    let mut eu = vec![0u32; total * SG_U as usize];
    let mut ei = vec![0i32; total * SG_I as usize];
    let mut ef = vec![0f32; total * SG_F as usize];
    for w in 0..groups {
        for l in 0..n {
            let gk = (w * n + l) as usize;
            let mem: Vec<usize> = geo.members(l).map(|m| (w * n + m) as usize).collect();
            let first = mem[0];
            let mut ballot = 0u32;
            for (lane, &m) in mem.iter().enumerate() {
                if lane < 32 && xus[m] & 1 == 1 {
                    ballot |= 1 << lane;
                }
            }
            let u = [
                geo.lane(l),
                s,
                mem.iter().fold(0u32, |a, &m| a.wrapping_add(xus[m])),
                mem.iter().map(|&m| xus[m]).min().unwrap_or(0),
                mem.iter().map(|&m| xus[m]).max().unwrap_or(0),
                ballot,
                u32::from(mem.iter().all(|&m| !xus[m].is_multiple_of(7))),
                u32::from(mem.iter().any(|&m| xus[m].is_multiple_of(13))),
                xus[first],
            ];
            eu[gk * SG_U as usize..][..SG_U as usize].copy_from_slice(&u);
            let i = [
                mem.iter().fold(0i32, |a, &m| a.wrapping_add(xis[m])),
                mem.iter().map(|&m| xis[m]).min().unwrap_or(0),
                mem.iter().map(|&m| xis[m]).max().unwrap_or(0),
                xis[first],
            ];
            ei[gk * SG_I as usize..][..SG_I as usize].copy_from_slice(&i);
            let f = [
                mem.iter().map(|&m| xfs[m]).sum::<f32>(),
                fold_f32(mem.iter().map(|&m| xns[m]), false),
                fold_f32(mem.iter().map(|&m| xns[m]), true),
                xfs[first],
            ];
            ef[gk * SG_F as usize..][..SG_F as usize].copy_from_slice(&f);
        }
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(xus)),
            Arg::Buf(Data::I32(xis)),
            Arg::Buf(Data::F32(xfs)),
            Arg::Buf(Data::F32(xns)),
            Arg::Buf(Data::U32(vec![0; eu.len()])),
            Arg::Buf(Data::I32(vec![0; ei.len()])),
            Arg::Buf(Data::F32(vec![0.0; ef.len()])),
        ],
        workgroups: [groups, 1, 1],
        expected: vec![(4, Data::U32(eu)), (5, Data::I32(ei)), (6, Data::F32(ef))],
        tol: Tolerance::FloatExact,
    }
}

const SG_SHUF: u32 = 12;

/// Every shuffle with sources in range, `>= s`, past the partial last
/// subgroup, huge, wrapping (`lane + u32::MAX`) and lane-dependent masks
/// and deltas; `u32`, `i32` and `f32` values; expected for subgroup size
/// `s`.
pub fn subgroup_shuffles(s: u32) -> Case {
    use vyre::ir::SubgroupOp as Op;
    let groups = 2u32;
    let n = SG_WS[0] * SG_WS[1];
    let total = (groups * n) as usize;
    let mut b = ProgramBuilder::new("subgroup_shuffles", SG_WS);
    let xu = b.buffer("xu", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    let v = b.local("v", DataType::U32, false);
    let lane = b.local("lane", DataType::U32, false);
    b.body(|blk| {
        let (gi, _) = sg_index();
        blk.let_(g, gi);
        blk.let_(v, load(xu, Expr::local(g)));
        blk.let_(lane, sg(Op::InvocationId, vec![]));
        let vv = || Expr::local(v);
        let ln = || Expr::local(lane);
        let size = || sg(Op::Size, vec![]);
        let as_i = || vv().cast(DataType::I32);
        let as_f = || vv().bitand(Expr::u32(0xffff)).cast(DataType::F32);
        let es = [
            sg(
                Op::Shuffle,
                vec![
                    vv(),
                    ln().mul(Expr::u32(3)).add(Expr::u32(1)).rem(Expr::u32(16)),
                ],
            ),
            sg(Op::Shuffle, vec![vv(), Expr::u32(0xffff_fff0).add(ln())]),
            sg(Op::ShuffleXor, vec![vv(), Expr::u32(1)]),
            sg(Op::ShuffleXor, vec![vv(), Expr::u32(5)]),
            sg(Op::ShuffleXor, vec![vv(), size()]),
            sg(Op::ShuffleXor, vec![vv(), ln()]),
            sg(Op::ShuffleDown, vec![vv(), Expr::u32(1)]),
            sg(Op::ShuffleDown, vec![vv(), Expr::u32(3)]),
            sg(Op::ShuffleDown, vec![vv(), Expr::u32(u32::MAX)]),
            sg(Op::ShuffleDown, vec![vv(), ln()]),
            sg(Op::ShuffleXor, vec![as_i(), Expr::u32(2)]).cast(DataType::U32),
            sg(Op::ShuffleDown, vec![as_f(), Expr::u32(2)]).cast(DataType::U32),
        ];
        for (k, e) in es.into_iter().enumerate() {
            blk.store(
                BufRef::Param(out),
                Expr::local(g)
                    .mul(Expr::u32(SG_SHUF))
                    .add(Expr::u32(k as u32)),
                e,
            );
        }
    });
    let xus: Vec<u32> = (0..total as u32)
        .map(|k| k.wrapping_mul(0x9e37_79b9) ^ 0x5555)
        .collect();
    let geo = Subgroups { s, n };
    let mut e = vec![0u32; total * SG_SHUF as usize];
    for w in 0..groups {
        let vals = &xus[(w * n) as usize..((w + 1) * n) as usize];
        let f_of = |x: u32| (x & 0xffff) as f32 as u32;
        for l in 0..n {
            let lane = u64::from(geo.lane(l));
            let sh = |src: u64| geo.shuffle(vals, l, src);
            let row = [
                sh((lane * 3 + 1) % 16),
                // `0xffff_fff0 + lane` is `u32` arithmetic: it wraps to
                // `lane - 16` (in range) for lanes 16 and up.
                sh(u64::from(0xffff_fff0u32.wrapping_add(lane as u32))),
                sh(lane ^ 1),
                sh(lane ^ 5),
                sh(lane ^ u64::from(s)),
                sh(0),
                sh(lane + 1),
                sh(lane + 3),
                sh(lane + u64::from(u32::MAX)),
                sh(lane * 2),
                sh(lane ^ 2),
                f_of(sh(lane + 2)),
            ];
            let gk = (w * n + l) as usize;
            e[gk * SG_SHUF as usize..][..SG_SHUF as usize].copy_from_slice(&row);
        }
    }
    Case {
        program: b.finish(),
        args: vec![
            Arg::Buf(Data::U32(xus)),
            Arg::Buf(Data::U32(vec![0; e.len()])),
        ],
        workgroups: [groups, 1, 1],
        expected: vec![(1, Data::U32(e))],
        tol: Tolerance::FloatExact,
    }
}

/// A 128 x 2 workgroup (rows of whole subgroups on every device: the
/// lowering skips the partial-subgroup check and computes the lane from the
/// flat index): lane, rotation through `shuffle`, the sum and the `f32` max
/// of lane-dependent values; expected for size `s`.
pub fn subgroup_full(s: u32) -> Case {
    use vyre::ir::SubgroupOp as Op;
    let ws = [128u32, 2, 1];
    let n = ws[0] * ws[1];
    let groups = 2u32;
    let total = (groups * n) as usize;
    let mut b = ProgramBuilder::new("subgroup_full", ws);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let g = b.local("g", DataType::U32, false);
    let lane = b.local("lane", DataType::U32, false);
    b.body(|blk| {
        blk.let_(
            g,
            wid(Axis::X)
                .mul(Expr::u32(n))
                .add(lid(Axis::Y).mul(Expr::u32(ws[0])))
                .add(lid(Axis::X)),
        );
        blk.let_(lane, sg(Op::InvocationId, vec![]));
        let size = || sg(Op::Size, vec![]);
        let next = Expr::local(lane).add(Expr::u32(1)).rem(size());
        let es = [
            Expr::local(lane),
            sg(Op::Shuffle, vec![Expr::local(g), next]),
            sg(Op::Add, vec![Expr::local(g)]),
            sg(Op::Max, vec![Expr::local(g).cast(DataType::F32).neg()])
                .cast(DataType::I32)
                .cast(DataType::U32),
        ];
        for (k, e) in es.into_iter().enumerate() {
            blk.store(
                BufRef::Param(out),
                Expr::local(g).mul(Expr::u32(4)).add(Expr::u32(k as u32)),
                e,
            );
        }
    });
    let geo = Subgroups { s, n };
    let mut e = vec![0u32; total * 4];
    for w in 0..groups {
        for l in 0..n {
            let gk = w * n + l;
            let base = w * n + geo.members(l).start;
            let end = w * n + geo.members(l).end;
            let lane = geo.lane(l);
            let row = [
                lane,
                base + (lane + 1) % s,
                (base..end).fold(0u32, u32::wrapping_add),
                (-(base as f32)) as i32 as u32,
            ];
            e[gk as usize * 4..][..4].copy_from_slice(&row);
        }
    }
    Case {
        program: b.finish(),
        args: vec![Arg::Buf(Data::U32(vec![0; e.len()]))],
        workgroups: [groups, 1, 1],
        expected: vec![(0, Data::U32(e))],
        tol: Tolerance::FloatExact,
    }
}

/// Every subgroup case, expected for subgroup size `s`.
pub fn subgroup_cases(s: u32) -> Vec<Case> {
    vec![subgroup_reduce(s), subgroup_shuffles(s), subgroup_full(s)]
}
