//! The reference interpreter's semantics, rule by rule.

use vyre::backend::reference::{RefArg, RunError, RunOptions, run, run_with};
use vyre::ir::{
    Access, AtomicOp, Axis, BufRef, Builtin, DataType, Expr, Literal, MathFn, Program,
    ProgramBuilder,
};

/// Evaluate `e` (of type `ty`; `bool` is stored as 0/1) in a one-invocation
/// kernel and return the stored bits.
fn eval(e: Expr, ty: DataType) -> u32 {
    let store_ty = if ty == DataType::Bool {
        DataType::U32
    } else {
        ty
    };
    let mut b = ProgramBuilder::new("eval", [1, 1, 1]);
    let out = b.buffer("out", store_ty, Access::ReadWrite);
    let value = if ty == DataType::Bool {
        Expr::select(e, Expr::u32(1), Expr::u32(0))
    } else {
        e
    };
    b.body(|blk| {
        blk.store(BufRef::Param(out), Expr::u32(0), value);
    });
    let p = b.finish();
    // A narrow element's slot holds its bits only.
    let mut buf = [0xdead_beef_u32 >> (32 - store_ty.bits())];
    run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut buf)]).expect("run");
    buf[0]
}

fn ei(e: Expr) -> i32 {
    eval(e, DataType::I32) as i32
}
fn eu(e: Expr) -> u32 {
    eval(e, DataType::U32)
}
fn ef(e: Expr) -> f32 {
    f32::from_bits(eval(e, DataType::F32))
}
fn eb(e: Expr) -> bool {
    eval(e, DataType::Bool) == 1
}

#[test]
fn integer_arithmetic_wraps() {
    assert_eq!(eu(Expr::u32(u32::MAX).add(Expr::u32(2))), 1);
    assert_eq!(eu(Expr::u32(0).sub(Expr::u32(1))), u32::MAX);
    assert_eq!(ei(Expr::i32(i32::MAX).add(Expr::i32(1))), i32::MIN);
    assert_eq!(ei(Expr::i32(i32::MIN).sub(Expr::i32(1))), i32::MAX);
    assert_eq!(ei(Expr::i32(0x1000_0000).mul(Expr::i32(16))), 0);
    assert_eq!(ei(Expr::i32(i32::MIN).neg()), i32::MIN);
    assert_eq!(ei(Expr::i32(-7).mul(Expr::i32(3))), -21);
    // Multiply-add shapes (fused internally; must equal the two wrapping ops).
    assert_eq!(
        ei(Expr::i32(i32::MAX).mul(Expr::i32(3)).add(Expr::i32(5))),
        i32::MAX.wrapping_mul(3).wrapping_add(5)
    );
    assert_eq!(
        eu(Expr::u32(7).add(Expr::u32(u32::MAX).mul(Expr::u32(u32::MAX)))),
        7u32.wrapping_add(u32::MAX.wrapping_mul(u32::MAX))
    );
    assert_eq!(
        ef(Expr::f32(0.1).mul(Expr::f32(3.0)).add(Expr::f32(0.7))),
        0.1f32 * 3.0 + 0.7
    );
}

#[test]
fn division_by_zero_and_overflow() {
    assert_eq!(eu(Expr::u32(7).div(Expr::u32(0))), 0);
    assert_eq!(eu(Expr::u32(7).rem(Expr::u32(0))), 0);
    assert_eq!(ei(Expr::i32(-7).div(Expr::i32(0))), 0);
    assert_eq!(ei(Expr::i32(-7).rem(Expr::i32(0))), 0);
    assert_eq!(ei(Expr::i32(i32::MIN).div(Expr::i32(-1))), i32::MIN);
    assert_eq!(ei(Expr::i32(i32::MIN).rem(Expr::i32(-1))), 0);
    // Truncating division, remainder takes the dividend's sign.
    assert_eq!(ei(Expr::i32(-7).div(Expr::i32(2))), -3);
    assert_eq!(ei(Expr::i32(-7).rem(Expr::i32(2))), -1);
    assert_eq!(eu(Expr::u32(u32::MAX).div(Expr::u32(2))), u32::MAX / 2);
    // f32 division by zero is IEEE; f32 % is fmod.
    assert_eq!(ef(Expr::f32(1.0).div(Expr::f32(0.0))), f32::INFINITY);
    assert!(ef(Expr::f32(0.0).div(Expr::f32(0.0))).is_nan());
    assert_eq!(ef(Expr::f32(-7.5).rem(Expr::f32(2.0))), -1.5);
}

#[test]
fn shifts_are_masked() {
    assert_eq!(eu(Expr::u32(1).shl(Expr::u32(33))), 2);
    assert_eq!(eu(Expr::u32(1).shl(Expr::u32(32))), 1);
    assert_eq!(eu(Expr::u32(0x8000_0000).shr(Expr::u32(31))), 1);
    assert_eq!(eu(Expr::u32(0x8000_0000).shr(Expr::u32(63))), 1);
    // Arithmetic on i32, any integer type as amount, negative amounts masked.
    assert_eq!(ei(Expr::i32(-16).shr(Expr::u32(2))), -4);
    assert_eq!(ei(Expr::i32(-1).shr(Expr::i32(-1))), -1);
    assert_eq!(ei(Expr::i32(1).shl(Expr::i32(-1))), i32::MIN);
    assert_eq!(eu(Expr::u32(8).shr(Expr::i32(-29))), 1);
}

#[test]
fn bitwise_and_logic() {
    assert_eq!(eu(Expr::u32(0b1100).bitand(Expr::u32(0b1010))), 0b1000);
    assert_eq!(eu(Expr::u32(0b1100).bitor(Expr::u32(0b1010))), 0b1110);
    assert_eq!(eu(Expr::u32(0b1100).bitxor(Expr::u32(0b1010))), 0b0110);
    assert_eq!(eu(Expr::u32(0).not()), u32::MAX);
    assert_eq!(ei(Expr::i32(5).not()), !5);
    assert!(eb(Expr::bool(false).not()));
    assert!(!eb(Expr::bool(true).and(Expr::bool(false))));
    assert!(eb(Expr::bool(true).or(Expr::bool(false))));
    assert!(eb(Expr::bool(true).bitxor(Expr::bool(false))));
    assert!(!eb(Expr::bool(true).bitand(Expr::bool(false))));
}

#[test]
fn comparisons_respect_type() {
    assert!(eb(Expr::i32(-1).lt(Expr::i32(0))));
    assert!(!eb(Expr::u32(u32::MAX).lt(Expr::u32(0))));
    assert!(eb(Expr::u32(u32::MAX).gt(Expr::u32(0))));
    assert!(eb(Expr::i32(3).ge(Expr::i32(3))));
    assert!(eb(Expr::i32(-3).le(Expr::i32(-3))));
    assert!(!eb(Expr::f32(f32::NAN).eq(Expr::f32(f32::NAN))));
    assert!(eb(Expr::f32(f32::NAN).ne(Expr::f32(f32::NAN))));
    assert!(eb(Expr::f32(0.0).eq(Expr::f32(-0.0))));
    assert!(!eb(Expr::f32(f32::NAN).lt(Expr::f32(1.0))));
    assert!(!eb(Expr::f32(f32::NAN).ge(Expr::f32(1.0))));
    assert!(eb(Expr::f32(-1.0).lt(Expr::f32(0.5))));
    assert!(eb(Expr::bool(true).eq(Expr::bool(true))));
}

#[test]
fn casts_saturate_like_rust() {
    let c = |v: f32, t| Expr::f32(v).cast(t);
    assert_eq!(ei(c(f32::NAN, DataType::I32)), 0);
    assert_eq!(eu(c(f32::NAN, DataType::U32)), 0);
    assert_eq!(ei(c(f32::INFINITY, DataType::I32)), i32::MAX);
    assert_eq!(ei(c(f32::NEG_INFINITY, DataType::I32)), i32::MIN);
    assert_eq!(eu(c(f32::INFINITY, DataType::U32)), u32::MAX);
    assert_eq!(eu(c(-5.5, DataType::U32)), 0);
    assert_eq!(ei(c(3e9, DataType::I32)), i32::MAX);
    assert_eq!(eu(c(3e9, DataType::U32)), 3_000_000_000);
    assert_eq!(ei(c(-2.9, DataType::I32)), -2);
    assert_eq!(eu(c(2.9, DataType::U32)), 2);
    assert_eq!(eu(Expr::i32(-1).cast(DataType::U32)), u32::MAX);
    assert_eq!(ei(Expr::u32(u32::MAX).cast(DataType::I32)), -1);
    assert_eq!(ef(Expr::u32(u32::MAX).cast(DataType::F32)), 4_294_967_296.0);
    assert_eq!(ef(Expr::i32(-3).cast(DataType::F32)), -3.0);
    assert_eq!(eu(Expr::bool(true).cast(DataType::U32)), 1);
    assert_eq!(ei(Expr::bool(true).cast(DataType::I32)), 1);
    assert_eq!(ef(Expr::bool(true).cast(DataType::F32)), 1.0);
    assert_eq!(ef(Expr::bool(false).cast(DataType::F32)), 0.0);
    assert!(eb(Expr::bool(true).cast(DataType::Bool)));
}

#[test]
fn float_math_matches_std() {
    let m1 = |f: MathFn, v: f32| ef(Expr::f32(v).math(f, vec![]));
    for v in [
        0.0f32,
        -0.0,
        0.5,
        1.0,
        2.0,
        -3.25,
        100.0,
        1e-30,
        f32::INFINITY,
    ] {
        assert_eq!(
            m1(MathFn::Sqrt, v).to_bits(),
            v.sqrt().to_bits(),
            "sqrt {v}"
        );
        assert_eq!(m1(MathFn::Exp, v).to_bits(), v.exp().to_bits(), "exp {v}");
        assert_eq!(
            m1(MathFn::Exp2, v).to_bits(),
            v.exp2().to_bits(),
            "exp2 {v}"
        );
        assert_eq!(m1(MathFn::Ln, v).to_bits(), v.ln().to_bits(), "ln {v}");
        assert_eq!(m1(MathFn::Sin, v).to_bits(), v.sin().to_bits(), "sin {v}");
        assert_eq!(m1(MathFn::Cos, v).to_bits(), v.cos().to_bits(), "cos {v}");
        assert_eq!(
            m1(MathFn::Tanh, v).to_bits(),
            v.tanh().to_bits(),
            "tanh {v}"
        );
        assert_eq!(m1(MathFn::Floor, v).to_bits(), v.floor().to_bits());
        assert_eq!(m1(MathFn::Ceil, v).to_bits(), v.ceil().to_bits());
        assert_eq!(m1(MathFn::Abs, v).to_bits(), v.abs().to_bits());
    }
    assert!(m1(MathFn::Sqrt, -1.0).is_nan());
    assert_eq!(
        ef(Expr::f32(2.0).math(MathFn::Powf, vec![Expr::f32(0.5)])),
        2.0f32.powf(0.5)
    );
    // mul_add is fused: a single rounding.
    let (a, b, c) = (1.0f32 + f32::EPSILON, 1.0f32 - f32::EPSILON, -1.0f32);
    let fused = ef(Expr::f32(a).math(MathFn::MulAdd, vec![Expr::f32(b), Expr::f32(c)]));
    assert_eq!(fused, a.mul_add(b, c));
    assert_ne!(fused, a * b + c);
    // min/max ignore NaN.
    let mm = |f, x: f32, y: f32| ef(Expr::f32(x).math(f, vec![Expr::f32(y)]));
    assert_eq!(mm(MathFn::Min, f32::NAN, 1.0), 1.0);
    assert_eq!(mm(MathFn::Max, 2.0, f32::NAN), 2.0);
    assert_eq!(mm(MathFn::Min, -1.0, 1.0), -1.0);
    // clamp = max(lo).min(hi), also with lo > hi (no panic).
    let cl = |x: f32, lo: f32, hi: f32| {
        ef(Expr::f32(x).math(MathFn::Clamp, vec![Expr::f32(lo), Expr::f32(hi)]))
    };
    assert_eq!(cl(5.0, 0.0, 1.0), 1.0);
    assert_eq!(cl(-5.0, 0.0, 1.0), 0.0);
    assert_eq!(cl(0.5, 2.0, 1.0), 1.0);
    assert_eq!(cl(f32::NAN, 0.0, 1.0), 0.0);
}

#[test]
fn integer_math() {
    assert_eq!(ei(Expr::i32(i32::MIN).math(MathFn::Abs, vec![])), i32::MIN);
    assert_eq!(ei(Expr::i32(-5).math(MathFn::Abs, vec![])), 5);
    assert_eq!(ei(Expr::i32(-5).math(MathFn::Min, vec![Expr::i32(3)])), -5);
    assert_eq!(
        eu(Expr::u32(u32::MAX).math(MathFn::Min, vec![Expr::u32(3)])),
        3
    );
    assert_eq!(ei(Expr::i32(-5).math(MathFn::Max, vec![Expr::i32(3)])), 3);
    assert_eq!(
        eu(Expr::u32(u32::MAX).math(MathFn::Max, vec![Expr::u32(3)])),
        u32::MAX
    );
    let cl = |x, lo, hi| ei(Expr::i32(x).math(MathFn::Clamp, vec![Expr::i32(lo), Expr::i32(hi)]));
    assert_eq!(cl(-10, -2, 7), -2);
    assert_eq!(cl(10, -2, 7), 7);
    assert_eq!(cl(3, 9, 1), 1);
    assert_eq!(
        eu(Expr::u32(10).math(MathFn::Clamp, vec![Expr::u32(2), Expr::u32(7)])),
        7
    );
}

#[test]
fn float_arithmetic_is_ieee() {
    assert_eq!(ef(Expr::f32(0.1).add(Expr::f32(0.2))), 0.1f32 + 0.2f32);
    assert_eq!(ef(Expr::f32(1e38).mul(Expr::f32(10.0))), f32::INFINITY);
    assert_eq!(ef(Expr::f32(3.0).neg()), -3.0);
    assert_eq!(ef(Expr::f32(0.0).neg()).to_bits(), (-0.0f32).to_bits());
    assert_eq!(ef(Expr::f32(1.5).sub(Expr::f32(2.0))), -0.5);
}

#[test]
fn select_evaluates_arms() {
    assert_eq!(
        eu(Expr::select(Expr::bool(true), Expr::u32(1), Expr::u32(2))),
        1
    );
    assert_eq!(
        eu(Expr::select(Expr::bool(false), Expr::u32(1), Expr::u32(2))),
        2
    );
    // The untaken arm divides by zero: harmless (it is 0), never a trap.
    assert_eq!(
        ei(Expr::select(
            Expr::bool(true),
            Expr::i32(4),
            Expr::i32(1).div(Expr::i32(0))
        )),
        4
    );
}

/// A kernel with one read-write buffer `data` of `elem` where the single
/// invocation runs `build`.
fn one_invocation(
    elem: DataType,
    unchecked: bool,
    build: impl FnOnce(&mut vyre::ir::Block),
) -> Program {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    b.buffer("data", elem, Access::ReadWrite);
    b.buffer("out", elem, Access::ReadWrite);
    b.unchecked(unchecked);
    b.body(build);
    let p = b.finish();
    p.validate().expect("valid");
    p
}

const DATA: BufRef = BufRef::Param(0);
const OUT: BufRef = BufRef::Param(1);

#[test]
fn out_of_range_loads_are_zero() {
    let idx = [
        Expr::u32(4),
        Expr::u32(u32::MAX),
        Expr::i32(-1),
        Expr::i32(i32::MIN),
        Expr::u32(1 << 31),
    ];
    let p = one_invocation(DataType::U32, false, |blk| {
        for (k, i) in idx.iter().enumerate() {
            blk.store(OUT, Expr::u32(k as u32), Expr::load(DATA, i.clone()));
        }
        blk.store(OUT, Expr::u32(5), Expr::load(DATA, Expr::i32(3)));
    });
    let mut data = [10, 11, 12, 13];
    let mut out = [99u32; 6];
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut data), RefArg::Buffer(&mut out)],
    )
    .unwrap();
    assert_eq!(out, [0, 0, 0, 0, 0, 13]);
}

#[test]
fn out_of_range_stores_are_dropped() {
    let p = one_invocation(DataType::U32, false, |blk| {
        for i in [
            Expr::u32(4),
            Expr::u32(u32::MAX),
            Expr::i32(-1),
            Expr::i32(-4),
        ] {
            blk.store(DATA, i, Expr::u32(7));
        }
        blk.store(DATA, Expr::i32(2), Expr::u32(8));
    });
    let mut data = [1, 2, 3, 4];
    let mut out = [0u32; 1];
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut data), RefArg::Buffer(&mut out)],
    )
    .unwrap();
    assert_eq!(data, [1, 2, 8, 4]);
}

#[test]
fn out_of_range_atomics_do_nothing_and_yield_zero() {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let data = b.buffer("data", DataType::U32, Access::ReadWrite);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let locals: Vec<_> = AtomicOp::ALL
        .iter()
        .map(|op| b.local(format!("old_{}", op.name()), DataType::U32, false))
        .collect();
    b.body(|blk| {
        for (k, op) in AtomicOp::ALL.iter().enumerate() {
            let idx = if k % 2 == 0 {
                Expr::u32(4)
            } else {
                Expr::i32(-1).cast(DataType::U32)
            };
            let e = if *op == AtomicOp::CompareExchange {
                Expr::atomic_compare_exchange(BufRef::Param(data), idx, Expr::u32(0), Expr::u32(9))
            } else {
                Expr::atomic(*op, BufRef::Param(data), idx, Expr::u32(9))
            };
            blk.let_(locals[k], e);
            blk.store(
                BufRef::Param(out),
                Expr::u32(k as u32),
                Expr::local(locals[k]),
            );
        }
    });
    let p = b.finish();
    let mut d = [5u32, 6, 7, 8];
    let mut o = [77u32; 9];
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut d), RefArg::Buffer(&mut o)],
    )
    .unwrap();
    assert_eq!(d, [5, 6, 7, 8]);
    assert_eq!(o, [0; 9]);
}

#[test]
fn out_of_range_shared_accesses() {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let a = b.shared("a", DataType::I32, 2);
    let c = b.shared("c", DataType::I32, 2);
    let old = b.local("old", DataType::I32, false);
    b.body(|blk| {
        blk.store(BufRef::Shared(a), Expr::u32(2), Expr::i32(5)); // dropped, not into `c`
        blk.store(BufRef::Shared(c), Expr::i32(-1), Expr::i32(6));
        blk.let_(
            old,
            Expr::atomic(AtomicOp::Add, BufRef::Shared(c), Expr::u32(2), Expr::i32(1)),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::load(BufRef::Shared(c), Expr::u32(0)),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(1),
            Expr::load(BufRef::Shared(a), Expr::u32(2)),
        );
        blk.store(BufRef::Param(out), Expr::u32(2), Expr::local(old));
        blk.store(
            BufRef::Param(out),
            Expr::u32(3),
            Expr::load(BufRef::Shared(c), Expr::u32(1)),
        );
    });
    let p = b.finish();
    let mut o = [9i32 as u32; 4];
    run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
    assert_eq!(o, [0, 0, 0, 0]);
}

#[test]
fn unchecked_out_of_range_is_reported() {
    let p = one_invocation(DataType::U32, true, |blk| {
        blk.store(DATA, Expr::u32(0), Expr::u32(3));
        blk.store(DATA, Expr::i32(-2), Expr::u32(7));
    });
    let mut data = [1, 2];
    let mut out = [0u32; 1];
    let err = run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut data), RefArg::Buffer(&mut out)],
    )
    .unwrap_err();
    match err {
        RunError::OutOfBounds {
            buffer, index, len, ..
        } => {
            assert_eq!((buffer.as_str(), index, len), ("data", -2i32 as u32, 2));
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    assert_eq!(data, [3, 2]);
    // In range, an unchecked kernel behaves normally.
    let p = one_invocation(DataType::U32, true, |blk| {
        blk.store(OUT, Expr::u32(0), Expr::load(DATA, Expr::u32(1)));
    });
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut data), RefArg::Buffer(&mut out)],
    )
    .unwrap();
    assert_eq!(out, [2]);
}

fn atomic_case(elem: DataType, op: AtomicOp, init: u32, value: u32, expected: u32) -> (u32, u32) {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let data = b.buffer("data", elem, Access::ReadWrite);
    let old = b.local("old", elem, false);
    let lit = |v: u32| match elem {
        DataType::I32 => Expr::i32(v as i32),
        _ => Expr::u32(v),
    };
    b.body(|blk| {
        let e = if op == AtomicOp::CompareExchange {
            Expr::atomic_compare_exchange(
                BufRef::Param(data),
                Expr::u32(0),
                lit(expected),
                lit(value),
            )
        } else {
            Expr::atomic(op, BufRef::Param(data), Expr::u32(0), lit(value))
        };
        blk.let_(old, e);
        blk.store(BufRef::Param(data), Expr::u32(1), Expr::local(old));
    });
    let p = b.finish();
    let mut d = [init, 0];
    run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut d)]).unwrap();
    (d[0], d[1])
}

#[test]
fn each_atomic_op() {
    use AtomicOp::*;
    let u = DataType::U32;
    let i = DataType::I32;
    let n = |v: i32| v as u32;
    // (new value, old value returned)
    assert_eq!(atomic_case(u, Add, u32::MAX, 2, 0), (1, u32::MAX));
    assert_eq!(atomic_case(u, Sub, 0, 1, 0), (u32::MAX, 0));
    assert_eq!(atomic_case(u, Min, 5, 3, 0), (3, 5));
    assert_eq!(atomic_case(u, Min, 5, u32::MAX, 0), (5, 5));
    assert_eq!(atomic_case(i, Min, 5, n(-3), 0), (n(-3), 5));
    assert_eq!(atomic_case(u, Max, 5, u32::MAX, 0), (u32::MAX, 5));
    assert_eq!(atomic_case(i, Max, 5, n(-3), 0), (5, 5));
    assert_eq!(atomic_case(i, Max, n(-5), n(-3), 0), (n(-3), n(-5)));
    assert_eq!(atomic_case(u, And, 0b1100, 0b1010, 0), (0b1000, 0b1100));
    assert_eq!(atomic_case(u, Or, 0b1100, 0b1010, 0), (0b1110, 0b1100));
    assert_eq!(atomic_case(u, Xor, 0b1100, 0b1010, 0), (0b0110, 0b1100));
    assert_eq!(atomic_case(u, Exchange, 4, 9, 0), (9, 4));
    assert_eq!(atomic_case(u, CompareExchange, 4, 9, 4), (9, 4));
    assert_eq!(atomic_case(u, CompareExchange, 4, 9, 5), (4, 4));
    assert_eq!(atomic_case(i, CompareExchange, n(-1), 2, n(-1)), (2, n(-1)));
    assert_eq!(
        atomic_case(i, Add, n(i32::MAX), 1, 0),
        (n(i32::MIN), n(i32::MAX))
    );
}

#[test]
fn atomics_from_many_workgroups_count_exactly() {
    // 300 workgroups x 64 invocations add 1 to a counter and to bin i % 7.
    let mut b = ProgramBuilder::new("count", [64, 1, 1]);
    let h = b.buffer("h", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.eval(Expr::atomic(
            AtomicOp::Add,
            BufRef::Param(h),
            Expr::u32(7),
            Expr::u32(1),
        ));
        blk.eval(Expr::atomic(
            AtomicOp::Add,
            BufRef::Param(h),
            Expr::global_id_x().rem(Expr::u32(7)),
            Expr::u32(1),
        ));
    });
    let p = b.finish();
    for threads in [Some(1), None, Some(2)] {
        let mut d = [0u32; 8];
        run_with(
            &p,
            [300, 1, 1],
            &mut [RefArg::Buffer(&mut d)],
            &RunOptions {
                threads,
                ..RunOptions::default()
            },
        )
        .unwrap();
        let mut want = [0u32; 8];
        for g in 0..300 * 64 {
            want[g % 7] += 1;
        }
        want[7] = 300 * 64;
        assert_eq!(d, want, "threads {threads:?}");
    }
}

/// Workgroup tree reduction in shared memory with barriers.
#[test]
fn shared_memory_reduction_with_barriers() {
    const WG: u32 = 64;
    let mut b = ProgramBuilder::new("reduce", [WG, 1, 1]);
    let input = b.buffer("input", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let tile = b.shared("tile", DataType::U32, WG);
    let lid = b.local("lid", DataType::U32, false);
    let stride = b.local("stride", DataType::U32, true);
    let lx = Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.let_(lid, lx.clone());
        blk.store(
            BufRef::Shared(tile),
            Expr::local(lid),
            Expr::load(BufRef::Param(input), Expr::global_id_x()),
        );
        blk.barrier();
        blk.let_(stride, Expr::u32(WG / 2));
        blk.while_(Expr::local(stride).gt(Expr::u32(0)), |body| {
            body.if_(Expr::local(lid).lt(Expr::local(stride)), |t| {
                let sum = Expr::load(BufRef::Shared(tile), Expr::local(lid)).add(Expr::load(
                    BufRef::Shared(tile),
                    Expr::local(lid).add(Expr::local(stride)),
                ));
                t.store(BufRef::Shared(tile), Expr::local(lid), sum);
            });
            body.barrier();
            body.assign(stride, Expr::local(stride).shr(Expr::u32(1)));
        });
        blk.if_(Expr::local(lid).eq(Expr::u32(0)), |t| {
            t.store(
                BufRef::Param(out),
                Expr::Builtin(Builtin::WorkgroupId, Axis::X),
                Expr::load(BufRef::Shared(tile), Expr::u32(0)),
            );
        });
    });
    let p = b.finish();
    p.validate().unwrap();
    let n = 1000usize;
    let mut data: Vec<u32> = (0..n as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) >> 20)
        .collect();
    let groups = n.div_ceil(WG as usize);
    let mut out = vec![0u32; groups];
    run(
        &p,
        [groups as u32, 1, 1],
        &mut [RefArg::Buffer(&mut data), RefArg::Buffer(&mut out)],
    )
    .unwrap();
    for (g, got) in out.iter().enumerate() {
        let want: u32 = data.iter().skip(g * WG as usize).take(WG as usize).sum();
        assert_eq!(*got, want, "group {g}");
    }
}

#[test]
fn shared_memory_is_zeroed_per_workgroup() {
    // Each workgroup adds its id into shared[0] and reads it back: a stale
    // arena from the previous workgroup would leak into the sum.
    let mut b = ProgramBuilder::new("fresh", [4, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let s = b.shared("s", DataType::U32, 1);
    b.body(|blk| {
        blk.eval(Expr::atomic(
            AtomicOp::Add,
            BufRef::Shared(s),
            Expr::u32(0),
            Expr::u32(1),
        ));
        blk.barrier();
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x(),
            Expr::load(BufRef::Shared(s), Expr::u32(0)),
        );
    });
    let p = b.finish();
    let mut o = vec![0u32; 40];
    run_with(
        &p,
        [10, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
        &RunOptions {
            threads: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(o, vec![4u32; 40]);
}

#[test]
fn divergent_barrier_is_an_error() {
    // `loop { barrier(); if lid == 0 { break; } }`: the barrier comes
    // before any branch, but on the second trip invocation 0 has left while
    // the others wait. Validation sees it (a loop body is only as uniform
    // as its early exits), so it never runs.
    let p = vyre_testkit::programs::divergent_barrier();
    let errors = p.validate().unwrap_err();
    assert!(
        errors.iter().any(|e| e.path == "body[0].body[0]"
            && e.message
                .contains("`barrier()` in control flow that depends on the invocation")),
        "{errors:?}"
    );
    let mut o = [0u32; 1];
    let err = run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap_err();
    assert!(
        matches!(&err, RunError::InvalidProgram { kernel, .. } if kernel == "diverge"),
        "{err:?}"
    );
    assert!(err.to_string().contains("barrier"), "{err}");
}

#[test]
fn step_limit_stops_infinite_loops() {
    let mut b = ProgramBuilder::new("spin", [2, 1, 1]);
    b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.loop_(|_| {});
    });
    let p = b.finish();
    let mut o = [0u32; 1];
    let err = run_with(
        &p,
        [3, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
        &RunOptions {
            max_steps_per_invocation: Some(10_000),
            threads: Some(1),
            ..RunOptions::default()
        },
    )
    .unwrap_err();
    match &err {
        RunError::StepLimitExceeded { kernel, limit, .. } => {
            assert_eq!((kernel.as_str(), *limit), ("spin", 10_000));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("spin"));
    // A terminating kernel under a generous limit is fine.
    let mut b = ProgramBuilder::new("finite", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.for_(i, Expr::u32(0), Expr::u32(100), |body| {
            body.eval(Expr::atomic(
                AtomicOp::Add,
                BufRef::Param(out),
                Expr::u32(0),
                Expr::u32(1),
            ));
        });
    });
    let p = b.finish();
    run_with(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
        &RunOptions {
            max_steps_per_invocation: Some(10_000),
            threads: None,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(o, [100]);
}

#[test]
fn control_flow() {
    // out[0] = sum of i in 0..10 skipping 3, stopping at 8 (for/continue/break)
    // out[1] = while countdown; out[2] = loop with break; out[3] set before an
    // early return, out[4] after it (never written).
    let mut b = ProgramBuilder::new("flow", [1, 1, 1]);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let acc = b.local("acc", DataType::I32, true);
    let i = b.local("i", DataType::I32, false);
    let n = b.local("n", DataType::I32, true);
    let m = b.local("m", DataType::I32, true);
    let end = b.local("end", DataType::I32, true);
    let o = BufRef::Param(out);
    b.body(|blk| {
        blk.let_(acc, Expr::i32(0));
        blk.let_(end, Expr::i32(10));
        blk.for_(i, Expr::i32(-2), Expr::local(end), |body| {
            // `end` changes inside: the bound was evaluated once.
            body.assign(end, Expr::i32(1000));
            body.if_(Expr::local(i).eq(Expr::i32(3)), |t| {
                t.continue_();
            });
            body.if_(Expr::local(i).eq(Expr::i32(8)), |t| {
                t.break_();
            });
            body.assign(acc, Expr::local(acc).add(Expr::local(i)));
        });
        blk.store(o, Expr::u32(0), Expr::local(acc));
        blk.let_(n, Expr::i32(5));
        blk.let_(m, Expr::i32(0));
        blk.while_(Expr::local(n).gt(Expr::i32(0)), |body| {
            body.assign(n, Expr::local(n).sub(Expr::i32(1)));
            body.if_(Expr::local(n).eq(Expr::i32(2)), |t| {
                t.continue_();
            });
            body.assign(m, Expr::local(m).mul(Expr::i32(10)).add(Expr::local(n)));
        });
        blk.store(o, Expr::u32(1), Expr::local(m));
        blk.assign(n, Expr::i32(0));
        blk.loop_(|body| {
            body.assign(n, Expr::local(n).add(Expr::i32(3)));
            body.if_(Expr::local(n).gt(Expr::i32(10)), |t| {
                t.break_();
            });
        });
        blk.store(o, Expr::u32(2), Expr::local(n));
        blk.if_else(
            Expr::local(n).eq(Expr::i32(12)),
            |t| {
                t.store(o, Expr::u32(3), Expr::i32(33));
                t.return_();
            },
            |e| {
                e.store(o, Expr::u32(3), Expr::i32(-33));
            },
        );
        blk.store(o, Expr::u32(4), Expr::i32(44));
    });
    let p = b.finish();
    p.validate().unwrap();
    let mut d = [0u32; 5];
    run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut d)]).unwrap();
    let want_acc: i32 = (-2..8).filter(|&i| i != 3).sum();
    assert_eq!(d[0] as i32, want_acc);
    assert_eq!(d[1] as i32, 4310); // n = 4, 3, (2 skipped), 1, 0
    assert_eq!(d[2] as i32, 12);
    assert_eq!(d[3] as i32, 33);
    assert_eq!(d[4], 0);
    // Empty and reversed ranges run zero times; unsigned ranges near MAX end.
    let mut b = ProgramBuilder::new("ranges", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let i = b.local("i", DataType::U32, false);
    let j = b.local("j", DataType::U32, false);
    let o = BufRef::Param(out);
    b.body(|blk| {
        blk.for_(i, Expr::u32(5), Expr::u32(2), |body| {
            body.eval(Expr::atomic(AtomicOp::Add, o, Expr::u32(0), Expr::u32(1)));
        });
        blk.for_(j, Expr::u32(u32::MAX - 3), Expr::u32(u32::MAX), |body| {
            body.eval(Expr::atomic(AtomicOp::Add, o, Expr::u32(1), Expr::u32(1)));
        });
    });
    let p = b.finish();
    let mut d = [0u32; 2];
    run_with(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut d)],
        &RunOptions {
            max_steps_per_invocation: Some(1000),
            threads: None,
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(d, [0, 3]);
}

#[test]
fn builtins_in_a_3d_grid() {
    let ws = [4u32, 3, 2];
    let grid = [3u32, 2, 5];
    let mut b = ProgramBuilder::new("ids", ws);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let lin = b.local("lin", DataType::U32, false);
    let gx = Expr::Builtin(Builtin::GlobalId, Axis::X);
    let gy = Expr::Builtin(Builtin::GlobalId, Axis::Y);
    let gz = Expr::Builtin(Builtin::GlobalId, Axis::Z);
    let nx = ws[0] * grid[0];
    let ny = ws[1] * grid[1];
    b.body(|blk| {
        blk.let_(
            lin,
            gz.mul(Expr::u32(ny))
                .add(gy)
                .mul(Expr::u32(nx))
                .add(gx)
                .mul(Expr::u32(12)),
        );
        let all = [
            Builtin::GlobalId,
            Builtin::LocalId,
            Builtin::WorkgroupId,
            Builtin::NumWorkgroups,
        ];
        for (k, bi) in all.iter().enumerate() {
            for (a, axis) in [Axis::X, Axis::Y, Axis::Z].iter().enumerate() {
                blk.store(
                    BufRef::Param(out),
                    Expr::local(lin).add(Expr::u32((k * 3 + a) as u32)),
                    Expr::Builtin(*bi, *axis),
                );
            }
        }
    });
    let p = b.finish();
    let total = (nx * ny * ws[2] * grid[2]) as usize;
    let mut o = vec![u32::MAX; total * 12];
    run(&p, grid, &mut [RefArg::Buffer(&mut o)]).unwrap();
    for z in 0..ws[2] * grid[2] {
        for y in 0..ny {
            for x in 0..nx {
                let at = (((z * ny + y) * nx + x) * 12) as usize;
                let g = [x, y, z];
                let want: Vec<u32> = (0..3)
                    .map(|a| g[a])
                    .chain((0..3).map(|a| g[a] % ws[a]))
                    .chain((0..3).map(|a| g[a] / ws[a]))
                    .chain(grid)
                    .collect();
                assert_eq!(&o[at..at + 12], &want[..], "at {g:?}");
            }
        }
    }
}

#[test]
fn scalars_and_len() {
    let mut b = ProgramBuilder::new("sc", [1, 1, 1]);
    let a = b.scalar("a", DataType::F32);
    let k = b.scalar("k", DataType::I32);
    let f = b.scalar("flag", DataType::Bool);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::param(a).mul(Expr::load(BufRef::Param(x), Expr::u32(1))),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(1),
            Expr::param(k).cast(DataType::F32),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(2),
            Expr::len(x).cast(DataType::F32),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(3),
            Expr::select(Expr::param(f), Expr::f32(1.5), Expr::f32(-1.5)),
        );
    });
    let p = b.finish();
    let mut xs = [1f32.to_bits(), 2f32.to_bits(), 0];
    let mut o = [0u32; 4];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Scalar(Literal::f32(3.0)),
            RefArg::Scalar(Literal::I32(-9)),
            RefArg::Scalar(Literal::Bool(true)),
            RefArg::Buffer(&mut xs),
            RefArg::Buffer(&mut o),
        ],
    )
    .unwrap();
    assert_eq!(o.map(f32::from_bits), [6.0, -9.0, 3.0, 1.5]);
}

#[test]
fn argument_mismatches_are_errors() {
    let mut b = ProgramBuilder::new("sc", [1, 1, 1]);
    b.scalar("a", DataType::F32);
    b.buffer("out", DataType::F32, Access::ReadWrite);
    let p = b.finish();
    let mut o = [0u32; 1];
    let e = run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap_err();
    assert!(
        matches!(
            e,
            RunError::ArgumentCount {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let mut o2 = [0u32; 1];
    let e = run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Scalar(Literal::U32(1)), RefArg::Buffer(&mut o2)],
    )
    .unwrap_err();
    assert!(
        matches!(&e, RunError::ArgumentMismatch { index: 0, param, .. } if param == "a"),
        "{e:?}"
    );
    let e = run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Scalar(Literal::f32(1.0)),
            RefArg::Scalar(Literal::f32(1.0)),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(&e, RunError::ArgumentMismatch { index: 1, .. }),
        "{e:?}"
    );
    // An invalid program is refused before running.
    let mut b = ProgramBuilder::new("bad", [1, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::Read);
    b.body(|blk| {
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::f32(1.0));
    });
    let e = run(&b.finish(), [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap_err();
    assert!(matches!(e, RunError::InvalidProgram { .. }), "{e:?}");
    // Zero workgroups: nothing runs.
    let mut b = ProgramBuilder::new("w", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::u32(1));
    });
    let p = b.finish();
    let mut o = [0u32; 1];
    run(&p, [0, 5, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
    assert_eq!(o, [0]);
}

/// Regression: a no-op cast (`u32 as i32`) of a computed index used to free
/// the index's temporary register, so computing the next operand clobbered
/// it (found by the differential tester as scheduling-dependent results).
#[test]
fn noop_cast_operands_keep_their_registers() {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let a = b.local("a", DataType::U32, false);
    let c = b.local("c", DataType::U32, false);
    let old = b.local("old", DataType::U32, false);
    let o = BufRef::Param(out);
    b.body(|blk| {
        blk.let_(a, Expr::u32(3));
        blk.let_(c, Expr::u32(5));
        let index = || {
            Expr::local(a)
                .mul(Expr::u32(2))
                .add(Expr::u32(1))
                .cast(DataType::I32)
        };
        let value = || Expr::local(c).bitand(Expr::u32(7)).add(Expr::u32(100));
        blk.store(o, index(), value());
        blk.let_(
            old,
            Expr::atomic(AtomicOp::Or, o, index(), value().add(Expr::u32(1000))),
        );
        blk.store(o, Expr::u32(0), Expr::local(old));
        blk.store(
            o,
            Expr::local(a)
                .cast(DataType::I32)
                .cast(DataType::U32)
                .add(Expr::u32(1)),
            Expr::local(c)
                .mul(Expr::u32(3))
                .cast(DataType::I32)
                .add(Expr::i32(1))
                .cast(DataType::U32),
        );
    });
    let p = b.finish();
    let mut d = [0u32; 16];
    run(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut d)]).unwrap();
    assert_eq!(d[7], 105 | 1105);
    assert_eq!(d[0], 105);
    assert_eq!(d[4], 16);
}

/// Loads whose index is a multiply-add (fused internally) on every kind of
/// memory, wrapping into range and landing out of range.
#[test]
fn multiply_add_indices() {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let ro = b.buffer("ro", DataType::U32, Access::Read);
    let rw = b.buffer("rw", DataType::U32, Access::ReadWrite);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U32, 4);
    let big = b.local("big", DataType::U32, false);
    b.body(|blk| {
        blk.let_(big, Expr::u32(0x8000_0000));
        blk.store(BufRef::Shared(sh), Expr::u32(3), Expr::u32(33));
        let idx = |m: u32, c: u32| Expr::local(big).mul(Expr::u32(m)).add(Expr::u32(c));
        let loads = [
            Expr::load(BufRef::Param(ro), idx(2, 3)),
            Expr::load(BufRef::Param(rw), Expr::u32(1).add(idx(4, 0))),
            Expr::load(BufRef::Shared(sh), idx(2, 3)),
            Expr::load(BufRef::Param(ro), idx(1, 3)),
            Expr::load(BufRef::Shared(sh), idx(3, 0)),
        ];
        for (k, l) in loads.into_iter().enumerate() {
            blk.store(BufRef::Param(out), Expr::u32(k as u32), l);
        }
    });
    let p = b.finish();
    let mut r = [10u32, 11, 12, 13];
    let mut w = [20u32, 21, 22, 23];
    let mut o = [99u32; 5];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut r),
            RefArg::Buffer(&mut w),
            RefArg::Buffer(&mut o),
        ],
    )
    .unwrap();
    assert_eq!(o, [13, 21, 33, 0, 0]);
}

#[test]
fn zero_length_buffers() {
    let mut b = ProgramBuilder::new("empty", [2, 1, 1]);
    let e = b.buffer("e", DataType::I32, Access::ReadWrite);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let old = b.local("old", DataType::I32, false);
    b.body(|blk| {
        blk.store(BufRef::Param(e), Expr::u32(0), Expr::i32(5));
        blk.let_(
            old,
            Expr::atomic(AtomicOp::Add, BufRef::Param(e), Expr::u32(0), Expr::i32(1)),
        );
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x(),
            Expr::load(BufRef::Param(e), Expr::u32(0))
                .add(Expr::local(old))
                .add(Expr::len(e).cast(DataType::I32)),
        );
    });
    let p = b.finish();
    let mut empty: [u32; 0] = [];
    let mut o = [7u32; 2];
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut empty), RefArg::Buffer(&mut o)],
    )
    .unwrap();
    assert_eq!(o, [0, 0]);
}

/// Locals start at zero: a `let` skipped by a branch leaves its local 0
/// (the validator accepts the later use, which follows it in program
/// order); a top-level `let` of a builtin reads the builtin.
#[test]
fn skipped_lets_leave_zero() {
    let mut b = ProgramBuilder::new("lets", [2, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let x = b.local("x", DataType::U32, false);
    let g = b.local("g", DataType::U32, false);
    let lx = Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.let_(g, Expr::global_id_x());
        blk.if_(lx.clone().eq(Expr::u32(1)), |t| {
            t.let_(x, Expr::global_id_x());
        });
        blk.store(BufRef::Param(out), lx.clone(), Expr::local(x));
        blk.store(
            BufRef::Param(out),
            lx.add(Expr::u32(2)),
            Expr::local(g).mul(Expr::u32(10)),
        );
    });
    let p = b.finish();
    p.validate().unwrap();
    let mut o = [9u32; 8];
    run_with(
        &p,
        [2, 1, 1],
        &mut [RefArg::Buffer(&mut o)],
        &RunOptions {
            threads: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    // Workgroup 1 overwrites [0..4) with its own ids (2, 3), sequentially after workgroup 0.
    assert_eq!(o[..4], [0, 3, 20, 30]);
}

/// Parameters and shared arrays are written in the source under their own
/// names, so they must differ; a local may share a name (the printer
/// writes it under an alias).
#[test]
fn validator_rejects_a_shared_array_named_like_a_parameter() {
    let build = |shared: &str| {
        let mut b = ProgramBuilder::new("names", [1, 1, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        b.shared(shared, DataType::U32, 4);
        let l = b.local("out", DataType::U32, false);
        b.body(|blk| {
            blk.let_(l, Expr::u32(1));
            blk.store(BufRef::Param(out), Expr::u32(0), Expr::local(l));
        });
        b.finish().validate()
    };
    let errors = build("out").unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|e| e.contains("shared `out`") && e.contains("has this name")),
        "{text:?}"
    );
    assert_eq!(errors.len(), 1, "the local named `out` is fine: {text:?}");
    build("tile").unwrap();
}

// ---- Thread-private arrays ----

/// Run `p` on one thread (invocations in order) with a step limit, so a
/// loop that fails to end is an error rather than a hang.
fn run_bounded(p: &Program, grid: [u32; 3], args: &mut [RefArg<'_>]) -> Result<(), RunError> {
    p.validate().expect("valid");
    run_with(
        p,
        grid,
        args,
        &RunOptions {
            max_steps_per_invocation: Some(100_000),
            threads: Some(1),
            ..RunOptions::default()
        },
    )
}

#[test]
fn private_arrays_start_zeroed_in_every_invocation() {
    // Every invocation reads its arrays, then scribbles on them: the next
    // invocation (same worker, same scratch) must still see zeros. Both a
    // barrier-free and a barrier kernel (different scheduling paths), over
    // two workgroups.
    for barrier in [false, true] {
        let mut b = ProgramBuilder::new("zeroed", [3, 1, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        let a = b.private("a", DataType::U32, 3);
        let f = b.private("f", DataType::F32, 2);
        let i = b.private("i", DataType::I32, 1);
        b.body(|blk| {
            let base = || Expr::global_id_x().mul(Expr::u32(6));
            for k in 0..3 {
                blk.store(
                    BufRef::Param(out),
                    base().add(Expr::u32(k)),
                    Expr::load(BufRef::Private(a), Expr::u32(k)),
                );
            }
            for k in 0..2 {
                blk.store(
                    BufRef::Param(out),
                    base().add(Expr::u32(3 + k)),
                    Expr::load(BufRef::Private(f), Expr::u32(k)).cast(DataType::U32),
                );
            }
            blk.store(
                BufRef::Param(out),
                base().add(Expr::u32(5)),
                Expr::load(BufRef::Private(i), Expr::u32(0)).cast(DataType::U32),
            );
            if barrier {
                blk.barrier();
            }
            for k in 0..3 {
                blk.store(BufRef::Private(a), Expr::u32(k), Expr::u32(0xdead));
            }
            blk.store(BufRef::Private(f), Expr::u32(1), Expr::f32(2.5));
            blk.store(BufRef::Private(i), Expr::u32(0), Expr::i32(-3));
        });
        let p = b.finish();
        let mut o = vec![0xffff_ffff_u32; 36];
        run_bounded(&p, [2, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
        assert_eq!(o, vec![0; 36], "barrier: {barrier}");
    }
}

#[test]
fn private_arrays_are_per_invocation() {
    // Four invocations write different values to the same index, then (after
    // a barrier, so that every write happens before any read) read it back:
    // each sees its own. Without the barrier too.
    for barrier in [false, true] {
        let mut b = ProgramBuilder::new("mine", [4, 1, 1]);
        let out = b.buffer("out", DataType::U32, Access::ReadWrite);
        let a = b.private("a", DataType::U32, 4);
        let c = b.private("c", DataType::U32, 4);
        b.body(|blk| {
            blk.store(
                BufRef::Private(a),
                Expr::u32(2),
                Expr::global_id_x().mul(Expr::u32(10)).add(Expr::u32(1)),
            );
            blk.store(BufRef::Private(c), Expr::u32(2), Expr::global_id_x());
            if barrier {
                blk.barrier();
            }
            blk.store(
                BufRef::Param(out),
                Expr::global_id_x().mul(Expr::u32(2)),
                Expr::load(BufRef::Private(a), Expr::u32(2)),
            );
            blk.store(
                BufRef::Param(out),
                Expr::global_id_x().mul(Expr::u32(2)).add(Expr::u32(1)),
                Expr::load(BufRef::Private(c), Expr::u32(2)),
            );
        });
        let p = b.finish();
        let mut o = vec![0u32; 16];
        run_bounded(&p, [2, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
        let want: Vec<u32> = (0..8).flat_map(|g| [g * 10 + 1, g]).collect();
        assert_eq!(o, want, "barrier: {barrier}");
    }
}

#[test]
fn out_of_range_private_accesses() {
    // `a` and `c` are adjacent in the interpreter's per-invocation block: a
    // store just past `a` must be dropped, not land in `c`.
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let a = b.private("a", DataType::U32, 2);
    let c = b.private("c", DataType::U32, 2);
    b.body(|blk| {
        blk.store(BufRef::Private(c), Expr::u32(0), Expr::u32(5));
        blk.store(BufRef::Private(c), Expr::u32(1), Expr::u32(6));
        for i in [Expr::u32(2), Expr::u32(u32::MAX), Expr::i32(-1)] {
            blk.store(BufRef::Private(a), i, Expr::u32(7));
        }
        blk.store(BufRef::Private(c), Expr::i32(-2), Expr::u32(8));
        let loads = [
            (a, Expr::u32(0)),
            (a, Expr::u32(1)),
            (a, Expr::u32(2)),
            (a, Expr::i32(-1)),
            (c, Expr::u32(0)),
            (c, Expr::u32(1)),
            (c, Expr::u32(2)),
            (c, Expr::u32(1 << 31)),
        ];
        for (k, (arr, i)) in loads.into_iter().enumerate() {
            blk.store(
                BufRef::Param(out),
                Expr::u32(k as u32),
                Expr::load(BufRef::Private(arr), i),
            );
        }
    });
    let p = b.finish();
    let mut o = [99u32; 8];
    run_bounded(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
    assert_eq!(o, [0, 0, 0, 0, 5, 6, 0, 0]);
}

#[test]
fn unchecked_out_of_range_private_access_is_reported() {
    let mut b = ProgramBuilder::new("k", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let n = b.scalar("n", DataType::U32);
    let acc = b.private("acc", DataType::F32, 3);
    b.unchecked(true);
    b.body(|blk| {
        blk.store(BufRef::Private(acc), Expr::param(n), Expr::f32(1.0));
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::load(BufRef::Private(acc), Expr::u32(2)).cast(DataType::U32),
        );
    });
    let p = b.finish();
    let mut o = [0u32; 1];
    // In range: fine.
    run_bounded(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o), RefArg::Scalar(Literal::U32(2))],
    )
    .unwrap();
    assert_eq!(o, [1]);
    let err = run_bounded(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o), RefArg::Scalar(Literal::U32(3))],
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            RunError::OutOfBounds { buffer, index: 3, len: 3, .. } if buffer == "acc"
        ),
        "{err:?}"
    );
}

#[test]
fn dynamic_index_into_a_private_array() {
    // a[k] = k * k + gid for k in 0..8 (a run-time loop index), then read
    // a[idx[gid]] with indices from a buffer, some out of range (and one
    // through an `i32` index, negative).
    let mut b = ProgramBuilder::new("dyn", [1, 1, 1]);
    let idx = b.buffer("idx", DataType::U32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let a = b.private("a", DataType::U32, 8);
    let k = b.local("k", DataType::U32, false);
    b.body(|blk| {
        blk.for_(k, Expr::u32(0), Expr::u32(8), |body| {
            body.store(
                BufRef::Private(a),
                Expr::local(k),
                Expr::local(k).mul(Expr::local(k)).add(Expr::global_id_x()),
            );
        });
        let j = Expr::load(BufRef::Param(idx), Expr::global_id_x());
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x().mul(Expr::u32(2)),
            Expr::load(BufRef::Private(a), j.clone()),
        );
        blk.store(
            BufRef::Param(out),
            Expr::global_id_x().mul(Expr::u32(2)).add(Expr::u32(1)),
            Expr::load(BufRef::Private(a), j.cast(DataType::I32).sub(Expr::i32(1))),
        );
    });
    let p = b.finish();
    let mut ix = [3u32, 7, 8, 0, u32::MAX, 1];
    let mut o = vec![0xaaaa_u32; 12];
    run_bounded(
        &p,
        [6, 1, 1],
        &mut [RefArg::Buffer(&mut ix), RefArg::Buffer(&mut o)],
    )
    .unwrap();
    let want = |g: u32, j: u32| if j < 8 { j * j + g } else { 0 };
    let expect: Vec<u32> = ix
        .iter()
        .zip(0u32..)
        .flat_map(|(&j, g)| [want(g, j), want(g, j.wrapping_sub(1))])
        .collect();
    assert_eq!(o, expect);
    // Spot-check the reading of the rule, not just the formula above.
    assert_eq!(&o[..2], &[9, 4]);
    assert_eq!(&o[4..8], &[0, 49 + 2, 3, 0]);
}

// ---- Strided `for` loops ----

/// The values `for i in (start..end).step_by(step)` gives `i` (of `ty`),
/// recorded in order by a one-invocation kernel; `skip`: `continue` when
/// `i` equals it, before recording.
fn visited(
    ty: DataType,
    start: Expr,
    end: Expr,
    step: u32,
    unroll: bool,
    skip: Option<Expr>,
) -> Vec<u32> {
    let mut b = ProgramBuilder::new("visit", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let n = b.local("n", DataType::U32, true);
    let i = b.local("i", ty, false);
    let as_u32 = |e: Expr| {
        if ty == DataType::U32 {
            e
        } else {
            e.cast(DataType::U32)
        }
    };
    b.body(|blk| {
        blk.let_(n, Expr::u32(0));
        blk.for_step(i, start, end, step, unroll, |body| {
            if let Some(s) = skip {
                body.if_(Expr::local(i).eq(s), |t| {
                    t.continue_();
                });
            }
            body.store(
                BufRef::Param(out),
                Expr::local(n).add(Expr::u32(1)),
                as_u32(Expr::local(i)),
            );
            body.assign(n, Expr::local(n).add(Expr::u32(1)));
        });
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::local(n));
    });
    let p = b.finish();
    let mut o = vec![0u32; 64];
    run_bounded(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).expect("the loop ends");
    let count = o[0] as usize;
    assert!(count < 64, "{count} iterations");
    o[1..=count].to_vec()
}

fn vu(start: u32, end: u32, step: u32) -> Vec<u32> {
    visited(
        DataType::U32,
        Expr::u32(start),
        Expr::u32(end),
        step,
        false,
        None,
    )
}

fn vi(start: i32, end: i32, step: u32) -> Vec<i32> {
    visited(
        DataType::I32,
        Expr::i32(start),
        Expr::i32(end),
        step,
        false,
        None,
    )
    .into_iter()
    .map(|v| v as i32)
    .collect()
}

#[test]
fn for_with_a_step_visits_every_step_th_value() {
    assert_eq!(vu(0, 10, 3), [0, 3, 6, 9]);
    assert_eq!(vu(0, 9, 3), [0, 3, 6]);
    assert_eq!(vu(1, 10, 4), [1, 5, 9]);
    assert_eq!(vu(2, 3, 2), [2]);
    assert_eq!(vu(5, 5, 2), Vec::<u32>::new());
    assert_eq!(vu(7, 2, 1), Vec::<u32>::new());
    assert_eq!(vu(0, 4, 1), [0, 1, 2, 3]);
    // Signed compare for an `i32` loop.
    assert_eq!(vi(-5, 5, 4), [-5, -1, 3]);
    assert_eq!(vi(-3, -10, 2), Vec::<i32>::new());
}

#[test]
fn continue_in_a_stepped_loop_still_advances() {
    let skip3 = visited(
        DataType::U32,
        Expr::u32(0),
        Expr::u32(10),
        3,
        false,
        Some(Expr::u32(3)),
    );
    assert_eq!(skip3, [0, 6, 9]);
    // `continue` on the last value ends the loop (no re-run, no hang).
    let skip_last = visited(
        DataType::I32,
        Expr::i32(-4),
        Expr::i32(4),
        2,
        false,
        Some(Expr::i32(2)),
    );
    assert_eq!(
        skip_last.iter().map(|&v| v as i32).collect::<Vec<_>>(),
        [-4, -2, 0]
    );
    // `continue` where the next value overflows: the loop ends.
    let top = visited(
        DataType::U32,
        Expr::u32(u32::MAX - 5),
        Expr::u32(u32::MAX),
        4,
        false,
        Some(Expr::u32(u32::MAX - 1)),
    );
    assert_eq!(top, [u32::MAX - 5]);
}

#[test]
fn a_u32_loop_ends_where_the_step_would_overflow() {
    // MAX-5, MAX-1; then MAX-1 + 4 overflows: the loop ends, no wrap to 2.
    assert_eq!(vu(u32::MAX - 5, u32::MAX, 4), [u32::MAX - 5, u32::MAX - 1]);
    assert_eq!(vu(0, u32::MAX, 0x8000_0000), [0, 0x8000_0000]);
    assert_eq!(vu(u32::MAX - 2, u32::MAX, 1), [u32::MAX - 2, u32::MAX - 1]);
    // The largest step with a value left below `end`.
    assert_eq!(vu(u32::MAX - 1, u32::MAX, u32::MAX), [u32::MAX - 1]);
    assert_eq!(vu(0, u32::MAX, u32::MAX), [0]);
}

#[test]
fn an_i32_loop_ends_where_the_step_would_pass_i32_max() {
    // MAX-7, MAX-4, MAX-1; then MAX-1 + 3 passes i32::MAX: the loop ends
    // (no wrap to negative values, which are all below `end`).
    assert_eq!(
        vi(i32::MAX - 7, i32::MAX, 3),
        [i32::MAX - 7, i32::MAX - 4, i32::MAX - 1]
    );
    assert_eq!(vi(i32::MAX - 2, i32::MAX, 1), [i32::MAX - 2, i32::MAX - 1]);
    assert_eq!(vi(-1, i32::MAX, i32::MAX as u32), [-1, i32::MAX - 1]);
    assert_eq!(vi(i32::MIN, 0, i32::MAX as u32), [i32::MIN, -1]);
}

#[test]
fn for_bounds_are_evaluated_once_with_a_step() {
    // `end` is a local the body grows: the loop still stops at its value
    // on entry.
    let mut b = ProgramBuilder::new("once", [1, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let end = b.local("end", DataType::U32, true);
    let i = b.local("i", DataType::U32, false);
    b.body(|blk| {
        blk.let_(end, Expr::u32(7));
        blk.for_step(i, Expr::u32(1), Expr::local(end), 2, false, |body| {
            body.store(BufRef::Param(out), Expr::local(i), Expr::u32(1));
            body.assign(end, Expr::local(end).add(Expr::u32(4)));
        });
    });
    let p = b.finish();
    let mut o = vec![0u32; 32];
    run_bounded(&p, [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
    let hit: Vec<usize> = (0..32).filter(|&k| o[k] == 1).collect();
    assert_eq!(hit, [1, 3, 5]);
}

/// A kernel full of `#[unroll]`-able loops: nested stepped loops filling a
/// private array, a loop at the top of `u32` and one at the top of `i32`.
fn unroll_kernel(unroll: bool) -> Program {
    let mut b = ProgramBuilder::new("unroll", [2, 1, 1]);
    let x = b.buffer("x", DataType::F32, Access::Read);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let acc = b.private("acc", DataType::F32, 4);
    let n = b.local("n", DataType::U32, true);
    let (i, j, t, s) = (
        b.local("i", DataType::U32, false),
        b.local("j", DataType::I32, false),
        b.local("t", DataType::U32, false),
        b.local("s", DataType::I32, false),
    );
    let base = || Expr::global_id_x().mul(Expr::u32(8));
    b.body(|blk| {
        blk.let_(n, Expr::u32(0));
        blk.for_step(i, Expr::u32(0), Expr::u32(8), 2, unroll, |body| {
            body.for_step(j, Expr::i32(-1), Expr::i32(2), 2, unroll, |inner| {
                // acc[i / 2] += x[i] * j  (j in {-1, 1})
                let slot = Expr::local(i).div(Expr::u32(2));
                inner.store(
                    BufRef::Private(acc),
                    slot.clone(),
                    Expr::load(BufRef::Private(acc), slot).add(
                        Expr::load(BufRef::Param(x), Expr::local(i).add(Expr::global_id_x()))
                            .mul(Expr::local(j).cast(DataType::F32)),
                    ),
                );
                inner.assign(n, Expr::local(n).add(Expr::u32(1)));
            });
            body.store(
                BufRef::Private(acc),
                Expr::local(i).div(Expr::u32(2)),
                Expr::load(BufRef::Param(x), Expr::local(i)),
            );
        });
        blk.for_step(
            t,
            Expr::u32(u32::MAX - 5),
            Expr::u32(u32::MAX),
            4,
            unroll,
            |body| {
                body.assign(n, Expr::local(n).add(Expr::u32(100)));
            },
        );
        blk.for_step(
            s,
            Expr::i32(i32::MAX - 7),
            Expr::i32(i32::MAX),
            3,
            unroll,
            |body| {
                body.assign(n, Expr::local(n).add(Expr::u32(1000)));
            },
        );
        for k in 0..4 {
            blk.store(
                BufRef::Param(out),
                base().add(Expr::u32(k)),
                Expr::load(BufRef::Private(acc), Expr::u32(k)).cast(DataType::U32),
            );
        }
        blk.store(BufRef::Param(out), base().add(Expr::u32(4)), Expr::local(n));
    });
    b.finish()
}

#[test]
fn unroll_changes_no_result() {
    let run_it = |unroll: bool| {
        let p = unroll_kernel(unroll);
        let mut x: Vec<u32> = (0..10u32).map(|v| (v as f32 * 3.0).to_bits()).collect();
        let mut o = vec![0u32; 16];
        run_bounded(
            &p,
            [1, 1, 1],
            &mut [RefArg::Buffer(&mut x), RefArg::Buffer(&mut o)],
        )
        .unwrap();
        o
    };
    let plain = run_it(false);
    let unrolled = run_it(true);
    assert_eq!(plain, unrolled);
    // And both are right: acc[i/2] = x[i] (the inner loop's sum cancels,
    // then the store overwrites); n = 4 * 2 + 2 * 100 + 3 * 1000.
    let n = 8 + 200 + 3000;
    assert_eq!(&plain[..8], &[0, 6, 12, 18, n, 0, 0, 0]);
    assert_eq!(&plain[8..], &[0, 6, 12, 18, n, 0, 0, 0]);
}

// ---------------------------------------------------------------------------
// Subgroups
// ---------------------------------------------------------------------------

use vyre::ir::SubgroupOp;

fn sg(op: SubgroupOp, args: Vec<Expr>) -> Expr {
    Expr::Subgroup(op, args)
}

fn lane() -> Expr {
    sg(SubgroupOp::InvocationId, vec![])
}

/// One workgroup of `ws` with subgroup size `size`: invocation `l` (flat
/// local index) stores `f(x[l], l)` (of type `out`; `x` of type `elem`) to
/// `out[l]`. Returns `out`.
fn per_lane(
    ws: [u32; 3],
    size: u32,
    elem: DataType,
    out: DataType,
    x: &[u32],
    f: impl FnOnce(Expr, Expr) -> Expr,
) -> Vec<u32> {
    let n = ws.iter().product::<u32>() as usize;
    assert_eq!(x.len(), n, "one input per invocation");
    let mut b = ProgramBuilder::new("per_lane", ws);
    let xs = b.buffer("x", elem, Access::Read);
    let ys = b.buffer("y", out, Access::ReadWrite);
    let l = b.local("l", DataType::U32, false);
    let flat = Expr::Builtin(Builtin::LocalId, Axis::X)
        .add(Expr::Builtin(Builtin::LocalId, Axis::Y).mul(Expr::u32(ws[0])))
        .add(Expr::Builtin(Builtin::LocalId, Axis::Z).mul(Expr::u32(ws[0] * ws[1])));
    let value = f(
        Expr::load(BufRef::Param(xs), Expr::local(l)),
        Expr::local(l),
    );
    b.body(|blk| {
        blk.let_(l, flat);
        blk.store(BufRef::Param(ys), Expr::local(l), value);
    });
    let p = b.finish();
    let mut xs = x.to_vec();
    let mut ys = vec![0xdead_beef_u32 >> (32 - out.bits()); n];
    run_with(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut xs), RefArg::Buffer(&mut ys)],
        &RunOptions {
            subgroup_size: size,
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("subgroup size {size}: {e}"));
    ys
}

/// A collective `op` over `x` (of type `t`), per invocation.
fn collective(ws: [u32; 3], size: u32, t: DataType, op: SubgroupOp, x: &[u32]) -> Vec<u32> {
    per_lane(ws, size, t, t, x, |v, _| sg(op, vec![v]))
}

/// The expected value of a whole-subgroup result: `fold` over the values of
/// invocation `l`'s subgroup (the lanes that exist).
fn per_subgroup(x: &[u32], size: usize, fold: impl Fn(&[u32]) -> u32) -> Vec<u32> {
    (0..x.len())
        .map(|l| {
            let first = l / size * size;
            fold(&x[first..x.len().min(first + size)])
        })
        .collect()
}

#[test]
fn subgroup_lanes_and_size_follow_the_flat_local_index() {
    // A 2-D workgroup of 8 x 5: the flat index `x + 8 * y` numbers lanes
    // across rows.
    for size in [32, 8] {
        let got = per_lane(
            [8, 5, 1],
            size,
            DataType::U32,
            DataType::U32,
            &[0; 40],
            |_, _| {
                lane()
                    .mul(Expr::u32(1000))
                    .add(sg(SubgroupOp::Size, vec![]))
            },
        );
        let want: Vec<u32> = (0..40).map(|l| (l % size) * 1000 + size).collect();
        assert_eq!(got, want, "subgroup size {size}");
    }
}

#[test]
fn subgroup_add_min_max_on_integers() {
    let ws = [64, 1, 1];
    // u32 near the top (the sum wraps), i32 of both signs.
    let xu: Vec<u32> = (0..64u32).map(|l| u32::MAX - l * 977).collect();
    let xi: Vec<u32> = (0..64i32)
        .map(|l| ((l * 7919) % 201 - 100) as u32)
        .collect();
    for size in [32, 8] {
        let s = size as usize;
        let run = |t, op, x: &[u32]| collective(ws, size, t, op, x);
        let add = |v: &[u32]| v.iter().fold(0u32, |a, &x| a.wrapping_add(x));
        assert_eq!(
            run(DataType::U32, SubgroupOp::Add, &xu),
            per_subgroup(&xu, s, add)
        );
        assert_eq!(
            run(DataType::I32, SubgroupOp::Add, &xi),
            per_subgroup(&xi, s, add)
        );
        let umin = |v: &[u32]| *v.iter().min().unwrap();
        let umax = |v: &[u32]| *v.iter().max().unwrap();
        let imin = |v: &[u32]| v.iter().map(|&x| x as i32).min().unwrap() as u32;
        let imax = |v: &[u32]| v.iter().map(|&x| x as i32).max().unwrap() as u32;
        assert_eq!(
            run(DataType::U32, SubgroupOp::Min, &xu),
            per_subgroup(&xu, s, umin)
        );
        assert_eq!(
            run(DataType::U32, SubgroupOp::Max, &xu),
            per_subgroup(&xu, s, umax)
        );
        // The signed and unsigned orders differ on these values.
        assert_eq!(
            run(DataType::I32, SubgroupOp::Min, &xi),
            per_subgroup(&xi, s, imin)
        );
        assert_eq!(
            run(DataType::I32, SubgroupOp::Max, &xi),
            per_subgroup(&xi, s, imax)
        );
        assert_ne!(per_subgroup(&xi, s, imin), per_subgroup(&xi, s, umin));
    }
    // The sum wraps.
    let big = vec![u32::MAX; 32];
    assert_eq!(
        collective([32, 1, 1], 32, DataType::U32, SubgroupOp::Add, &big),
        vec![32u32.wrapping_neg(); 32]
    );
}

#[test]
fn subgroup_min_max_on_f32_ignore_nan() {
    let nan = f32::NAN.to_bits();
    let mut x: Vec<u32> = (0..16).map(|l| (l as f32 - 6.5).to_bits()).collect();
    x[0] = nan;
    x[7] = nan;
    // Subgroup 1 (lanes 8..16 with S = 8) is all NaN but one value.
    for v in &mut x[8..15] {
        *v = nan;
    }
    let min = collective([16, 1, 1], 8, DataType::F32, SubgroupOp::Min, &x);
    let max = collective([16, 1, 1], 8, DataType::F32, SubgroupOp::Max, &x);
    let f = |v: &[u32]| v.iter().map(|&b| f32::from_bits(b)).collect::<Vec<_>>();
    assert_eq!(f(&min[..8]), vec![-5.5; 8]);
    assert_eq!(f(&max[..8]), vec![-0.5; 8]);
    assert_eq!(f(&min[8..]), vec![8.5; 8]);
    assert_eq!(f(&max[8..]), vec![8.5; 8]);
    // Only NaN: NaN.
    let all_nan = collective([4, 1, 1], 4, DataType::F32, SubgroupOp::Min, &[nan; 4]);
    assert!(all_nan.iter().all(|&b| f32::from_bits(b).is_nan()));
}

/// The butterfly sum the reference defines: for `off` in `S/2, .., 1`,
/// `v = v + v[lane ^ off]`, lanes without an invocation holding `-0.0`.
fn butterfly(x: &[f32], size: usize) -> f32 {
    let mut v: Vec<f32> = (0..size)
        .map(|l| x.get(l).copied().unwrap_or(-0.0))
        .collect();
    let mut off = size / 2;
    while off > 0 {
        v = (0..size).map(|l| v[l] + v[l ^ off]).collect();
        off /= 2;
    }
    v[0]
}

#[test]
fn subgroup_add_on_f32_is_the_xor_butterfly() {
    // S = 4: (1e8 + -1e8) + (1 + 1) = 2, while left to right
    // ((1e8 + 1) + -1e8) + 1 = 1 (1e8 + 1 rounds back to 1e8).
    let x = [1e8f32, 1.0, -1e8, 1.0];
    let got = collective(
        [4, 1, 1],
        4,
        DataType::F32,
        SubgroupOp::Add,
        &x.map(f32::to_bits),
    );
    assert_eq!(got, vec![2f32.to_bits(); 4]);
    assert_eq!(x.iter().fold(0.0, |a, b| a + b), 1.0);
    // S = 32, a full and a partial subgroup (40 invocations): values with
    // rounding everywhere.
    let x: Vec<f32> = (0..40)
        .map(|l| (l as f32 * 0.37 - 5.0) * [1.0, 1e6, 1e-3, -7e4][l % 4])
        .collect();
    let bits: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
    let got = collective([40, 1, 1], 32, DataType::F32, SubgroupOp::Add, &bits);
    let (full, part) = (butterfly(&x[..32], 32), butterfly(&x[32..], 32));
    assert_ne!(
        full,
        x[..32].iter().sum::<f32>(),
        "the values must tell the orders apart"
    );
    assert_eq!(&got[..32], vec![full.to_bits(); 32]);
    assert_eq!(&got[32..], vec![part.to_bits(); 8]);
    // -0.0 is kept: missing lanes contribute -0.0, not +0.0.
    let neg = collective(
        [3, 1, 1],
        4,
        DataType::F32,
        SubgroupOp::Add,
        &[(-0.0f32).to_bits(); 3],
    );
    assert_eq!(neg, vec![(-0.0f32).to_bits(); 3]);
}

#[test]
fn shuffles_take_the_own_value_from_missing_or_out_of_range_lanes() {
    // 40 invocations with S = 32: subgroup 1 has lanes 0..8 only.
    let ws = [40, 1, 1];
    let x: Vec<u32> = (0..40).map(|l| 100 + l).collect();
    let shuffle = |op, lane_operand: Box<dyn Fn(Expr) -> Expr>| {
        per_lane(ws, 32, DataType::U32, DataType::U32, &x, |v, _| {
            sg(op, vec![v, lane_operand(lane())])
        })
    };
    // Source lane = its own value; `None` when out of range or missing.
    let want = |src: &dyn Fn(u64) -> u64| -> Vec<u32> {
        (0..40u64)
            .map(|l| {
                let (first, lane) = (l / 32 * 32, l % 32);
                let s = src(lane);
                if s < 32 && first + s < 40 {
                    x[(first + s) as usize]
                } else {
                    x[l as usize]
                }
            })
            .collect()
    };
    // shuffle(v, (lane + 5) % 40): past 31 in subgroup 0, missing lanes
    // 8..12 in subgroup 1.
    assert_eq!(
        shuffle(
            SubgroupOp::Shuffle,
            Box::new(|l| l.add(Expr::u32(5)).rem(Expr::u32(40)))
        ),
        want(&|l| (l + 5) % 40)
    );
    assert_eq!(
        shuffle(SubgroupOp::Shuffle, Box::new(|_| Expr::u32(u32::MAX))),
        x
    );
    // xor 8: subgroup 1's lanes read lanes 8..16, which have no invocation.
    for mask in [1, 8, 31, 32] {
        assert_eq!(
            shuffle(SubgroupOp::ShuffleXor, Box::new(move |_| Expr::u32(mask))),
            want(&|l| l ^ u64::from(mask)),
            "xor {mask}"
        );
    }
    for delta in [0, 3, 31, 32] {
        assert_eq!(
            shuffle(SubgroupOp::ShuffleDown, Box::new(move |_| Expr::u32(delta))),
            want(&|l| l + u64::from(delta)),
            "down {delta}"
        );
    }
    // `lane + delta` does not wrap around to a low lane.
    assert_eq!(
        shuffle(SubgroupOp::ShuffleDown, Box::new(|_| Expr::u32(u32::MAX))),
        x
    );
    // Shuffles of i32 and f32 values move the bits.
    let f: Vec<u32> = (0..8).map(|l| (-(l as f32) - 0.5).to_bits()).collect();
    let got = per_lane([8, 1, 1], 8, DataType::F32, DataType::F32, &f, |v, _| {
        sg(SubgroupOp::ShuffleXor, vec![v, Expr::u32(1)])
    });
    assert_eq!(got, (0..8).map(|l| f[l ^ 1]).collect::<Vec<_>>());
}

#[test]
fn reductions_and_broadcast_ignore_missing_lanes() {
    let ws = [40, 1, 1];
    let x: Vec<u32> = (0..40).map(|l| 100 + (l * 37) % 41).collect();
    let s = 32;
    let run = |op| collective(ws, 32, DataType::U32, op, &x);
    // A missing lane counted as 0 would make min 0 and not change the sum.
    assert_eq!(
        run(SubgroupOp::Min),
        per_subgroup(&x, s, |v| *v.iter().min().unwrap())
    );
    assert!(run(SubgroupOp::Min)[32..].iter().all(|&m| m >= 100));
    assert_eq!(
        run(SubgroupOp::Max),
        per_subgroup(&x, s, |v| *v.iter().max().unwrap())
    );
    assert_eq!(
        run(SubgroupOp::Add),
        per_subgroup(&x, s, |v| v.iter().sum())
    );
    assert_eq!(
        run(SubgroupOp::BroadcastFirst),
        per_subgroup(&x, s, |v| v[0])
    );
    assert_eq!(run(SubgroupOp::BroadcastFirst)[32..], [x[32]; 8]);
}

#[test]
fn ballot_sets_a_bit_per_lane_below_32() {
    let ws = [64, 1, 1];
    let x: Vec<u32> = (0..64).map(|l| u32::from(l % 3 == 0 || l == 63)).collect();
    let ballot = |size| {
        per_lane(ws, size, DataType::U32, DataType::U32, &x, |v, _| {
            sg(SubgroupOp::Ballot, vec![v.ne(Expr::u32(0))])
        })
    };
    let mask = |v: &[u32]| {
        v.iter()
            .take(32)
            .enumerate()
            .filter(|&(_, &p)| p != 0)
            .fold(0u32, |m, (l, _)| m | 1 << l)
    };
    // S = 32: one mask per subgroup.
    let got = ballot(32);
    assert_eq!(got, per_subgroup(&x, 32, mask));
    assert_ne!(got[0], got[32]);
    // S = 64: one subgroup; lanes 32..64 (lane 63's true included) are not
    // represented.
    assert_eq!(ballot(64), vec![mask(&x[..32]); 64]);
    // A partial subgroup: only the lanes that exist.
    let got = per_lane(
        [5, 1, 1],
        8,
        DataType::U32,
        DataType::U32,
        &[1; 5],
        |v, _| sg(SubgroupOp::Ballot, vec![v.ne(Expr::u32(0))]),
    );
    assert_eq!(got, vec![0b1_1111; 5]);
}

#[test]
fn all_and_any_per_subgroup() {
    // S = 8, 20 invocations (the last subgroup has 4): the predicate fails
    // at invocation 9 only.
    let x: Vec<u32> = (0..20).map(|l| u32::from(l != 9)).collect();
    let run = |op| {
        per_lane([20, 1, 1], 8, DataType::U32, DataType::U32, &x, |v, _| {
            sg(op, vec![v.ne(Expr::u32(0))]).cast(DataType::U32)
        })
    };
    let all = run(SubgroupOp::All);
    assert_eq!(
        all,
        per_subgroup(&x, 8, |v| u32::from(v.iter().all(|&p| p != 0)))
    );
    assert_eq!(all[8..16], [0; 8]);
    assert_eq!(all[..8], [1; 8]);
    assert_eq!(all[16..], [1; 4]);
    let any_not = per_lane([20, 1, 1], 8, DataType::U32, DataType::U32, &x, |v, _| {
        sg(SubgroupOp::Any, vec![v.eq(Expr::u32(0))]).cast(DataType::U32)
    });
    let mut want = vec![0; 20];
    want[8..16].fill(1);
    assert_eq!(any_not, want);
}

#[test]
fn a_subgroup_size_of_one_and_of_128() {
    let x: Vec<u32> = (0..130).map(|l| l * 3).collect();
    // S = 1: every invocation is alone.
    assert_eq!(
        collective([130, 1, 1], 1, DataType::U32, SubgroupOp::Add, &x),
        x
    );
    let got = per_lane([130, 1, 1], 1, DataType::U32, DataType::U32, &x, |v, _| {
        sg(SubgroupOp::ShuffleXor, vec![v, Expr::u32(1)])
    });
    assert_eq!(got, x);
    // S = 128: one full subgroup and one of 2.
    assert_eq!(
        collective([130, 1, 1], 128, DataType::U32, SubgroupOp::Max, &x),
        per_subgroup(&x, 128, |v| *v.iter().max().unwrap())
    );
}

#[test]
fn unsupported_subgroup_sizes_are_errors() {
    let mut b = ProgramBuilder::new("plain", [1, 1, 1]);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(y), Expr::u32(0), Expr::u32(1));
    });
    let p = b.finish();
    for size in [0, 3, 48, 256, u32::MAX] {
        let mut ys = [0u32];
        let e = run_with(
            &p,
            [1, 1, 1],
            &mut [RefArg::Buffer(&mut ys)],
            &RunOptions {
                subgroup_size: size,
                ..RunOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(e, RunError::InvalidSubgroupSize { size });
        assert!(e.to_string().contains("power of two"), "{e}");
    }
    assert_eq!(RunOptions::default().subgroup_size, 32);
}

/// Collectives interleave with barriers and shared memory, inside uniform
/// loops: each round, every invocation adds its subgroup's sum to a shared
/// counter slot of its subgroup.
#[test]
fn collectives_in_a_uniform_loop_around_barriers() {
    let mut b = ProgramBuilder::new("rounds", [24, 1, 1]);
    let y = b.buffer("y", DataType::U32, Access::ReadWrite);
    let acc = b.shared("acc", DataType::U32, 3);
    let i = b.local("i", DataType::U32, false);
    let s = b.local("s", DataType::U32, true);
    let l = Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        blk.let_(s, Expr::u32(0));
        blk.for_(i, Expr::u32(0), Expr::u32(3), |body| {
            body.assign(
                s,
                Expr::local(s).add(sg(SubgroupOp::Add, vec![l.clone().add(Expr::local(i))])),
            );
            body.barrier();
        });
        blk.if_(lane().eq(Expr::u32(0)), |then| {
            then.store(
                BufRef::Shared(acc),
                l.clone().div(Expr::u32(8)),
                Expr::local(s),
            );
        });
        blk.barrier();
        blk.store(
            BufRef::Param(y),
            l.clone(),
            Expr::load(BufRef::Shared(acc), l.clone().div(Expr::u32(8))),
        );
    });
    let p = b.finish();
    let mut ys = vec![0u32; 24];
    run_with(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut ys)],
        &RunOptions {
            subgroup_size: 8,
            ..RunOptions::default()
        },
    )
    .expect("run");
    // Subgroup k: sum over rounds i of sum_{l in 8k..8k+8} (l + i).
    let want: Vec<u32> = (0..24)
        .map(|l| {
            let k = l / 8;
            (0..3)
                .map(|i| (8 * k..8 * k + 8).map(|m| m + i).sum::<u32>())
                .sum()
        })
        .collect();
    assert_eq!(ys, want);
}

// ---- 16- and 8-bit types ------------------------------------------------
//
// Every operation on a narrow type is computed in its register type and
// rounded to nearest even (`f16`, `bf16`) or wrapped (integers) back. The
// expected values below are worked out by hand (bit layouts in the
// comments; the `f16` ones cross-checked with Python's IEEE binary16
// `struct` format), never with the interpreter's or `half`'s conversions.

fn h(bits: u16) -> Expr {
    Expr::Lit(Literal::F16(bits))
}
fn bf(bits: u16) -> Expr {
    Expr::Lit(Literal::BF16(bits))
}
fn u8l(v: u8) -> Expr {
    Expr::Lit(Literal::U8(v))
}
fn i8l(v: i8) -> Expr {
    Expr::Lit(Literal::I8(v))
}
fn u16l(v: u16) -> Expr {
    Expr::Lit(Literal::U16(v))
}
fn i16l(v: i16) -> Expr {
    Expr::Lit(Literal::I16(v))
}
/// The bits of `e: f16` as stored.
fn eh(e: Expr) -> u32 {
    eval(e, DataType::F16)
}
fn ebf(e: Expr) -> u32 {
    eval(e, DataType::BF16)
}
fn eu8(e: Expr) -> u32 {
    eval(e, DataType::U8)
}
/// `e: i8` as stored (its bits, zero-extended).
fn ei8(e: Expr) -> u32 {
    eval(e, DataType::I8)
}
fn eu16(e: Expr) -> u32 {
    eval(e, DataType::U16)
}
fn ei16(e: Expr) -> u32 {
    eval(e, DataType::I16)
}

// `f16` bit patterns: sign, 5 exponent bits (bias 15), 10 mantissa bits.
const H_ONE: u16 = 0x3c00;
const H_TWO: u16 = 0x4000;
const H_HALF: u16 = 0x3800;
const H_2M11: u16 = 0x1000; // 2^-11: half an ulp of 1.0
const H_3X2M12: u16 = 0x1200; // 3 * 2^-12: three quarters of an ulp of 1.0
const H_MAX: u16 = 0x7bff; // 65504
const H_8: u16 = 0x4800;
const H_16: u16 = 0x4c00;
const H_INF: u32 = 0x7c00;
const H_NEG_INF: u32 = 0xfc00;
const H_MIN_NORMAL: u16 = 0x0400; // 2^-14
const H_MIN_SUB: u16 = 0x0001; // 2^-24
const H_60000: u16 = 0x7b53;

fn is_f16_nan(bits: u32) -> bool {
    bits & 0x7c00 == 0x7c00 && bits & 0x03ff != 0 && bits <= 0xffff
}

#[test]
fn f16_arithmetic_rounds_to_nearest_even() {
    // 1 + 2^-11 is exactly between 1.0 and 1 + 2^-10: to even, 1.0.
    assert_eq!(eh(h(H_ONE).add(h(H_2M11))), u32::from(H_ONE));
    // 1 + 3 * 2^-12 is past the middle: up to 1 + 2^-10.
    assert_eq!(eh(h(H_ONE).add(h(H_3X2M12))), 0x3c01);
    // 1 + 2^-10 + 2^-11 is a tie between 0x3c01 (odd) and 0x3c02: 0x3c02.
    assert_eq!(eh(h(0x3c01).add(h(H_2M11))), 0x3c02);
    // 65504 + 16 = 65520 is the tie between 65504 (odd mantissa) and
    // 65536, which does not exist: to even, which is infinity.
    assert_eq!(eh(h(H_MAX).add(h(H_16))), H_INF);
    // 65504 + 8 = 65512 is below the tie: 65504.
    assert_eq!(eh(h(H_MAX).add(h(H_8))), u32::from(H_MAX));
    // Overflow to infinity, either sign.
    assert_eq!(eh(h(H_60000).mul(h(H_TWO))), H_INF);
    assert_eq!(eh(h(H_60000).neg().mul(h(H_TWO))), H_NEG_INF);
    assert_eq!(eh(h(H_60000).neg().sub(h(H_60000))), H_NEG_INF);
    // Subnormals are kept: 2^-14 / 2 = 2^-15 is 0x0200 ...
    assert_eq!(eh(h(H_MIN_NORMAL).mul(h(H_HALF))), 0x0200);
    // ... 2^-24 / 2 is the tie between 0 and 2^-24: to even, +0 ...
    assert_eq!(eh(h(H_MIN_SUB).mul(h(H_HALF))), 0);
    // ... and 3 * 2^-25 (1.5 ulp) goes to 2 * 2^-24.
    assert_eq!(eh(h(H_MIN_SUB).mul(h(0x3e00))), 0x0002);
    // 3 * 2^-24 - 2^-24 = 2^-23, computed exactly.
    assert_eq!(eh(h(0x0003).sub(h(H_MIN_SUB))), 0x0002);
    // Correctly rounded division and square root: 1/3 = 0x3555
    // (0.333251953125), sqrt(2) = 0x3da8 (1.4140625).
    assert_eq!(eh(h(H_ONE).div(h(0x4200))), 0x3555);
    assert_eq!(eh(h(H_TWO).math(MathFn::Sqrt, vec![])), 0x3da8);
    // NaN stays NaN; division by zero is IEEE.
    assert!(is_f16_nan(eh(h(0).div(h(0)))));
    assert!(is_f16_nan(eh(h(0x7e00).add(h(H_ONE)))));
    assert_eq!(eh(h(H_ONE).div(h(0))), H_INF);
    assert_eq!(eh(h(H_ONE).div(h(0x8000))), H_NEG_INF);
    // Exact operations: negation, abs, min, max, floor.
    assert_eq!(eh(h(H_ONE).neg()), 0xbc00);
    assert_eq!(eh(h(0xbc00).math(MathFn::Abs, vec![])), 0x3c00);
    assert_eq!(eh(h(0x3e00).math(MathFn::Floor, vec![])), 0x3c00);
    assert_eq!(eh(h(0x3e00).math(MathFn::Ceil, vec![])), 0x4000);
    assert_eq!(eh(h(H_ONE).math(MathFn::Min, vec![h(H_TWO)])), 0x3c00);
    assert_eq!(eh(h(H_ONE).math(MathFn::Max, vec![h(H_TWO)])), 0x4000);
    // `%` is `fmod` of the widened values: 7 % 2 = 1.
    assert_eq!(eh(h(0x4700).rem(h(H_TWO))), 0x3c00);
    // Comparisons compare the values: -0 == +0, NaN is unordered.
    assert!(eb(h(0x8000).eq(h(0))));
    assert!(eb(h(H_ONE).lt(h(0x3c01))));
    assert!(!eb(h(0x7e00).eq(h(0x7e00))));
}

#[test]
fn bf16_rounds_to_nearest_even() {
    // `bf16` is the upper half of an `f32`: 1.0 = 0x3f80; an ulp of 1.0
    // is 2^-7.
    // 1 + 2^-8 (0x3b80 = 2^-8) ties to even: 1.0.
    assert_eq!(ebf(bf(0x3f80).add(bf(0x3b80))), 0x3f80);
    // 1 + 3 * 2^-9 (0x3bc0 = 1.5 * 2^-8): up to 1 + 2^-7.
    assert_eq!(ebf(bf(0x3f80).add(bf(0x3bc0))), 0x3f81);
    // From `f32` bits: the low 16 bits decide, 0x8000 is the tie.
    let from = |bits: u32| ebf(Expr::Lit(Literal::F32(bits)).cast(DataType::BF16));
    assert_eq!(from(0x3f80_8000), 0x3f80); // tie, 0x3f80 is even
    assert_eq!(from(0x3f81_8000), 0x3f82); // tie, 0x3f81 is odd
    assert_eq!(from(0x3f80_8001), 0x3f81); // above the tie
    assert_eq!(from(0x3f80_7fff), 0x3f80); // below it
    assert_eq!(from(0xbf80_8001), 0xbf81); // the sign is kept
    // The largest finite f32 is past bf16's largest (0x7f7f) by more than
    // half an ulp: infinity.
    assert_eq!(from(0x7f7f_ffff), 0x7f80);
    assert_eq!(from(0x7f7f_7fff), 0x7f7f);
    // Subnormals are kept (0x0001_0000 is the bf16 subnormal 0x0001).
    assert_eq!(from(0x0001_0000), 0x0001);
    assert_eq!(from(0x0000_8000), 0); // the tie with zero: even
    assert_eq!(from(0x0000_8001), 0x0001);
    // NaN stays NaN.
    let nan = from(0x7fc0_0000);
    assert!(nan & 0x7f80 == 0x7f80 && nan & 0x7f != 0, "{nan:#x}");
    // 2^127 * 2 overflows.
    assert_eq!(ebf(bf(0x7f00).mul(bf(0x4000))), 0x7f80);
    // 257 as bf16: 1.00000001b * 2^8 ties to 256 (0x4380).
    assert_eq!(ebf(Expr::i32(257).cast(DataType::BF16)), 0x4380);
    assert_eq!(ebf(Expr::u32(259).cast(DataType::BF16)), 0x4382);
}

#[test]
fn narrow_integers_wrap() {
    assert_eq!(eu8(u8l(200).add(u8l(100))), 44);
    assert_eq!(eu8(u8l(3).sub(u8l(5))), 254);
    assert_eq!(eu8(u8l(16).mul(u8l(17))), 16); // 272 - 256
    assert_eq!(ei8(i8l(100).add(i8l(100))), 0xc8); // -56
    assert_eq!(ei8(i8l(-128).sub(i8l(1))), 0x7f); // 127
    assert_eq!(ei8(i8l(-128).div(i8l(-1))), 0x80); // -128
    assert_eq!(ei8(i8l(-128).rem(i8l(-1))), 0);
    assert_eq!(ei8(i8l(-7).div(i8l(2))), 0xfd); // -3, truncating
    assert_eq!(ei8(i8l(-7).rem(i8l(2))), 0xff); // -1
    assert_eq!(eu8(u8l(7).div(u8l(0))), 0);
    assert_eq!(eu8(u8l(7).rem(u8l(0))), 0);
    assert_eq!(ei8(i8l(-128).neg()), 0x80);
    assert_eq!(ei8(i8l(-128).math(MathFn::Abs, vec![])), 0x80);
    assert_eq!(ei8(i8l(-5).math(MathFn::Abs, vec![])), 5);
    assert_eq!(ei8(i8l(5).not()), 0xfa); // -6
    assert_eq!(eu8(u8l(5).not()), 250);
    assert_eq!(eu16(u16l(65535).add(u16l(1))), 0);
    assert_eq!(eu16(u16l(0).sub(u16l(1))), 0xffff);
    assert_eq!(eu16(u16l(300).mul(u16l(300))), 24464); // 90000 - 65536
    assert_eq!(ei16(i16l(32767).add(i16l(1))), 0x8000);
    assert_eq!(ei16(i16l(-32768).div(i16l(-1))), 0x8000);
    assert_eq!(ei16(i16l(-300).mul(i16l(300))), 0xa070); // -90000 + 131072
    // Bitwise operations and right shifts stay in range.
    assert_eq!(ei8(i8l(-16).bitand(i8l(0x3f))), 0x30);
    assert_eq!(ei8(i8l(-128).shr(Expr::u32(3))), 0xf0); // -16, arithmetic
    assert_eq!(eu8(u8l(200).shr(Expr::u32(3))), 25);
    assert_eq!(eu8(u8l(0x81).bitxor(u8l(0xff))), 0x7e);
    // min, max and clamp compare the values.
    assert_eq!(ei8(i8l(-1).math(MathFn::Min, vec![i8l(1)])), 0xff);
    assert_eq!(eu8(u8l(255).math(MathFn::Max, vec![u8l(1)])), 255);
    assert_eq!(
        ei16(i16l(-500).math(MathFn::Clamp, vec![i16l(-100), i16l(100)])),
        0xff9c
    );
    // Comparisons compare the values.
    assert!(eb(i8l(-1).lt(i8l(0))));
    assert!(eb(u8l(255).gt(u8l(0))));
    assert!(eb(i16l(-1).ne(i16l(0x7fff))));
}

#[test]
fn narrow_shift_amounts_are_masked_to_the_width() {
    // u8: `& 7`. 3 << 9 == 3 << 1.
    assert_eq!(eu8(u8l(3).shl(Expr::u32(9))), 6);
    assert_eq!(eu8(u8l(1).shl(Expr::u32(8))), 1);
    assert_eq!(eu8(u8l(0x80).shr(Expr::u32(15))), 1);
    // The shifted-out bits are gone: 0x81 << 1 = 0x02.
    assert_eq!(eu8(u8l(0x81).shl(Expr::u32(1))), 2);
    // i8: 1 << 15 == 1 << 7 = -128; a negative amount masked too.
    assert_eq!(ei8(i8l(1).shl(Expr::u32(15))), 0x80);
    assert_eq!(ei8(i8l(-128).shr(Expr::i32(-1))), 0xff); // >> 7 = -1
    // u16 / i16: `& 15`.
    assert_eq!(eu16(u16l(1).shl(Expr::u32(17))), 2);
    assert_eq!(ei16(i16l(-32768).shr(Expr::u32(31))), 0xffff); // >> 15
    // A narrow shift amount is an ordinary integer.
    assert_eq!(eu(Expr::u32(1).shl(u8l(33))), 2);
}

#[test]
fn casts_to_and_from_narrow_types() {
    // Float to narrow integer saturates, NaN to 0.
    assert_eq!(eu8(Expr::f32(300.0).cast(DataType::U8)), 255);
    assert_eq!(eu8(Expr::f32(-1.0).cast(DataType::U8)), 0);
    assert_eq!(eu8(Expr::f32(2.9).cast(DataType::U8)), 2);
    assert_eq!(eu8(Expr::f32(255.9).cast(DataType::U8)), 255);
    assert_eq!(ei8(Expr::f32(f32::NAN).cast(DataType::I8)), 0);
    assert_eq!(ei8(Expr::f32(-1.0e10).cast(DataType::I8)), 0x80);
    assert_eq!(ei8(Expr::f32(-3.7).cast(DataType::I8)), 0xfd); // -3
    assert_eq!(ei16(Expr::f32(1.0e10).cast(DataType::I16)), 0x7fff);
    assert_eq!(eu16(Expr::f32(f32::INFINITY).cast(DataType::U16)), 0xffff);
    assert_eq!(eu8(h(H_INF as u16).cast(DataType::U8)), 255);
    assert_eq!(eu8(h(0x7e00).cast(DataType::U8)), 0); // f16 NaN
    assert_eq!(ei16(h(0xfbff).cast(DataType::I16)), 0x8000); // -65504
    // Integer to narrow integer wraps.
    assert_eq!(eu8(Expr::u32(257).cast(DataType::U8)), 1);
    assert_eq!(ei8(Expr::i32(-129).cast(DataType::I8)), 0x7f);
    assert_eq!(eu16(Expr::i32(-1).cast(DataType::U16)), 0xffff);
    assert_eq!(ei8(u8l(255).cast(DataType::I8)), 0xff);
    assert_eq!(eu8(i16l(-255).cast(DataType::U8)), 1); // 0xff01
    assert_eq!(eu8(Expr::bool(true).cast(DataType::U8)), 1);
    // Narrow to wide: sign- or zero-extended.
    assert_eq!(eu(i8l(-1).cast(DataType::U32)), 0xffff_ffff);
    assert_eq!(ei(i8l(-1).cast(DataType::I32)), -1);
    assert_eq!(eu(u8l(255).cast(DataType::U32)), 255);
    assert_eq!(eu(i16l(-2).cast(DataType::U32)), 0xffff_fffe);
    assert_eq!(ef(i8l(-128).cast(DataType::F32)), -128.0);
    assert_eq!(ef(u16l(65535).cast(DataType::F32)), 65535.0);
    // Narrow floats widen exactly.
    assert_eq!(ef(h(0x3555).cast(DataType::F32)), 0.333_251_95);
    assert_eq!(ef(h(H_MIN_SUB).cast(DataType::F32)), 2f32.powi(-24));
    assert_eq!(
        ef(bf(0x3eab).cast(DataType::F32)),
        f32::from_bits(0x3eab_0000)
    );
    assert_eq!(ei(h(H_MAX).cast(DataType::I32)), 65504);
    // To f16: through f32, then rounded to nearest even.
    assert_eq!(eh(Expr::u32(2049).cast(DataType::F16)), 0x6800); // tie: 2048
    assert_eq!(eh(Expr::u32(2051).cast(DataType::F16)), 0x6802); // tie: 2052
    assert_eq!(eh(Expr::u32(65535).cast(DataType::F16)), H_INF);
    assert_eq!(eh(Expr::i32(-65519).cast(DataType::F16)), 0xfbff);
    assert_eq!(eh(Expr::f32(65520.0).cast(DataType::F16)), H_INF);
    assert_eq!(eh(Expr::f32(1.0e-8).cast(DataType::F16)), 0);
    assert_eq!(eh(Expr::f32(-0.0).cast(DataType::F16)), 0x8000);
    assert_eq!(eh(Expr::bool(true).cast(DataType::F16)), u32::from(H_ONE));
    assert_eq!(eh(u8l(255).cast(DataType::F16)), 0x5bf8);
    assert_eq!(eh(i8l(-2).cast(DataType::F16)), 0xc000);
    // f16 <-> bf16: 0x3555 (0.333251953125 = f32 0x3eaaa000) to bf16:
    // the low half 0xa000 is above the tie, so 0x3eab.
    assert_eq!(ebf(h(0x3555).cast(DataType::BF16)), 0x3eab);
    // bf16 0x3eab (0.333984375) to f16: 1.0101011b * 2^-2 fits exactly:
    // exponent 13, mantissa 0101011000b = 0x158.
    assert_eq!(eh(bf(0x3eab).cast(DataType::F16)), 0x3558);
    // bf16's range is f32's: 2^100 is infinity in f16.
    assert_eq!(eh(bf(0x7180).cast(DataType::F16)), H_INF);
    // Same type: nothing happens (a NaN payload included).
    assert_eq!(eh(h(0x7e01).cast(DataType::F16)), 0x7e01);
}

#[test]
fn narrow_locals_round_after_every_operation() {
    // `let mut x: f16 = 1.0; for _ in 0..4 { x += 2^-11; }` stays 1.0:
    // each addition ties back to 1.0. In f32 the sum would be 1 + 2^-9.
    let mut b = ProgramBuilder::new("acc", [1, 1, 1]);
    let out = b.buffer("out", DataType::F16, Access::ReadWrite);
    let outw = b.buffer("outw", DataType::F32, Access::ReadWrite);
    let x = b.local("x", DataType::F16, true);
    let w = b.local("w", DataType::F32, true);
    let k = b.local("k", DataType::U32, false);
    b.body(|blk| {
        blk.let_(x, h(H_ONE));
        blk.let_(w, Expr::f32(1.0));
        blk.for_(k, Expr::u32(0), Expr::u32(4), |body| {
            body.assign(x, Expr::local(x).add(h(H_2M11)));
            body.assign(w, Expr::local(w).add(h(H_2M11).cast(DataType::F32)));
        });
        blk.store(BufRef::Param(out), Expr::u32(0), Expr::local(x));
        blk.store(BufRef::Param(outw), Expr::u32(0), Expr::local(w));
    });
    let p = b.finish();
    let (mut o, mut ow) = ([0u32], [0u32]);
    run(
        &p,
        [1, 1, 1],
        &mut [RefArg::Buffer(&mut o), RefArg::Buffer(&mut ow)],
    )
    .unwrap();
    assert_eq!(o, [u32::from(H_ONE)]);
    assert_eq!(f32::from_bits(ow[0]), 1.0 + 2f32.powi(-9));
    // An i8 counter wraps at 127.
    let mut b = ProgramBuilder::new("wrap", [1, 1, 1]);
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    let c = b.local("c", DataType::I8, true);
    let k = b.local("k", DataType::U32, false);
    b.body(|blk| {
        blk.let_(c, i8l(120));
        blk.for_(k, Expr::u32(0), Expr::u32(10), |body| {
            body.assign(c, Expr::local(c).add(i8l(1)));
        });
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::local(c).cast(DataType::I32),
        );
    });
    let mut o = [0u32];
    run(&b.finish(), [1, 1, 1], &mut [RefArg::Buffer(&mut o)]).unwrap();
    assert_eq!(o[0].cast_signed(), -126); // 130 - 256
}

#[test]
fn narrow_buffers_load_and_store_elements() {
    // `y[i] = x[i] * 2` over bf16 buffers of 3 elements with 4
    // invocations: the fourth reads 0 and its store is dropped.
    let mut b = ProgramBuilder::new("bf", [4, 1, 1]);
    let x = b.buffer("x", DataType::BF16, Access::Read);
    let y = b.buffer("y", DataType::BF16, Access::ReadWrite);
    let z = b.buffer("z", DataType::F32, Access::ReadWrite);
    b.body(|blk| {
        let i = Expr::global_id_x();
        let v = Expr::load(BufRef::Param(x), i.clone());
        blk.store(BufRef::Param(y), i.clone(), v.clone().mul(bf(0x4000)));
        blk.store(BufRef::Param(z), i, v.cast(DataType::F32));
    });
    let p = b.finish();
    // 1.5, -3.0, and 1 + 2^-7 (times 2 is exact).
    let mut xs = [0x3fc0u32, 0xc040, 0x3f81];
    let mut ys = [0xffffu32; 3];
    let mut zs = [7u32; 4];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut xs),
            RefArg::Buffer(&mut ys),
            RefArg::Buffer(&mut zs),
        ],
    )
    .unwrap();
    assert_eq!(ys, [0x4040, 0xc0c0, 0x4001]);
    assert_eq!(zs, [1.5f32.to_bits(), (-3.0f32).to_bits(), 0x3f81_0000, 0]);
    // i16 and i8 elements sign-extend on load, u16 and u8 zero-extend.
    let mut b = ProgramBuilder::new("ext", [1, 1, 1]);
    let bufs: Vec<_> = [DataType::I16, DataType::I8, DataType::U16, DataType::U8]
        .into_iter()
        .map(|t| b.buffer(format!("b{t}"), t, Access::Read))
        .collect();
    let out = b.buffer("out", DataType::I32, Access::ReadWrite);
    b.body(|blk| {
        for (k, &id) in bufs.iter().enumerate() {
            blk.store(
                BufRef::Param(out),
                Expr::u32(k as u32),
                Expr::load(BufRef::Param(id), Expr::u32(0)).cast(DataType::I32),
            );
        }
        // Out of range: 0.
        blk.store(
            BufRef::Param(out),
            Expr::u32(4),
            Expr::load(BufRef::Param(bufs[0]), Expr::u32(1)).cast(DataType::I32),
        );
    });
    let p = b.finish();
    let (mut a, mut c, mut d, mut e) = ([0x8000u32], [0x80u32], [0x8000u32], [0x80u32]);
    let mut out = [9u32; 5];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut c),
            RefArg::Buffer(&mut d),
            RefArg::Buffer(&mut e),
            RefArg::Buffer(&mut out),
        ],
    )
    .unwrap();
    assert_eq!(out.map(u32::cast_signed), [-32768, -128, 32768, 128, 0]);
    // A slot that is no element of its type is refused.
    let mut a = [0x1_0000u32];
    let e = run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut a),
            RefArg::Buffer(&mut c),
            RefArg::Buffer(&mut d),
            RefArg::Buffer(&mut [0]),
            RefArg::Buffer(&mut out),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(e, RunError::ArgumentMismatch { index: 0, .. }),
        "{e:?}"
    );
}

#[test]
fn narrow_shared_and_private_arrays() {
    // Shared u16 and private f16 and i8 arrays, rounded and wrapped on
    // store, zero at the start.
    let mut b = ProgramBuilder::new("sp", [4, 1, 1]);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    let outh = b.buffer("outh", DataType::F16, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U16, 4);
    let ph = b.private("ph", DataType::F16, 2);
    let pi = b.private("pi", DataType::I8, 3);
    let lid = Expr::Builtin(Builtin::LocalId, Axis::X);
    b.body(|blk| {
        // sh[lid] = 65535 + lid as u16: wraps to lid - 1.
        blk.store(
            BufRef::Shared(sh),
            lid.clone(),
            u16l(65535).add(lid.clone().cast(DataType::U16)),
        );
        blk.barrier();
        // pi[1] = sh[3 - lid] as i8 (wraps: 0xffff -> -1, 2 -> 2, ...).
        blk.store(
            BufRef::Private(pi),
            Expr::u32(1),
            Expr::load(BufRef::Shared(sh), Expr::u32(3).sub(lid.clone())).cast(DataType::I8),
        );
        // ph[0] = 1 + 2^-11 (ties to 1); ph[1] is still 0.
        blk.store(BufRef::Private(ph), Expr::u32(0), h(H_ONE).add(h(H_2M11)));
        // out[lid] = (pi[1] as i32 + pi[0] as i32) as u32 (pi[0] is 0).
        let v = Expr::load(BufRef::Private(pi), Expr::u32(1))
            .add(Expr::load(BufRef::Private(pi), Expr::u32(0)))
            .cast(DataType::I32)
            .cast(DataType::U32);
        blk.store(BufRef::Param(out), lid.clone(), v);
        blk.store(
            BufRef::Param(outh),
            lid,
            Expr::load(BufRef::Private(ph), Expr::u32(0))
                .add(Expr::load(BufRef::Private(ph), Expr::u32(1))),
        );
    });
    let p = b.finish();
    let mut out = [0u32; 4];
    let mut outh = [0u32; 4];
    run(
        &p,
        [2, 1, 1],
        &mut [RefArg::Buffer(&mut out), RefArg::Buffer(&mut outh)],
    )
    .unwrap();
    // sh = [0xffff, 0, 1, 2]; lid reads sh[3 - lid] as i8.
    assert_eq!(out.map(u32::cast_signed), [2, 1, 0, -1]);
    assert_eq!(outh, [u32::from(H_ONE); 4]);
}

#[test]
fn narrow_scalar_parameters() {
    let mut b = ProgramBuilder::new("scal", [1, 1, 1]);
    let out = b.buffer("out", DataType::F32, Access::ReadWrite);
    let outi = b.buffer("outi", DataType::I32, Access::ReadWrite);
    let a = b.scalar("a", DataType::F16);
    let c = b.scalar("c", DataType::I8);
    let d = b.scalar("d", DataType::BF16);
    b.body(|blk| {
        // a + a in f16, and a as f32.
        blk.store(
            BufRef::Param(out),
            Expr::u32(0),
            Expr::param(a).add(Expr::param(a)).cast(DataType::F32),
        );
        blk.store(
            BufRef::Param(out),
            Expr::u32(1),
            Expr::param(d).cast(DataType::F32),
        );
        // c * 2 as i8 (wraps), then as i32.
        blk.store(
            BufRef::Param(outi),
            Expr::u32(0),
            Expr::param(c).mul(i8l(2)).cast(DataType::I32),
        );
    });
    let p = b.finish();
    let mut o = [0u32; 2];
    let mut oi = [0u32];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut o),
            RefArg::Buffer(&mut oi),
            RefArg::Scalar(Literal::F16(H_MAX)),
            RefArg::Scalar(Literal::I8(-100)),
            RefArg::Scalar(Literal::BF16(0xc0a0)),
        ],
    )
    .unwrap();
    assert_eq!(o, [f32::INFINITY.to_bits(), (-5.0f32).to_bits()]);
    assert_eq!(oi[0].cast_signed(), 56); // -200 + 256
    // The literal's type must be the parameter's, not its register type.
    let e = run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut o),
            RefArg::Buffer(&mut oi),
            RefArg::Scalar(Literal::f32(1.0)),
            RefArg::Scalar(Literal::I8(1)),
            RefArg::Scalar(Literal::BF16(0)),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(e, RunError::ArgumentMismatch { index: 2, .. }),
        "{e:?}"
    );
}

#[test]
fn narrow_out_of_range_accesses() {
    // Loads past the end read 0 (of the type: +0.0, 0); stores are dropped.
    let mut b = ProgramBuilder::new("oob", [1, 1, 1]);
    let x = b.buffer("x", DataType::F16, Access::ReadWrite);
    let y = b.buffer("y", DataType::I8, Access::ReadWrite);
    let sh = b.shared("sh", DataType::U8, 2);
    let pr = b.private("pr", DataType::BF16, 2);
    let out = b.buffer("out", DataType::U32, Access::ReadWrite);
    b.body(|blk| {
        blk.store(BufRef::Param(x), Expr::u32(2), h(H_ONE));
        blk.store(BufRef::Param(y), Expr::i32(-1), i8l(5));
        blk.store(BufRef::Shared(sh), Expr::u32(2), u8l(5));
        blk.store(BufRef::Private(pr), Expr::u32(7), bf(0x3f80));
        let loads = [
            Expr::load(BufRef::Param(x), Expr::u32(2))
                .cast(DataType::F32)
                .cast(DataType::U32),
            Expr::load(BufRef::Param(y), Expr::u32(1)).cast(DataType::U32),
            Expr::load(BufRef::Shared(sh), Expr::u32(9)).cast(DataType::U32),
            Expr::load(BufRef::Private(pr), Expr::u32(2))
                .cast(DataType::F32)
                .cast(DataType::U32),
        ];
        for (k, l) in loads.into_iter().enumerate() {
            blk.store(BufRef::Param(out), Expr::u32(k as u32), l);
        }
    });
    let p = b.finish();
    let mut xs = [0x1234u32, 0x5678];
    let mut ys = [0x7fu32];
    let mut out = [9u32; 4];
    run(
        &p,
        [1, 1, 1],
        &mut [
            RefArg::Buffer(&mut xs),
            RefArg::Buffer(&mut ys),
            RefArg::Buffer(&mut out),
        ],
    )
    .unwrap();
    assert_eq!(xs, [0x1234, 0x5678]);
    assert_eq!(ys, [0x7f]);
    assert_eq!(out, [0; 4]);
}

#[test]
fn narrow_subgroup_operations() {
    // An f16 sum is computed in f32 along the butterfly and rounded once:
    // 1 + 2^-11 + 2^-11 + 0 = 1 + 2^-10 exactly (rounding after each step
    // would give 1.0).
    let x = [u32::from(H_ONE), u32::from(H_2M11), u32::from(H_2M11), 0];
    assert_eq!(
        collective([4, 1, 1], 4, DataType::F16, SubgroupOp::Add, &x),
        [0x3c01; 4]
    );
    // A u8 sum wraps: 200 + 100 + 0 + 1 = 301 -> 45.
    assert_eq!(
        collective(
            [4, 1, 1],
            4,
            DataType::U8,
            SubgroupOp::Add,
            &[200, 100, 0, 1]
        ),
        [45; 4]
    );
    // i8 minimum and maximum compare values (0x80 is -128, 0x7f is 127).
    let x = [0x80, 0x7f, 0xff, 1];
    assert_eq!(
        collective([4, 1, 1], 4, DataType::I8, SubgroupOp::Min, &x),
        [0x80; 4]
    );
    assert_eq!(
        collective([4, 1, 1], 4, DataType::I8, SubgroupOp::Max, &x),
        [0x7f; 4]
    );
    // Shuffles move bf16 values (a NaN stays a NaN).
    let x = [0x3f80, 0x7fc1, 0xc000, 0x0001];
    let got = per_lane([4, 1, 1], 4, DataType::BF16, DataType::BF16, &x, |v, l| {
        sg(
            SubgroupOp::ShuffleXor,
            vec![v, l.bitand(Expr::u32(0)).add(Expr::u32(1))],
        )
    });
    assert!(
        got[0] & 0x7f80 == 0x7f80 && got[0] & 0x7f != 0,
        "{:#x}",
        got[0]
    );
    assert_eq!([got[1], got[2], got[3]], [0x3f80, 0x0001, 0xc000]);
}
